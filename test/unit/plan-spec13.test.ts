// The Plan parts of runtime-spec 1.3 fields, without root: linux.mountLabel
// as context= on the filesystems mounted for the container (this host has no
// SELinux, so the plan is what is verified here), linux.intelRdt as joins of
// the resctrl tasks files before the clone (create) and before the setns
// (exec), linux.netDevices as a sync point after the clone and one
// netdevUp op per link.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { compile, withMountLabel, type CompileInput, type Plan } from '../../src/plan/compile';
import { compileExec } from '../../src/plan/compile-exec';
import { MOUNT_KIND, SYNC, type OpOf } from '../../src/plan/schema';
import { defaultSpec } from '../../src/spec/defaults';
import type { Spec } from '../../src/spec/types';

function spec(edit?: (s: Spec) => void): Spec {
  const s = defaultSpec();
  s.process!.terminal = false;
  s.process!.args = ['/bin/testinit', 'true'];
  edit?.(s);
  return s;
}

function plan(edit?: (s: Spec) => void, over: Partial<CompileInput> = {}): Plan {
  return compile({
    spec: spec(edit), bundle: '/b', rootfs: '/b/rootfs', fifoPath: '/run/capsa/c1/exec.fifo', preserveFds: 0, noPivot: false,
    lastCap: 40, cgroupMounts: [{ name: '', hostDir: '/sys/fs/cgroup/c1' }], id: 'c1', isDirectory: () => true, ...over,
  });
}

const mounts = (p: Plan) => p.ops.filter((o): o is OpOf<'mount'> => o.op === 'mount');
const LABEL = 'system_u:object_r:container_file_t:s0:c1,c2';

test('mountLabel: context=<label> on tmpfs, devpts and other filesystems; not on proc, sysfs, mqueue, cgroup or binds', () => {
  const p = plan((s) => s.mounts!.push({ destination: '/data', type: 'bind', source: '/tmp', options: ['rbind'] }), { mountLabel: LABEL });
  const byDest = new Map(mounts(p).map((m) => [m.destination, m]));
  for (const d of ['/dev', '/dev/pts', '/dev/shm']) {
    assert.ok(byDest.get(d)!.data.includes(`context=${LABEL}`), `${d}: ${byDest.get(d)!.data.join(',')}`);
    assert.is(byDest.get(d)!.data.filter((x) => x.startsWith('context=')).length, 1, `${d}: once`);
  }
  for (const d of ['/proc', '/sys', '/dev/mqueue', '/sys/fs/cgroup', '/data']) {
    assert.not.ok(byDest.get(d)!.data.some((x) => x.startsWith('context=')), `${d} keeps its own label: ${byDest.get(d)!.data.join(',')}`);
  }
  // Given to fsconfig as one key and value: no quotes, the level's comma kept.
  assert.ok(byDest.get('/dev')!.data.includes('context=system_u:object_r:container_file_t:s0:c1,c2'));
});

test('mountLabel: absent (no SELinux on the host, or none given) changes nothing; a context= the config sets itself is kept', () => {
  const without = plan();
  const withLabel = plan(undefined, { mountLabel: LABEL });
  assert.equal(mounts(without).map((m) => m.data.filter((d) => !d.startsWith('context='))), mounts(withLabel).map((m) => m.data.filter((d) => !d.startsWith('context='))));
  assert.not.ok(mounts(without).some((m) => m.data.some((d) => d.startsWith('context='))));
  assert.equal(withMountLabel(['mode=755', 'context=a:b:c'], 'tmpfs', LABEL), ['mode=755', 'context=a:b:c']);
  assert.equal(withMountLabel(['mode=755'], 'tmpfs', undefined), ['mode=755']);
});

test('mountLabel: the tmpfs a v1 cgroup mount is built on is labelled, its binds are not', () => {
  const p = plan(undefined, {
    mountLabel: LABEL,
    cgroupMounts: [{ name: 'cpu', hostDir: '/sys/fs/cgroup/cpu/c1' }, { name: 'memory', hostDir: '/sys/fs/cgroup/memory/c1' }],
  });
  const cg = mounts(p).filter((m) => m.destination.startsWith('/sys/fs/cgroup'));
  assert.is(cg[0]!.fstype, 'tmpfs');
  assert.ok(cg[0]!.data.includes(`context=${LABEL}`));
  const binds = cg.filter((m) => m.kind === MOUNT_KIND.BIND);
  assert.is(binds.length, 2);
  for (const b of cg.slice(1)) {
    assert.not.ok(b.data.some((d) => d.startsWith('context=')), b.what);
  }
});

