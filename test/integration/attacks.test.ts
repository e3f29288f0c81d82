// The red-team findings of issue 18, each played for real as root against a
// real container, and the container-side proof that masks and read-only
// paths hold under hostile rootfs layouts:
//
//   1  a symlinked /proc or /sys (procfs landing where masks never reach)
//   2  image unpack exposing setuid binaries and device nodes to local users
//   3  the /dev/console bind source resolved on the host
//   4  capsa exec's helper carrying the host's procfs into the container
//   5  fds leaked by capsa's caller reaching the waiting init and hooks
//   6  the state root readable by other users (exec.fifo, hook state)
//   7  --pid-file following a symlink planted at its temp name
//
// Probes never write to a host file: "writable" opens for writing and closes.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { mountsUnder } from '../../src/image/overlay';
import { defaultSpec } from '../../src/spec/defaults';
import { makeBundle } from '../helpers/bundle';
import { assertOneLineError, CAPSA_BIN, messageOf, runCommand } from '../helpers/capsa';
import { serveConsoleSocket } from '../helpers/console-socket';
import {
  all, cmd, DECOY_CONTENT, hostMounts, ID_PREFIX, makeHostileRootfs, plantSymlink, probe, securityHarness,
  securityRootfs, securitySuite, treeSnapshot, until, type Config, type HostileRootfs,
} from '../helpers/hostile-rootfs';
import { type TreeEntry, writeOciLayout } from '../helpers/images';

const suite = securitySuite('attacks');
const { test, capsa, capsaOk, root } = suite;
const { runIn, withRunning } = securityHarness(suite);

const CORE_PATTERN = '/proc/sys/kernel/core_pattern';

// ---- helpers ----

/** Host-side invariants: the decoy, the host's mounts and core_pattern do not change. */
function hostGuard(h: HostileRootfs) {
  const mounts = hostMounts(h.dir);
  const decoy = treeSnapshot(h.decoy);
  const core = fs.readFileSync(CORE_PATTERN, 'utf8');
  return () => {
    assert.equal(hostMounts(h.dir), mounts, 'the host\'s mount table is unchanged');
    assert.equal(treeSnapshot(h.decoy), decoy, 'the decoy "host" directory is unchanged');
    assert.is(fs.readFileSync(h.decoyFile, 'utf8'), DECOY_CONTENT);
    assert.is(fs.readFileSync(CORE_PATTERN, 'utf8'), core, 'the host\'s core_pattern is unchanged');
  };
}

async function withHostile(tag: string, plant: (h: HostileRootfs) => void, fn: (h: HostileRootfs) => Promise<void>): Promise<void> {
  const h = makeHostileRootfs(tag, plant);
  const check = hostGuard(h);
  try {
    await fn(h);
    check();
  } finally {
    h.cleanup();
  }
}

/** The /proc -> /dev/lnk/p, /dev/lnk -> /data layout of finding 1 (or its /sys twin). */
function lnkLayout(target: 'proc' | 'sys', relative = false): (h: HostileRootfs) => void {
  return (h) => {
    fs.mkdirSync(path.join(h.rootfs, 'data'), { recursive: true });
    plantSymlink(h.rootfs, target, relative ? 'dev/lnk/p' : '/dev/lnk/p');
    plantSymlink(h.rootfs, 'dev/lnk', '/data');
  };
}

/** What `secprobe covered` printed, as path → state. */
function coveredStates(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const w of out.trim().split(/\s+/)) {
    const i = w.lastIndexOf('=');
    if (i > 0) m.set(w.slice(0, i), w.slice(i + 1));
  }
  return m;
}

/** Every masked path is masked and every read-only path read-only, from inside (absent only where the host has no such file). */
async function assertCoveredInside(config: Config, opts: { rootfs: string; masked: string[]; readonly: string[] }): Promise<void> {
  const hostHas = (p: string) => fs.existsSync(p.replace(/\/+/g, '/'));
  const run = async (kind: string, paths: string[]) => {
    const r = await runIn(all(config, probe('covered', kind, ...paths)), { rootfs: opts.rootfs });
    assert.is(r.code, 0, `the container did not run: ${r.stderr}`);
    return coveredStates(r.stdout);
  };
  const masks = await run('mask', opts.masked);
  for (const p of opts.masked) {
    const state = masks.get(p);
    assert.ok(state === 'masked' || (state === 'absent' && !hostHas(p)), `masked path ${p} is ${state} inside the container`);
  }
  const ro = await run('ro', opts.readonly);
  for (const p of opts.readonly) {
    const state = ro.get(p);
    assert.ok(state === 'ro' || (state === 'absent' && !hostHas(p)), `read-only path ${p} is ${state} inside the container`);
  }
}

