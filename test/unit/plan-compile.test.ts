// compile(config, host facts) → Plan, without root: the ops capsa-init will
// execute, in order, with every path, flag and mask resolved.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { compile, type CompileInput, type Plan } from '../../src/plan/compile';
import { compileExec } from '../../src/plan/compile-exec';
import { ATTR, MS } from '../../src/plan/mount-options';
import { CLONE, CREATE, MOUNT_KIND, RECURSIVE, SYNC, type Op, type OpOf, type OpName } from '../../src/plan/schema';
import { defaultSpec } from '../../src/spec/defaults';
import type { Spec } from '../../src/spec/types';

// 2^64-1 as configs write it; as a double it is 2^64, which JSON.stringify writes as 18446744073709552000.
const UINT64_MAX = 2 ** 64 - 1;

// ---- helpers ----

function spec(edit?: (s: Spec) => void): Spec {
  const s = defaultSpec();
  s.process!.terminal = false;
  s.process!.args = ['/bin/testinit', 'true'];
  edit?.(s);
  return s;
}

function input(s: Spec, over: Partial<CompileInput> = {}): CompileInput {
  return {
    spec: s,
    bundle: '/bundles/b1',
    rootfs: '/bundles/b1/rootfs',
    fifoPath: '/run/capsa/c1/exec.fifo',
    preserveFds: 0,
    noPivot: false,
    lastCap: 40,
    cgroupMounts: [{ name: '', hostDir: '/sys/fs/cgroup/capsa/c1' }],
    id: 'c1',
    isDirectory: () => true,
    ...over,
  };
}

function plan(edit?: (s: Spec) => void, over: Partial<CompileInput> = {}): Plan {
  return compile(input(spec(edit), over));
}

const names = (p: Plan) => p.ops.map((o) => o.op);
function only<N extends OpName>(p: Plan, name: N): OpOf<N>[] {
  return p.ops.filter((o): o is OpOf<N> => o.op === name);
}
function one<N extends OpName>(p: Plan, name: N): OpOf<N> {
  const found = only(p, name);
  assert.is(found.length, 1, `exactly one ${name} op, got ${found.length}`);
  return found[0]!;
}
const idx = (p: Plan, pred: (o: Op) => boolean) => p.ops.findIndex(pred);
const idxOf = (p: Plan, name: OpName) => idx(p, (o) => o.op === name);

/** Each predicate matches an op, in this order (other ops may sit between). */
function assertOrder(p: Plan, steps: (OpName | ((o: Op) => boolean))[]): void {
  let at = -1;
  for (const step of steps) {
    const pred = typeof step === 'string' ? (o: Op) => o.op === step : step;
    const next = p.ops.findIndex((o, i) => i > at && pred(o));
    assert.ok(next > at, `step ${typeof step === 'string' ? step : step.toString()} not found after index ${at} in: ${names(p).join(' ')}`);
    at = next;
  }
}

function throwsConfig(fn: () => unknown, configPath: string | RegExp, msg?: RegExp | string): CapsaError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CapsaError);
    const err = e as CapsaError;
    if (typeof configPath === 'string') assert.is(err.configPath, configPath, err.message);
    else assert.match(err.configPath ?? '', configPath);
    if (msg) assert.match(err.message, msg);
    assert.ok(err.message.startsWith('config.'), `message names the field: ${err.message}`);
    return err;
  }
  throw new assert.Assertion({ message: `expected a CapsaError for ${String(configPath)}`, operator: 'throws', actual: 'no error', expects: 'CapsaError' });
}

const isMountAt = (dest: string) => (o: Op) => o.op === 'mount' && o.destination === dest;

// ---- the default spec ----

test('default spec: the op sequence', () => {
  const p = plan();
  // First capsa-init leaves any CPU pinning of the runtime behind (runc does).
  assert.is(p.ops[0]!.op, 'cpuAffinity');
  assert.is((p.ops[0] as OpOf<'cpuAffinity'>).mask.length, 0);
  assert.is(p.ops[1]!.op, 'sync');
  assert.is((p.ops[1] as OpOf<'sync'>).code, SYNC.READY);
  assert.is(p.ops[p.ops.length - 1]!.op, 'exec');
  assertOrder(p, [
    'cpuAffinity', 'sync', 'openFifo', 'rootfsTree', 'clone', 'setsid', 'rootPropagation', 'attachRootfs',
    isMountAt('/proc'), isMountAt('/dev'), isMountAt('/dev/pts'), isMountAt('/dev/shm'), isMountAt('/dev/mqueue'), isMountAt('/sys'), isMountAt('/sys/fs/cgroup'),
    'mknod', 'symlink', 'mkdir', 'pivotRoot', 'mask', 'readonlyPath', 'rootReadonly', 'hostname',
    'rlimit', 'capBounding', 'openCwd', 'closeFds', 'creds', 'umask', 'chdir', 'resolveExec', 'reportCreated', 'waitStart', 'noNewPrivs', 'exec',
  ]);
  assert.not.ok(p.needsIdMaps);
  assert.not.ok(p.hasHooksSync);
  for (const o of p.ops) assert.ok(o.what, `op ${o.op} says what it does`);
});

test('default spec: clone flags are exactly the five new namespaces, nothing is joined', () => {
  const p = plan();
  assert.is(one(p, 'clone').flags, CLONE.NEWPID | CLONE.NEWNET | CLONE.NEWIPC | CLONE.NEWUTS | CLONE.NEWNS);
  assert.is(only(p, 'setns').length, 0);
  assert.is(only(p, 'unshare').length, 0);
  assert.is(only(p, 'setRootIds').length, 0);
});