test('mountLabel: an idmapped new filesystem (made in P) is labelled too; an idmapped bind is not', () => {
  const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const p = plan((s) => {
    s.mounts!.push({ destination: '/idm', type: 'tmpfs', source: 'tmpfs', options: ['idmap', 'mode=700'], uidMappings: map, gidMappings: map });
    s.mounts!.push({ destination: '/idb', type: 'bind', source: '/tmp', options: ['bind', 'idmap'], uidMappings: map, gidMappings: map });
  }, { mountLabel: LABEL });
  const trees = p.ops.filter((o): o is OpOf<'idmapTree'> => o.op === 'idmapTree');
  assert.is(trees.length, 2);
  assert.equal(trees[0]!.data, ['mode=700', `context=${LABEL}`]);
  assert.equal(trees[1]!.data, []);
});

test('intelRdt: the resctrl tasks files are joined first (after only the initial CPU affinity), before any namespace is entered; exec joins them too', () => {
  const files = ['/sys/fs/resctrl/c1/tasks', '/sys/fs/resctrl/c1/mon_groups/c1/tasks'];
  const p = plan(undefined, { resctrlTasks: files });
  const joins = p.ops.filter((o): o is OpOf<'joinCgroup'> => o.op === 'joinCgroup' && o.file.includes('resctrl'));
  assert.equal(joins.map((j) => j.file), files, 'CTRL_MON group first, then the MON group');
  assert.equal(joins.map((j) => j.optional), [0, 0]);
  assert.equal(joins.map((j) => j.configPath), ['linux.intelRdt', 'linux.intelRdt']);
  assert.equal(p.ops.slice(0, 3).map((o) => o.op), ['cpuAffinity', 'joinCgroup', 'joinCgroup'], 'the first ops');
  assert.equal(plan().ops.filter((o) => o.op === 'joinCgroup' && (o as OpOf<'joinCgroup'>).file.includes('resctrl')), []);
  const ex = compileExec({ process: spec().process!, containerPid: 42, namespaces: ['pid', 'mount'], lastCap: 40, preserveFds: 0, resctrlTasks: files });
  assert.is(ex[0]!.op, 'cpuAffinity');
  assert.equal(ex.slice(1, 3).map((o) => (o as OpOf<'joinCgroup'>).file), files);
  assert.ok(ex.findIndex((o) => o.op === 'setnsPid') > 2);
});

test('netDevices: after the clone a SYNC_NETDEV, then one netdevUp per link with its name, host index and addresses', () => {
  const devs = [
    { field: 'linux.netDevices["dummy0"]', name: 'ctr0', index: 7, addresses: ['192.0.2.10/24', '2001:db8::10/64'] },
    { field: 'linux.netDevices["dummy1"]', name: 'eth%d', index: 8, addresses: [] },
  ];
  const p = plan(undefined, { netDevices: devs });
  const clone = p.ops.findIndex((o) => o.op === 'clone');
  const sync = p.ops.findIndex((o) => o.op === 'sync' && (o as OpOf<'sync'>).code === SYNC.NETDEV);
  assert.ok(sync > clone, 'in the container process');
  const ups = p.ops.filter((o): o is OpOf<'netdevUp'> => o.op === 'netdevUp');
  assert.equal(ups.map((u) => [u.name, u.index, u.addresses, u.configPath]), devs.map((d) => [d.name, d.index, d.addresses, d.field]));
  assert.is(p.ops.indexOf(ups[0]!), sync + 1);
  const checks = p.ops.filter((o): o is OpOf<'netdevCheck'> => o.op === 'netdevCheck');
  assert.equal(checks.map((c) => [c.name, c.configPath]), devs.map((d) => [d.name, d.field]), 'each name checked free first');
  assert.ok(p.ops.indexOf(checks[0]!) > clone && p.ops.indexOf(checks[1]!) < sync);
  assert.ok(p.ops.findIndex((o) => o.op === 'pivotRoot') > p.ops.indexOf(ups[1]!), 'before the rootfs and hooks');
  assert.not.ok(plan().ops.some((o) => o.op === 'netdevUp' || o.op === 'netdevCheck' || (o.op === 'sync' && (o as OpOf<'sync'>).code === SYNC.NETDEV)));
});

test.run();
