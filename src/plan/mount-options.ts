// runtime-spec mount options → how capsa-init attaches the mount: bind or
// filesystem, mount_setattr bits, propagation, and filesystem data.
import { CapsaError } from '../errors';
import { RECURSIVE } from './schema';

// linux/mount.h
export const ATTR = {
  RDONLY: 0x1n,
  NOSUID: 0x2n,
  NODEV: 0x4n,
  NOEXEC: 0x8n,
  ATIME_MASK: 0x70n,
  NOATIME: 0x10n,
  STRICTATIME: 0x20n,
  NODIRATIME: 0x80n,
  NOSYMFOLLOW: 0x200000n,
} as const;

export const MS = {
  RDONLY: 0x1,
  REC: 0x4000,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
} as const;

export interface ParsedMountOptions {
  bind: boolean;
  recursive: number; // RECURSIVE bits
  attrSet: bigint;
  attrClear: bigint;
  propagation: number;
  data: string[];
  /** tmpcopyup: fill the new tmpfs with what the rootfs has at the destination. */
  copyUp: boolean;
  /** idmap / ridmap (runtime-spec 1.2): an idmapped mount, recursively for ridmap. */
  idmap?: 'idmap' | 'ridmap';
  /** What follows "idmap=" (podman/crun form: "uids=0-100000-65536#...;gids=..."). */
  idmapMappings?: string;
  warnings: string[];
}

const FLAG_OPTIONS: Record<string, { set?: bigint; clear?: bigint }> = {
  ro: { set: ATTR.RDONLY },
  rw: { clear: ATTR.RDONLY },
  nosuid: { set: ATTR.NOSUID },
  suid: { clear: ATTR.NOSUID },
  nodev: { set: ATTR.NODEV },
  dev: { clear: ATTR.NODEV },
  noexec: { set: ATTR.NOEXEC },
  exec: { clear: ATTR.NOEXEC },
  noatime: { set: ATTR.NOATIME, clear: ATTR.ATIME_MASK },
  atime: { clear: ATTR.ATIME_MASK },
  relatime: { clear: ATTR.ATIME_MASK },
  norelatime: { clear: ATTR.ATIME_MASK },
  strictatime: { set: ATTR.STRICTATIME, clear: ATTR.ATIME_MASK },
  nostrictatime: { clear: ATTR.ATIME_MASK },
  nodiratime: { set: ATTR.NODIRATIME },
  diratime: { clear: ATTR.NODIRATIME },
  nosymfollow: { set: ATTR.NOSYMFOLLOW },
  symfollow: { clear: ATTR.NOSYMFOLLOW },
};

const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  slave: MS.SLAVE,
  shared: MS.SHARED,
  unbindable: MS.UNBINDABLE,
};

// Superblock flags a filesystem takes through fsconfig; meaningless for binds.
const SB_FLAGS = new Set(['sync', 'dirsync', 'mand', 'lazytime', 'silent']);
// Accepted and without effect (defaults of the new mount API).
const NO_EFFECT = new Set(['defaults', 'async', 'loud', 'nomand', 'iversion', 'noiversion', 'nolazytime', 'remount', 'rdiratime', 'ratime']);

export function parseMountOptions(options: readonly string[], type: string | undefined, configPath: string): ParsedMountOptions {
  const r: ParsedMountOptions = { bind: type === 'bind', recursive: 0, attrSet: 0n, attrClear: 0n, propagation: 0, data: [], copyUp: false, warnings: [] };
  const apply = (f: { set?: bigint; clear?: bigint }) => {
    if (f.clear) { r.attrClear |= f.clear; r.attrSet &= ~f.clear; }
    if (f.set) { r.attrSet |= f.set; r.attrClear &= ~f.set; }
  };
  for (const opt of options) {
    if (opt === 'bind') { r.bind = true; continue; }
    if (opt === 'rbind') { r.bind = true; r.recursive |= RECURSIVE.BIND; continue; }
    if (opt in FLAG_OPTIONS) { apply(FLAG_OPTIONS[opt]!); continue; }
    if (opt in PROPAGATION) { r.propagation = PROPAGATION[opt]!; continue; }
    // Recursive variants (runtime-spec "recursive mount attributes").
    if (opt.startsWith('r') && opt.slice(1) in PROPAGATION) {
      r.propagation = PROPAGATION[opt.slice(1)]!;
      r.recursive |= RECURSIVE.ATTR;
      continue;
    }
    if (opt.startsWith('r') && opt.slice(1) in FLAG_OPTIONS) {
      apply(FLAG_OPTIONS[opt.slice(1)]!);
      r.recursive |= RECURSIVE.ATTR;
      continue;
    }
    if (opt === 'idmap' || opt === 'ridmap') { r.idmap = opt; continue; }
    const idmapWith = /^(r?idmap)=(.*)$/s.exec(opt);
    if (idmapWith) { r.idmap = idmapWith[1] as 'idmap' | 'ridmap'; r.idmapMappings = idmapWith[2]; continue; }
    if (opt === 'tmpcopyup') {
      if (type !== 'tmpfs') throw new CapsaError('INVALID_CONFIG', `config.${configPath}.options: "tmpcopyup" is only valid for tmpfs mounts`, { configPath: `${configPath}.options` });
      r.copyUp = true;
      continue;
    }
    if (NO_EFFECT.has(opt)) continue;
    if (SB_FLAGS.has(opt)) {
      if (!r.bind) r.data.push(opt);
      continue;
    }
    if (opt === '') continue;
    // Everything else is filesystem data ("size=64k", "newinstance", ...).
    if (!r.bind) r.data.push(opt);
  }
  return r;
}

export function rootPropagationFlags(value: string | undefined, configPath = 'linux.rootfsPropagation'): number {
  if (value === undefined || value === '') return MS.SLAVE | MS.REC;
  const map: Record<string, number> = {
    private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC,
    slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC,
    shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
    unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE | MS.REC,
  };
  const flags = map[value];
  if (flags === undefined) throw new CapsaError('INVALID_CONFIG', `config.${configPath}: unknown propagation "${value}"`, { configPath });
  return flags;
}
