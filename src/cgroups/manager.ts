// One interface over cgroup v1, v2 and hybrid hosts. The root of the cgroup
// filesystem is injected (CgroupHost.mountRoot) so unit tests run drivers against
// a temp dir of fixture files without root.
import type { Resources } from '../spec/types';

export type CgroupLayout = 'v1' | 'v2' | 'hybrid';

/** Pressure stall information (cgroup v2 *.pressure files), as runc reports it. */
export interface PsiData {
  avg10: number;
  avg60: number;
  avg300: number;
  /** stalled time, µs */
  total: number;
}
export interface PsiStats {
  some: PsiData;
  full: PsiData;
}

export interface CgroupStats {
  cpu: {
    usage: { total: number; kernel: number; user: number; percpu?: number[] };
    throttling: { periods: number; throttledPeriods: number; throttledTime: number };
    psi?: PsiStats;
  };
  memory: {
    usage: { usage: number; max: number; failcnt: number; limit: number };
    swap?: { usage: number; limit: number };
    /** page cache: memory.stat "cache" (v1) or "file" (v2), as runc reports it */
    cache?: number;
    raw: Record<string, number>;
    psi?: PsiStats;
  };
  pids: { current: number; limit: number };
  blkio: Record<string, unknown>;
  hugetlb: Record<string, { usage: number; max: number; failcnt: number }>;
}

/**
 * Where the container's processes belong, so capsa-init can move itself in
 * (cheaper than the runtime writing its pid: see native/init/protocol.h).
 */
export interface CgroupMembership {
  /** The container's dir in each cgroup v1 hierarchy. */
  v1: string[];
  /** Its cgroup2 dir; `optional` on hybrid hosts, where failing to join is a warning. */
  v2?: { dir: string; optional: boolean };
}

export interface ApplyOptions {
  /**
   * Leave the pids limit out: create writes it once the container's first
   * process is in the cgroup (capsa-init's own clone counts against it, so
   * a limit of 0 or 1 would stop the container from starting at all).
   */
  withoutPids?: boolean;
}

export interface CgroupManager {
  readonly layout: CgroupLayout;
  /** Container's cgroup path relative to each hierarchy root, e.g. "/ID". */
  readonly path: string;
  /** Create the cgroup dirs (and parents), remembering which ones we created. */
  create(): void;
  /** Write every linux.resources field. Errors name the field, file and value. */
  apply(resources: Resources | undefined, options?: ApplyOptions): void;
  /** Move a process into the container's cgroup(s) (systemd: asynchronously, over D-Bus). */
  addProcess(pid: number): void | Promise<void>;
  /** The dirs a process joins by itself; absent (or undefined) when the runtime must place it (systemd, before its scope exists). */
  membership?(): CgroupMembership | undefined;
  freeze(): void;
  thaw(): void;
  isFrozen(): boolean;
  /** Host PIDs of every process in the cgroup (recursively). */
  pids(): number[];
  stats(): CgroupStats;
  /** Apply a partial resources update to a running container (systemd: also to the scope's properties). */
  update(resources: Resources): void | Promise<void>;
  /**
   * SIGKILL every process in the cgroup at once through cgroup.kill (v2,
   * Linux ≥ 5.14), processes forked meanwhile included. False when the
   * kernel has no cgroup.kill: the caller signals the pids one by one.
   */
  killAll?(): boolean;
  /** Remove the container's dirs, and parents capsa created that are now empty. */
  destroy(): void | Promise<void>;
  /** Serializable description kept in state.json so later calls rebuild the manager. */
  toJSON(): CgroupRecord;
  /** Things applied partly or ignored (e.g. kernel memory on new kernels), for the caller to print. */
  readonly warnings?: string[];
  /** OOM kills in the container's cgroup so far (for `events` "oom"). */
  oomKillCount?(): number;
  /** v2: memory.events, which the kernel notifies (inotify) when an OOM kill is counted. */
  oomEventsFile?(): string | undefined;
  /**
   * systemd: did systemd see an OOM kill in the scope (its Result is
   * "oom-kill")? It removes the scope's cgroup, and the kernel's count with
   * it, as soon as the container has exited; a failed scope stays loaded.
   */
  oomKilledPerSystemd?(): Promise<boolean>;
}

export interface CgroupRecord {
  layout: CgroupLayout;
  path: string;
  /** Absolute dirs created by capsa (deepest last), removed on destroy when empty. */
  created: string[];
  /**
   * Written before create() and cleared after it: a create stopped in between
   * (a crash, a terminated worker thread) may have made some of the leaves
   * without recording them, so destroy removes the leaves when empty.
   */
  creating?: boolean;
  mountRoot: string;
  /** v1/hybrid: controller → hierarchy mount dir; rebuilt by scanning mountRoot when absent. */
  hierarchies?: Record<string, string>;
  /** v2/hybrid: the cgroup2 mount. */
  unified?: string;
  /** --systemd-cgroup: the container's transient scope (systemd made and removes the dirs). */
  systemd?: { unit: string; slice: string; id: string };
}
