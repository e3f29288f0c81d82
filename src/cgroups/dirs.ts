// Making and removing cgroup dirs: create the missing parents (remembering
// which ones capsa made), remove only those, deepest first, and only when
// empty. Removal is rmdir alone: a cgroup dir goes away whole, its files
// cannot be unlinked, so rm -rf would only fail halfway.
import * as path from 'node:path';
import { CapsaError, describeErrno } from '../errors';
import { errnoOf, type CgroupFs } from './fsio';
import { pathChain } from './paths';

/**
 * mkdir each missing dir from the hierarchy root down to `cgroupPath`,
 * appending each one made to `created` as soon as it exists (so a failure
 * halfway still leaves an accurate record for cleanup). `beforeChild(parent)`
 * runs for every parent on the way (v2 enables controllers there so the child
 * gets their files); `afterMkdir(dir, parent)` for every dir made here.
 */
export function createChain(
  cfs: CgroupFs,
  hierarchyRoot: string,
  cgroupPath: string,
  created: string[],
  hooks: { beforeChild?: (parent: string) => void; afterMkdir?: (dir: string, parent: string) => void } = {},
): void {
  // Another container's delete may remove a shared parent (e.g. /capsa) between
  // our mkdirs: ENOENT then means "start again from the top".
  for (let attempt = 0; ; attempt++) {
    try {
      createChainOnce(cfs, hierarchyRoot, cgroupPath, created, hooks);
      return;
    } catch (e) {
      if (attempt >= 5 || !(e instanceof CapsaError) || e.errno !== 'ENOENT') throw e;
    }
  }
}

function createChainOnce(
  cfs: CgroupFs,
  hierarchyRoot: string,
  cgroupPath: string,
  created: string[],
  hooks: { beforeChild?: (parent: string) => void; afterMkdir?: (dir: string, parent: string) => void },
): void {
  let parent = hierarchyRoot;
  for (const rel of pathChain(cgroupPath)) {
    const dir = path.join(hierarchyRoot, rel);
    hooks.beforeChild?.(parent);
    // mkdir straight away: EEXIST is as cheap an answer as a stat would be.
    let made = false;
    try {
      cfs.mkdir(dir);
      made = true;
      if (!created.includes(dir)) created.push(dir);
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw syscallError(`create cgroup ${dir}`, e);
    }
    if (made) hooks.afterMkdir?.(dir, parent);
    parent = dir;
  }
}

export function syscallError(what: string, e: unknown): CapsaError {
  const errno = errnoOf(e);
  return new CapsaError('SYSCALL', `${what}: ${errno ? describeErrno(errno) : String((e as Error)?.message ?? e)}`, { errno, cause: e });
}

const depth = (p: string) => p.split('/').filter(Boolean).length;

export interface RemoveOptions {
  /** The container's own dirs: their child cgroups go too, and a busy one is an error. */
  leaves: string[];
  /** Every dir capsa created (leaves and parents). */
  created: string[];
  /** capsa's shared default parents (e.g. <root>/capsa): removed when empty, whoever made them. */
  sharedParents?: string[];
  /** Leaves not in `created` may still be ours (see CgroupRecord.creating): removed when empty. */
  leavesMaybeCreated?: boolean;
  sleep: (ms: number) => void;
}

/**
 * Remove the container's leaf dirs that capsa created (with any cgroups the
 * container made inside them), then the parents capsa created, deepest first,
 * skipping any that are still in use. Throws the first failure to remove a
 * leaf, after trying everything.
 */
export function removeCreated(cfs: CgroupFs, opts: RemoveOptions): void {
  const created = new Set(opts.created);
  const errors: CapsaError[] = [];
  for (const leaf of opts.leaves) {
    if (!created.has(leaf) && !opts.leavesMaybeCreated) continue;
    try {
      // Not recorded as ours: never recurse into it, and leave it if it holds anything.
      if (!created.has(leaf)) removeIfEmpty(cfs, leaf, opts.sleep);
      else removeTree(cfs, leaf, opts.sleep);
    } catch (e) {
      errors.push(e as CapsaError);
    }
  }
  const parents = [...new Set([...opts.created.filter((d) => !opts.leaves.includes(d)), ...(opts.sharedParents ?? [])])].sort((a, b) => depth(b) - depth(a));
  for (const dir of parents) {
    try {
      cfs.rmdir(dir);
    } catch (e) {
      // Busy or not empty: another container (or someone else) lives there now.
      const errno = errnoOf(e);
      if (errno !== 'ENOENT' && errno !== 'EBUSY' && errno !== 'ENOTEMPTY') errors.push(syscallError(`remove cgroup ${dir}`, e));
    }
  }
  if (errors.length > 0) throw errors[0];
}

// A dir with processes still exiting is EBUSY for a moment; try a few times.
const RETRY_DELAYS_MS = [0, 10, 20, 40, 80, 160];

function removeTree(cfs: CgroupFs, dir: string, sleep: (ms: number) => void): void {
  // The usual case first: no child cgroups, no processes left.
  try {
    cfs.rmdir(dir);
    return;
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
  }
  for (const child of cfs.subdirs(dir)) removeTree(cfs, path.join(dir, child), sleep);
  rmdirRetrying(cfs, dir, sleep, ['ENOENT']);
}

