// The config.json that `capsa spec` writes. It mirrors `runc spec` field for
// field (and key order, so the JSON text diffs cleanly) except ociVersion,
// which names the runtime-spec version capsa implements.

import type { Mount, Namespace, Spec } from './types';

export const SPEC_OCI_VERSION = '1.3.0';

// runc's small default capability set, the same in all four sets.
const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function defaultMounts(): Mount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

/** A fresh copy of the default spec each call, so callers may mutate it. */
export interface DefaultSpecOptions {
  /** Add a cgroup namespace, as runc's `spec` does on a pure cgroup v2 host. */
  cgroupNamespace?: boolean;
}

export function defaultSpec(opts: DefaultSpecOptions = {}): Spec {
  return {
    ociVersion: SPEC_OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_CAPS],
        effective: [...DEFAULT_CAPS],
        permitted: [...DEFAULT_CAPS],
        ambient: [...DEFAULT_CAPS],
      },
      // runc writes hard before soft; kept for byte-compatible output.
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: defaultMounts(),
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: (['pid', 'network', 'ipc', 'uts', 'mount', ...(opts.cgroupNamespace ? ['cgroup'] as const : [])] as const).map((type): Namespace => ({ type })),
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
}

/**
 * `spec --rootless`: like runc, map only the caller's own uid/gid to root in a
 * new user namespace, keep the host network (an unprivileged user cannot set
 * one up), bind /sys instead of mounting sysfs, drop the devpts gid=5 option
 * (gid 5 is not mapped) and drop the device cgroup rules.
 */
export function rootlessSpec(uid: number = process.geteuid?.() ?? 0, gid: number = process.getegid?.() ?? 0, opts: DefaultSpecOptions = {}): Spec {
  const spec = defaultSpec(opts);
  const linux = spec.linux!;
  for (const m of spec.mounts!) {
    if (m.destination === '/dev/pts') m.options = m.options!.filter((o) => o !== 'gid=5');
  }
  const sys = spec.mounts!.findIndex((m) => m.destination === '/sys');
  spec.mounts![sys] = { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
  // Rebuild linux in runc's key order: mappings first, no resources.
  spec.linux = {
    uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
    gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
    namespaces: (['pid', 'ipc', 'uts', 'mount', ...(opts.cgroupNamespace ? ['cgroup'] as const : []), 'user'] as const).map((type): Namespace => ({ type })),
    maskedPaths: linux.maskedPaths,
    readonlyPaths: linux.readonlyPaths,
  };
  return spec;
}
