// Namespaces, as root with real containers: each new namespace is checked from
// inside (testinit reports) against the host's, each namespace left out of the
// config is checked to be the host's own, and joining by path is checked to
// land in the other container's namespace.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Spec } from '../../src/spec/types';
import { makeBundle, type TestBundle } from '../helpers/bundle';
import { CAPSA_BIN, capsaSuite } from '../helpers/capsa';
import { addNamespace, all, cmd, dropNamespace, type Config } from '../helpers/config';
import { withRootfsCopy } from '../helpers/rootfs';
import { runnersFor } from '../helpers/run';

const { test, root, capsa, capsaOk } = capsaSuite('core-namespaces');
const { runIn, runOk } = runnersFor(capsa);

// ---- local helpers ----

interface Detached {
  b: TestBundle;
  pid: number;
}

/** A running container (`run -d`), stdio to files; `fn` gets its host pid. */
async function withDetached(config: Config, fn: (c: Detached) => Promise<void>, opts: { rootfs?: string } = {}): Promise<void> {
  const b = makeBundle({ config, rootfs: opts.rootfs });
  try {
    const out = fs.openSync(path.join(b.dir, 'stdout'), 'w');
    const child = spawn(CAPSA_BIN, ['--root', root, 'run', '-d', '-b', b.dir, b.id], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const code = await new Promise<number | null>((resolve, reject) => { child.on('exit', resolve); child.on('error', reject); });
    assert.is(code, 0, `run -d: ${fs.readFileSync(path.join(b.dir, 'stdout'), 'utf8')}`);
    const st = JSON.parse((await capsaOk(['state', b.id])).stdout) as { pid: number; status: string };
    assert.is(st.status, 'running');
    await fn({ b, pid: st.pid });
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
}

const hostNs = (type: string) => fs.readlinkSync(`/proc/self/ns/${type}`);
const NS_FILE: Record<string, string> = { pid: 'pid', network: 'net', ipc: 'ipc', uts: 'uts', mount: 'mnt', cgroup: 'cgroup', time: 'time', user: 'user' };

// ---- pid ----

test('pid namespace: the entrypoint is PID 1 with parent 0', async () => {
  assert.is(await runOk(cmd('pid')), '1\n');
  assert.is(await runOk(cmd('ppid')), '0\n');
});

test('pid namespace: /proc inside shows only the container\'s processes', async () => {
  const out = await runOk(cmd('ls', '/proc'));
  const pids = out.split('\n').filter((l) => /^\d+$/.test(l));
  assert.equal(pids, ['1']);
});

// ---- new namespace vs. host namespace, for each type ----

for (const type of ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'] as const) {
  const file = NS_FILE[type]!;
  test(`${type} namespace in the config: /proc/self/ns/${file} differs from the host's`, async () => {
    const inside = (await runOk(all(addNamespace(type), cmd('readlink', `/proc/self/ns/${file}`)))).trim();
    assert.match(inside, new RegExp(`^${file}:\\[\\d+\\]$`));
    assert.is.not(inside, hostNs(file));
  });
  if (type === 'mount') continue; // a mount namespace is required
  test(`${type} namespace left out of the config: the host's is kept`, async () => {
    const inside = (await runOk(all(dropNamespace(type), (s) => { if (type === 'uts') delete s.hostname; }, cmd('readlink', `/proc/self/ns/${file}`)))).trim();
    assert.is(inside, hostNs(file));
  });
}

// ---- uts ----

test('uts namespace: hostname and domainname are set inside, the host\'s are unchanged', async () => {
  const hostBefore = os.hostname();
  const domainBefore = fs.readFileSync('/proc/sys/kernel/domainname', 'utf8');
  const config = (s: Spec) => { s.hostname = 'capsa-test-host'; s.domainname = 'capsa.example'; };
  assert.is(await runOk(all(config, cmd('hostname'))), 'capsa-test-host\n');
  assert.is(await runOk(all(config, cmd('domainname'))), 'capsa.example\n');
  assert.is(os.hostname(), hostBefore);
  assert.is(fs.readFileSync('/proc/sys/kernel/domainname', 'utf8'), domainBefore);
});

test('uts namespace without a hostname in the config keeps the host\'s name (copied into the new namespace)', async () => {
  const out = await runOk(all((s) => { delete s.hostname; }, cmd('hostname')));
  assert.is(out, `${os.hostname()}\n`);
});

// ---- ipc ----

test('ipc namespace: an ipc sysctl set in the container does not change the host\'s', async () => {
  const host = fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8');
  const want = host.trim() === '4096' ? '4097' : '4096';
  const out = await runOk(all((s) => { s.linux!.sysctl = { 'kernel.msgmax': want }; }, cmd('sysctl', 'kernel.msgmax')));
  assert.is(out.trim(), want);
  assert.is(fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8'), host);
});

// ---- network ----

test('network namespace: only lo exists', async () => {
  const out = await runOk(cmd('cat', '/proc/net/dev'));
  const ifaces = out.split('\n').slice(2).filter(Boolean).map((l) => l.trim().split(':')[0]);
  assert.equal(ifaces, ['lo']);
});

test('without a network namespace the host\'s interfaces are visible', async () => {
  const hostIfaces = () => new Set(fs.readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).filter(Boolean).map((l) => l.trim().split(':')[0]!));
  const before = hostIfaces();
  const out = await runOk(all(dropNamespace('network'), cmd('cat', '/proc/net/dev')));
  const after = hostIfaces();
  const inside = new Set(out.split('\n').slice(2).filter(Boolean).map((l) => l.trim().split(':')[0]!));
  // other tests on this host may add or remove interfaces meanwhile: compare the stable ones
  const stable = [...before].filter((i) => after.has(i));
  assert.ok(stable.length > 1, `the host has more than lo: ${stable.join(' ')}`);
  for (const i of stable) assert.ok(inside.has(i), `host interface ${i} is visible inside`);
});

// ---- mount ----

test('mount namespace: the container\'s mounts do not appear on the host', async () => {
  const hostMounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const out = await runOk(cmd('mounts'));
  const mountpoints = out.trim().split('\n').map((l) => l.split(' ')[4]);
  assert.ok(mountpoints.includes('/'), 'the container has its own / mount');
  assert.ok(mountpoints.includes('/proc'), 'and its own /proc');
  assert.not.ok(mountpoints.some((m) => m!.startsWith('/tmp/capsa-test-rootfs')), 'the host paths of the rootfs are not visible');
  assert.is(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').length, hostMounts.split('\n').length, 'no mounts appeared on the host');
});

// ---- cgroup ----

test('cgroup namespace: every cgroup path reads "/" inside', async () => {
  const out = await runOk(all(addNamespace('cgroup'), cmd('cgroup')));
  const lines = out.trim().split('\n');
  assert.ok(lines.length >= 1, out);
  for (const l of lines) {
    const [, , p] = l.split(':');
    assert.is(p, '/', `line "${l}"`);
  }
});

// ---- time ----

test('time namespace: linux.timeOffsets shift boottime (/proc/uptime) and monotonic', async () => {
  const BOOT = 10 * 86400;
  const MONO = 5 * 3600;
  const hostUptime = () => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const config = all(addNamespace('time'), (s) => { s.linux!.timeOffsets = { boottime: { secs: BOOT, nanosecs: 0 }, monotonic: { secs: MONO, nanosecs: 0 } }; });
  const before = hostUptime();
  const inside = Number((await runOk(all(config, cmd('cat', '/proc/uptime')))).split(' ')[0]);
  const after = hostUptime();
  assert.ok(inside >= before + BOOT - 0.01 && inside <= after + BOOT + 0.01, `uptime inside ${inside}, host ${before}..${after}, offset ${BOOT}`);
  const offsets = await runOk(all(config, cmd('cat', '/proc/self/timens_offsets')));
  assert.match(offsets, new RegExp(`^monotonic\\s+${MONO}\\s+0$`, 'm'));
  assert.match(offsets, new RegExp(`^boottime\\s+${BOOT}\\s+0$`, 'm'));
});

test('time namespace without offsets: uptime matches the host\'s', async () => {
  const hostUptime = () => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const before = hostUptime();
  const inside = Number((await runOk(all(addNamespace('time'), cmd('cat', '/proc/uptime')))).split(' ')[0]);
  const after = hostUptime();
  assert.ok(inside >= before - 0.01 && inside <= after + 0.01, `uptime inside ${inside}, host ${before}..${after}`);
  const ns = (await runOk(all(addNamespace('time'), cmd('readlink', '/proc/self/ns/time')))).trim();
  assert.is.not(ns, hostNs('time'));
});

// ---- user ----

const HOST_ID = 100000;
const userNs: Config = (s) => {
  s.linux!.namespaces = [...(s.linux!.namespaces ?? []), { type: 'user' }];
  s.linux!.uidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
  s.linux!.gidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
};
const chownRootfs = (uid: number) => (rootfs: string) => { execFileSync('chown', ['-R', `${uid}:${uid}`, rootfs]); };

test('user namespace: the process is root inside and the host uid outside', async () => {
  await withRootfsCopy(async (rootfs) => {
    assert.is(await runOk(all(userNs, cmd('id')), { rootfs }), 'uid=0 gid=0 euid=0 egid=0 groups=\n');
    await withDetached(all(userNs, cmd('sleep', 'forever')), async ({ pid }) => {
      const norm = (s: string) => s.trim().split(/\s+/).join(' ');
      assert.is(norm(fs.readFileSync(`/proc/${pid}/uid_map`, 'utf8')), `0 ${HOST_ID} 65536`);
      assert.is(norm(fs.readFileSync(`/proc/${pid}/gid_map`, 'utf8')), `0 ${HOST_ID} 65536`);
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, new RegExp(`^Uid:\\s+${HOST_ID}\\s+${HOST_ID}\\s+${HOST_ID}\\s+${HOST_ID}$`, 'm'));
      assert.match(status, new RegExp(`^Gid:\\s+${HOST_ID}\\s+${HOST_ID}\\s+${HOST_ID}\\s+${HOST_ID}$`, 'm'));
      assert.is.not(fs.readlinkSync(`/proc/${pid}/ns/user`), hostNs('user'));
    }, { rootfs });
  }, chownRootfs(HOST_ID));
});

test('user namespace: a non-root process user maps through (uid 1000 inside = host 101000)', async () => {
  await withRootfsCopy(async (rootfs) => {
    const config = all(userNs, (s) => { s.process!.user = { uid: 1000, gid: 1000 }; }, cmd('id'));
    assert.is(await runOk(config, { rootfs }), 'uid=1000 gid=1000 euid=1000 egid=1000 groups=\n');
  }, chownRootfs(HOST_ID));
});

test('user namespace: files owned by unmapped ids read as the overflow id (65534)', async () => {
  await withRootfsCopy(async (rootfs) => {
    const out = await runOk(all(userNs, cmd('stat', '/bin/owned-by-host-root')), { rootfs });
    assert.match(out, /uid=65534 gid=65534/);
  }, (r) => { chownRootfs(HOST_ID)(r); fs.writeFileSync(path.join(r, 'bin/owned-by-host-root'), 'x'); fs.chownSync(path.join(r, 'bin/owned-by-host-root'), 0, 0); });
});

// ---- joining namespaces by path ----

test('joining a uts namespace by path sees the first container\'s hostname', async () => {
  await withDetached(all((s) => { s.hostname = 'capsa-test-first'; }, cmd('sleep', 'forever')), async ({ pid }) => {
    const joined = all(
      (s) => { delete s.hostname; },
      addNamespace('uts', `/proc/${pid}/ns/uts`),
      cmd('hostname'),
    );
    assert.is(await runOk(joined), 'capsa-test-first\n');
    const nsInside = (await runOk(all(joined, cmd('readlink', '/proc/self/ns/uts')))).trim();
    assert.is(nsInside, fs.readlinkSync(`/proc/${pid}/ns/uts`));
  });
});

test('joining a network namespace by path lands in the first container\'s netns', async () => {
  await withDetached(cmd('sleep', 'forever'), async ({ pid }) => {
    const theirs = fs.readlinkSync(`/proc/${pid}/ns/net`);
    assert.is.not(theirs, hostNs('net'));
    const out = (await runOk(all(addNamespace('network', `/proc/${pid}/ns/net`), cmd('readlink', '/proc/self/ns/net')))).trim();
    assert.is(out, theirs);
  });
});

test('joining an ipc namespace by path lands in the first container\'s ipc ns', async () => {
  await withDetached(cmd('sleep', 'forever'), async ({ pid }) => {
    const theirs = fs.readlinkSync(`/proc/${pid}/ns/ipc`);
    const out = (await runOk(all(addNamespace('ipc', `/proc/${pid}/ns/ipc`), cmd('readlink', '/proc/self/ns/ipc')))).trim();
    assert.is(out, theirs);
  });
});

test('joining a user namespace by path (with its uts ns) runs as the mapped root', async () => {
  await withRootfsCopy(async (rootfs) => {
    await withDetached(all(userNs, (s) => { s.hostname = 'capsa-test-userns'; }, cmd('sleep', 'forever')), async ({ pid }) => {
      const joined = all(
        (s) => { delete s.hostname; },
        // the same mappings the namespace has (runc requires them even when joining)
        (s) => { s.linux!.uidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }]; s.linux!.gidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }]; },
        addNamespace('user', `/proc/${pid}/ns/user`),
        addNamespace('uts', `/proc/${pid}/ns/uts`),
        // the default mounts need a mount-capable user ns: keep a minimal set
        (s) => { s.mounts = s.mounts!.filter((m) => m.destination === '/proc' || m.destination === '/dev'); },
        dropNamespace('network'), dropNamespace('ipc'),
        addNamespace('network', `/proc/${pid}/ns/net`), addNamespace('ipc', `/proc/${pid}/ns/ipc`),
      );
      const out = await runOk(all(joined, cmd('id')), { rootfs });
      assert.is(out, 'uid=0 gid=0 euid=0 egid=0 groups=\n');
      assert.is(await runOk(all(joined, cmd('hostname')), { rootfs }), 'capsa-test-userns\n');
      const userInside = (await runOk(all(joined, cmd('readlink', '/proc/self/ns/user')), { rootfs })).trim();
      assert.is(userInside, fs.readlinkSync(`/proc/${pid}/ns/user`));
    }, { rootfs });
  }, chownRootfs(HOST_ID));
});

test('joining a namespace path that does not exist fails create with a message naming it', async () => {
  const r = await runIn(all(addNamespace('uts', '/proc/999999999/ns/uts'), (s) => { delete s.hostname; }));
  assert.is(r.code, 1);
  assert.match(r.stderr, '/proc/999999999/ns/uts');
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test.run();