test('default spec: mounts in config order with their config paths', () => {
  const s = spec();
  const p = compile(input(s));
  const mounts = only(p, 'mount').filter((m) => m.configPath?.startsWith('mounts['));
  const firstPerIndex = new Map<string, OpOf<'mount'>>();
  for (const m of mounts) if (!firstPerIndex.has(m.configPath!)) firstPerIndex.set(m.configPath!, m);
  assert.equal([...firstPerIndex.keys()], s.mounts!.map((_, i) => `mounts[${i}]`));
  assert.equal([...firstPerIndex.values()].map((m) => m.destination), s.mounts!.map((m) => m.destination));
  const proc = p.ops.find(isMountAt('/proc')) as OpOf<'mount'>;
  assert.is(proc.kind, MOUNT_KIND.FS);
  assert.is(proc.fstype, 'proc');
  assert.is(proc.create, CREATE.DIR);
  const dev = p.ops.find(isMountAt('/dev')) as OpOf<'mount'>;
  assert.equal(dev.data, ['mode=755', 'size=65536k']);
  assert.is(BigInt(dev.attrSet) & (ATTR.NOSUID | ATTR.STRICTATIME), ATTR.NOSUID | ATTR.STRICTATIME);
  const sys = p.ops.find(isMountAt('/sys')) as OpOf<'mount'>;
  assert.is(BigInt(sys.attrSet), ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC);
  assert.is(sys.fallbackBindSource, '', 'no /sys bind fallback outside a user namespace');
});

test('default spec: the six default devices by mknod, then the /dev symlinks', () => {
  const p = plan();
  const nodes = only(p, 'mknod');
  assert.equal(nodes.map((n) => [n.path, n.major, n.minor, n.mode]), [
    ['/dev/null', 1, 3, 0o020666], ['/dev/zero', 1, 5, 0o020666], ['/dev/full', 1, 7, 0o020666],
    ['/dev/random', 1, 8, 0o020666], ['/dev/urandom', 1, 9, 0o020666], ['/dev/tty', 5, 0, 0o020666],
  ]);
  const links = only(p, 'symlink').map((l) => [l.path, l.target]);
  assert.equal(links, [
    ['/dev/fd', '/proc/self/fd'], ['/dev/stdin', '/proc/self/fd/0'], ['/dev/stdout', '/proc/self/fd/1'],
    ['/dev/stderr', '/proc/self/fd/2'], ['/dev/ptmx', 'pts/ptmx'],
  ]);
  assert.ok(idx(p, (o) => o.op === 'mknod') > idx(p, isMountAt('/dev')), 'devices after the /dev tmpfs');
  assert.ok(idxOf(p, 'mknod') < idxOf(p, 'pivotRoot'));
});

test('default spec: masks and read-only paths after pivot_root, in config order', () => {
  const s = spec();
  const p = compile(input(s));
  assert.equal(only(p, 'mask').map((m) => m.path), s.linux!.maskedPaths);
  assert.equal(only(p, 'mask').map((m) => m.configPath), s.linux!.maskedPaths!.map((_, i) => `linux.maskedPaths[${i}]`));
  assert.equal(only(p, 'readonlyPath').map((m) => m.path), s.linux!.readonlyPaths);
  assert.ok(idxOf(p, 'mask') > idxOf(p, 'pivotRoot'));
  assert.ok(idxOf(p, 'readonlyPath') > idxOf(p, 'mask'));
});