function tempDir(tag: string, mode = 0o755): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `capsa-test-${tag}-`));
  fs.chmodSync(d, mode);
  return d;
}

async function removeTree(dir: string): Promise<void> {
  for (const m of mountsUnder(dir).reverse()) await runCommand('umount', ['-l', m]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The files of a directory as image layer entries (dirs, files with their modes, symlinks). */
function treeEntries(dir: string, skip: (rel: string) => boolean = () => false): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const rel = path.relative(dir, p);
      if (skip(rel)) continue;
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out.push({ path: rel, type: 'symlink', linkname: fs.readlinkSync(p) });
      else if (st.isDirectory()) { out.push({ path: `${rel}/`, type: 'directory', mode: st.mode & 0o7777 }); walk(p); }
      else if (st.isFile()) out.push({ path: rel, content: fs.readFileSync(p), mode: st.mode & 0o7777 });
    }
  };
  walk(dir);
  return out;
}

/** `capsa image unpack` of an OCI layout into bundle (overlay, or --flat), with the test's own store. */
async function unpack(layout: string, bundle: string, store: string, flat: boolean): Promise<void> {
  await capsaOk(['image', 'unpack', layout, bundle, '--store', store, '--quiet', ...(flat ? ['--flat'] : [])]);
}

/** Rewrites an unpacked bundle's config.json. */
function editConfig(bundle: string, config: Config): void {
  const file = path.join(bundle, 'config.json');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  config(spec);
  fs.writeFileSync(file, JSON.stringify(spec));
}

/** Runs a node snippet as nobody (uid/gid 65534); returns its stdout. */
function asNobody(script: string): string {
  return execFileSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' });
}

// ======================================================================
// 1. A symlinked /proc or /sys
// ======================================================================

const PROC_PROBES = ['/data/p/sys/kernel/core_pattern', '/data/p/sysrq-trigger', '/data/p/sys/vm/drop_caches', CORE_PATTERN, '/data/p/kcore'];

test('finding 1: /proc -> /dev/lnk/p with /dev/lnk -> /data is refused (procfs must land on an ordinary directory); core_pattern is never writable', async () => {
  await withHostile('proc-lnk', lnkLayout('proc'), async (h) => {
    const r = await runIn(probe('writable', ...PROC_PROBES), { rootfs: h.rootfs });
    assertOneLineError(r, 'mounts[0]');
    assert.match(messageOf(r.stderr), /"proc" must be mounted on an ordinary directory/);
    assert.not.match(r.stdout, /=ok/, `the container opened a procfs file for writing: ${r.stdout}`);
    assert.equal(fs.readdirSync(path.join(h.rootfs, 'data')), [], 'nothing was mounted or made under /data');
  });
});

test('finding 1: a relative symlink (/proc -> dev/lnk/p) is refused the same way', async () => {
  await withHostile('proc-rel', lnkLayout('proc', true), async (h) => {
    const r = await runIn(probe('writable', ...PROC_PROBES), { rootfs: h.rootfs });
    assertOneLineError(r, 'mounts[0]');
    assert.not.match(r.stdout, /=ok/);
  });
});

test('finding 1, /sys twin: /sys -> /dev/lnk/p is refused; /sys/firmware is never left unmasked', async () => {
  await withHostile('sys-lnk', lnkLayout('sys'), async (h) => {
    const r = await runIn(probe('covered', 'mask', '/data/p/firmware', '/sys/firmware'), { rootfs: h.rootfs });
    assertOneLineError(r, 'mounts[5]');
    assert.match(messageOf(r.stderr), /"sysfs" must be mounted on an ordinary directory/);
    assert.not.match(r.stdout, /UNMASKED/);
  });
});

