// `capsa features`: the runtime-spec 1.3 "Features structure" (features.md,
// features-linux.md). It states what capsa recognizes and implements, decided
// at build time; where the spec asks what is supported (seccomp
// enabled/actions/supportedFlags, idmapped mounts), what this host's kernel
// accepts, asked of it by capsa-init. Other facts of this host are added as
// io.github.capsa.host.* annotations (features-host.ts).

import { MPOL_FLAGS, MPOL_MODES } from '../plan/process-attrs';
import { SECCOMP_ARCHS, SECCOMP_KNOWN_FLAGS } from '../seccomp/support';
import { seccompSupport } from './seccomp-support';
import { SPEC_OCI_VERSION } from './defaults';

// Kept in step with package.json "version".
export const CAPSA_VERSION = '0.1.0';

export interface Features {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks: string[];
  mountOptions: string[];
  linux: {
    namespaces: string[];
    capabilities: string[];
    cgroup: CgroupFeatures;
    seccomp: SeccompFeatures;
    apparmor: { enabled: boolean };
    selinux: { enabled: boolean };
    /** runtime-spec 1.3. */
    memoryPolicy: { modes: string[]; flags: string[] };
    intelRdt: { enabled: boolean; schemata: boolean; monitoring: boolean };
    mountExtensions: { idmap: { enabled: boolean } };
    netDevices: { enabled: boolean };
  };
  annotations: Record<string, string>;
  /** Annotations (a trailing "." is a prefix) whose effect may weaken isolation. */
  potentiallyUnsafeConfigAnnotations: string[];
}

export interface CgroupFeatures { v1: boolean; v2: boolean; systemd: boolean; systemdUser: boolean; rdma: boolean }
export interface SeccompFeatures {
  enabled: boolean;
  actions: string[];
  operators: string[];
  archs: string[];
  knownFlags: string[];
  supportedFlags: string[];
}

export const HOOKS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

// Every option the mount-option parser (src/plan/mount-options.ts) accepts by
// name; anything else is passed to the filesystem as data.
export const MOUNT_OPTIONS = [
  'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'idmap', 'iversion', 'lazytime',
  'loud', 'mand', 'noatime', 'nodev', 'nodiratime', 'noexec', 'noiversion', 'nolazytime', 'nomand',
  'norelatime', 'nostrictatime', 'nosuid', 'nosymfollow', 'private', 'ratime', 'rbind', 'rdev',
  'rdiratime', 'relatime', 'remount', 'rexec', 'ridmap', 'rnoatime', 'rnodev', 'rnodiratime', 'rnoexec',
  'rnorelatime', 'rnostrictatime', 'rnosuid', 'rnosymfollow', 'ro', 'rprivate', 'rrelatime', 'rro',
  'rrw', 'rshared', 'rslave', 'rstrictatime', 'rsuid', 'rsymfollow', 'runbindable', 'rw', 'shared',
  'silent', 'slave', 'strictatime', 'suid', 'symfollow', 'sync', 'tmpcopyup', 'unbindable',
];

export const NAMESPACES = ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'];

// In capability-number order (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40).
export const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY', 'SCMP_ACT_TRACE', 'SCMP_ACT_TRAP',
];

export const SECCOMP_OPERATORS = [
  'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE',
];

// Architectures with a syscall table (src/seccomp/tables); flags known, and
// those this kernel accepts.
export { SECCOMP_ARCHS, SECCOMP_KNOWN_FLAGS } from '../seccomp/support';

// One function per section, so each is filled by whoever implements it. They
// state what capsa implements (features.md: "irrelevant to the actual
// availability of the features in the host"); what this host offers goes in
// the io.github.capsa.host.* annotations (see features-host.ts).

/** systemd: the --systemd-cgroup driver (src/cgroups/systemd.ts); no user-manager (rootless) driver. */
export function cgroupFeatures(): CgroupFeatures {
  return { v1: true, v2: true, systemd: true, systemdUser: false, rdma: true };
}

/** enabled, actions and supportedFlags: what this kernel accepts (capsa-init asks it, seccomp-support.ts). */
export function seccompFeatures(): SeccompFeatures {
  const seccomp = seccompSupport();
  return {
    enabled: seccomp.enabled,
    actions: SECCOMP_ACTIONS.filter((a) => !seccomp.actions || seccomp.actions.includes(a)),
    operators: [...SECCOMP_OPERATORS],
    archs: [...SECCOMP_ARCHS],
    knownFlags: [...SECCOMP_KNOWN_FLAGS],
    supportedFlags: [...seccomp.flags],
  };
}

/** process.apparmorProfile is applied (src/security/lsm.ts) where AppArmor is enabled. */
export function apparmorFeatures(): { enabled: boolean } {
  return { enabled: true };
}

/** process.selinuxLabel and linux.mountLabel are applied where SELinux is enabled. */
export function selinuxFeatures(): { enabled: boolean } {
  return { enabled: true };
}

/** linux.memoryPolicy: set_mempolicy in capsa-init (src/plan/process-attrs.ts). */
export function memoryPolicyFeatures(): Features['linux']['memoryPolicy'] {
  return { modes: Object.keys(MPOL_MODES), flags: Object.keys(MPOL_FLAGS) };
}

/** linux.intelRdt: closID, l3CacheSchema, memBwSchema, schemata, enableMonitoring (src/runtime/resctrl.ts). */
export function intelRdtFeatures(): Features['linux']['intelRdt'] {
  return { enabled: true, schemata: true, monitoring: true };
}

/**
 * mounts[].uidMappings/gidMappings are applied (src/plan/idmap-mounts.ts)
 * where this kernel can make an idmapped mount: capsa-init's probe says.
 */
export function mountExtensionsFeatures(): Features['linux']['mountExtensions'] {
  return { idmap: { enabled: (require('./idmap-support') as typeof import('./idmap-support')).idmapSupport().enabled } };
}

/** linux.netDevices: moved in (and renamed) at create (src/runtime/netdev.ts). */
export function netDevicesFeatures(): Features['linux']['netDevices'] {
  return { enabled: true };
}

/** Annotations capsa acts on that can weaken isolation (none today). */
export function potentiallyUnsafeConfigAnnotations(): string[] {
  return [];
}

/**
 * A fresh Features object; callers may serialize or mutate it freely.
 * `host`: annotations describing this host (features-host.ts), added after capsa's own.
 */
export function features(version: string = CAPSA_VERSION, host: Record<string, string> = {}): Features {
  const linux: Features['linux'] = {
    namespaces: [...NAMESPACES],
    capabilities: [...CAPABILITIES],
    cgroup: cgroupFeatures(),
    seccomp: seccompFeatures(),
    apparmor: apparmorFeatures(),
    selinux: selinuxFeatures(),
    memoryPolicy: memoryPolicyFeatures(),
    intelRdt: intelRdtFeatures(),
    mountExtensions: mountExtensionsFeatures(),
    netDevices: netDevicesFeatures(),
  };
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: SPEC_OCI_VERSION,
    hooks: [...HOOKS],
    mountOptions: [...MOUNT_OPTIONS],
    linux,
    annotations: { 'io.github.capsa.version': version, ...host },
    potentiallyUnsafeConfigAnnotations: potentiallyUnsafeConfigAnnotations(),
  };
}