test('default spec: process identity, limits and the exec', () => {
  const p = plan();
  assert.equal(one(p, 'hostname').name, 'runc');
  const rl = one(p, 'rlimit');
  assert.equal([rl.resource, BigInt(rl.soft), BigInt(rl.hard)], [7, 1024n, 1024n]);
  const creds = one(p, 'creds');
  assert.equal([creds.uid, creds.gid, creds.groups], [0, 0, []]);
  const caps = (1n << 29n) | (1n << 5n) | (1n << 10n);
  assert.is(BigInt(creds.effective), caps);
  assert.is(BigInt(creds.permitted), caps);
  assert.is(BigInt(creds.inheritable), 0n);
  assert.is(BigInt(creds.ambient), 0n, 'ambient needs inheritable too');
  assert.is(BigInt(one(p, 'capBounding').keep), caps);
  assert.is(one(p, 'umask').mask, 0o022);
  assert.is(one(p, 'chdir').path, '/');
  assert.is(one(p, 'mkdir').path, '/');
  assert.is(one(p, 'openFifo').path, '/run/capsa/c1/exec.fifo');
  assert.is(one(p, 'rootfsTree').path, '/bundles/b1/rootfs');
  assert.is(one(p, 'closeFds').first, 3);
  const exec = one(p, 'exec');
  assert.equal(exec.argv, ['/bin/testinit', 'true']);
  assert.equal(exec.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm', 'HOME=/']);
  const re = one(p, 'resolveExec');
  assert.equal([re.file, re.path], ['/bin/testinit', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  assert.ok(idxOf(p, 'noNewPrivs') > idxOf(p, 'waitStart'), 'no_new_privs right before exec');
});

test('rootfs propagation: rslave by default, before the rootfs is attached; the rootfs tree gets the same', () => {
  const p = plan();
  assert.is(one(p, 'rootPropagation').flags, MS.SLAVE | MS.REC);
  assert.ok(idxOf(p, 'rootPropagation') < idxOf(p, 'attachRootfs'));
  assert.is(one(p, 'rootfsTree').propagation, MS.SLAVE);
  assert.is(one(p, 'rootfsTree').recursive, 1);
  assert.is(only(p, 'rootPropagationAfter').length, 0);
});

test('rootfs: opened by P before the clone (and before any user namespace); a joined mount namespace binds it in C instead', () => {
  const p = plan((s) => {
    s.linux!.namespaces = [...s.linux!.namespaces!, { type: 'user' }];
    s.linux!.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
  });
  assert.ok(idxOf(p, 'rootfsTree') < idxOf(p, 'unshare'));
  assert.ok(idxOf(p, 'openFifo') < idxOf(p, 'unshare'));
  assert.is(one(p, 'rootfsTree').attrClear, 0n);
  const joined = plan((s) => { s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'mount' ? { type: 'mount', path: '/proc/1/ns/mnt' } : n)); });
  assert.is(only(joined, 'rootfsTree').length, 0);
  assert.ok(idxOf(joined, 'rootfs') > idxOf(joined, 'clone'));
});

test('masked and read-only paths under /proc and /sys are resolved beneath those mounts (slots); special-fs destinations refuse symlinks', () => {
  const p = plan((s) => {
    s.linux!.maskedPaths = ['/proc/kcore', '/sys/firmware', '/etc/secret', '/proc//keys', '/proc'];
    s.linux!.readonlyPaths = ['/proc/sys', '/data'];
  });
  const proc = only(p, 'mount').find((m) => m.destination === '/proc')!;
  const sys = only(p, 'mount').find((m) => m.destination === '/sys')!;
  assert.is(proc.noSymlinks, 1);
  assert.is(sys.noSymlinks, 1);
  assert.is(only(p, 'mount').find((m) => m.destination === '/dev')!.noSymlinks, 0);
  assert.ok(proc.slot > 0 && sys.slot > 0 && proc.slot !== sys.slot);
  const masks = only(p, 'mask').map((m) => [m.path, m.slot, m.rel]);
  assert.equal(masks, [['/proc/kcore', proc.slot, 'kcore'], ['/sys/firmware', sys.slot, 'firmware'], ['/etc/secret', 0, ''], ['/proc/keys', proc.slot, 'keys'], ['/proc', proc.slot, '']]);
  assert.equal(only(p, 'readonlyPath').map((m) => [m.path, m.slot, m.rel]), [['/proc/sys', proc.slot, 'sys'], ['/data', 0, '']]);
});

test('masks follow the last special mount at an ancestor: a second procfs at /proc wins; a bind at /proc/meminfo does not take the mask out of procfs', () => {
  const p = plan((s) => {
    s.mounts = [...s.mounts!, { destination: '/proc', type: 'proc', source: 'proc' }, { destination: '/proc/meminfo', type: 'bind', source: '/proc/meminfo', options: ['bind'] }];
    s.linux!.maskedPaths = ['/proc/meminfo'];
  });
  const procs = only(p, 'mount').filter((m) => m.destination === '/proc');
  assert.is(procs[0]!.slot, 0);
  assert.ok(procs[1]!.slot > 0);
  assert.equal(only(p, 'mask').map((m) => [m.slot, m.rel]), [[procs[1]!.slot, 'meminfo']]);
});

test('rootfs propagation: runc\'s order (value on "/" first, rootfs attached on a mount that is not shared), then the value on the new root', () => {
  const ops = (v?: string) => plan((s) => { s.linux!.rootfsPropagation = v; });
  // [before, mount holding the rootfs if shared, after pivot_root]
  const steps = (v?: string) => {
    const p = ops(v);
    const after = only(p, 'rootPropagationAfter');
    if (after.length) assert.ok(idxOf(p, 'rootPropagationAfter') > idxOf(p, 'pivotRoot'));
    assert.ok(idxOf(p, 'rootPropagation') < idxOf(p, 'attachRootfs'));
    const tree = one(p, 'rootfsTree');
    return [one(p, 'rootPropagation').flags, tree.propagation | (tree.recursive ? MS.REC : 0), one(p, 'attachRootfs').sharedParent, after[0]?.flags ?? 0];
  };
  // [before on "/", the rootfs tree P copies, the mount it is attached on if shared, after pivot_root]
  assert.equal(steps(undefined), [MS.SLAVE | MS.REC, MS.SLAVE | MS.REC, MS.SLAVE, 0], 'default: rslave, nothing after');
  assert.equal(steps('rshared'), [MS.SHARED | MS.REC, MS.PRIVATE | MS.REC, MS.PRIVATE, MS.SHARED], 'rshared keeps the host\'s peer groups for volumes');
  assert.equal(steps('shared'), [MS.SHARED, MS.PRIVATE, MS.PRIVATE, MS.SHARED]);
  assert.equal(steps('rslave'), [MS.SLAVE | MS.REC, MS.SLAVE | MS.REC, MS.SLAVE, MS.SLAVE]);
  assert.equal(steps('slave'), [MS.SLAVE, MS.SLAVE, MS.SLAVE, MS.SLAVE]);
  assert.equal(steps('private'), [MS.PRIVATE, MS.PRIVATE, MS.PRIVATE, MS.PRIVATE]);
  assert.equal(steps('rprivate'), [MS.PRIVATE | MS.REC, MS.PRIVATE | MS.REC, MS.PRIVATE, MS.PRIVATE]);
  assert.equal(steps('unbindable'), [MS.PRIVATE, MS.PRIVATE, MS.PRIVATE, MS.UNBINDABLE], 'unbindable only once the rootfs is attached');
  assert.equal(steps('runbindable'), [MS.PRIVATE | MS.REC, MS.PRIVATE | MS.REC, MS.PRIVATE, MS.UNBINDABLE]);
  // a joined mount namespace: the rootfs is bound in C, from a mount made not shared first
  const joined = plan((s) => { s.linux!.rootfsPropagation = 'rshared'; s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'mount' ? { type: 'mount', path: '/proc/1/ns/mnt' } : n)); });
  assert.equal([one(joined, 'rootfs').bind, one(joined, 'rootfs').sharedParent], [1, MS.PRIVATE]);
  throwsConfig(() => plan((s) => { s.linux!.rootfsPropagation = 'sideways'; }), 'linux.rootfsPropagation', /sideways/);
});

test('--no-pivot: moveRoot instead of pivotRoot', () => {
  const p = plan(undefined, { noPivot: true });
  assert.is(only(p, 'pivotRoot').length, 0);
  const i = idxOf(p, 'moveRoot');
  assert.ok(i > 0);
  assert.ok(i > idxOf(p, 'mknod') && i < idxOf(p, 'mask'));
});

test('root.readonly false: no rootReadonly op', () => {
  assert.is(only(plan((s) => { s.root!.readonly = false; }), 'rootReadonly').length, 0);
});

// ---- namespaces ----

function userNs(s: Spec): void {
  s.linux!.namespaces!.push({ type: 'user' });
  s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
}

test('user namespace: unshare, sync MAPS, become root, then clone the rest', () => {
  const p = plan(userNs);
  assertOrder(p, [
    (o) => o.op === 'sync' && o.code === SYNC.READY,
    (o) => o.op === 'unshare' && o.flags === CLONE.NEWUSER,
    (o) => o.op === 'sync' && o.code === SYNC.MAPS,
    'setRootIds',
    'clone',
  ]);
  assert.is(one(p, 'clone').flags & CLONE.NEWUSER, 0, 'the user ns is not made twice');
  assert.is(one(p, 'clone').flags, CLONE.NEWPID | CLONE.NEWNET | CLONE.NEWIPC | CLONE.NEWUTS | CLONE.NEWNS);
  assert.ok(p.needsIdMaps);
});