test('finding 1: a destination passing through a symlinked parent (/sys/fs/cgroup with /sys/fs -> /data) is refused', async () => {
  await withHostile('cg-lnk', (h) => {
    fs.mkdirSync(path.join(h.rootfs, 'data'));
    fs.rmSync(path.join(h.rootfs, 'sys'), { recursive: true, force: true });
    fs.mkdirSync(path.join(h.rootfs, 'sys'));
    plantSymlink(h.rootfs, 'sys/fs', '/data');
  }, async (h) => {
    // Without /sys mounted, the cgroup mount's own destination is what the image controls.
    const r = await runIn(all((s) => { s.mounts = s.mounts!.filter((m) => m.destination !== '/sys'); s.linux!.maskedPaths = []; }, cmd('true')), { rootfs: h.rootfs });
    assertOneLineError(r, 'mounts[5]');
    assert.match(messageOf(r.stderr), /must be mounted on an ordinary directory/);
  });
});

for (const flat of [false, true]) {
  test(`finding 1 via capsa image unpack (${flat ? 'flat' : 'overlay'}): an image with /proc -> /dev/lnk/p, /dev/lnk -> /data is refused at run`, async () => {
    const dir = tempDir('attack-image');
    const core = fs.readFileSync(CORE_PATTERN, 'utf8');
    try {
      const entries = treeEntries(securityRootfs(), (rel) => rel === 'proc' || rel.startsWith('proc/'));
      entries.push({ path: 'data/', type: 'directory' }, { path: 'proc', type: 'symlink', linkname: '/dev/lnk/p' }, { path: 'dev/lnk', type: 'symlink', linkname: '/data' });
      await writeOciLayout(path.join(dir, 'layout'), { layers: [{ entries }], config: { Cmd: ['/bin/secprobe', 'writable', ...PROC_PROBES] }, refName: 'attack' });
      const bundle = path.join(dir, 'bundle');
      await unpack(path.join(dir, 'layout'), bundle, path.join(dir, 'store'), flat);
      const id = `${ID_PREFIX}-img${flat ? 'f' : 'o'}`;
      try {
        const r = await capsa(['run', '-b', bundle, id]);
        assertOneLineError(r, 'mounts[0]');
        assert.not.match(r.stdout, /=ok/);
      } finally {
        await capsa(['delete', '--force', id]);
      }
      assert.is(fs.readFileSync(CORE_PATTERN, 'utf8'), core);
    } finally {
      await removeTree(dir);
    }
  });
}

// Layouts the runtime accepts: masks and read-only paths must hold in each, read from inside.
const ACCEPTED_LAYOUTS: [string, (h: HostileRootfs) => void, Config?][] = [
  ['a plain rootfs', () => {}],
  ['an image shipping files where procfs and sysfs land (proc/kcore -> /etc/passwd, sys/firmware -> /tmp)', (h) => {
    fs.mkdirSync(path.join(h.rootfs, 'proc/sys/kernel'), { recursive: true });
    fs.writeFileSync(path.join(h.rootfs, 'proc/sys/kernel/core_pattern'), 'image file\n');
    fs.symlinkSync('/etc/passwd', path.join(h.rootfs, 'proc/kcore'));
    fs.symlinkSync('/tmp', path.join(h.rootfs, 'sys/firmware'));
  }],
  ['/dev/lnk -> /data and /data/p in the image, /proc an ordinary directory', (h) => {
    fs.mkdirSync(path.join(h.rootfs, 'data/p/sys'), { recursive: true });
    plantSymlink(h.rootfs, 'dev/lnk', '/data');
  }],
  ['destinations written "/proc/" and "//sys", masks "/proc//kcore" and "/proc/./keys"', () => {}, (s) => {
    s.mounts!.find((m) => m.destination === '/proc')!.destination = '/proc/';
    s.mounts!.find((m) => m.destination === '/sys')!.destination = '//sys';
    s.linux!.maskedPaths = [...s.linux!.maskedPaths!, '/proc//kcore', '/proc/./keys'];
  }],
  ['a user namespace', () => {}, (s) => {
    s.linux!.namespaces = [...s.linux!.namespaces!, { type: 'user' }];
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  }],
  ['a user namespace without its own network namespace (sysfs is the host\'s /sys, bound)', () => {}, (s) => {
    s.linux!.namespaces = [...s.linux!.namespaces!.filter((n) => n.type !== 'network'), { type: 'user' }];
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  }],
];

