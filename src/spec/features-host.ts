// What this host offers of the features `capsa features` lists, as
// io.github.capsa.host.* annotations: the spec's own fields say what capsa
// implements (features.md), these say what would work here and now. One
// probe per fact, each cheap and never throwing.
import * as fs from 'node:fs';
import { SYSTEMD_PROBE_PATH } from '../cgroups/systemd-host';
import { detectLsm } from '../security/lsm';
import { hostLastCap } from '../sys/proc';
import { CAPABILITIES } from './features';
import { idmapSupport } from './idmap-support';

const PREFIX = 'io.github.capsa.host.';

// /proc/self/ns file → the spec's namespace name.
const NS_FILES: Record<string, string> = {
  cgroup: 'cgroup', ipc: 'ipc', mnt: 'mount', net: 'network', pid: 'pid', time: 'time', user: 'user', uts: 'uts',
};

function exists(p: string): boolean {
  try { return fs.existsSync(p); } catch { return false; }
}

function mountinfo(): string {
  try { return fs.readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return ''; }
}

/** Filesystem types mounted in this mount namespace. */
function mountedTypes(): Set<string> {
  const types = new Set<string>();
  for (const line of mountinfo().split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep >= 0) types.add(line.slice(sep + 3).split(' ')[0]!);
  }
  return types;
}

export function hostNamespaces(): string[] {
  return Object.entries(NS_FILES).filter(([file]) => exists(`/proc/self/ns/${file}`)).map(([, name]) => name).sort();
}

export function hostCapabilities(): string {
  const last = hostLastCap();
  return CAPABILITIES[last] ?? `CAP_${last}`;
}

export function hostCgroup(types: Set<string>): string {
  const v1 = types.has('cgroup');
  const v2 = types.has('cgroup2');
  return v1 && v2 ? 'hybrid' : v1 ? 'v1' : v2 ? 'v2' : 'none';
}

/** The host annotations, in a fixed order. */
export function hostFeatureAnnotations(): Record<string, string> {
  const lsm = detectLsm();
  const types = mountedTypes();
  return {
    [`${PREFIX}apparmor`]: String(lsm.apparmor),
    [`${PREFIX}selinux`]: String(lsm.selinux),
    [`${PREFIX}cgroup`]: hostCgroup(types),
    // --systemd-cgroup needs systemd running as the init (sd_booted's test).
    [`${PREFIX}systemd`]: String(exists(SYSTEMD_PROBE_PATH)),
    // mounts[].uidMappings: capsa-init tries an idmapped mount (idmap-support.ts).
    [`${PREFIX}idmap`]: String(idmapSupport().enabled),
    [`${PREFIX}namespaces`]: hostNamespaces().join(','),
    [`${PREFIX}lastCapability`]: hostCapabilities(),
    // linux.intelRdt needs a mounted resctrl filesystem.
    [`${PREFIX}intelRdt`]: String(types.has('resctrl')),
    // linux.netDevices moves host links: CAP_NET_ADMIN on the host.
    [`${PREFIX}netDevices`]: String(process.geteuid?.() === 0),
  };
}
