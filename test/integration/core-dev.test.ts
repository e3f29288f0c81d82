// The container's /dev, as root with real containers: default device nodes,
// symlinks, /dev/pts and /dev/shm, linux.devices, and devices in a user
// namespace (bind-mounted from the host, since mknod is not allowed there).
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Device } from '../../src/spec/types';
import { makeBundle } from '../helpers/bundle';
import { CAPSA_BIN, capsaSuite } from '../helpers/capsa';
import { all, cmd, type Config } from '../helpers/config';
import { parseMountinfo } from '../helpers/proc';
import { sharedTestRootfs, withRootfsCopy } from '../helpers/rootfs';
import { runnersFor } from '../helpers/run';

const { test, root, capsa } = capsaSuite('core-dev');
const { runIn, runOk } = runnersFor(capsa);

// ---- local helpers ----

/** Runs one container that stats every path: one line of `testinit stat` output per path, via a shell loop. */
async function statAll(paths: string[], config?: Config, opts: { rootfs?: string } = {}): Promise<Map<string, string>> {
  const script = paths.map((p) => `/bin/testinit stat ${p} || echo missing`).join('; ');
  const out = await runOk(all(config, (s) => { s.process!.args = ['/bin/sh', '-c', script]; }), opts);
  const lines = out.trimEnd().split('\n');
  assert.is(lines.length, paths.length, out);
  return new Map(paths.map((p, i) => [p, lines[i]!]));
}

const hasBusybox = fs.existsSync(path.join(sharedTestRootfs(), 'bin/sh'));

// ---- default devices ----

const DEFAULTS: [string, number, number][] = [
  ['/dev/null', 1, 3], ['/dev/zero', 1, 5], ['/dev/full', 1, 7],
  ['/dev/random', 1, 8], ['/dev/urandom', 1, 9], ['/dev/tty', 5, 0],
];

test('default devices exist as char devices with the right major/minor, mode 0666, owned by root', async () => {
  if (hasBusybox) {
    const st = await statAll(DEFAULTS.map(([p]) => p));
    for (const [p, maj, min] of DEFAULTS) assert.is(st.get(p), `type=char mode=0666 uid=0 gid=0 major=${maj} minor=${min}`, p);
  } else {
    for (const [p, maj, min] of DEFAULTS) assert.is(await runOk(cmd('stat', p)), `type=char mode=0666 uid=0 gid=0 major=${maj} minor=${min}\n`, p);
  }
});

test('default devices work: /dev/null and /dev/zero open, /dev/full says ENOSPC', async () => {
  assert.is(await runOk(cmd('open', '/dev/null', 'rw')), 'ok\n');
  assert.is(await runOk(cmd('open', '/dev/zero', 'r')), 'ok\n');
  assert.is(await runOk(cmd('open', '/dev/urandom', 'r')), 'ok\n');
  const full = await runIn(cmd('write', '/dev/full', 'x'));
  assert.is(full.stdout, 'ENOSPC\n');
  assert.is(await runOk(cmd('cat', '/dev/null')), '');
});

test('the container\'s /dev has only the default set, not the host\'s devices', async () => {
  const names = (await runOk(cmd('ls', '/dev'))).trim().split('\n').sort();
  for (const want of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm', 'mqueue', 'fd', 'stdin', 'stdout', 'stderr']) {
    assert.ok(names.includes(want), `/dev/${want} exists: ${names.join(' ')}`);
  }
  for (const host of fs.readdirSync('/dev')) {
    if (['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm', 'mqueue', 'fd', 'stdin', 'stdout', 'stderr', 'console', 'core'].includes(host)) continue;
    assert.not.ok(names.includes(host), `host device /dev/${host} is not in the container`);
  }
});

// ---- symlinks ----

test('/dev/ptmx is a symlink to pts/ptmx', async () => {
  assert.is(await runOk(cmd('readlink', '/dev/ptmx')), 'pts/ptmx\n');
  assert.is(await runOk(cmd('open', '/dev/ptmx', 'rw')), 'ok\n');
});