for (const [what, plant, config] of ACCEPTED_LAYOUTS) {
  test(`masks and read-only paths hold inside the container: ${what}`, async () => {
    await withHostile('covered', plant, async (h) => {
      const spec = defaultSpec();
      config?.(spec);
      await assertCoveredInside(config ?? (() => {}), { rootfs: h.rootfs, masked: spec.linux!.maskedPaths!, readonly: spec.linux!.readonlyPaths! });
      const w = await runIn(all(config, probe('writable', CORE_PATTERN, '/proc/sysrq-trigger', '/proc/sys/vm/drop_caches')), { rootfs: h.rootfs });
      assert.not.match(w.stdout, /=ok/, `a procfs file was writable: ${w.stdout}`);
    });
  });
}

// ======================================================================
// 2. image unpack: setuid binaries, file capabilities, device nodes
// ======================================================================

const SUID_SOURCE = `
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int fd = argc > 1 ? open(argv[1], O_RDONLY) : -1;
  printf("euid=%d read=%s\\n", (int)geteuid(), fd >= 0 ? "ok" : "denied");
  return 0;
}
`;

function suidProbe(dir: string): Buffer {
  fs.writeFileSync(path.join(dir, 'suid.c'), SUID_SOURCE);
  execFileSync('gcc', ['-static', '-O1', '-o', path.join(dir, 'suid'), path.join(dir, 'suid.c')]);
  return fs.readFileSync(path.join(dir, 'suid'));
}

