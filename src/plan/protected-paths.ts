// Masked and read-only paths, and the special filesystems they live on.
//
// A mask must land on the file the container sees, whatever the image did:
// /proc/kcore is covered beneath the procfs mounted for /proc (capsa-init
// keeps that mount's fd in a slot), never by resolving "/proc" again after
// pivot_root, when a symlinked /proc could lead somewhere else. And the
// destination of such a filesystem may not be or pass through a symlink at
// all (runc: "must be mounted on ordinary directory").
import * as path from 'node:path';
import { CapsaError } from '../errors';
import { MOUNT_KIND, type Op, type OpOf } from './schema';

/** Kernel filesystems whose content the image cannot shape: masks apply beneath them, and their destinations follow no symlink. */
export const SPECIAL_FS: ReadonlySet<string> = new Set([
  'proc', 'sysfs', 'cgroup', 'cgroup2', 'devpts', 'mqueue', 'securityfs', 'debugfs', 'tracefs', 'configfs',
  'bpf', 'binfmt_misc', 'fusectl', 'pstore', 'efivarfs', 'selinuxfs', 'hugetlbfs',
]);

/** Slots capsa-init has for kept mounts (MOUNT_SLOTS in native/init/mounts.c). */
const MAX_SLOTS = 32;

/** "/proc/", "//proc/./sys" → "/proc", "/proc/sys". */
export function normalizeDestination(p: string): string {
  const n = path.posix.normalize(`/${p}`);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function isWithin(dest: string, p: string): boolean {
  return dest === '/' || p === dest || p.startsWith(`${dest}/`);
}

interface Covered {
  path: string;
  configPath: string;
  what: string;
  kind: 'mask' | 'readonlyPath';
}

/**
 * The mask and read-only ops for `paths`, resolved against the mount ops made
 * so far: a path under a special filesystem's mount is given that mount's
 * slot (assigned here, on the mount op) and its path relative to it.
 */
export function protectedPathOps(mountOps: readonly Op[], paths: readonly Covered[]): Op[] {
  const mounts = mountOps.filter((o): o is OpOf<'mount'> => o.op === 'mount' && o.kind !== MOUNT_KIND.SETATTR);
  const special = (m: OpOf<'mount'>) => m.noSymlinks === 1 && m.kind !== MOUNT_KIND.SETATTR;
  let nextSlot = Math.max(0, ...mounts.map((m) => m.slot)) + 1;
  return paths.map(({ path: p, configPath, what, kind }) => {
    const target = normalizeDestination(p);
    // The mount the path is seen through: the last one made at an ancestor
    // (or at the path itself, for a special filesystem's own root).
    let base: OpOf<'mount'> | undefined;
    for (const m of mounts) {
      const dest = normalizeDestination(m.destination);
      if (isWithin(dest, target) && (dest !== target || special(m))) base = m;
    }
    if (!base || !special(base)) return { op: kind, path: target, slot: 0, rel: '', configPath, what };
    if (!base.slot) {
      if (nextSlot > MAX_SLOTS) {
        throw new CapsaError('INVALID_CONFIG', `config.${configPath}: more than ${MAX_SLOTS} special filesystems hold masked or read-only paths`, { configPath });
      }
      base.slot = nextSlot++;
    }
    const rel = path.posix.relative(normalizeDestination(base.destination), target);
    return { op: kind, path: target, slot: base.slot, rel, configPath, what };
  });
}