test('/dev/fd, /dev/stdin, /dev/stdout, /dev/stderr are symlinks into /proc/self/fd', async () => {
  assert.is(await runOk(cmd('readlink', '/dev/fd')), '/proc/self/fd\n');
  assert.is(await runOk(cmd('readlink', '/dev/stdin')), '/proc/self/fd/0\n');
  assert.is(await runOk(cmd('readlink', '/dev/stdout')), '/proc/self/fd/1\n');
  assert.is(await runOk(cmd('readlink', '/dev/stderr')), '/proc/self/fd/2\n');
  // and they work: writing to /dev/stdout reaches capsa's stdout (a file here:
  // node's stdio pipes are sockets, which cannot be reopened through /proc)
  const b = makeBundle({ config: cmd('write', '/dev/stdout', 'via /dev/stdout') });
  try {
    const outFile = path.join(b.dir, 'stdout');
    const out = fs.openSync(outFile, 'w');
    const child = spawn(CAPSA_BIN, ['--root', root, 'run', '-b', b.dir, b.id], { stdio: ['ignore', out, 'pipe'] });
    fs.closeSync(out);
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    const code = await new Promise<number | null>((resolve, reject) => { child.on('close', resolve); child.on('error', reject); });
    assert.is(code, 0, stderr);
    assert.is(fs.readFileSync(outFile, 'utf8'), 'via /dev/stdout');
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
});

// ---- /dev/pts and /dev/shm ----

test('/dev/pts is a new devpts instance (ptmxmode=666, mode=620, gid=5) and /dev/pts/ptmx is 5:2', async () => {
  const m = parseMountinfo(await runOk(cmd('mounts'))).filter((x) => x.mountpoint === '/dev/pts').pop();
  assert.ok(m, '/dev/pts is mounted');
  assert.is(m!.fstype, 'devpts');
  for (const o of ['ptmxmode=666', 'mode=620', 'gid=5']) assert.ok(m!.superOpts.includes(o), `${o} in ${m!.superOpts.join(',')}`);
  assert.match(await runOk(cmd('stat', '/dev/pts/ptmx')), /^type=char mode=0666 .* major=5 minor=2$/m);
  // a new instance: the host's ptys are not visible
  assert.is(await runOk(cmd('ls', '/dev/pts')), 'ptmx\n');
});

test('/dev/shm is a tmpfs with mode 1777 and is writable', async () => {
  const m = parseMountinfo(await runOk(cmd('mounts'))).filter((x) => x.mountpoint === '/dev/shm').pop();
  assert.ok(m, '/dev/shm is mounted');
  assert.is(m!.fstype, 'tmpfs');
  assert.match(await runOk(cmd('stat', '/dev/shm')), /^type=dir mode=1777 /);
  const r = await runIn(cmd('write', '/dev/shm/x', 'shared memory'));
  assert.is(r.code, 0, r.stderr);
});

// ---- linux.devices ----

const extraDevices = (...d: Device[]): Config => (s) => { s.linux!.devices = [...(s.linux!.devices ?? []), ...d]; };

test('linux.devices: a char device with fileMode, uid and gid', async () => {
  const config = extraDevices({ type: 'c', path: '/dev/capsa-null', major: 1, minor: 3, fileMode: 0o640, uid: 1000, gid: 1001 });
  assert.is(await runOk(all(config, cmd('stat', '/dev/capsa-null'))), 'type=char mode=0640 uid=1000 gid=1001 major=1 minor=3\n');
  // usable by its owner (root has no CAP_DAC_OVERRIDE in the default spec) once
  // the device cgroup allows it (like runc, linux.devices alone does not)
  const allow: Config = (s) => { s.linux!.resources = { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }] }; };
  const owner: Config = (s) => { s.process!.user = { uid: 1000, gid: 1001 }; };
  assert.is(await runOk(all(config, allow, owner, cmd('open', '/dev/capsa-null', 'w'))), 'ok\n');
  assert.is(await runOk(all(config, allow, cmd('open', '/dev/capsa-null', 'w'))), 'EACCES\n', 'mode 0640 applies to others');
});