for (const flat of [false, true]) {
  test(`finding 2 (${flat ? 'flat' : 'overlay'}): another local user cannot reach an unpacked image's setuid binary or device nodes; the container itself can`, async () => {
    const dir = tempDir('attack-suid');
    const secretDir = tempDir('attack-suid-secret');
    const secret = path.join(secretDir, 'secret');
    fs.writeFileSync(secret, 'root only\n', { mode: 0o600 });
    try {
      const entries = treeEntries(securityRootfs());
      entries.push(
        { path: 'bin/suid', content: suidProbe(dir), mode: 0o4755, uid: 0, gid: 0 },
        { path: 'dev/evnull', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      );
      await writeOciLayout(path.join(dir, 'layout'), { layers: [{ entries }], config: { Cmd: ['/bin/suid', '/etc/shadow-like'] }, refName: 'suid' });
      const bundle = path.join(dir, 'bundle');
      const store = path.join(dir, 'store');
      await unpack(path.join(dir, 'layout'), bundle, store, flat);
      const rootfs = path.join(bundle, 'rootfs');
      assert.is(fs.statSync(bundle).mode & 0o777, 0o700, 'the bundle dir is 0700');
      if (!flat) assert.is(fs.statSync(store).mode & 0o777, 0o700, 'the layer store is 0700');
      assert.is((fs.statSync(path.join(rootfs, 'bin/suid')).mode & 0o4000) !== 0, true, 'precondition: the setuid bit was kept');

      // The attack: a local user runs the image's setuid-root binary on the host.
      const tryRun = `try { const o = require('child_process').execFileSync(${JSON.stringify(path.join(rootfs, 'bin/suid'))}, [${JSON.stringify(secret)}], { encoding: 'utf8' }); process.stdout.write(o); } catch (e) { process.stdout.write('spawn=' + (e.code || e.status)); }`;
      assert.is(asNobody(tryRun), 'spawn=EACCES', 'nobody cannot even reach the binary');
      if (!flat) {
        // Defence in depth: with the bundle opened up by hand, the overlay is still nosuid,nodev.
        fs.chmodSync(bundle, 0o755);
        const out = asNobody(tryRun);
        assert.match(out, /^euid=65534 read=denied$/m, `setuid is inert on the host mount: ${out}`);
        assert.throws(() => fs.openSync(path.join(rootfs, 'dev/evnull'), 'r'), /EACCES/, 'device nodes are inert on the host mount');
        fs.chmodSync(bundle, 0o700);
        // The container's own root is not nosuid: the binary works inside, for a non-root user.
        const id = `${ID_PREFIX}-suid`;
        editConfig(bundle, (s) => { s.process!.user = { uid: 1000, gid: 1000 }; s.process!.noNewPrivileges = false; s.process!.terminal = false; s.process!.args = ['/bin/suid', '/bin/suid']; });
        try {
          const r = await capsaOk(['run', '-b', bundle, id]);
          assert.match(r.stdout, /^euid=0 read=ok$/m, `setuid inside the container: ${r.stdout}`);
        } finally {
          await capsa(['delete', '--force', id]);
        }
      }
    } finally {
      await removeTree(dir);
      fs.rmSync(secretDir, { recursive: true, force: true });
    }
  });
}

// ======================================================================
// 3. /dev/console bind source
// ======================================================================

/** The config: a terminal, devpts at /dev/pts, no tmpfs /dev (the image's /dev is used). */
const bareDevTerminal: Config = (s) => {
  s.mounts = s.mounts!.filter((m) => m.destination !== '/dev' && m.destination !== '/dev/shm' && m.destination !== '/dev/mqueue');
  s.process!.terminal = true;
};

// The devpts lands in the rootfs (in-root resolution) while the old code took
// the console's bind source "dev/pts/N" through the symlink on the host.
for (const [what, target] of [
  ['an absolute symlink to a host directory holding files "0".."3"', (h: HostileRootfs) => h.decoy],
  ['a relative symlink climbing out of the rootfs to that directory', (h: HostileRootfs) => `../../../../../../../..${h.decoy}`],
] as const) {
  test(`finding 3: /dev/pts is ${what}: no host file becomes /dev/console (refused with one line naming the devpts mount)`, async () => {
    await withHostile('console', (h) => {
      for (const n of ['0', '1', '2', '3']) fs.writeFileSync(path.join(h.decoy, n), DECOY_CONTENT, { mode: 0o600 });
      fs.rmSync(path.join(h.rootfs, 'dev'), { recursive: true, force: true });
      fs.mkdirSync(path.join(h.rootfs, 'dev'));
      fs.symlinkSync(target(h), path.join(h.rootfs, 'dev/pts'));
    }, async (h) => {
      const sock = await serveConsoleSocket();
      try {
        const r = await runIn(all(bareDevTerminal, cmd('write', '/dev/console', 'capsa-test: written through /dev/console\n')), { rootfs: h.rootfs, args: ['--console-socket', sock.path, '-d'] });
        assertOneLineError(r, 'mounts[1]');
        assert.match(messageOf(r.stderr), /"devpts" must be mounted on an ordinary directory/);
      } finally {
        await sock.close();
      }
      for (const n of ['0', '1', '2', '3']) assert.is(fs.readFileSync(path.join(h.decoy, n), 'utf8'), DECOY_CONTENT, `host file ${n} was written`);
    });
  });
}

// ======================================================================
// 4. capsa exec's helper and the host procfs
// ======================================================================

function hostSecret(): { dir: string; file: string } {
  const dir = tempDir('attack-secret');
  const file = path.join(dir, 'secret');
  fs.writeFileSync(file, 'capsa-test host secret\n');
  assert.ok(fs.existsSync(`/proc/${process.pid}/root${file}`), 'precondition: the secret is reachable through a host procfs');
  return { dir, file };
}

const ptracer = (secret: string, count: number): Config => all(
  (s) => { for (const set of ['bounding', 'effective', 'permitted'] as const) s.process!.capabilities![set] = [...s.process!.capabilities![set]!, 'CAP_SYS_PTRACE']; },
  probe('ptrace-fds', String(process.pid), secret, String(count), '60'),
);

/** The attacker's report once it has caught `count` processes or finished. */
async function attackerReport(output: () => string, count: number): Promise<string[]> {
  await until('the attacker to finish', () => (/^done caught=/m.test(output()) || output().split('\n').filter((l) => l.startsWith('caught')).length >= count ? true : undefined), 60_000);
  return output().split('\n').filter((l) => l.startsWith('caught'));
}

test('finding 4: a CAP_SYS_PTRACE container stopping each capsa exec helper finds no fd leading to the host (10 execs)', async () => {
  const secret = hostSecret();
  try {
    await withRunning(ptracer(secret.file, 10), async (c) => {
      await until('the attacker to watch', () => (c.output().includes('ready') ? true : undefined), 20_000);
      for (let i = 0; i < 10; i++) await capsa(['exec', c.id, '/bin/testinit', 'true']);
      const caught = await attackerReport(c.output, 10);
      assert.ok(caught.length > 0, `the attacker caught no exec helper, so the attack did not run:\n${c.output()}`);
      assert.equal(caught.filter((l) => !/escape=none$/.test(l)), [], `an exec helper held a way to the host:\n${c.output()}`);
    });
  } finally {
    fs.rmSync(secret.dir, { recursive: true, force: true });
  }
});

test('finding 4 at create: a new container joining the attacker\'s pid namespace brings no fd leading to the host (5 creates)', async () => {
  const secret = hostSecret();
  try {
    await withRunning(ptracer(secret.file, 5), async (c) => {
      await until('the attacker to watch', () => (c.output().includes('ready') ? true : undefined), 20_000);
      for (let i = 0; i < 5; i++) {
        const b = makeBundle({ rootfs: securityRootfs(), idPrefix: ID_PREFIX, config: all(cmd('true'), (s) => {
          s.linux!.namespaces = [...s.linux!.namespaces!.filter((n) => n.type !== 'pid'), { type: 'pid', path: `/proc/${c.pid}/ns/pid` }];
        }) });
        try {
          await capsa(['create', '-b', b.dir, b.id]);
        } finally {
          await capsa(['delete', '--force', b.id]);
          b.cleanup();
        }
      }
      const caught = await attackerReport(c.output, 5);
      assert.ok(caught.length > 0, `the attacker caught no new init, so the attack did not run:\n${c.output()}`);
      assert.equal(caught.filter((l) => !/escape=none$/.test(l)), [], `a new init held a way to the host:\n${c.output()}`);
    });
  } finally {
    fs.rmSync(secret.dir, { recursive: true, force: true });
  }
});

// ======================================================================
// 5. fds leaked by capsa's caller
// ======================================================================

/** `capsa create` with stdio on /dev/null (the waiting init keeps its stdio: pipes would never close). */
async function createQuiet(bundle: string, id: string): Promise<void> {
  const child = spawn(CAPSA_BIN, ['--root', root, 'create', '-b', bundle, id], { stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.is(code, 0, `capsa create ${id} exited ${code}`);
}

/** `capsa create` with a host directory open on fd `at` (as a careless caller would leave it). */
async function createWithLeakedFd(bundle: string, id: string, hostDir: string, at: number): Promise<void> {
  const fd = fs.openSync(hostDir, 'r');
  const errFile = path.join(bundle, 'create.err');
  const err = fs.openSync(errFile, 'w');
  try {
    const stdio: (string | number)[] = ['ignore', 'ignore', err];
    while (stdio.length < at) stdio.push('ignore');
    stdio.push(fd);
    const child = spawn(CAPSA_BIN, ['--root', root, 'create', '-b', bundle, id], { stdio: stdio as never });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.is(code, 0, `create failed: ${fs.readFileSync(errFile, 'utf8')}`);
  } finally {
    fs.closeSync(fd);
    fs.closeSync(err);
  }
}

test('finding 5: an fd leaked to capsa create (fd 200, a host dir) is not held by the waiting init; a CAP_SYS_PTRACE exec cannot use it', async () => {
  const secret = hostSecret();
  const b = makeBundle({ rootfs: securityRootfs(), idPrefix: ID_PREFIX, config: cmd('true') });
  try {
    await createWithLeakedFd(b.dir, b.id, secret.dir, 200);
    const pid = (JSON.parse((await capsaOk(['state', b.id])).stdout) as { pid: number }).pid;
    const held = fs.readdirSync(`/proc/${pid}/fd`).map((fd) => { try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return '?'; } });
    assert.not.ok(held.includes(secret.dir), `the waiting init holds the leaked dir: ${held.join(', ')}`);
    const out = (await capsaOk(['exec', '--cap', 'CAP_SYS_PTRACE', b.id, '/bin/secprobe', 'fd-escape', '1', String(process.pid), secret.file])).stdout;
    assert.not.match(out, /^fd=200 /m, `fd 200 is still there:\n${out}`);
    assert.not.match(out, /escape=(procfs|dotdot)/, out);
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
    fs.rmSync(secret.dir, { recursive: true, force: true });
  }
});

test('finding 5: a startContainer hook gets no fd leaked to capsa create, nor the runtime\'s sync socket', async () => {
  const secret = hostSecret();
  await withHostile('hookfds', () => {}, async (h) => {
    const b = makeBundle({ rootfs: h.rootfs, idPrefix: ID_PREFIX, config: all(cmd('true'), (s) => {
      s.root!.readonly = false;
      s.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'for f in /proc/self/fd/*; do echo "$f $(readlink $f)"; done > /hookfds'] }] };
    }) });
    try {
      await createWithLeakedFd(b.dir, b.id, secret.dir, 7);
      await capsaOk(['start', b.id]);
      const lines = fs.readFileSync(path.join(h.rootfs, 'hookfds'), 'utf8').trim().split('\n');
      // Above stdio, only the shell's own short-lived fds (gone by the time
      // readlink looks: empty targets) may show up.
      const held = lines.map((l) => /fd\/(\d+) (.*)$/.exec(l)).filter((m) => m && Number(m[1]) > 2 && m[2] !== '').map((m) => m![0]);
      assert.equal(held.filter((l) => /socket:|capsa-test-attack-secret|^\S+ \//.test(l)), [], `the hook holds the runtime's socket or the leaked dir: ${lines.join('; ')}`);
      assert.ok(lines.some((l) => /fd\/0 /.test(l)), 'the probe listed its fds');
    } finally {
      await capsa(['delete', '--force', b.id]);
      b.cleanup();
      fs.rmSync(secret.dir, { recursive: true, force: true });
    }
  });
});

