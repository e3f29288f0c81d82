// Which cgroup layout the host has, and where each hierarchy is mounted,
// read from /proc/self/mountinfo (text injected so it is unit-testable) or
// rebuilt by scanning a mount root (fixtures, state.json records).
import * as path from 'node:path';
import { CapsaError } from '../errors';
import type { CgroupLayout } from './manager';
import { realCgroupFs, sleepSync, type CgroupFs } from './fsio';
import type { DeviceFilterSyscalls } from './bpf-native';
import { readProcFile } from '../sys/proc';

export interface CgroupHost {
  layout: CgroupLayout;
  /**
   * v1/hybrid: the dir holding the hierarchies (/sys/fs/cgroup);
   * v2: the cgroup2 mount itself.
   */
  mountRoot: string;
  /** v1 and hybrid: controller name (or "name=systemd") → its hierarchy's mount dir. */
  hierarchies: Record<string, string>;
  /** v2: the cgroup2 mount; hybrid: <mountRoot>/unified. */
  unified?: string;
  /** File access; real cgroupfs unless a test injects an emulation. */
  fs?: CgroupFs;
  /** bpf(2) for v2 device filters; the addon unless injected. */
  deviceFilter?: DeviceFilterSyscalls;
  /** Pause used while polling the freezer; injectable so tests never sleep. */
  sleep?: (ms: number) => void;
  /** Where to look for a running systemd (default /run/systemd/system). */
  systemdProbePath?: string;
}

/** Controllers the v1 driver knows how to place a container in. */
export const V1_CONTROLLERS = [
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids',
  'hugetlb', 'net_cls', 'net_prio', 'rdma', 'perf_event', 'misc',
] as const;

const KNOWN_V1 = new Set<string>([...V1_CONTROLLERS, 'debug']);

interface MountEntry {
  mountpoint: string;
  fstype: string;
  superOptions: string[];
}

function parseMountinfo(mountinfo: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of mountinfo.split('\n')) {
    const f = line.trim().split(' ');
    const sep = f.indexOf('-');
    if (sep < 6 || f.length < sep + 4) continue;
    out.push({
      mountpoint: unescapeMountPath(f[4]!),
      fstype: f[sep + 1]!,
      superOptions: f[sep + 3]!.split(','),
    });
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

// The host's own mounts come before copies propagated into container rootfs;
// still, prefer the conventional place when a controller shows up twice.
function preferred(existing: string | undefined, candidate: string): boolean {
  if (existing === undefined) return true;
  return !existing.startsWith('/sys/fs/cgroup') && candidate.startsWith('/sys/fs/cgroup');
}

/** The full host description from mountinfo text. */
export function parseCgroupMounts(mountinfo: string): CgroupHost {
  const hierarchies: Record<string, string> = {};
  const cgroup2: string[] = [];
  for (const m of parseMountinfo(mountinfo)) {
    if (m.fstype === 'cgroup2') {
      cgroup2.push(m.mountpoint);
    } else if (m.fstype === 'cgroup') {
      for (const opt of m.superOptions) {
        if (KNOWN_V1.has(opt) || opt.startsWith('name=')) {
          if (preferred(hierarchies[opt], m.mountpoint)) hierarchies[opt] = m.mountpoint;
        }
      }
    }
  }
  const v1Mounts = Object.entries(hierarchies).filter(([c]) => !c.startsWith('name='));
  if (v1Mounts.length === 0) {
    if (cgroup2.length === 0) throw new CapsaError('UNSUPPORTED', 'no cgroup filesystem is mounted (neither cgroup nor cgroup2 in /proc/self/mountinfo)');
    const unified = cgroup2.find((p) => p === '/sys/fs/cgroup') ?? cgroup2[0]!;
    return { layout: 'v2', mountRoot: unified, hierarchies: {}, unified };
  }
  const mountRoot = commonParent(v1Mounts.map(([, p]) => p));
  const unified = cgroup2.find((p) => p === path.join(mountRoot, 'unified'));
  if (unified) return { layout: 'hybrid', mountRoot, hierarchies, unified };
  return { layout: 'v1', mountRoot, hierarchies };
}

function commonParent(mounts: string[]): string {
  const counts = new Map<string, number>();
  for (const m of mounts) counts.set(path.dirname(m), (counts.get(path.dirname(m)) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
}

/** v1, v2 or hybrid, from /proc/self/mountinfo text. */
export function detectLayout(mountinfo: string): CgroupLayout {
  return parseCgroupMounts(mountinfo).layout;
}

/** The real host, from /proc/self/mountinfo. */
export function cgroupHostFromSystem(): CgroupHost {
  return parseCgroupMounts(readProcFile('/proc/self/mountinfo'));
}

/**
 * Rebuild a host by looking at the dirs under a mount root: a cgroup2 root has
 * cgroup.controllers; v1 hierarchy dirs are named after their controllers
 * ("cpu,cpuacct", "systemd" for name=systemd); "unified" is the hybrid cgroup2.
 */
export function cgroupHostAt(mountRoot: string, extra: Partial<CgroupHost> = {}): CgroupHost {
  const cfs = extra.fs ?? realCgroupFs;
  const root = path.resolve(mountRoot);
  if (cfs.exists(path.join(root, 'cgroup.controllers'))) {
    return { ...extra, layout: 'v2', mountRoot: root, hierarchies: {}, unified: root };
  }
  const hierarchies: Record<string, string> = {};
  let unified: string | undefined;
  for (const name of cfs.subdirs(root)) {
    const dir = path.join(root, name);
    if (name === 'unified' && cfs.exists(path.join(dir, 'cgroup.controllers'))) unified = dir;
    else if (name === 'systemd') hierarchies['name=systemd'] = dir;
    else for (const c of name.split(',')) if (KNOWN_V1.has(c)) hierarchies[c] = dir;
  }
  return { ...extra, layout: unified ? 'hybrid' : 'v1', mountRoot: root, hierarchies, ...(unified ? { unified } : {}) };
}

export function hostFs(host: CgroupHost): CgroupFs {
  return host.fs ?? realCgroupFs;
}

export function hostSleep(host: CgroupHost): (ms: number) => void {
  return host.sleep ?? sleepSync;
}
