// Reading a container's cgroup from outside, on any layout: the host's
// layout (v1, hybrid or pure v2) is read from the kernel (statfs of
// /sys/fs/cgroup), and a process's cgroup dir from /proc/PID/cgroup, so the
// tests find the files wherever the cgroup driver (cgroupfs or systemd) put
// them, under the names that layout uses.
import * as fs from 'node:fs';
import * as path from 'node:path';

const CGROUP2_SUPER_MAGIC = 0x63677270;
const ROOT = '/sys/fs/cgroup';

function isCgroup2(dir: string): boolean {
  try {
    return fs.statfsSync(dir).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

export type Layout = 'v1' | 'hybrid' | 'v2';
export const LAYOUT: Layout = isCgroup2(ROOT) ? 'v2' : isCgroup2(path.join(ROOT, 'unified')) ? 'hybrid' : 'v1';
export const V2 = LAYOUT === 'v2';

/** Is PID 1 systemd (with its runtime dir)? Then --systemd-cgroup talks to the real one. */
export function realSystemd(): boolean {
  try {
    return fs.readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd' && fs.statSync('/run/systemd/system').isDirectory();
  } catch {
    return false;
  }
}

/** hierarchy ("0::" for cgroup2, else the controller list) → path, from /proc/PID/cgroup. */
export function cgroupsOf(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const first = line.indexOf(':');
    const last = line.lastIndexOf(':');
    const num = line.slice(0, first);
    out.set(num === '0' ? '0::' : line.slice(first + 1, last), line.slice(last + 1));
  }
  return out;
}

/** Controllers that live on the cgroup2 side even of a hybrid host (no v1 hierarchy of their own). */
function v1MountOf(controller: string): string | undefined {
  for (const name of fs.readdirSync(ROOT)) {
    if (name.split(',').includes(controller)) return path.join(ROOT, name);
  }
  return undefined;
}

/**
 * Where a container's files for `controller` are, given its cgroup path:
 * v2: <root>/<path>; v1/hybrid: the controller's hierarchy, or the cgroup2
 * side (<root>/unified) for a controller only cgroup2 has here.
 */
export class ContainerCgroup {
  constructor(
    /** the container's cgroup path, e.g. "/capsa-test-x" or "/system.slice/capsa-x.scope" */
    readonly path: string,
  ) {}

  /** The container's cgroup, read from its init's /proc/PID/cgroup. */
  static ofPid(pid: number): ContainerCgroup {
    const all = cgroupsOf(pid);
    const p = V2 ? all.get('0::') : [...all.entries()].find(([k]) => k.split(',').includes('pids') || k.split(',').includes('memory'))?.[1];
    if (p === undefined) throw new Error(`no cgroup for pid ${pid}: ${JSON.stringify([...all])}`);
    return new ContainerCgroup(p);
  }

  dir(controller = ''): string {
    if (V2 || controller === '' || controller === 'unified') return path.join(V2 ? ROOT : path.join(ROOT, 'unified'), this.path);
    const mount = v1MountOf(controller);
    return path.join(mount ?? path.join(ROOT, 'unified'), this.path);
  }

  /** The file, found by its name's controller prefix ("memory.max" → memory). */
  file(name: string): string {
    const controller = name.split('.')[0]!;
    return path.join(this.dir(controller === 'cgroup' ? 'unified' : controller), name);
  }

  read(name: string): string {
    return fs.readFileSync(this.file(name), 'utf8').trim();
  }

  int(name: string): number {
    return Number(this.read(name));
  }

  exists(name?: string): boolean {
    return fs.existsSync(name ? this.file(name) : this.dir(V2 ? '' : 'pids'));
  }

  /** "key value" lines (cpu.stat, memory.events, pids.events, memory.oom_control) as a map. */
  keyed(name: string): Map<string, number> {
    return new Map(this.read(name).split('\n').map((l) => { const [k, v] = l.split(/\s+/); return [k!, Number(v)]; }));
  }

  /** cgroup.procs of the container's dir (v1: in the pids hierarchy). */
  procs(): number[] {
    return fs.readFileSync(path.join(this.dir(V2 ? '' : 'pids'), 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  }
}

/** The file names a limit has on this host's layout. */
export const FILES = V2
  ? {
    memoryLimit: 'memory.max', memoryUsage: 'memory.current', memoryLow: 'memory.low', swapLimit: 'memory.swap.max',
    pidsMax: 'pids.max', cpuQuota: 'cpu.max', freezer: 'cgroup.freeze', oomEvents: 'memory.events',
  }
  : {
    memoryLimit: 'memory.limit_in_bytes', memoryUsage: 'memory.usage_in_bytes', memoryLow: 'memory.soft_limit_in_bytes', swapLimit: 'memory.memsw.limit_in_bytes',
    pidsMax: 'pids.max', cpuQuota: 'cpu.cfs_quota_us', freezer: 'freezer.state', oomEvents: 'memory.oom_control',
  };
