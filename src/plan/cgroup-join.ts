// How capsa-init enters the container's cgroups before the container's first
// process exists. The cheap ways first: a single-threaded process writing "0"
// to a v1 "tasks" file moves itself without the kernel's global threadgroup
// lock (5-10 ms per write otherwise), and clone3(CLONE_INTO_CGROUP) puts the
// child straight into a cgroup2 dir. CLONE_INTO_CGROUP checks the caller's
// credentials, so inside a new or joined user namespace the v2 dir is joined
// by writing "0" to cgroup.procs before any namespace is entered. So it is
// when the process joins a cgroup namespace (exec into a container that has
// one): from inside it the kernel refuses to move a process whose cgroup lies
// outside the namespace's root (ENOENT), which the caller's does.
import type { CgroupMembership } from '../cgroups/manager';
import { SYNC, type Op } from './schema';

export interface CgroupJoin {
  /** Ops to run first, in the host's namespaces. */
  ops: Op[];
  /** The clone goes into a cgroup2 dir: a fresh cgroup namespace must then be made after it. */
  intoClone: boolean;
}

/** linux.intelRdt: join the resctrl group (and MON group) by writing "0" (this process) to their tasks files. */
export function resctrlJoinOps(tasksFiles: readonly string[]): Op[] {
  return tasksFiles.map((file) => ({ op: 'joinCgroup', file, optional: 0, configPath: 'linux.intelRdt', what: `join resctrl group ${file.slice(0, file.lastIndexOf('/'))}` }));
}

/** `writeProcs`: join v2 by writing cgroup.procs, not by CLONE_INTO_CGROUP (user namespace, or a cgroup namespace joined). */
export function cgroupJoinOps(membership: CgroupMembership | undefined, writeProcs: boolean): CgroupJoin {
  if (!membership) return { ops: [{ op: 'sync', code: SYNC.READY, what: 'join cgroups' }], intoClone: false };
  const ops: Op[] = membership.v1.map((dir) => ({ op: 'joinCgroup', file: `${dir}/tasks`, optional: 0, what: `join cgroup ${dir}` }));
  const v2 = membership.v2;
  if (!v2) return { ops, intoClone: false };
  const optional = v2.optional ? 1 : 0;
  if (writeProcs) {
    ops.push({ op: 'joinCgroup', file: `${v2.dir}/cgroup.procs`, optional, what: `join cgroup ${v2.dir}` });
    return { ops, intoClone: false };
  }
  ops.push({ op: 'cgroupFd', dir: v2.dir, optional, what: `open cgroup ${v2.dir}` });
  return { ops, intoClone: true };
}
