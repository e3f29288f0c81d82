// process.scheduler, process.ioPriority, process.execCPUAffinity,
// linux.memoryPolicy and idmapped mounts → Plan ops, without root: what is
// encoded, where it sits in the op order, and what is refused (naming the field).
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { compile, type CompileInput, type Plan } from '../../src/plan/compile';
import { compileExec, type ExecInput } from '../../src/plan/compile-exec';
import { cpuMask, parseIdList } from '../../src/plan/process-attrs';
import { CREATE, IDMAP_TREE, MOUNT_KIND, type Op, type OpOf, type OpName } from '../../src/plan/schema';
import { defaultSpec } from '../../src/spec/defaults';
import type { Process, Spec } from '../../src/spec/types';

function spec(edit?: (s: Spec) => void): Spec {
  const s = defaultSpec();
  s.process!.terminal = false;
  s.process!.args = ['/bin/testinit', 'true'];
  edit?.(s);
  return s;
}

function plan(edit?: (s: Spec) => void, over: Partial<CompileInput> = {}): Plan {
  return compile({
    spec: spec(edit), bundle: '/bundles/b1', rootfs: '/bundles/b1/rootfs', fifoPath: '/run/capsa/c1/exec.fifo', preserveFds: 0,
    noPivot: false, lastCap: 40, cgroupMounts: [{ name: '', hostDir: '/sys/fs/cgroup/capsa/c1' }], id: 'c1', isDirectory: () => true,
    topology: { onlineCpus: [0, 1, 2, 3], onlineNodes: [0, 1] }, ...over,
  });
}

function execPlan(edit: (p: Process) => void, over: Partial<ExecInput> = {}): Op[] {
  const proc = { ...spec().process! };
  edit(proc);
  return compileExec({ process: proc, containerPid: 42, namespaces: ['pid', 'mount'], lastCap: 40, preserveFds: 0, topology: { onlineCpus: [0, 1, 2, 3], onlineNodes: [0, 1] }, ...over });
}

const of = <N extends OpName>(ops: Op[], name: N) => ops.filter((o): o is OpOf<N> => o.op === name);
const at = (ops: Op[], name: OpName) => ops.findIndex((o) => o.op === name);