// ======================================================================
// 6. The state root
// ======================================================================

test('finding 6: the state root and each container dir are 0700, state files 0600; another user cannot hold exec.fifo, read the hook state, or stall start', async () => {
  const b = makeBundle({ rootfs: securityRootfs(), idPrefix: ID_PREFIX, config: all(cmd('echo', 'started'), (s) => {
    s.hooks = { startContainer: [{ path: '/bin/testinit', args: ['testinit', 'true'] }] };
  }) });
  try {
    await createQuiet(b.dir, b.id);
    const dir = path.join(root, b.id);
    assert.is(fs.statSync(root).mode & 0o777, 0o700, 'state root mode');
    assert.is(fs.statSync(dir).mode & 0o777, 0o700, 'container dir mode');
    for (const f of fs.readdirSync(dir)) {
      const st = fs.lstatSync(path.join(dir, f));
      if (st.isFile()) assert.is(st.mode & 0o077, 0, `${f} is readable by others (${(st.mode & 0o777).toString(8)})`);
    }
    const attack = `const fs = require('fs'); const out = [];
      for (const [f, how] of [['exec.fifo', fs.constants.O_WRONLY | fs.constants.O_NONBLOCK], ['hook-state.json', 0], ['state.json', 0]]) {
        try { fs.closeSync(fs.openSync(${JSON.stringify(dir)} + '/' + f, how)); out.push(f + '=ok'); } catch (e) { out.push(f + '=' + e.code); }
      }
      try { fs.readdirSync(${JSON.stringify(root)}); out.push('list=ok'); } catch (e) { out.push('list=' + e.code); }
      process.stdout.write(out.join(' '));`;
    assert.is(asNobody(attack), 'exec.fifo=EACCES hook-state.json=EACCES state.json=EACCES list=EACCES');
    const start = await capsa(['start', b.id]);
    assert.is(start.code, 0, start.stderr);
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
});

// ======================================================================
// 7. --pid-file
// ======================================================================

test('finding 7: --pid-file never follows a symlink planted at a temp name in its directory; the pid is written', async () => {
  const dir = tempDir('attack-pidfile', 0o777);
  const victim = path.join(tempDir('attack-victim'), 'victim');
  fs.writeFileSync(victim, 'root only\n', { mode: 0o600 });
  const b = makeBundle({ rootfs: securityRootfs(), idPrefix: ID_PREFIX, config: cmd('true') });
  const pidFile = path.join(dir, 'init.pid');
  try {
    const child = spawn(CAPSA_BIN, ['--root', root, 'create', '--pid-file', pidFile, '-b', b.dir, b.id], { stdio: 'ignore' });
    // The old temp name was ".init.pid.<pid of capsa>": plant it (and near pids) at once.
    for (let p = child.pid!; p < child.pid! + 4; p++) fs.symlinkSync(victim, path.join(dir, `.init.pid.${p}`));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.is(code, 0);
    assert.is(fs.readFileSync(victim, 'utf8'), 'root only\n', 'the planted symlink was followed');
    const pid = (JSON.parse((await capsaOk(['state', b.id])).stdout) as { pid: number }).pid;
    assert.is(fs.readFileSync(pidFile, 'utf8'), String(pid));
    assert.ok(fs.lstatSync(pidFile).isFile());
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(path.dirname(victim), { recursive: true, force: true });
  }
});

// ======================================================================
// Also noticed: HOME from a symlinked /etc
// ======================================================================

test('an image whose /etc is a symlink to a host directory does not give the process a HOME from the host\'s passwd', async () => {
  await withHostile('etc-home', (h) => {
    fs.writeFileSync(path.join(h.decoy, 'passwd'), 'root:x:0:0:root:/capsa-decoy-home:/bin/sh\n');
    plantSymlink(h.rootfs, 'etc', h.decoy);
  }, async (h) => {
    const r = await runIn(all(cmd('env'), (s) => { s.process!.env = (s.process!.env ?? []).filter((e) => !e.startsWith('HOME=')); }), { rootfs: h.rootfs });
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stdout, /capsa-decoy-home/);
    assert.match(r.stdout, /^HOME=\/$/m);
  });
});

