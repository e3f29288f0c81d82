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
  const ownerUid = host.layout === 'v2' ? cgroupOwnerUid(spec) : undefined;
  return createCgroupManager({ id, cgroupsPath: spec.linux?.cgroupsPath, host, systemd, annotations: spec.annotations, ...(ownerUid !== undefined ? { ownerUid } : {}) });
}

/**
 * runtime-spec 1.1 (cgroup v2): a container with its own user and cgroup
 * namespaces and a writable cgroupfs owns its cgroup — the host uid its root
 * maps to gets the dir and its delegatable files, as with runc.
 */
export function cgroupOwnerUid(spec: Spec): number | undefined {
  const ns = spec.linux?.namespaces ?? [];
  const has = (type: string) => ns.some((n) => n.type === type);
  if (!has('user') || !ns.some((n) => n.type === 'cgroup' && !n.path)) return undefined;
  const writable = (spec.mounts ?? []).some((m) => path.posix.normalize(m.destination) === '/sys/fs/cgroup'
    && (m.type === 'cgroup' || m.type === 'cgroup2') && !(m.options ?? []).includes('ro'));
  if (!writable) return undefined;
  const root = (spec.linux?.uidMappings ?? []).find((m) => m.containerID <= 0 && 0 < m.containerID + m.size);
  return root ? root.hostID - root.containerID : undefined;
}

/** The manager of a recorded container (`useSystemd`: it was made with --systemd-cgroup). */
export function loadCgroup(record: CgroupRecord | undefined, useSystemd = false): CgroupManager | undefined {
  return record ? loadCgroupManager(record, {}, { olderSystemdRecord: useSystemd && !record.systemd }) : undefined;
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