function refused(fn: () => unknown, field: string, re?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).configPath, field, (e as Error).message);
    assert.ok((e as Error).message.startsWith(`config.${field}: `), (e as Error).message);
    assert.not.match((e as Error).message, /\n/);
    if (re) assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected a refusal naming ${field}`);
}

// ---- scheduler ----

test('scheduler: sched_setattr values, after the rlimits and before capabilities, credentials and any filter', () => {
  const p = plan((s) => { s.process!.scheduler = { policy: 'SCHED_DEADLINE', runtime: 1000000, deadline: 5000000, period: 10000000, flags: ['SCHED_FLAG_RESET_ON_FORK', 'SCHED_FLAG_DL_OVERRUN'] }; });
  const [op] = of(p.ops, 'scheduler');
  assert.equal([op!.policy, op!.nice, op!.priority, op!.flags, op!.runtime, op!.deadline, op!.period], [6, 0, 0, 0x05n, 1000000n, 5000000n, 10000000n]);
  assert.ok(at(p.ops, 'rlimit') < at(p.ops, 'scheduler'));
  assert.ok(at(p.ops, 'scheduler') < at(p.ops, 'capBounding') && at(p.ops, 'scheduler') < at(p.ops, 'openCwd') && at(p.ops, 'scheduler') < at(p.ops, 'creds'));
  assert.is(op!.configPath, 'process.scheduler');
  const nice = of(plan((s) => { s.process!.scheduler = { policy: 'SCHED_OTHER', nice: -3 }; }).ops, 'scheduler')[0]!;
  assert.is(nice.nice, 0xfffffffd, 'nice travels as the u32 of an s32');
  assert.is(of(plan().ops, 'scheduler').length, 0);
});

test('scheduler: runc\'s and the kernel\'s rules, refused naming the field', () => {
  const sched = (v: unknown) => () => plan((s) => { (s.process as { scheduler?: unknown }).scheduler = v; });
  refused(sched({}), 'process.scheduler.policy', /required/);
  refused(sched({ policy: 'SCHED_NOPE' }), 'process.scheduler.policy');
  refused(sched({ policy: 'SCHED_ISO' }), 'process.scheduler.policy', /not implemented/);
  refused(sched({ policy: 'SCHED_BATCH', nice: -21 }), 'process.scheduler.nice');
  refused(sched({ policy: 'SCHED_IDLE', priority: 1 }), 'process.scheduler.priority');
  refused(sched({ policy: 'SCHED_RR', priority: 0 }), 'process.scheduler.priority');
  refused(sched({ policy: 'SCHED_FIFO', priority: 100 }), 'process.scheduler.priority');
  refused(sched({ policy: 'SCHED_OTHER', period: 5 }), 'process.scheduler', /SCHED_DEADLINE/);
  refused(sched({ policy: 'SCHED_DEADLINE', runtime: 5 }), 'process.scheduler', /runtime and deadline/);
  refused(sched({ policy: 'SCHED_DEADLINE', runtime: 5, deadline: 10, period: 8 }), 'process.scheduler.deadline');
  refused(sched({ policy: 'SCHED_OTHER', flags: ['SCHED_FLAG_X'] }), 'process.scheduler.flags[0]');
  refused(sched({ policy: 'SCHED_OTHER', nice: 1.5 }), 'process.scheduler.nice');
  refused(() => plan((s) => {
    s.process!.scheduler = { policy: 'SCHED_DEADLINE', runtime: 5, deadline: 10 };
    s.hooks = { startContainer: [{ path: '/bin/true' }] };
  }), 'process.scheduler.flags', /RESET_ON_FORK/);
});

test('scheduler and ioPriority for exec: same ops, same place', () => {
  const ops = execPlan((p) => { p.scheduler = { policy: 'SCHED_BATCH', nice: 2 }; p.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 0 }; });
  assert.is(of(ops, 'scheduler')[0]!.policy, 3);
  assert.is(of(ops, 'ioprio')[0]!.value, 3 << 13);
  assert.ok(at(ops, 'clone') < at(ops, 'scheduler') && at(ops, 'ioprio') < at(ops, 'creds'));
});

// ---- ioPriority ----

test('ioPriority: class << 13 | level; bad class or level refused naming the field', () => {
  assert.is(of(plan((s) => { s.process!.ioPriority = { class: 'IOPRIO_CLASS_RT', priority: 4 }; }).ops, 'ioprio')[0]!.value, (1 << 13) | 4);
  assert.is(of(plan((s) => { s.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 7 }; }).ops, 'ioprio')[0]!.value, (2 << 13) | 7);
  refused(() => plan((s) => { s.process!.ioPriority = { class: 'BE', priority: 1 }; }), 'process.ioPriority.class');
  refused(() => plan((s) => { s.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: -1 }; }), 'process.ioPriority.priority');
});

// ---- execCPUAffinity ----

test('cpu lists and masks', () => {
  assert.equal(parseIdList('0-3,7', 'x', 64), [0, 1, 2, 3, 7]);
  assert.equal(parseIdList(' 5 , 1-2 ,2', 'x', 64), [1, 2, 5]);
  assert.equal([...cpuMask([0, 2, 9])], [0x05, 0x02, 0, 0, 0, 0, 0, 0]);
  assert.is(cpuMask([64]).length, 16);
});

test('execCPUAffinity: not for the init (only checked; capsa-init resets its own affinity first), for exec initial first and final after the clone', () => {
  const p = plan((s) => { s.process!.execCPUAffinity = { initial: '1', final: '2-3' }; });
  const aff = of(p.ops, 'cpuAffinity');
  assert.is(aff.length, 1);
  assert.is(p.ops[0], aff[0], 'first op');
  assert.is(aff[0]!.mask.length, 0, 'empty mask: every CPU');
  const ops = execPlan((pr) => { pr.execCPUAffinity = { initial: '1', final: '2-3' }; });
  const [initial, final] = of(ops, 'cpuAffinity');
  assert.is(ops[0], initial);
  assert.equal([initial!.mask[0], initial!.report], [0x02, 1]);
  assert.equal([final!.mask[0], final!.report], [0x0c, 0]);
  assert.ok(at(ops, 'clone') < ops.indexOf(final!) && ops.indexOf(final!) < at(ops, 'creds'));
  assert.equal(of(execPlan(() => {}), 'cpuAffinity').map((o) => o.mask.length), [0], 'no affinity asked: one reset');
});

test('execCPUAffinity refused naming the field: malformed, backwards, a CPU not online here', () => {
  refused(() => plan((s) => { s.process!.execCPUAffinity = { initial: 'a' }; }), 'process.execCPUAffinity.initial');
  refused(() => plan((s) => { s.process!.execCPUAffinity = { final: '3-1' }; }), 'process.execCPUAffinity.final', /backwards/);
  refused(() => plan((s) => { s.process!.execCPUAffinity = { final: '1,6' }; }), 'process.execCPUAffinity.final', /CPU 6 is not online on this host \(online: 0,1,2,3\)/);
  refused(() => execPlan((p) => { p.execCPUAffinity = { initial: '9' }; }), 'process.execCPUAffinity.initial');
});

// ---- memoryPolicy ----

test('memoryPolicy: mode|flags and nodes, right after the clone for the init and for exec', () => {
  const p = plan((s) => { s.linux!.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0-1', flags: ['MPOL_F_STATIC_NODES'] }; });
  const [op] = of(p.ops, 'mempolicy');
  assert.equal([op!.mode, op!.nodes], [2 | (1 << 15), [0, 1]]);
  assert.is(p.ops[at(p.ops, 'setsid') + 1], op);
  const ops = execPlan(() => {}, { memoryPolicy: { mode: 'MPOL_INTERLEAVE', nodes: '1' } });
  assert.equal(of(ops, 'mempolicy').map((o) => [o.mode, o.nodes]), [[3, [1]]]);
  assert.equal(of(plan((s) => { s.linux!.memoryPolicy = { mode: 'MPOL_LOCAL' }; }).ops, 'mempolicy').map((o) => [o.mode, o.nodes]), [[4, []]]);
});

test('memoryPolicy refused naming the field', () => {
  const mp = (v: unknown, topo?: CompileInput['topology']) => () => plan((s) => { (s.linux as { memoryPolicy?: unknown }).memoryPolicy = v; }, topo ? { topology: topo } : {});
  refused(mp({ mode: 'MPOL_X' }), 'linux.memoryPolicy.mode');
  refused(mp({ mode: 'MPOL_BIND' }), 'linux.memoryPolicy.nodes', /needs at least one node/);
  refused(mp({ mode: 'MPOL_DEFAULT', nodes: '0' }), 'linux.memoryPolicy.nodes', /takes no nodes/);
  refused(mp({ mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_STATIC_NODES', 'MPOL_F_RELATIVE_NODES'] }), 'linux.memoryPolicy.flags');
  refused(mp({ mode: 'MPOL_BIND', nodes: '0', flags: ['NOPE'] }), 'linux.memoryPolicy.flags[0]');
  refused(mp({ mode: 'MPOL_BIND', nodes: '2' }), 'linux.memoryPolicy.nodes', /node 2 is not online on this host \(online: 0,1\)/);
  refused(mp({ mode: 'MPOL_BIND', nodes: '0' }, {}), 'linux.memoryPolicy.nodes', /no NUMA nodes/);
  // Nodes relative to the cpuset, or static ones, may name nodes not there now.
  assert.equal(of(mp({ mode: 'MPOL_BIND', nodes: '5', flags: ['MPOL_F_RELATIVE_NODES'] })().ops, 'mempolicy')[0]!.nodes, [5]);
});

// ---- idmapped mounts ----

const USERNS = (s: Spec) => {
  s.linux!.namespaces!.push({ type: 'user' });
  s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
};

test('idmapped bind: the tree is made first in P (before the cgroup join and the user namespace), attached in C as kind IDMAPPED', () => {
  const p = plan((s) => {
    USERNS(s);
    s.mounts!.push({ destination: '/data', type: 'bind', source: 'vol', options: ['rbind', 'ro'], uidMappings: [{ containerID: 0, hostID: 1000, size: 10 }], gidMappings: [{ containerID: 5, hostID: 2000, size: 1 }] });
  });
  const [tree] = of(p.ops, 'idmapTree');
  assert.equal(
    [tree!.kind, tree!.source, tree!.recursiveBind, tree!.recursiveIdmap, tree!.uidMap, tree!.gidMap, tree!.usernsPath],
    [IDMAP_TREE.BIND, '/bundles/b1/vol', 1, 0, '0 1000 10\n', '5 2000 1\n', ''],
  );
  assert.equal([BigInt(tree!.attrSet) & 1n, tree!.recursiveAttr], [1n, 0], 'ro is set on the tree by P already');
  assert.is(p.ops.indexOf(tree!), 1);
  assert.ok(p.ops.indexOf(tree!) < at(p.ops, 'sync') && p.ops.indexOf(tree!) < at(p.ops, 'unshare'));
  const mount = of(p.ops, 'mount').find((m) => m.destination === '/data')!;
  assert.equal([mount.kind, mount.source, mount.create, BigInt(mount.attrSet) & 1n], [MOUNT_KIND.IDMAPPED, '/bundles/b1/vol', CREATE.DIR, 1n]);
  assert.is(mount.configPath, `mounts[${spec().mounts!.length}]`);
});

test('idmap/ridmap without mappings take the container\'s user namespace: its maps, or its path when joined', () => {
  const fresh = plan((s) => { USERNS(s); s.mounts!.push({ destination: '/d', source: '/v', options: ['rbind', 'ridmap'] }); });
  const t = of(fresh.ops, 'idmapTree')[0]!;
  assert.equal([t.uidMap, t.gidMap, t.recursiveIdmap], ['0 100000 65536\n', '0 200000 65536\n', 1]);
  const joined = plan((s) => { s.linux!.namespaces!.push({ type: 'user', path: '/proc/7/ns/user' }); s.mounts!.push({ destination: '/d', source: '/v', options: ['bind', 'idmap'] }); });
  const j = of(joined.ops, 'idmapTree')[0]!;
  assert.equal([j.usernsPath, j.uidMap, j.recursiveIdmap], ['/proc/7/ns/user', '', 0]);
  assert.ok(joined.ops.indexOf(j) < at(joined.ops, 'setns'), 'before the user namespace is joined');
});

test('idmapped new filesystem (tmpfs with idmap): made in P with its data, attached in C', () => {
  const p = plan((s) => { USERNS(s); s.mounts!.push({ destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['idmap', 'size=1m', 'nosuid'] }); });
  const t = of(p.ops, 'idmapTree')[0]!;
  assert.equal([t.kind, t.fstype, t.data, t.source], [IDMAP_TREE.FS, 'tmpfs', ['size=1m'], 'tmpfs']);
  const m = of(p.ops, 'mount').find((o) => o.destination === '/t')!;
  assert.equal([m.kind, m.fstype], [MOUNT_KIND.IDMAPPED, 'tmpfs']);
});

test('podman\'s "idmap=uids=...;gids=..." option: triplets as map lines, "@" relative to the container\'s mappings, ridmap= recursive', () => {
  const p = plan((s) => { USERNS(s); s.mounts!.push({ destination: '/d', source: '/v', options: ['rbind', 'ridmap=uids=0-5000-10#@10-7-1;gids=@0-1000-1'] }); });
  const t = of(p.ops, 'idmapTree')[0]!;
  assert.equal([t.uidMap, t.gidMap, t.recursiveIdmap, t.usernsPath], ['0 5000 10\n10 100007 1\n', '0 201000 1\n', 1, '']);
  const bare = plan((s) => { s.mounts!.push({ destination: '/d', source: '/v', options: ['bind', 'idmap=gids=0-3-1;uids=0-2-1'] }); });
  const b = of(bare.ops, 'idmapTree')[0]!;
  assert.equal([b.uidMap, b.gidMap, b.recursiveIdmap], ['0 2 1\n', '0 3 1\n', 0]);
  assert.not.ok(of(bare.ops, 'mount').find((m) => m.destination === '/d')!.data.some((d) => d.startsWith('idmap')), 'not passed on as filesystem data');
});

test('idmapped mounts refused naming the field', () => {
  const mnt = (m: object, edit?: (s: Spec) => void) => () => plan((s) => { edit?.(s); s.mounts!.push({ destination: '/d', source: '/v', ...m }); });
  const idx = spec().mounts!.length;
  refused(mnt({ options: ['bind', 'idmap'] }), `mounts[${idx}].options`, /needs uidMappings\/gidMappings on the mount, or a user namespace/);
  refused(mnt({ options: ['bind'], uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }), `mounts[${idx}].gidMappings`, /both/);
  refused(mnt({ options: ['bind'], uidMappings: [], gidMappings: [] }), `mounts[${idx}].uidMappings`);
  refused(mnt({ options: ['bind'], uidMappings: [{ containerID: 0, hostID: 1, size: 0 }], gidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }), `mounts[${idx}].uidMappings[0].size`);
  refused(mnt({ type: 'cgroup2', source: 'cgroup2', options: ['idmap'] }, USERNS), `mounts[${idx}].type`);
  refused(mnt({ options: ['bind', 'idmap=uids=0-1-1'] }), `mounts[${idx}].options`, /gids= is missing/);
  refused(mnt({ options: ['bind', 'idmap=uids=0-1-1;uids=0-1-1;gids=0-1-1'] }), `mounts[${idx}].options`, /given twice/);
  refused(mnt({ options: ['bind', 'idmap=uids=0-1-0;gids=0-1-1'] }), `mounts[${idx}].options`, /out of range/);
  refused(mnt({ options: ['bind', 'idmap=uids=0-1-1;gids=0-1-1;'] }), `mounts[${idx}].options`, /expected uids=/);
  refused(mnt({ options: ['bind', 'idmap=uids=@0-0-1;gids=@0-0-1'] }), `mounts[${idx}].options`, /no range of linux\.uidMappings/);
  refused(mnt({ options: ['bind', 'idmap=uids=@0-65000-1000;gids=@0-0-1'] }, USERNS), `mounts[${idx}].options`, /holds container ids 65000-65999/);
  refused(mnt({ options: ['bind', 'idmap=uids=0-1-1;gids=0-1-1'], uidMappings: [{ containerID: 0, hostID: 1, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }), `mounts[${idx}].options`, /once/);
});

test.run();
