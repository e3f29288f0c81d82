// Failures seen when real clients' configs met capsa (issue 19), one test per
// failure, named after it. What the kernel did is read back from inside the
// container (testinit) and from the host (/proc, nsenter, mountinfo).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { makeBundle } from '../helpers/bundle';
import { assertOneLineError, CAPSA_BIN, capsaSuite, runCommand } from '../helpers/capsa';
import { addMounts, addNamespace, all, cmd, dropNamespace, type Config } from '../helpers/config';
import { parseMountinfo, type MountInfo } from '../helpers/proc';
import { removeTestDir, sharedTestRootfs, tempDir, withRootfsCopy } from '../helpers/rootfs';
import { runnersFor } from '../helpers/run';
import { until } from '../helpers/wait';

const { test, root, capsa, capsaOk } = capsaSuite('real-client-failures');
const { runIn, runOk } = runnersFor(capsa);

// ---- local helpers ----

/** A process holding new namespaces of the given kinds (unshare(1)), killed by `fn`'s end. */
async function withNamespaces(flags: string[], fn: (pid: number) => Promise<void>): Promise<void> {
  const child: ChildProcess = spawn('unshare', [...flags, 'sleep', '600'], { stdio: 'ignore' });
  try {
    const pid = child.pid!;
    // Wait until unshare has exec'd sleep, in its namespaces.
    await until('unshare to exec sleep', () => {
      try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep' ? true : undefined; } catch { return undefined; }
    });
    await fn(pid);
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
  }
}

