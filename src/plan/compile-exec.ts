// The Plan for `exec`: join the running container's namespaces and cgroup,
// then become the new process with its own credentials and limits.
import { CapsaError } from '../errors';
import type { NamespaceType, Process } from '../spec/types';
import { capabilitySets, envPath, lsmOps, rlimitOps, seccompPlacement, type LsmExec, type PlanSeccomp } from './process';
import { CLONE, SYNC, type Op } from './schema';
import type { CgroupMembership } from '../cgroups/manager';
import { cgroupJoinOps, resctrlJoinOps } from './cgroup-join';
import { execAffinity, finalAffinityOps, initialAffinityOp, ioPriorityOps, memoryPolicyOps, schedulerOps, type HostTopology } from './process-attrs';
import type { MemoryPolicy } from '../spec/types';

export interface ExecInput {
  process: Process;
  containerPid: number;
  /** Namespaces of the container that differ from the host's, to join. */
  namespaces: NamespaceType[];
  lastCap: number;
  preserveFds: number;
  consoleFd?: number;
  seccomp?: PlanSeccomp;
  lsm?: LsmExec;
  /** Cgroup dirs the process joins by itself; absent: it syncs and the runtime places it. */
  cgroupMembership?: CgroupMembership;
  /** The container's linux.memoryPolicy: exec'd processes get it too. */
  memoryPolicy?: MemoryPolicy;
  /** CPUs and NUMA nodes online here. */
  topology?: HostTopology;
  /** linux.intelRdt: the container's resctrl tasks files. */
  resctrlTasks?: string[];
  /**
   * A prepared exec: the process waits (SYNC.START) as its last step before
   * execve, once it has its credentials, seccomp filter and LSM label.
   */
  startGate?: boolean;
}

const NS_FLAG: Record<NamespaceType, number> = {
  mount: CLONE.NEWNS, uts: CLONE.NEWUTS, ipc: CLONE.NEWIPC, network: CLONE.NEWNET,
  pid: CLONE.NEWPID, cgroup: CLONE.NEWCGROUP, user: CLONE.NEWUSER, time: CLONE.NEWTIME,
};
const JOIN_ORDER: NamespaceType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

export function compileExec(input: ExecInput): Op[] {
  const proc = input.process;
  if (!proc.args?.length) throw new CapsaError('INVALID_ARGUMENT', 'exec: no command given (process.args is empty)');
  // The container's cgroup namespace (if any) is joined by setns below; from
  // inside it CLONE_INTO_CGROUP would be refused, so then cgroup.procs is written first.
  const writeProcs = input.namespaces.includes('user') || input.namespaces.includes('cgroup');
  const topology = input.topology ?? {};
  const affinity = execAffinity(proc, topology);
  // initial: where capsa-init runs until it is in the container's cgroup.
  const ops: Op[] = [initialAffinityOp(affinity.initial), ...resctrlJoinOps(input.resctrlTasks ?? []), ...cgroupJoinOps(input.cgroupMembership, writeProcs).ops];
  for (const type of JOIN_ORDER) {
    if (input.namespaces.includes(type)) ops.push({ op: 'setnsPid', pid: input.containerPid, nstype: NS_FLAG[type], what: `join the container's ${type} namespace` });
  }
  // A further clone puts the process inside the container's pid namespace.
  ops.push({ op: 'clone', flags: 0, what: 'create the exec process' });
  ops.push({ op: 'setsid', what: 'start a new session' });
  // In the container's cgroup now (its cpuset may have reset the affinity): final.
  ops.push(...finalAffinityOps(affinity.final));
  ops.push(...memoryPolicyOps(input.memoryPolicy, topology));
  if (proc.terminal) {
    if (input.consoleFd === undefined) throw new CapsaError('INVALID_ARGUMENT', 'exec: a terminal was requested but no console socket was given');
    ops.push({ op: 'console', socketFd: input.consoleFd, rows: proc.consoleSize?.height ?? 0, cols: proc.consoleSize?.width ?? 0, bindConsole: 0, fromRootfs: 0, configPath: 'process.terminal', what: 'set up the terminal' });
  }
  if (proc.oomScoreAdj !== undefined) ops.push({ op: 'writeProc', path: 'self/oom_score_adj', content: String(proc.oomScoreAdj), configPath: 'process.oomScoreAdj', what: 'set oom_score_adj' });
  ops.push(...rlimitOps(proc));
  ops.push(...schedulerOps(proc), ...ioPriorityOps(proc));
  const caps = capabilitySets(proc, input.lastCap);
  ops.push({ op: 'capBounding', keep: caps.bounding, lastCap: input.lastCap, configPath: 'process.capabilities.bounding', what: 'drop bounding capabilities' });
  const seccomp = seccompPlacement(proc, caps, input.seccomp);
  ops.push(...seccomp.beforeCreds(proc.cwd, 3 + input.preserveFds));
  ops.push({
    op: 'creds', uid: proc.user.uid, gid: proc.user.gid, setGroups: 1, groups: proc.user.additionalGids ?? [],
    effective: caps.effective, permitted: caps.permitted, inheritable: caps.inheritable, ambient: caps.ambient,
    lastCap: input.lastCap, configPath: 'process.user', what: `set user ${proc.user.uid}:${proc.user.gid} and capabilities`,
  });
  if (proc.user.umask !== undefined) ops.push({ op: 'umask', mask: proc.user.umask, configPath: 'process.user.umask', what: 'set umask' });
  ops.push({ op: 'chdir', path: proc.cwd, configPath: 'process.cwd', what: `chdir to ${proc.cwd}` });
  const env = proc.env ?? [];
  ops.push({ op: 'resolveExec', file: proc.args[0]!, path: envPath(env), configPath: 'process.args', what: 'find the command' });
  ops.push(...seccomp.beforeReport());
  const created: Op = { op: 'reportCreated', what: 'report started' };
  if (input.startGate) {
    ops.push(...lsmOps(input.lsm), ...seccomp.beforeExec());
    ops.push({ op: 'sync', code: SYNC.START, what: 'wait to be started' }, created);
  } else {
    ops.push(created, ...lsmOps(input.lsm), ...seccomp.beforeExec());
  }
  ops.push({ op: 'exec', argv: proc.args, env, configPath: 'process.args', what: 'exec the command' });
  return ops;
}
