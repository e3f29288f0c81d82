// `capsa features`: the runtime-spec "Features structure" (features.md,
// features-linux.md). It states what capsa recognizes, decided at build time;
// where the spec asks what is supported (seccomp enabled/actions/supportedFlags,
// idmapped mounts), what this host's kernel accepts, asked of it by capsa-init.

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
    cgroup: { v1: boolean; v2: boolean; systemd: boolean; systemdUser: boolean; rdma: boolean };
    seccomp: {
      enabled: boolean;
      actions: string[];
      operators: string[];
      archs: string[];
      knownFlags: string[];
      supportedFlags: string[];
    };
    apparmor: { enabled: boolean };
    selinux: { enabled: boolean };
    intelRdt: { enabled: boolean };
    mountExtensions: { idmap: { enabled: boolean } };
  };
  annotations: Record<string, string>;
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

/** A fresh Features object; callers may serialize or mutate it freely. */
export function features(version: string = CAPSA_VERSION): Features {
  const seccomp = seccompSupport();
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: SPEC_OCI_VERSION,
    hooks: [...HOOKS],
    mountOptions: [...MOUNT_OPTIONS],
    linux: {
      namespaces: [...NAMESPACES],
      capabilities: [...CAPABILITIES],
      // systemd: --systemd-cgroup (transient scopes over D-Bus); not for a per-user systemd (rootless).
      cgroup: { v1: true, v2: true, systemd: true, systemdUser: false, rdma: true },
      // enabled, actions and supportedFlags: what this kernel accepts (capsa-init asks it)
      seccomp: {
        enabled: seccomp.enabled,
        actions: SECCOMP_ACTIONS.filter((a) => !seccomp.actions || seccomp.actions.includes(a)),
        operators: [...SECCOMP_OPERATORS],
        archs: [...SECCOMP_ARCHS],
        knownFlags: [...SECCOMP_KNOWN_FLAGS],
        supportedFlags: [...seccomp.flags],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      // Probed on this host (a capsa-init child tries an idmapped mount).
      mountExtensions: { idmap: { enabled: (require('./idmap-support') as typeof import('./idmap-support')).idmapSupport().enabled } },
    },
    annotations: { 'io.github.capsa.version': version },
  };
}