test('user namespace: devices are bind mounts of the host nodes, sysfs may fall back to a bind', () => {
  const p = plan(userNs);
  assert.is(only(p, 'mknod').length, 0);
  const binds = only(p, 'mount').filter((m) => m.configPath === 'linux.devices (default)');
  assert.equal(binds.map((b) => [b.source, b.destination, b.kind, b.create]), [
    '/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty',
  ].map((d) => [d, d, MOUNT_KIND.BIND, CREATE.FILE]));
  assert.is((p.ops.find(isMountAt('/sys')) as OpOf<'mount'>).fallbackBindSource, '/sys');
});

test('user namespace without mappings, and mappings without a user namespace, are refused', () => {
  throwsConfig(() => plan((s) => { s.linux!.namespaces!.push({ type: 'user' }); }), 'linux.uidMappings');
  throwsConfig(() => plan((s) => { s.linux!.namespaces!.push({ type: 'user' }); s.linux!.uidMappings = [{ containerID: 0, hostID: 1, size: 1 }]; }), 'linux.gidMappings');
  throwsConfig(() => plan((s) => { s.linux!.uidMappings = [{ containerID: 0, hostID: 1, size: 1 }]; }), 'linux.uidMappings');
});

test('joined namespaces: setns ops before clone, user first, not in the clone flags', () => {
  const p = plan((s) => {
    s.linux!.namespaces = [
      { type: 'pid' }, { type: 'mount' },
      { type: 'network', path: '/proc/42/ns/net' },
      { type: 'uts', path: '/proc/42/ns/uts' },
      { type: 'ipc', path: '/proc/42/ns/ipc' },
      { type: 'user', path: '/proc/42/ns/user' },
    ];
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    delete s.hostname;
  });
  const setns = only(p, 'setns');
  assert.equal(setns.map((o) => [o.path, o.nstype]), [
    ['/proc/42/ns/user', CLONE.NEWUSER], ['/proc/42/ns/ipc', CLONE.NEWIPC],
    ['/proc/42/ns/uts', CLONE.NEWUTS], ['/proc/42/ns/net', CLONE.NEWNET],
  ]);
  assert.ok(idxOf(p, 'setns') > idxOf(p, 'sync'), 'after READY (cgroups joined from the host side)');
  assert.ok(p.ops.lastIndexOf(setns[3]!) < idxOf(p, 'clone'));
  assert.is(one(p, 'clone').flags, CLONE.NEWPID | CLONE.NEWNS);
  assert.not.ok(p.needsIdMaps, 'a joined user ns already has its maps');
  assert.is(only(p, 'unshare').length, 0);
  for (const o of setns) assert.is(o.configPath, 'linux.namespaces');
});

test('joined namespaces: every type has its setns flag and order', () => {
  const types = ['cgroup', 'mount', 'pid', 'network', 'uts', 'ipc', 'time'] as const;
  const p = plan((s) => {
    s.linux!.namespaces = types.map((type) => ({ type, path: `/ns/${type}` }));
    delete s.hostname;
  });
  assert.equal(only(p, 'setns').map((o) => [o.path, o.nstype]), [
    ['/ns/ipc', CLONE.NEWIPC], ['/ns/uts', CLONE.NEWUTS], ['/ns/network', CLONE.NEWNET], ['/ns/pid', CLONE.NEWPID],
    ['/ns/mount', CLONE.NEWNS], ['/ns/cgroup', CLONE.NEWCGROUP], ['/ns/time', CLONE.NEWTIME],
  ]);
  assert.is(one(p, 'clone').flags, 0);
});

test('no mount namespace: the runtime\'s is kept as it is, the rootfs entered by chroot; anything that would mount is refused', () => {
  const noMnt = (s: Spec) => {
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount');
    s.mounts = [];
    delete s.linux!.maskedPaths;
    delete s.linux!.readonlyPaths;
    s.root!.readonly = false;
  };
  const p = plan(noMnt);
  assert.is(only(p, 'rootPropagation').length, 0, 'the runtime\'s "/" is not made rslave (runc does)');
  assert.is(one(p, 'rootfs').bind, 0, 'no bind of the rootfs in the runtime\'s mount namespace');
  assert.is(only(p, 'pivotRoot').length + only(p, 'moveRoot').length, 0);
  assertOrder(p, ['rootfs', 'mknod', 'symlink', 'chroot', 'hostname', 'exec']);
  assert.is(one(plan(noMnt, { noPivot: true }), 'chroot').op, 'chroot', '--no-pivot too: no MS_MOVE in the runtime\'s table');
  assert.is(one(plan((s) => { noMnt(s); s.process!.terminal = true; }, { consoleFd: 5 }), 'console').bindConsole, 0);
  // runc's one rule, with its message
  throwsConfig(() => plan((s) => { noMnt(s); s.linux!.maskedPaths = ['/proc/kcore']; }), 'linux.maskedPaths[0]', /unable to restrict sys entries without a private MNT namespace/);
  throwsConfig(() => plan((s) => { noMnt(s); s.linux!.readonlyPaths = ['/proc/sys']; }), 'linux.readonlyPaths[0]', /unable to restrict sys entries without a private MNT namespace/);
  // capsa's: mounts would stay in the runtime's namespace after delete
  throwsConfig(() => plan((s) => { noMnt(s); s.mounts = [{ destination: '/proc', type: 'proc', source: 'proc' }]; }), 'mounts[0]', /private mount namespace/);
  throwsConfig(() => plan((s) => { noMnt(s); s.root!.readonly = true; }), 'root.readonly', /private mount namespace/);
  throwsConfig(() => plan((s) => { noMnt(s); s.linux!.rootfsPropagation = 'shared'; }), 'linux.rootfsPropagation', /private mount namespace/);
  throwsConfig(() => plan((s) => { noMnt(s); s.linux!.namespaces!.push({ type: 'user' }); s.linux!.uidMappings = s.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }]; }), /^linux\.devices/, /private mount namespace/);
  // joining the runtime's own mount namespace by path is the same as not listing one
  const own = plan((s) => { noMnt(s); s.linux!.namespaces!.push({ type: 'mount', path: '/proc/self/ns/mnt' }); }, { isRuntimeNamespace: (t, path) => t === 'mount' && path === '/proc/self/ns/mnt' });
  assert.is(one(own, 'rootfs').bind, 0);
});