test('linux.devices: a block device, a fifo and a device in a new subdirectory', async () => {
  const config = extraDevices(
    { type: 'b', path: '/dev/capsa-blk', major: 7, minor: 200, fileMode: 0o600, uid: 0, gid: 0 },
    { type: 'p', path: '/dev/capsa-fifo', fileMode: 0o620 },
    { type: 'c', path: '/dev/sub/dir/capsa-zero', major: 1, minor: 5, fileMode: 0o666 },
  );
  if (hasBusybox) {
    const st = await statAll(['/dev/capsa-blk', '/dev/capsa-fifo', '/dev/sub/dir/capsa-zero'], config);
    assert.is(st.get('/dev/capsa-blk'), 'type=block mode=0600 uid=0 gid=0 major=7 minor=200');
    assert.is(st.get('/dev/capsa-fifo'), 'type=fifo mode=0620 uid=0 gid=0');
    assert.is(st.get('/dev/sub/dir/capsa-zero'), 'type=char mode=0666 uid=0 gid=0 major=1 minor=5');
  } else {
    assert.is(await runOk(all(config, cmd('stat', '/dev/capsa-blk'))), 'type=block mode=0600 uid=0 gid=0 major=7 minor=200\n');
  }
});

test('linux.devices overriding a default device path uses the configured node', async () => {
  const config = extraDevices({ type: 'c', path: '/dev/tty', major: 1, minor: 3, fileMode: 0o600, uid: 0, gid: 0 });
  assert.is(await runOk(all(config, cmd('stat', '/dev/tty'))), 'type=char mode=0600 uid=0 gid=0 major=1 minor=3\n');
});

test('device nodes are created on the container\'s /dev tmpfs, not in the rootfs', async () => {
  await withRootfsCopy(async (rootfs) => {
    await runOk(all((s) => { s.root!.readonly = false; }, extraDevices({ type: 'c', path: '/dev/capsa-null', major: 1, minor: 3 }), cmd('true')), { rootfs });
    assert.equal(fs.readdirSync(path.join(rootfs, 'dev')), [], 'the rootfs /dev dir stays empty');
  });
});

test('a linux.devices path outside /dev is refused or created inside the rootfs only', async () => {
  await withRootfsCopy(async (rootfs) => {
    const r = await runIn(all((s) => { s.root!.readonly = false; }, extraDevices({ type: 'c', path: '/dev/../../../../tmp/capsa-test-escaped-null', major: 1, minor: 3 }), cmd('true')), { rootfs });
    assert.not.ok(fs.existsSync('/tmp/capsa-test-escaped-null'), 'no device node on the host');
    if (r.code !== 0) assert.match(r.stderr, 'linux.devices[');
  });
});

// ---- user namespace ----

test('in a user namespace the default devices are bind mounts of the host\'s nodes', async () => {
  const HOST_ID = 100000;
  await withRootfsCopy(async (rootfs) => {
    const userNs: Config = (s) => {
      s.linux!.namespaces = [...(s.linux!.namespaces ?? []), { type: 'user' }];
      s.linux!.uidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
    };
    // the host's nodes are owned by host root, which is unmapped: overflow ids inside
    const st = await runOk(all(userNs, cmd('stat', '/dev/null')), { rootfs });
    assert.is(st, 'type=char mode=0666 uid=65534 gid=65534 major=1 minor=3\n');
    const mounts = parseMountinfo(await runOk(all(userNs, cmd('mounts')), { rootfs }));
    for (const [p] of DEFAULTS) assert.ok(mounts.some((m) => m.mountpoint === p), `${p} is a bind mount`);
    assert.is(await runOk(all(userNs, cmd('open', '/dev/null', 'rw')), { rootfs }), 'ok\n');
    assert.is(await runOk(all(userNs, cmd('readlink', '/dev/ptmx')), { rootfs }), 'pts/ptmx\n');
  }, (r) => execFileSync('chown', ['-R', `${HOST_ID}:${HOST_ID}`, r]));
});

test.run();