/** A named network namespace (ip netns add: an nsfs bind mount under /run/netns), as CNI and containerd 2.x make them. */
async function withNamedNetns(fn: (nsPath: string) => Promise<void>): Promise<void> {
  const name = `capsa-test-netns-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  execFileSync('ip', ['netns', 'add', name]);
  try {
    await fn(`/run/netns/${name}`);
  } finally {
    execFileSync('ip', ['netns', 'delete', name]);
  }
}

const hostSysctl = (key: string) => fs.readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim();
const sysctlIn = (nsFlag: string, key: string) =>
  execFileSync('nsenter', [nsFlag, 'cat', `/proc/sys/${key.replace(/\./g, '/')}`], { encoding: 'utf8' }).trim();

/** Runs a container detached; `fn` gets its host pid; force-deleted afterwards. */
async function withDetached(config: Config, fn: (pid: number, id: string) => Promise<void>, rootfs?: string): Promise<void> {
  const b = makeBundle({ config, rootfs });
  try {
    const out = fs.openSync(path.join(b.dir, 'stdout'), 'w');
    const child = spawn(CAPSA_BIN, ['--root', root, 'run', '-d', '-b', b.dir, b.id], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const code = await new Promise<number | null>((resolve, reject) => { child.on('exit', resolve); child.on('error', reject); });
    assert.is(code, 0, `run -d: ${fs.readFileSync(path.join(b.dir, 'stdout'), 'utf8')}`);
    const st = JSON.parse((await capsaOk(['state', b.id])).stdout) as { pid: number };
    await fn(st.pid, b.id);
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
}

const hostMounts = (): MountInfo[] => parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
const mountsUnder = (dir: string) => hostMounts().map((m) => m.mountpoint).filter((m) => m === dir || m.startsWith(dir + '/'));

/** A /tmp/capsa-test-* dir; whatever is mounted below it is unmounted before it is removed. */
async function withTempDir(tag: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir(tag);
  fs.chmodSync(dir, 0o755);
  try {
    await fn(dir);
  } finally {
    for (const m of mountsUnder(dir).sort((a, b) => b.length - a.length)) {
      try { execFileSync('umount', ['-l', m], { stdio: 'pipe' }); } catch { /* already gone */ }
    }
    removeTestDir(dir);
  }
}

/** dir bound onto itself and made shared: a peer group of the host's, as / is on systemd hosts. */
function makeSharedMount(dir: string): MountInfo {
  execFileSync('mount', ['--bind', dir, dir]);
  execFileSync('mount', ['--make-shared', dir]);
  return hostMounts().filter((m) => m.mountpoint === dir).pop()!;
}

const peerGroup = (m: MountInfo, tag: 'shared' | 'master') => m.optional.find((f) => f.startsWith(`${tag}:`))?.slice(tag.length + 1);

// ---- 3. devices: podman's fileMode ----

test('linux.devices fileMode as podman sends it (8630 = S_IFCHR|0666): the node is made 0666 (was refused as over 0o7777)', async () => {
  const config = all((s) => {
    s.linux!.devices = [
      { type: 'c', path: '/dev/capsa-null', major: 1, minor: 3, fileMode: 8630, uid: 0, gid: 0 },
      { type: 'b', path: '/dev/capsa-loop', major: 7, minor: 200, fileMode: 0o60640, uid: 0, gid: 0 },
    ];
  }, (s) => { s.process!.args = ['/bin/sh', '-c', '/bin/testinit stat /dev/capsa-null && /bin/testinit stat /dev/capsa-loop']; });
  const out = await runOk(config);
  assert.equal(out.trim().split('\n'), [
    'type=char mode=0666 uid=0 gid=0 major=1 minor=3',
    'type=block mode=0640 uid=0 gid=0 major=7 minor=200',
  ]);
});

test('linux.devices fileMode whose file type contradicts "type": refused naming the field, nothing left', async () => {
  const r = await runIn((s) => { s.linux!.devices = [{ type: 'c', path: '/dev/capsa-x', major: 1, minor: 3, fileMode: 0o60666 }]; });
  assertOneLineError(r, 'linux.devices[0].fileMode');
  assert.match(r.stderr, 'do not match device type');
});

// ---- 4. hostname, domainname and sysctls in namespaces joined by path ----

test('hostname and domainname with a uts namespace joined by path: set there (was: unable to set hostname without a private UTS namespace)', async () => {
  await withNamespaces(['--uts'], async (pid) => {
    const before = execFileSync('hostname', { encoding: 'utf8' }).trim();
    const out = await runOk(all(addNamespace('uts', `/proc/${pid}/ns/uts`), (s) => { s.hostname = 'capsa-joined'; s.domainname = 'joined.example'; },
      (s) => { s.process!.args = ['/bin/sh', '-c', '/bin/testinit hostname && /bin/testinit domainname']; }));
    assert.equal(out.trim().split('\n'), ['capsa-joined', 'joined.example']);
    assert.is(execFileSync('nsenter', [`--uts=/proc/${pid}/ns/uts`, 'hostname'], { encoding: 'utf8' }).trim(), 'capsa-joined', 'the joined namespace has it');
    assert.is(execFileSync('hostname', { encoding: 'utf8' }).trim(), before, 'the host keeps its own');
  });
});

test('hostname with the runtime\'s own uts namespace given by path: refused, the host\'s hostname unchanged', async () => {
  const before = execFileSync('hostname', { encoding: 'utf8' }).trim();
  const r = await runIn(all(addNamespace('uts', `/proc/${process.pid}/ns/uts`), (s) => { s.hostname = 'capsa-must-not'; }));
  assertOneLineError(r, 'hostname');
  assert.match(r.stderr, 'without a private UTS namespace');
  assert.is(execFileSync('hostname', { encoding: 'utf8' }).trim(), before);
});

test('net.* sysctls with a network namespace joined by path (containerd 2.x pod sandbox): set in it (was: not allowed in the host\'s network namespace)', async () => {
  await withNamedNetns(async (nsPath) => {
    const hostPort = hostSysctl('net.ipv4.ip_unprivileged_port_start');
    const hostPing = hostSysctl('net.ipv4.ping_group_range');
    const config = all(addNamespace('network', nsPath), (s) => {
      s.linux!.sysctl = { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647' };
      s.process!.args = ['/bin/sh', '-c', '/bin/testinit sysctl net.ipv4.ip_unprivileged_port_start && /bin/testinit sysctl net.ipv4.ping_group_range'];
    });
    const out = await runOk(config);
    assert.equal(out.trim().split('\n').map((l) => l.replace(/\s+/g, ' ')), ['0', '0 2147483647']);
    assert.is(sysctlIn(`--net=${nsPath}`, 'net.ipv4.ip_unprivileged_port_start'), '0', 'the joined namespace has it');
    assert.is(hostSysctl('net.ipv4.ip_unprivileged_port_start'), hostPort, 'the host keeps its own');
    assert.is(hostSysctl('net.ipv4.ping_group_range'), hostPing);
  });
});

test('net.* sysctl with the runtime\'s own network namespace given by path: refused, the host value unchanged', async () => {
  const before = hostSysctl('net.ipv4.ip_unprivileged_port_start');
  const r = await runIn(all(addNamespace('network', `/proc/${process.pid}/ns/net`), (s) => { s.linux!.sysctl = { 'net.ipv4.ip_unprivileged_port_start': '7' }; }));
  assertOneLineError(r, 'linux.sysctl[');
  assert.match(r.stderr, 'not allowed in host network namespace');
  assert.is(hostSysctl('net.ipv4.ip_unprivileged_port_start'), before);
});

test('IPC sysctls with an ipc namespace joined by path: set in it (was refused)', async () => {
  await withNamespaces(['--ipc'], async (pid) => {
    const before = hostSysctl('kernel.shmmni');
    const out = await runOk(all(addNamespace('ipc', `/proc/${pid}/ns/ipc`), (s) => { s.linux!.sysctl = { 'kernel.shmmni': '1234' }; }, cmd('sysctl', 'kernel.shmmni')));
    assert.is(out.trim(), '1234');
    assert.is(sysctlIn(`--ipc=/proc/${pid}/ns/ipc`, 'kernel.shmmni'), '1234', 'the joined namespace has it');
    assert.is(hostSysctl('kernel.shmmni'), before);
  });
});

// ---- 5. no mount namespace ----

const withoutMountNs: Config = all(dropNamespace('mount'), (s) => {
  s.mounts = [];
  delete s.linux!.maskedPaths;
  delete s.linux!.readonlyPaths;
  s.root!.readonly = false;
});

test('a config without a mount namespace runs in the runtime\'s (was refused): the host\'s mount table and / propagation unchanged', async () => {
  await withRootfsCopy(async (rootfs) => {
    // Mounts at or below the rootfs, and "/" with its propagation (other
    // processes on a shared host may mount elsewhere meanwhile).
    const table = () => hostMounts().filter((m) => m.mountpoint === '/' || m.mountpoint.startsWith(path.dirname(rootfs))).map((m) => `${m.id} ${m.mountpoint} ${m.optional.join(',')}`).sort();
    const before = table();
    const out = await runOk(all(withoutMountNs, cmd('cat', '/etc/passwd')), { rootfs });
    assert.match(out, 'tester:x:1000:1000', 'the process runs in the rootfs');
    assert.equal(table(), before, 'no mount made, none changed');
  });
});

test('no mount namespace and masked paths: refused with runc\'s message', async () => {
  const r = await runIn(all(withoutMountNs, (s) => { s.linux!.maskedPaths = ['/proc/kcore']; }));
  assertOneLineError(r, 'linux.maskedPaths[0]');
  assert.match(r.stderr, 'unable to restrict sys entries without a private MNT namespace');
});

test('no mount namespace and a mount: refused (it would outlive the container in the runtime\'s table), nothing mounted', async () => {
  const before = hostMounts().length;
  const r = await runIn(all(withoutMountNs, addMounts({ destination: '/proc', type: 'proc', source: 'proc' })));
  assertOneLineError(r, 'mounts[0]');
  assert.match(r.stderr, 'needs a private mount namespace');
  assert.is(hostMounts().length, before);
});

// ---- 6. rootfsPropagation: all four values ----

for (const value of ['shared', 'slave', 'private', 'unbindable'] as const) {
  test(`linux.rootfsPropagation "${value}" with the rootfs on a shared host mount: works, shows in mountinfo inside, nothing leaks to the host${value === 'unbindable' ? ' (was: prepare rootfs: invalid argument)' : ''}`, async () => {
    await withTempDir('rootprop', async (dir) => {
      const rootfs = path.join(dir, 'rootfs');
      execFileSync('cp', ['-a', sharedTestRootfs(), rootfs]);
      const host = makeSharedMount(rootfs);
      const hostGroup = peerGroup(host, 'shared')!;
      const mountsBefore = mountsUnder(dir).length;
      const inside = parseMountinfo(await runOk(all((s) => { s.linux!.rootfsPropagation = value; }, cmd('mounts')), { rootfs }));
      const slash = inside.filter((m) => m.mountpoint === '/').pop()!;
      const fields = slash.optional.join(' ');
      if (value === 'shared') {
        assert.ok(peerGroup(slash, 'shared') !== undefined, `/ is shared: [${fields}]`);
        assert.is.not(peerGroup(slash, 'shared'), hostGroup, 'in a new peer group, not the host\'s');
        assert.is(peerGroup(slash, 'master'), undefined);
      } else if (value === 'slave') {
        assert.is(peerGroup(slash, 'master'), hostGroup, `/ is a slave of the host's peer group: [${fields}]`);
        assert.is(peerGroup(slash, 'shared'), undefined);
      } else if (value === 'private') {
        assert.equal(slash.optional, [], `/ is private: [${fields}]`);
      } else {
        assert.equal(slash.optional, ['unbindable'], `/ is unbindable: [${fields}]`);
      }
      assert.is(mountsUnder(dir).length, mountsBefore, 'the container\'s mounts did not propagate to the host');
    });
  });
}