const joinBy = (type: string, path: string) => (s: Spec) => {
  s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === type ? { type: n.type, path } : n));
};
/** The runtime's own namespaces are at /host/ns/<type> in these tests. */
const runtimeNs: Partial<CompileInput> = { isRuntimeNamespace: (type, path) => path === `/host/ns/${type}` };

test('hostname and domainname need a uts namespace other than the runtime\'s (new, or joined by path)', () => {
  const noUts = (s: Spec) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts'); };
  throwsConfig(() => plan(noUts), 'hostname', /UTS/);
  throwsConfig(() => plan((s) => { noUts(s); delete s.hostname; s.domainname = 'd'; }), 'domainname', /UTS/);
  throwsConfig(() => plan(joinBy('uts', '/host/ns/uts'), runtimeNs), 'hostname', /UTS/);
  throwsConfig(() => plan((s) => { joinBy('uts', '/host/ns/uts')(s); delete s.hostname; s.domainname = 'd'; }, runtimeNs), 'domainname', /UTS/);
  const joined = plan((s) => { joinBy('uts', '/run/pod/uts')(s); s.hostname = 'pod'; s.domainname = 'example.org'; }, runtimeNs);
  assert.is(one(joined, 'hostname').name, 'pod');
  assert.is(one(joined, 'domainname').name, 'example.org');
  assert.ok(idxOf(joined, 'setns') < idxOf(joined, 'clone') && idxOf(joined, 'hostname') > idxOf(joined, 'clone'));
  const p = plan((s) => { s.domainname = 'example.org'; });
  assert.is(one(p, 'domainname').name, 'example.org');
  assert.is(only(plan((s) => { delete s.hostname; }), 'hostname').length, 0);
});

test('cgroup and time namespaces: cgroup in the clone flags, time by unshare before clone', () => {
  const p = plan((s) => { s.linux!.namespaces!.push({ type: 'cgroup' }, { type: 'time' }); });
  assert.ok(one(p, 'clone').flags & CLONE.NEWCGROUP);
  assert.is(one(p, 'clone').flags & CLONE.NEWTIME, 0);
  const u = one(p, 'unshare');
  assert.is(u.flags, CLONE.NEWTIME);
  assert.ok(idxOf(p, 'unshare') < idxOf(p, 'clone'), 'time ns applies to children, so unshare before clone');
  assert.is(only(p, 'writeProc').filter((w) => w.path === 'self/timens_offsets').length, 0, 'no offsets given, none written');
});

test('time offsets: timens_offsets content, written after unshare and before clone', () => {
  const p = plan((s) => {
    s.linux!.namespaces!.push({ type: 'time' });
    s.linux!.timeOffsets = { monotonic: { secs: 3600, nanosecs: 5 }, boottime: { secs: -10 } };
  });
  const w = only(p, 'writeProc').find((o) => o.path === 'self/timens_offsets')!;
  assert.ok(w, 'a timens_offsets write');
  assert.is(w.content, 'monotonic 3600 5\nboottime -10 0\n');
  assert.is(w.configPath, 'linux.timeOffsets');
  assert.ok(idxOf(p, 'unshare') < p.ops.indexOf(w) && p.ops.indexOf(w) < idxOf(p, 'clone'));
  throwsConfig(() => plan((s) => { s.linux!.timeOffsets = { boottime: { secs: 1 } }; }), 'linux.timeOffsets');
});

// ---- mounts ----

test('bind mounts: source resolved against the bundle, dir or file by isDirectory, rbind recursive', () => {
  const p = plan((s) => {
    s.mounts = [
      { destination: '/data', type: 'bind', source: 'shared', options: ['rbind', 'ro'] },
      { destination: '/etc/file.conf', source: '/host/file.conf', options: ['bind'] },
    ];
  }, { isDirectory: (p) => !p.endsWith('.conf') });
  const [data, file] = only(p, 'mount');
  assert.equal([data!.kind, data!.source, data!.destination, data!.create, data!.recursive & RECURSIVE.BIND], [MOUNT_KIND.BIND, '/bundles/b1/shared', '/data', CREATE.DIR, RECURSIVE.BIND]);
  assert.is(BigInt(data!.attrSet) & ATTR.RDONLY, ATTR.RDONLY);
  assert.equal([file!.kind, file!.source, file!.create, file!.recursive], [MOUNT_KIND.BIND, '/host/file.conf', CREATE.FILE, 0]);
  assert.equal(data!.data, [], 'no filesystem data for a bind');
});

test('mounts: a bind needs a source, a filesystem mount needs a type', () => {
  throwsConfig(() => plan((s) => { s.mounts = [{ destination: '/x', options: ['bind'] }]; }), 'mounts[0].source');
  throwsConfig(() => plan((s) => { s.mounts = [{ destination: '/ok', type: 'tmpfs' }, { destination: '/x', source: 'x' }]; }), 'mounts[1].type');
});

test('mounts: idmap is refused naming the mount', () => {
  throwsConfig(() => plan((s) => { s.mounts!.push({ destination: '/x', type: 'bind', source: '/x', options: ['bind', 'idmap'] }); }), /^mounts\[\d+\]\.options$/);
});

test('cgroup mount on a cgroup v2 host: a bind of the container\'s dir, or cgroup2 with a cgroup ns', () => {
  const cg = (p: Plan) => only(p, 'mount').filter((m) => m.configPath === 'mounts[6]');
  const bind = cg(plan());
  assert.is(bind.length, 1);
  assert.equal([bind[0]!.kind, bind[0]!.source, bind[0]!.destination], [MOUNT_KIND.BIND, '/sys/fs/cgroup/capsa/c1', '/sys/fs/cgroup']);
  assert.is(BigInt(bind[0]!.attrSet) & ATTR.RDONLY, ATTR.RDONLY);
  const fresh = cg(plan((s) => { s.linux!.namespaces!.push({ type: 'cgroup' }); }));
  assert.equal([fresh[0]!.kind, fresh[0]!.fstype], [MOUNT_KIND.FS, 'cgroup2']);
});

