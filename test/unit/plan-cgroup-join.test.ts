// How capsa-init joins the container's cgroups (src/plan/cgroup-join.ts and
// its use by compile/compileExec), without root: which file gets "0", when
// the clone goes straight into the cgroup2 dir, and where the cgroup
// namespace is made then.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { CgroupMembership } from '../../src/cgroups/manager';
import { cgroupJoinOps } from '../../src/plan/cgroup-join';
import { compile } from '../../src/plan/compile';
import { compileExec } from '../../src/plan/compile-exec';
import { CLONE, SYNC, type Op, type OpOf } from '../../src/plan/schema';
import { defaultSpec } from '../../src/spec/defaults';
import type { Spec } from '../../src/spec/types';

const HYBRID: CgroupMembership = {
  v1: ['/sys/fs/cgroup/cpu/capsa/c1', '/sys/fs/cgroup/memory/capsa/c1'],
  v2: { dir: '/sys/fs/cgroup/unified/capsa/c1', optional: true },
};
const V2: CgroupMembership = { v1: [], v2: { dir: '/sys/fs/cgroup/capsa/c1', optional: false } };

function plan(membership: CgroupMembership | undefined, edit?: (s: Spec) => void) {
  const s = defaultSpec();
  s.process!.terminal = false;
  s.process!.args = ['/bin/true'];
  edit?.(s);
  return compile({
    spec: s, bundle: '/b', rootfs: '/b/rootfs', fifoPath: '/run/c1/exec.fifo', preserveFds: 0, noPivot: false, lastCap: 40,
    cgroupMounts: [], cgroupMembership: membership, id: 'c1', isDirectory: () => true,
  }).ops;
}
const ofKind = <N extends Op['op']>(ops: Op[], n: N) => ops.filter((o): o is OpOf<N> => o.op === n);
const withUserNs = (s: Spec) => {
  s.linux!.namespaces!.push({ type: 'user' });
  s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
};

test('no membership (systemd driver): one READY sync, the runtime places the process', () => {
  const j = cgroupJoinOps(undefined, false);
  assert.equal(j.ops.map((o) => o.op), ['sync']);
  assert.is((j.ops[0] as OpOf<'sync'>).code, SYNC.READY);
  assert.not.ok(j.intoClone);
});

test('v1 hierarchies: "0" into each tasks file (the process moves itself), mandatory', () => {
  const j = cgroupJoinOps({ v1: HYBRID.v1 }, false);
  assert.equal(j.ops.map((o) => [o.op, (o as OpOf<'joinCgroup'>).file, (o as OpOf<'joinCgroup'>).optional]), [
    ['joinCgroup', '/sys/fs/cgroup/cpu/capsa/c1/tasks', 0],
    ['joinCgroup', '/sys/fs/cgroup/memory/capsa/c1/tasks', 0],
  ]);
  assert.not.ok(j.intoClone);
});

test('cgroup2 dir without a user namespace: the clone goes into it (optional on hybrid hosts)', () => {
  const hybrid = cgroupJoinOps(HYBRID, false);
  const fd = ofKind(hybrid.ops, 'cgroupFd');
  assert.equal(fd.map((o) => [o.dir, o.optional]), [['/sys/fs/cgroup/unified/capsa/c1', 1]]);
  assert.ok(hybrid.intoClone);
  assert.equal(ofKind(cgroupJoinOps(V2, false).ops, 'cgroupFd').map((o) => o.optional), [0]);
});

test('cgroup2 dir with a user namespace: cgroup.procs is written before any namespace is entered', () => {
  const j = cgroupJoinOps(V2, true);
  assert.equal(j.ops.map((o) => [o.op, (o as OpOf<'joinCgroup'>).file]), [['joinCgroup', '/sys/fs/cgroup/capsa/c1/cgroup.procs']]);
  assert.not.ok(j.intoClone);
});

test('compile: join ops come first (after the CPU affinity reset); a fresh cgroup namespace is made by the child after CLONE_INTO_CGROUP', () => {
  const ops = plan(HYBRID, (s) => s.linux!.namespaces!.push({ type: 'cgroup' }));
  assert.equal(ops.slice(0, 4).map((o) => o.op), ['cpuAffinity', 'joinCgroup', 'joinCgroup', 'cgroupFd']);
  const clone = ofKind(ops, 'clone')[0]!;
  assert.is(clone.flags & CLONE.NEWCGROUP, 0, 'not made by the clone (it would be rooted at the parent\'s cgroup)');
  const after = ops[ops.indexOf(clone) + 1] as OpOf<'unshare'>;
  assert.is(after.op, 'unshare');
  assert.is(after.flags, CLONE.NEWCGROUP);
});

test('compile: with a user namespace the cgroup namespace stays in the clone flags', () => {
  const ops = plan(V2, (s) => { s.linux!.namespaces!.push({ type: 'cgroup' }); withUserNs(s); });
  assert.is(ofKind(ops, 'cgroupFd').length, 0);
  assert.ok(ops.indexOf(ofKind(ops, 'joinCgroup')[0]!) < ops.indexOf(ofKind(ops, 'unshare')[0]!), 'joined before the user namespace is made');
  assert.is(ofKind(ops, 'clone')[0]!.flags & CLONE.NEWCGROUP, CLONE.NEWCGROUP);
  assert.equal(ofKind(ops, 'unshare').map((o) => o.flags), [CLONE.NEWUSER]);
});

test('compileExec: joins before setns; into the clone unless the container has a user or cgroup namespace', () => {
  const base = { process: { ...defaultSpec().process!, terminal: false, args: ['/bin/true'] }, containerPid: 42, lastCap: 40, preserveFds: 0 };
  const ops = compileExec({ ...base, namespaces: ['pid', 'mount'], cgroupMembership: HYBRID });
  assert.equal(ops.slice(0, 4).map((o) => o.op), ['cpuAffinity', 'joinCgroup', 'joinCgroup', 'cgroupFd']);
  assert.ok(ops.findIndex((o) => o.op === 'setnsPid') > 3);
  // inside the container's cgroup namespace the kernel refuses CLONE_INTO_CGROUP from a cgroup outside it (ENOENT)
  const nsOps = compileExec({ ...base, namespaces: ['pid', 'mount', 'cgroup'], cgroupMembership: V2 });
  assert.equal(nsOps[1], { op: 'joinCgroup', file: `${V2.v2!.dir}/cgroup.procs`, optional: 0, what: `join cgroup ${V2.v2!.dir}` });
  assert.is(ofKind(nsOps, 'cgroupFd').length, 0);
  assert.ok(nsOps.findIndex((o) => o.op === 'setnsPid') > 1);
  const userOps = compileExec({ ...base, namespaces: ['user', 'pid', 'mount'], cgroupMembership: V2 });
  assert.equal(userOps[1]!.op, 'joinCgroup');
  assert.is(ofKind(userOps, 'cgroupFd').length, 0);
});

test.run();