// ---- 7. bidirectional mount propagation ----

test('rshared volume with rootfsPropagation rshared: a mount made inside reaches the host, and a host mount reaches the container (was: host saw nothing)', async () => {
  await withTempDir('bidir', async (dir) => {
    const vol = path.join(dir, 'vol');
    fs.mkdirSync(path.join(vol, 'in'), { recursive: true });
    fs.mkdirSync(path.join(vol, 'fromhost'), { recursive: true });
    const host = makeSharedMount(vol);
    const config = all(
      (s) => {
        s.linux!.rootfsPropagation = 'rshared';
        const caps = ['CAP_SYS_ADMIN', 'CAP_KILL'];
        s.process!.capabilities = { bounding: caps, effective: caps, permitted: caps };
        s.process!.args = ['/bin/sh', '-c', 'mount -t tmpfs capsa-test-inside /vol/in && echo made-inside > /vol/in/f && exec /bin/testinit sleep forever'];
      },
      addMounts({ destination: '/vol', type: 'bind', source: vol, options: ['rbind', 'rshared'] }),
    );
    await withDetached(config, async (pid, id) => {
      const inside = parseMountinfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8')).filter((m) => m.mountpoint === '/vol').pop()!;
      assert.is(peerGroup(inside, 'shared'), peerGroup(host, 'shared'), `the volume is in the host's peer group: [${inside.optional.join(' ')}]`);
      assert.is(peerGroup(inside, 'master'), undefined);
      // container -> host
      await until('the mount made inside to show on the host', () => (mountsUnder(path.join(vol, 'in')).length ? true : undefined));
      assert.is(fs.readFileSync(path.join(vol, 'in', 'f'), 'utf8'), 'made-inside\n');
      // host -> container
      execFileSync('mount', ['-t', 'tmpfs', 'capsa-test-fromhost', path.join(vol, 'fromhost')]);
      fs.writeFileSync(path.join(vol, 'fromhost', 'g'), 'made-on-host\n');
      const seen = await capsaOk(['exec', id, '/bin/testinit', 'cat', '/vol/fromhost/g']);
      assert.is(seen.stdout, 'made-on-host\n');
    });
  });
});