test('cgroup mount on a v1/hybrid host: a tmpfs, one bind per v1 hierarchy (not the unified one, as runc), then read-only', () => {
  const cgroupMounts = [
    { name: 'cpu', hostDir: '/sys/fs/cgroup/cpu/capsa/c1' },
    { name: 'memory', hostDir: '/sys/fs/cgroup/memory/capsa/c1' },
    { name: 'unified', hostDir: '/sys/fs/cgroup/unified/capsa/c1' },
  ];
  const ops = only(plan(undefined, { cgroupMounts }), 'mount').filter((m) => m.configPath === 'mounts[6]');
  assert.equal(ops.map((o) => [o.kind, o.destination, o.source]), [
    [MOUNT_KIND.FS, '/sys/fs/cgroup', 'tmpfs'],
    [MOUNT_KIND.BIND, '/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu/capsa/c1'],
    [MOUNT_KIND.BIND, '/sys/fs/cgroup/memory', '/sys/fs/cgroup/memory/capsa/c1'],
    [MOUNT_KIND.SETATTR, '/sys/fs/cgroup', ''],
  ]);
  assert.is(BigInt(ops[0]!.attrSet) & ATTR.RDONLY, 0n, 'the tmpfs is made ro only after the binds');
  assert.is(BigInt(ops[3]!.attrSet), ATTR.RDONLY);
});

test('/dev/ptmx is the symlink to pts/ptmx even when linux.devices lists the host\'s (podman --privileged), and without a /dev/pts mount (runc)', () => {
  const p = plan((s) => { s.linux!.devices = [{ type: 'c', path: '/dev/ptmx', major: 5, minor: 2, fileMode: 8630 }, { type: 'c', path: '/dev/fuse', major: 10, minor: 229 }]; });
  assert.not.ok(only(p, 'mknod').some((n) => n.path === '/dev/ptmx'), 'no node of the host\'s ptmx');
  assert.is(only(p, 'mknod').find((n) => n.path === '/dev/fuse')!.configPath, 'linux.devices[1]');
  assert.ok(only(p, 'symlink').some((l) => l.path === '/dev/ptmx' && l.target === 'pts/ptmx'));
  const noPts = plan((s) => { s.mounts = s.mounts!.filter((m) => m.destination !== '/dev/pts'); });
  assert.ok(only(noPts, 'symlink').some((l) => l.path === '/dev/ptmx'));
});

test('no /dev setup when the config bind-mounts /dev', () => {
  const p = plan((s) => {
    s.mounts = s.mounts!.filter((m) => !m.destination.startsWith('/dev'));
    s.mounts.push({ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] });
  });
  assert.is(only(p, 'mknod').length, 0);
  assert.is(only(p, 'symlink').length, 0);
});

