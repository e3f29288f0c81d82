// Glue between the runtime and the cgroup drivers: which manager a container
// gets, and which host dirs its /sys/fs/cgroup mount shows.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupHostFromSystem, createCgroupManager, loadCgroupManager } from '../cgroups';
import type { CgroupManager, CgroupRecord } from '../cgroups/manager';
import type { Spec } from '../spec/types';
import type { CgroupMountSource } from '../plan/compile';
import { readProcFile } from '../sys/proc';

let host: ReturnType<typeof cgroupHostFromSystem> | undefined;

export function makeCgroupManager(id: string, spec: Spec, systemd: boolean): CgroupManager {
  host ??= cgroupHostFromSystem();
  // Nothing is made until create(): the caller records the manager first.
  return createCgroupManager({ id, cgroupsPath: spec.linux?.cgroupsPath, host, systemd });
}

export function loadCgroup(record: CgroupRecord | undefined): CgroupManager | undefined {
  return record ? loadCgroupManager(record) : undefined;
}

/** Each hierarchy's dir for this container, as seen under /sys/fs/cgroup. */
export function cgroupMountSources(mgr: CgroupManager): CgroupMountSource[] {
  const rec = mgr.toJSON();
  const root = rec.mountRoot;
  if (rec.layout === 'v2') return [{ name: '', hostDir: path.join(root, rec.path) }];
  const sources: CgroupMountSource[] = [];
  for (const mountpoint of hierarchyMounts(root)) {
    const hostDir = path.join(mountpoint, rec.path);
    if (fs.existsSync(hostDir)) sources.push({ name: path.basename(mountpoint), hostDir });
  }
  return sources;
}

/**
 * The cgroup mounts directly under root, read from mountinfo once per process
 * (like `host` above).
 */
const mountsUnder = new Map<string, string[]>();
function hierarchyMounts(root: string): string[] {
  let found = mountsUnder.get(root);
  if (found) return found;
  found = [];
  for (const line of readProcFile('/proc/self/mountinfo').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0) continue;
    const fstype = f[sep + 1];
    const mountpoint = f[4]!;
    if ((fstype === 'cgroup' || fstype === 'cgroup2') && path.dirname(mountpoint) === root) found.push(mountpoint);
  }
  mountsUnder.set(root, found);
  return found;
}