// ---- 8. /proc that cannot be read ----

// The Node build of the CLI: the Bun-compiled dist/capsa aborts in Bun's own
// start-up when /proc is missing, before any of capsa's code runs.
const NODE_CLI = path.join(path.dirname(CAPSA_BIN), 'capsa-node');
const noProcCli = fs.existsSync(NODE_CLI) ? NODE_CLI : CAPSA_BIN;

test('a /proc that cannot be read: one-line error naming the file, nothing left (was: internal error: Cannot read properties of undefined (reading \'startTime\'))', async () => {
  const b = makeBundle();
  try {
    // A mount namespace of its own for capsa, with a tmpfs over /proc.
    const r = await runCommand('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs capsa-test-noproc /proc && exec "$@"', 'sh',
      noProcCli, '--root', root, 'run', '-b', b.dir, b.id]);
    assertOneLineError(r, '/stat');
    assert.match(r.stderr, /read \/proc\/\d+\/stat: no such file or directory \(is procfs mounted on \/proc\?\)/);
    assert.not.match(r.stderr, 'internal error');
    assert.not.ok(fs.existsSync(path.join(root, b.id)), 'no state dir left');
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
});

test('a /proc that cannot be read: `state` of a running container is an error, not "stopped"', async () => {
  await withDetached(cmd('sleep', 'forever'), async (_pid, id) => {
    const r = await runCommand('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs capsa-test-noproc /proc && exec "$@"', 'sh',
      noProcCli, '--root', root, 'state', id]);
    assertOneLineError(r, '/stat');
    const st = JSON.parse((await capsaOk(['state', id])).stdout) as { status: string };
    assert.is(st.status, 'running', 'still running and still known');
  });
});

test.run();
