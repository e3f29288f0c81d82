// Which namespaces the container has of its own, and what that allows:
// hostname, domainname and sysctls need the namespace they change, and a
// namespace joined by path counts unless it is the runtime's own (runc
// compares the namespace inodes). Without a private mount namespace the
// container shares the runtime's mount table (runtime-spec: a namespace not
// listed is inherited), so nothing may be mounted for it.
import { CapsaError } from '../errors';
import type { NamespaceType, Spec } from '../spec/types';
import { rootPropagationFlags, MS } from './mount-options';
import type { Op } from './schema';

/** Whether `path` is the runtime's own namespace of this type (same nsfs inode). */
export type IsRuntimeNamespace = (type: NamespaceType, path: string) => boolean;

export interface Namespaces {
  fresh: Set<NamespaceType>;
  joined: Map<NamespaceType, string>;
  /** Made new, or joined by a path that is not the runtime's own. */
  isPrivate(type: NamespaceType): boolean;
}

function invalid(configPath: string, msg: string): never {
  throw new CapsaError('INVALID_CONFIG', `config.${configPath}: ${msg}`, { configPath });
}

export function namespaces(spec: Spec, isRuntimeNamespace: IsRuntimeNamespace = () => false): Namespaces {
  const fresh = new Set<NamespaceType>();
  const joined = new Map<NamespaceType, string>();
  for (const ns of spec.linux?.namespaces ?? []) {
    if (ns.path) joined.set(ns.type, ns.path);
    else fresh.add(ns.type);
  }
  const privateCache = new Map<NamespaceType, boolean>();
  const isPrivate = (type: NamespaceType): boolean => {
    let p = privateCache.get(type);
    if (p === undefined) {
      const path = joined.get(type);
      p = fresh.has(type) || (path !== undefined && !isRuntimeNamespace(type, path));
      privateCache.set(type, p);
    }
    return p;
  };
  if (spec.hostname && !isPrivate('uts')) invalid('hostname', 'unable to set hostname without a private UTS namespace');
  if (spec.domainname && !isPrivate('uts')) invalid('domainname', 'unable to set domainname without a private UTS namespace');
  if (fresh.has('user')) {
    if (!spec.linux?.uidMappings?.length) invalid('linux.uidMappings', 'user namespace enabled, but no uid mappings found');
    if (!spec.linux?.gidMappings?.length) invalid('linux.gidMappings', 'user namespace enabled, but no gid mappings found');
  } else if (spec.linux?.uidMappings?.length || spec.linux?.gidMappings?.length) {
    if (!joined.has('user')) invalid('linux.uidMappings', 'id mappings given, but no user namespace in linux.namespaces');
  }
  if (spec.linux?.timeOffsets && !fresh.has('time')) invalid('linux.timeOffsets', 'time offsets need a new time namespace');
  return { fresh, joined, isPrivate };
}

const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/**
 * A sysctl name in dotted form. sysctl(8) also takes "/" as the separator,
 * and then a "." belongs to a name (net/ipv4/conf/eth0.100/rp_filter): as
 * runc does, the two are swapped when the first separator is a "/".
 */
export function dottedSysctl(key: string): string {
  const first = key.search(/[./]/);
  if (first < 0 || key[first] === '.') return key;
  return key.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

/** The file under /proc/sys for a dotted name ("/" inside a name stays a "."). */
export function sysctlFile(dotted: string): string {
  return dotted.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

// runc's rule: a sysctl must belong to a namespace the container has of its own.
function checkSysctl(key: string, name: string, ns: Namespaces): void {
  const p = `linux.sysctl["${key}"]`;
  if (IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.')) {
    if (!ns.isPrivate('ipc')) invalid(p, `sysctl "${name}" is not allowed in the host's ipc namespace`);
    return;
  }
  if (name.startsWith('net.')) {
    if (!ns.isPrivate('network')) invalid(p, `sysctl "${name}" not allowed in host network namespace`);
    return;
  }
  if (ns.isPrivate('uts')) {
    if (name === 'kernel.domainname') return;
    if (name === 'kernel.hostname') invalid(p, `sysctl "${name}" is not allowed as it conflicts with the OCI "hostname" field`);
  }
  invalid(p, `sysctl "${name}" is not in a separate kernel namespace`);
}

export function sysctlOps(spec: Spec, ns: Namespaces): Op[] {
  return Object.entries(spec.linux?.sysctl ?? {}).map(([key, value]) => {
    const name = dottedSysctl(key);
    checkSysctl(key, name, ns);
    return { op: 'sysctl', key: sysctlFile(name), value, configPath: `linux.sysctl["${key}"]`, what: `set sysctl ${name}` } as Op;
  });
}

/**
 * How linux.rootfsPropagation is carried out (runc's order, with the spec's
 * meaning for the rootfs itself):
 * - before: applied to "/" of the new mount namespace before anything is
 *   mounted, recursively for the r- values. rshared keeps the copies of the
 *   host's shared mounts in the host's peer groups, so an rshared volume bound
 *   from one of them propagates both ways (Kubernetes Bidirectional).
 *   unbindable becomes private here: the rootfs and volumes must still be
 *   bound from it.
 * - sharedParent: what the mount holding the rootfs becomes if it is shared,
 *   so binding the rootfs does not propagate to the host: slave for slave
 *   (it keeps receiving), private otherwise.
 * - tree: the propagation of the detached copy of the rootfs P makes: a
 *   copy of a shared host mount is in the host's peer group until told
 *   otherwise (slave for slave, private otherwise, as sharedParent).
 * - after: the value itself (not recursive), applied to the new "/" once it is
 *   the root: the rootfs mount is then shared in a new peer group, a slave,
 *   private or unbindable, as config-linux.md defines each.
 */
export interface RootPropagation { before: number; tree: number; sharedParent: number; after: number }

export function rootPropagation(value: string | undefined): RootPropagation {
  const flags = rootPropagationFlags(value);
  const kind = flags & ~MS.REC;
  const before = kind === MS.UNBINDABLE ? MS.PRIVATE | (flags & MS.REC) : flags;
  const sharedParent = kind === MS.SLAVE ? MS.SLAVE : MS.PRIVATE;
  return { before, tree: sharedParent | (flags & MS.REC), sharedParent, after: value ? kind : 0 };
}

/** Ops that change a mount table (with the config field they come from). */
function mountingOp(op: Op): boolean {
  return op.op === 'mount' || op.op === 'mask' || op.op === 'readonlyPath' || op.op === 'rootReadonly';
}

/**
 * Without a private mount namespace every mount would be made in the
 * runtime's mount table, and outlive the container (runc leaves them there):
 * refuse whatever would mount, naming its field. masked/readonly paths get
 * runc's own message.
 */
export function refuseMountsWithoutMountNamespace(ops: readonly Op[]): void {
  const first = ops.find(mountingOp);
  if (!first) return;
  const where = first.configPath ?? 'linux.namespaces';
  if (first.op === 'mask' || first.op === 'readonlyPath') invalid(where, 'unable to restrict sys entries without a private MNT namespace');
  invalid(where, `${first.what ?? 'this mount'}: needs a private mount namespace (linux.namespaces has no "mount"): it would be made in the runtime's mount namespace and outlive the container`);
}