/** A leaf that may not be ours: removed only when it holds nothing (no recursion). */
function removeIfEmpty(cfs: CgroupFs, dir: string, sleep: (ms: number) => void): void {
  rmdirRetrying(cfs, dir, sleep, ['ENOENT', 'ENOTEMPTY']);
}

/** rmdir, retried while EBUSY (processes still exiting); an errno in `fine` ends it quietly. */
function rmdirRetrying(cfs: CgroupFs, dir: string, sleep: (ms: number) => void, fine: readonly string[]): void {
  let last: unknown;
  for (const delay of RETRY_DELAYS_MS) {
    sleep(delay);
    try {
      cfs.rmdir(dir);
      return;
    } catch (e) {
      const errno = errnoOf(e);
      if (errno !== undefined && fine.includes(errno)) return;
      last = e;
      if (errno !== 'EBUSY') break;
    }
  }
  throw syscallError(`remove cgroup ${dir}`, last);
}

/** v2: enable `wanted` controllers (those the parent offers) in parent's subtree_control. */
export function enableControllers(cfs: CgroupFs, parent: string, wanted: 'all' | string[], warnings: string[]): void {
  const available = readWords(cfs, path.join(parent, 'cgroup.controllers'));
  const enabled = new Set(readWords(cfs, path.join(parent, 'cgroup.subtree_control')));
  const list = wanted === 'all' ? available : wanted.filter((c) => available.includes(c));
  for (const c of list) {
    if (enabled.has(c)) continue;
    try {
      cfs.write(path.join(parent, 'cgroup.subtree_control'), `+${c}`);
    } catch (e) {
      // EBUSY: the parent has processes of its own ("no internal processes" rule).
      warnings.push(`cannot enable the ${c} controller in ${parent}/cgroup.subtree_control: ${describeErrno(errnoOf(e) ?? 'EIO')}`);
    }
  }
}

export function readWords(cfs: CgroupFs, file: string): string[] {
  try {
    return cfs.read(file).split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** v1 cpuset: a new cgroup has empty cpus/mems and refuses tasks until they are set; inherit the parent's. */
export function inheritCpuset(cfs: CgroupFs, dir: string, parent: string): void {
  for (const file of ['cpuset.cpus', 'cpuset.mems']) {
    const own = path.join(dir, file);
    if (!cfs.exists(own) || cfs.read(own).trim() !== '') continue;
    const value = cfs.read(path.join(parent, file)).trim();
    try {
      cfs.write(own, value);
    } catch (e) {
      throw syscallError(`copy ${file} "${value}" from ${parent} into ${dir}`, e);
    }
  }
}

/**
 * Every pid in cgroup.procs of `dir` and its descendants. A cgroup removed
 * meanwhile holds none: systemd removes a scope's cgroup as soon as it is
 * empty, between any two reads (ENOENT; ENODEV for a file opened before).
 */
export function pidsUnder(cfs: CgroupFs, dir: string): number[] {
  const out: number[] = [];
  const gone = (e: unknown) => errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENODEV';
  const walk = (d: string) => {
    let procs: string;
    let children: string[];
    try {
      procs = cfs.read(path.join(d, 'cgroup.procs'));
    } catch (e) {
      if (gone(e)) return;
      throw syscallError(`read ${path.join(d, 'cgroup.procs')}`, e);
    }
    // 0 is what the kernel lists for a process it cannot name in the reader's
    // pid namespace (or one being released): no pid to signal or wait for,
    // and kill(0) would signal our own process group.
    for (const line of procs.split('\n')) {
      const pid = Number(line.trim());
      if (pid > 0) out.push(pid);
    }
    try {
      children = cfs.subdirs(d);
    } catch (e) {
      if (gone(e)) return;
      throw syscallError(`list ${d}`, e);
    }
    for (const child of children) walk(path.join(d, child));
  };
  walk(dir);
  return [...new Set(out)];
}

/**
 * A cgroup that existed before this container must be empty and not frozen
 * (runc ≥ 1.2): adopting one that holds processes would put them under the
 * container's limits and kill them on delete; a frozen one would freeze the
 * container's first process as it enters.
 */
export function refuseOccupied(cfs: CgroupFs, dir: string, frozen: boolean): void {
  const procs = pidsUnder(cfs, dir);
  if (procs.length > 0) {
    throw new CapsaError('INVALID_CONFIG', `linux.cgroupsPath: container's cgroup is not empty: ${procs.length} process(es) found in ${dir}`, { configPath: 'linux.cgroupsPath' });
  }
  if (frozen) throw new CapsaError('INVALID_CONFIG', `linux.cgroupsPath: container's cgroup unexpectedly frozen: ${dir}`, { configPath: 'linux.cgroupsPath' });
}

/** Write a pid into cgroup.procs. */
export function joinCgroup(cfs: CgroupFs, dir: string, pid: number): void {
  try {
    cfs.write(path.join(dir, 'cgroup.procs'), String(pid));
  } catch (e) {
    throw syscallError(`add process ${pid} to cgroup ${dir}`, e);
  }
}
