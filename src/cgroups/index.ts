// Public entry of the cgroup drivers: pick a driver for the host's layout,
// or rebuild one from the record kept in state.json.
import type { CgroupManager, CgroupRecord } from './manager';
import { cgroupHostAt, type CgroupHost } from './host';
import { resolveCgroupPath } from './paths';
import type { SystemdScopeClient } from './systemd-manager';

// Each driver loads when a container needs it (a one-shot CLI call needs one).
const v1Driver = () => (require('./v1') as typeof import('./v1')).V1Manager;
const v2Driver = () => (require('./v2') as typeof import('./v2')).V2Manager;
const systemdDriver = () => require('./systemd-manager') as typeof import('./systemd-manager');

export type { CgroupHost } from './host';
export type { ApplyOptions, CgroupManager, CgroupRecord, CgroupStats, CgroupLayout } from './manager';
export type { CgroupFs } from './fsio';
export type { DeviceFilterSyscalls } from './bpf-native';
export type { DeviceRule, DeviceRuleState } from './devices-rules';
export type { SystemdScopeClient } from './systemd-manager';
export { cgroupHostAt, cgroupHostFromSystem, detectLayout, parseCgroupMounts } from './host';
export { DEFAULT_CGROUP_PARENT, resolveCgroupPath } from './paths';
export { defaultDeviceRules, effectiveDeviceRules, reduceDeviceRules } from './devices-rules';
export { compileDeviceFilter } from './devices-ebpf';
export { isSystemdRunning, parseSystemdCgroupsPath, requireSystemd } from './systemd-host';
export { sharesToWeight, blkioWeightToIoWeight, swapToV2 } from './conversions';

export interface CreateCgroupOptions {
  id: string;
  /** linux.cgroupsPath */
  cgroupsPath?: string;
  host: CgroupHost;
  /** --systemd-cgroup */
  systemd?: boolean;
  /** D-Bus client for the systemd driver (default: the system bus). */
  systemdClient?: SystemdScopeClient;
  /** The config's annotations (--systemd-cgroup: org.systemd.property.* become scope properties). */
  annotations?: Record<string, string>;
  /** v2: hand the container's cgroup to this host uid (see V2Manager). */
  ownerUid?: number;
}

/**
 * The manager for a new container. Paths: none → /<id>; "/a/b" → /a/b
 * in every hierarchy; "a/b" → /capsa/a/b (see paths.ts). Nothing is created
 * until create().
 */
export function createCgroupManager(opts: CreateCgroupOptions): CgroupManager {
  if (opts.systemd) return systemdDriver().createSystemdManager(opts);
  const cgroupPath = resolveCgroupPath(opts.id, opts.cgroupsPath);
  return opts.host.layout === 'v2' ? new (v2Driver())(opts.host, cgroupPath, [], false, opts.ownerUid) : new (v1Driver())(opts.host, cgroupPath);
}

/**
 * Rebuild a manager from state.json. `inject` replaces file access, bpf or
 * the sleep function (tests).
 */
export function loadCgroupManager(
  record: CgroupRecord,
  inject: Pick<CgroupHost, 'fs' | 'deviceFilter' | 'sleep'> & { systemdClient?: SystemdScopeClient } = {},
  opts: { /** made with --systemd-cgroup by a capsa whose record kept only the path */ olderSystemdRecord?: boolean } = {},
): CgroupManager {
  const { systemdClient, ...hostInject } = inject;
  const host: CgroupHost = record.hierarchies || record.unified
    ? { ...hostInject, layout: record.layout, mountRoot: record.mountRoot, hierarchies: record.hierarchies ?? {}, ...(record.unified ? { unified: record.unified } : {}) }
    : { ...cgroupHostAt(record.mountRoot, hostInject), layout: record.layout };
  if (record.systemd) return systemdDriver().loadSystemdManager(host, record, systemdClient);
  const mgr = record.layout === 'v2' ? new (v2Driver())(host, record.path, record.created, !!record.creating) : new (v1Driver())(host, record.path, record.created, !!record.creating);
  return opts.olderSystemdRecord ? systemdDriver().stopScopeOnDestroy(mgr, record.path, systemdClient) : mgr;
}