// ======================================================================
// Also noticed: hostile image sources
// ======================================================================

test('image unpack of a directory layout whose index.json is a symlink to a host file: refused in one line that quotes none of the file', async () => {
  const dir = tempDir('attack-layout');
  try {
    const layout = path.join(dir, 'layout');
    await writeOciLayout(layout, { layers: [{ entries: [{ path: 'a', content: 'a' }] }], refName: 'x' });
    const secret = path.join(dir, 'secret');
    fs.writeFileSync(secret, '{"capsa-test": SECRET-CONTENT-4711}');
    fs.rmSync(path.join(layout, 'index.json'));
    fs.symlinkSync(secret, path.join(layout, 'index.json'));
    const r = await capsa(['image', 'unpack', layout, path.join(dir, 'bundle'), '--store', path.join(dir, 'store'), '--quiet']);
    assertOneLineError(r, 'index.json');
    assert.match(messageOf(r.stderr), /symlink/);
    assert.not.match(r.stderr, /SECRET|4711/);
    assert.not.ok(fs.existsSync(path.join(dir, 'bundle')), 'no bundle left behind');
  } finally {
    await removeTree(dir);
  }
});

test('image unpack stops a layer whose decompressed size passes --max-layer-size (a decompression bomb), in one line, leaving nothing', async () => {
  const dir = tempDir('attack-bomb');
  try {
    const layout = path.join(dir, 'layout');
    await writeOciLayout(layout, { layers: [{ entries: [{ path: 'zeros', content: Buffer.alloc(3 << 20) }] }], refName: 'bomb' });
    for (const flat of [false, true]) {
      const bundle = path.join(dir, flat ? 'flat' : 'overlay');
      const r = await capsa(['image', 'unpack', layout, bundle, '--store', path.join(dir, 'store'), '--quiet', '--max-layer-size', '1m', ...(flat ? ['--flat'] : [])]);
      assertOneLineError(r, '--max-layer-size');
      assert.not.ok(fs.existsSync(bundle), 'no bundle left behind');
    }
    const ok = await capsa(['image', 'unpack', layout, path.join(dir, 'fits'), '--store', path.join(dir, 'store'), '--quiet', '--max-layer-size', '4m', '--flat']);
    assert.is(ok.code, 0, `a layer under the limit unpacks: ${ok.stderr}`);
  } finally {
    await removeTree(dir);
  }
});

test.run();