test('linux.devices: added after the defaults, replacing a default with the same path', () => {
  const p = plan((s) => {
    s.linux!.devices = [
      { type: 'c', path: '/dev/tty', major: 1, minor: 3, fileMode: 0o600, uid: 5, gid: 6 },
      { type: 'b', path: '/dev/loop9', major: 7, minor: 9 },
      { type: 'p', path: '/dev/fifo' },
      { type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 8630 },
    ];
  });
  const nodes = only(p, 'mknod');
  assert.equal(nodes.map((n) => n.path), ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/loop9', '/dev/fifo', '/dev/fuse']);
  const tty = nodes.find((n) => n.path === '/dev/tty')!;
  assert.equal([tty.mode, tty.major, tty.minor, tty.uid, tty.gid, tty.configPath], [0o020600, 1, 3, 5, 6, 'linux.devices[0]']);
  assert.equal([nodes[6]!.mode, nodes[6]!.configPath], [0o060666, 'linux.devices[1]']);
  assert.is(nodes[7]!.mode, 0o010666);
  assert.is(nodes[8]!.mode, 0o020666, 'podman\'s whole st_mode (8630): the type bits once, the permission bits as given');
  assert.is(only(p, 'symlink').length, 5);
});

// ---- sysctl ----

test('sysctl: keys become /proc/sys paths, after pivot_root', () => {
  const p = plan((s) => { s.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000', 'fs.mqueue.msg_max': '20', 'kernel.domainname': 'x' }; });
  assert.equal(only(p, 'sysctl').map((o) => [o.key, o.value, o.configPath]), [
    ['net/ipv4/ip_forward', '1', 'linux.sysctl["net.ipv4.ip_forward"]'],
    ['kernel/shmmax', '1000', 'linux.sysctl["kernel.shmmax"]'],
    ['fs/mqueue/msg_max', '20', 'linux.sysctl["fs.mqueue.msg_max"]'],
    ['kernel/domainname', 'x', 'linux.sysctl["kernel.domainname"]'],
  ]);
  assert.ok(idxOf(p, 'sysctl') > idxOf(p, 'pivotRoot'));
  assert.ok(idxOf(p, 'sysctl') < idxOf(p, 'readonlyPath'), 'before /proc/sys is made read-only');
});

test('sysctl: each key must belong to a namespace of the container\'s own', () => {
  const without = (type: string) => (s: Spec) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== type); if (type === 'uts') delete s.hostname; };
  const bad = (edit: (s: Spec) => void, key: string) => throwsConfig(() => plan((s) => { edit(s); s.linux!.sysctl = { [key]: '1' }; }), `linux.sysctl["${key}"]`, new RegExp(key.replace(/\./g, '\\.')));
  bad(without('network'), 'net.ipv4.ip_forward');
  bad(without('ipc'), 'kernel.msgmax');
  bad(without('ipc'), 'fs.mqueue.queues_max');
  bad(without('uts'), 'kernel.hostname');
  bad(() => {}, 'vm.swappiness');
  bad(() => {}, 'kernel.pid_max');
  bad(() => {}, 'kernel.hostname'); // even with a uts namespace: it conflicts with the hostname field (runc)
  // joined by path: refused only when it is the runtime's own namespace
  const badHost = (type: string, key: string) => throwsConfig(() => plan((s) => { joinBy(type, `/host/ns/${type}`)(s); delete s.hostname; s.linux!.sysctl = { [key]: '1' }; }, runtimeNs), `linux.sysctl["${key}"]`);
  badHost('network', 'net.core.somaxconn');
  badHost('ipc', 'kernel.shmmax');
  badHost('uts', 'kernel.domainname');
  const pod = plan((s) => {
    joinBy('network', '/var/run/netns/cni-1')(s);
    joinBy('ipc', '/proc/123/ns/ipc')(s);
    joinBy('uts', '/proc/123/ns/uts')(s);
    s.linux!.sysctl = { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647', 'kernel.shmmax': '1000', 'kernel.domainname': 'pod' };
  }, runtimeNs);
  assert.equal(only(pod, 'sysctl').map((o) => o.key), ['net/ipv4/ip_unprivileged_port_start', 'net/ipv4/ping_group_range', 'kernel/shmmax', 'kernel/domainname']);
});

test('sysctl: "/" as the separator (sysctl(8) style), a "." then belonging to a name', () => {
  const p = plan((s) => { s.linux!.sysctl = { 'net/ipv4/conf/eth0.100/rp_filter': '1', 'net.ipv4.conf.eth0/100.forwarding': '0', 'net/core/somaxconn': '256' }; });
  assert.equal(only(p, 'sysctl').map((o) => o.key), ['net/ipv4/conf/eth0.100/rp_filter', 'net/ipv4/conf/eth0.100/forwarding', 'net/core/somaxconn']);
  throwsConfig(() => plan((s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network'); s.linux!.sysctl = { 'net/core/somaxconn': '1' }; }), 'linux.sysctl["net/core/somaxconn"]', /net\.core\.somaxconn/);
});

// ---- seccomp placement ----

const seccomp = { program: Buffer.from([6, 0, 0, 0, 0, 0, 0xff, 0x7f]), flags: 0 };

test('seccomp: with no_new_privs, loaded last, right before exec', () => {
  const p = plan(undefined, { seccomp });
  const i = idxOf(p, 'seccomp');
  assert.is(i, p.ops.length - 2);
  assert.ok(i > idxOf(p, 'noNewPrivs'));
  assert.equal(one(p, 'seccomp').program, seccomp.program);
});

test('seccomp: without no_new_privs and without CAP_SYS_ADMIN, loaded early (before dropping privileges)', () => {
  const p = plan((s) => { s.process!.noNewPrivileges = false; }, { seccomp });
  const i = idxOf(p, 'seccomp');
  assert.ok(i < idxOf(p, 'creds'), 'before creds');
  assert.ok(i > idxOf(p, 'capBounding'));
  assert.is(only(p, 'noNewPrivs').length, 0);
});

// What capsa-init does after each op, in syscalls (native/init): after an
// early filter only these may follow, as in runc (credentials, fchdir,
// close, umask, stat/access for the PATH lookup, the sync socket's send, the
// exec fifo's openat/write, writes to /proc for LSM labels, execve).
const OLD_SYSCALL_OPS = new Set(['creds', 'umask', 'chdir', 'resolveExec', 'reportCreated', 'waitStart', 'writeProc', 'noNewPrivs', 'exec']);

test('seccomp loaded early: the cwd is resolved and inherited fds marked before it; only old-syscall ops follow', () => {
  for (const mode of ['create', 'exec'] as const) {
    const ops = mode === 'create'
      ? plan((s) => { s.process!.noNewPrivileges = false; s.process!.cwd = '/work'; }, { seccomp }).ops
      : compileExec({ process: { ...defaultSpec().process!, terminal: false, noNewPrivileges: false, cwd: '/work' }, containerPid: 42, namespaces: ['mount', 'pid'], lastCap: 40, preserveFds: 0, seccomp });
    const at = ops.findIndex((o) => o.op === 'seccomp');
    const names = ops.map((o) => o.op);
    assert.ok(at > 0, `${mode}: has a seccomp op`);
    assert.ok(names.indexOf('openCwd') < at && names.indexOf('closeFds') < at, `${mode}: ${names.join(' ')}`);
    assert.is((ops.find((o) => o.op === 'openCwd') as OpOf<'openCwd'>).path, '/work');
    const after = names.slice(at + 1).filter((n) => !OLD_SYSCALL_OPS.has(n));
    assert.equal(after, [], `${mode}: after the filter: ${names.slice(at + 1).join(' ')}`);
  }
});

test('seccomp: without no_new_privs but keeping CAP_SYS_ADMIN, loaded late', () => {
  const p = plan((s) => {
    s.process!.noNewPrivileges = false;
    for (const set of ['bounding', 'effective', 'permitted'] as const) s.process!.capabilities![set] = ['CAP_SYS_ADMIN'];
  }, { seccomp });
  assert.ok(idxOf(p, 'seccomp') > idxOf(p, 'waitStart'));
  assert.is(idxOf(p, 'seccomp'), p.ops.length - 2);
});

test('no seccomp op without a filter', () => {
  assert.is(only(plan(), 'seccomp').length, 0);
});

// ---- process ----

test('rlimits: one op per entry in order, RLIM_INFINITY for huge values', () => {
  const p = plan((s) => {
    s.process!.rlimits = [
      { type: 'RLIMIT_NOFILE', soft: 512, hard: 4096 },
      { type: 'RLIMIT_CORE', soft: UINT64_MAX, hard: UINT64_MAX },
      { type: 'RLIMIT_CPU', soft: 0, hard: 10 },
    ];
  });
  assert.equal(only(p, 'rlimit').map((r) => [r.resource, BigInt(r.soft), BigInt(r.hard), r.configPath]), [
    [7, 512n, 4096n, 'process.rlimits[0]'],
    [4, 0xffffffffffffffffn, 0xffffffffffffffffn, 'process.rlimits[1]'],
    [0, 0n, 10n, 'process.rlimits[2]'],
  ]);
});

test('rlimits: unknown, duplicate and soft > hard are refused naming the entry', () => {
  throwsConfig(() => plan((s) => { s.process!.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }]; }), 'process.rlimits[0].type', /RLIMIT_BOGUS/);
  throwsConfig(() => plan((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 }]; }), 'process.rlimits[1].type', /duplicate/);
  throwsConfig(() => plan((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 5 }]; }), 'process.rlimits[0]', /soft/);
  throwsConfig(() => plan((s) => { s.process!.rlimits = [{ type: 'nofile', soft: 1, hard: 1 }]; }), 'process.rlimits[0].type');
});

test('user: uid, gid, additionalGids and umask', () => {
  const p = plan((s) => { s.process!.user = { uid: 1000, gid: 1001, additionalGids: [5, 2000], umask: 0o077 }; });
  const c = one(p, 'creds');
  assert.equal([c.uid, c.gid, c.groups, c.setGroups], [1000, 1001, [5, 2000], 1]);
  assert.is(one(p, 'umask').mask, 0o077);
});

test('oomScoreAdj: written to /proc/self/oom_score_adj early', () => {
  const p = plan((s) => { s.process!.oomScoreAdj = 500; });
  const w = only(p, 'writeProc').find((o) => o.path === 'self/oom_score_adj')!;
  assert.is(w.content, '500');
  assert.is(w.configPath, 'process.oomScoreAdj');
  assert.ok(p.ops.indexOf(w) < idxOf(p, 'attachRootfs'));
  assert.is(only(plan(), 'writeProc').length, 0);
});

test('noNewPrivileges false: no noNewPrivs op', () => {
  assert.is(only(plan((s) => { s.process!.noNewPrivileges = false; }), 'noNewPrivs').length, 0);
});

test('cwd: created before pivot_root, entered after the credentials change', () => {
  const p = plan((s) => { s.process!.cwd = '/work/dir'; });
  assert.is(one(p, 'mkdir').path, '/work/dir');
  assert.is(one(p, 'chdir').path, '/work/dir');
  assert.ok(idxOf(p, 'mkdir') < idxOf(p, 'pivotRoot'));
  assert.ok(idxOf(p, 'chdir') > idxOf(p, 'creds'));
});

test('env: PATH for the exec lookup comes from the config env (last wins), HOME from the passwd lookup', () => {
  const p = plan((s) => { s.process!.env = ['PATH=/first', 'X=1', 'PATH=/opt/bin:/bin']; s.process!.args = ['tool']; }, { home: '/home/tester' });
  assert.equal([one(p, 'resolveExec').file, one(p, 'resolveExec').path], ['tool', '/opt/bin:/bin']);
  assert.equal(one(p, 'exec').env, ['PATH=/first', 'X=1', 'PATH=/opt/bin:/bin', 'HOME=/home/tester']);
  const noPath = plan((s) => { s.process!.env = ['HOME=/mine']; });
  assert.is(one(noPath, 'resolveExec').path, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  assert.equal(one(noPath, 'exec').env, ['HOME=/mine'], 'a configured HOME is kept');
});

test('--preserve-fds N: inherited fds below 3+N stay open', () => {
  assert.is(one(plan(undefined, { preserveFds: 2 }), 'closeFds').first, 5);
});

test('a process is required; a terminal needs a console socket', () => {
  throwsConfig(() => plan((s) => { delete s.process; }), 'process');
  throwsConfig(() => plan((s) => { s.process!.terminal = true; }), 'process.terminal');
});

test('capabilities: unknown names are skipped with a warning naming the set (runtime-spec config.md: SHOULD NOT fail; runc 1.1 warns)', () => {
  const p = plan((s) => { s.process!.capabilities!.effective = ['CAP_KILL', 'CAP_NOPE']; });
  assert.is(BigInt(one(p, 'creds').effective), 1n << 5n);
  assert.ok(p.warnings.some((w) => w.includes('process.capabilities.effective') && w.includes('CAP_NOPE')), p.warnings.join('\n'));
});

test('capabilities: names beyond the host\'s last cap are skipped with a warning', () => {
  const p = plan((s) => { s.process!.capabilities!.bounding = ['CAP_KILL', 'CAP_CHECKPOINT_RESTORE']; }, { lastCap: 39 });
  assert.is(BigInt(one(p, 'capBounding').keep), 1n << 5n);
  assert.ok(p.warnings.some((w) => w.includes('CAP_CHECKPOINT_RESTORE')), p.warnings.join('\n'));
});

test('hooks: createRuntime/createContainer/prestart add a HOOKS sync before pivot_root', () => {
  const p = plan((s) => { s.hooks = { createRuntime: [{ path: '/bin/true' }] }; });
  assert.ok(p.hasHooksSync);
  const i = idx(p, (o) => o.op === 'sync' && o.code === SYNC.HOOKS);
  assert.ok(i > idxOf(p, 'mknod') && i < idxOf(p, 'pivotRoot'));
});

test('compile is pure: the same input gives the same plan, and the spec is not modified', () => {
  const s = spec();
  const before = JSON.stringify(s);
  const a = compile(input(s));
  const b = compile(input(s));
  assert.equal(a, b);
  assert.is(JSON.stringify(s), before);
});

test('compileExec with startGate (a prepared exec): the START sync is its last step before reporting and execve, after the credentials, no_new_privs, the filter and the LSM label; without it the order is as before', () => {
  const input = (nnp: boolean, startGate: boolean) => compileExec({
    process: { ...defaultSpec().process!, terminal: false, noNewPrivileges: nnp, apparmorProfile: 'capsa-test' }, containerPid: 42, namespaces: ['mount', 'pid'],
    lastCap: 40, preserveFds: 0, seccomp, lsm: { apparmorExec: 'capsa-test' }, startGate,
  }).map((o) => (o.op === 'sync' ? `sync:${(o as OpOf<'sync'>).code}` : o.op));
  for (const nnp of [true, false]) {
    const gated = input(nnp, true);
    assert.equal(gated.slice(-3), [`sync:${SYNC.START}`, 'reportCreated', 'exec'], gated.join(' '));
    const gate = gated.indexOf(`sync:${SYNC.START}`);
    for (const before of ['creds', 'seccomp', 'writeProc', 'resolveExec', 'chdir', ...(nnp ? ['noNewPrivs'] : [])]) {
      assert.ok(gated.indexOf(before) >= 0 && gated.indexOf(before) < gate, `${before} before the gate (nnp ${nnp}): ${gated.join(' ')}`);
    }
    const plain = input(nnp, false);
    assert.not.ok(plain.includes(`sync:${SYNC.START}`));
    assert.equal(gated.filter((o) => o !== `sync:${SYNC.START}`).sort(), [...plain].sort(), 'the same ops otherwise');
    assert.ok(plain.indexOf('reportCreated') < plain.indexOf('writeProc'), 'ungated: reported before the label, as before');
  }
});

test.run();
