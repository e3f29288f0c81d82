// compile(config, host facts) → Plan: the ordered ops capsa-init executes.
// Pure: no I/O. Everything host-specific arrives in CompileInput.
import * as path from 'node:path';
import { CapsaError } from '../errors';
import type { Mount, NamespaceType, Spec } from '../spec/types';
import { deviceOps, devSymlinkOps, needsDevSetup } from './devices';
import { parseMountOptions, MS } from './mount-options';
import { namespaces, refuseMountsWithoutMountNamespace, rootPropagation, sysctlOps, type IsRuntimeNamespace, type Namespaces } from './namespaces';
import { capabilitySets, envPath, lsmOps, rlimitOps, seccompPlacement, withHome, type LsmExec, type PlanSeccomp } from './process';
import { CLONE, CREATE, MOUNT_KIND, RECURSIVE, SYNC, type Op } from './schema';
import type { CgroupMembership } from '../cgroups/manager';
import { cgroupJoinOps, resctrlJoinOps } from './cgroup-join';
import { idmappedMountOps, isIdmapped } from './idmap-mounts';
import { execAffinity, initialAffinityOp, ioPriorityOps, memoryPolicyOps, schedulerOps, type HostTopology } from './process-attrs';
import { normalizeDestination, protectedPathOps, SPECIAL_FS } from './protected-paths';
import { rootfsMountOp, type RootfsMount } from './rootfs-mount';

/** A cgroup hierarchy as the container should see it under /sys/fs/cgroup. */
export interface CgroupMountSource {
  name: string; // "cpu", "memory", "unified", ... ; "" for a pure v2 host
  hostDir: string; // the container's cgroup dir in that hierarchy
}

export interface CompileInput {
  spec: Spec;
  bundle: string; // absolute
  rootfs: string; // absolute
  fifoPath: string;
  preserveFds: number;
  noPivot: boolean;
  lastCap: number;
  cgroupMounts: CgroupMountSource[];
  /** Cgroup dirs capsa-init joins by itself; absent: it syncs and the runtime places it. */
  cgroupMembership?: CgroupMembership;
  seccomp?: PlanSeccomp;
  /** Home of the process user from the rootfs passwd file, if found. */
  home?: string;
  /** Fd number (in capsa-init) of the socket that receives the pty master. */
  consoleFd?: number;
  /** Host path of the state JSON that startContainer hooks get on stdin. */
  hookStatePath?: string;
  /** LSM labels applied just before execve. */
  lsm?: LsmExec;
  /** Container ID (names the session keyring). */
  id?: string;
  /** --no-new-keyring */
  noNewKeyring?: boolean;
  /** linux.mountLabel, only where SELinux is enabled: the context= of the filesystems mounted for the container. */
  mountLabel?: string;
  /** linux.netDevices as planned on this host (src/runtime/netdev.ts): moved in at SYNC_NETDEV, then brought up. */
  netDevices?: { field: string; name: string; index: number; addresses: string[] }[];
  /** linux.intelRdt: resctrl tasks files capsa-init writes "0" to before its clone. */
  resctrlTasks?: string[];
  /** Whether the bind source of each mount is a directory (looked up by the caller). */
  isDirectory: (hostPath: string) => boolean;
  /** MOUNT_ATTR_* flags to clear on the container's root (an image overlay is nosuid,nodev on the host). */
  rootfsAttrClear?: bigint;
  /** The root as a mount capsa-init makes (a containerd snapshot), attached on `rootfs`; nothing is mounted on the host. */
  rootfsMount?: RootfsMount;
  /** Whether a namespace path is the runtime's own (default: never). */
  isRuntimeNamespace?: IsRuntimeNamespace;
  /** CPUs and NUMA nodes online here (checked against execCPUAffinity and memoryPolicy). */
  topology?: HostTopology;
}

export interface Plan {
  ops: Op[];
  warnings: string[];
  needsIdMaps: boolean;
  hasHooksSync: boolean;
}

const NS_FLAG: Record<NamespaceType, number> = {
  mount: CLONE.NEWNS, uts: CLONE.NEWUTS, ipc: CLONE.NEWIPC, network: CLONE.NEWNET,
  pid: CLONE.NEWPID, cgroup: CLONE.NEWCGROUP, user: CLONE.NEWUSER, time: CLONE.NEWTIME,
};
// setns order: user first so the others are joined with its privileges.
const JOIN_ORDER: NamespaceType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'mount', 'cgroup', 'time'];

function invalid(configPath: string, msg: string): never {
  throw new CapsaError('INVALID_CONFIG', `config.${configPath}: ${msg}`, { configPath });
}

/**
 * What P opens with the host's credentials, before joining or making a user
 * namespace: the rootfs as a detached mount tree (so the bundle may sit under
 * a 0700 directory and an image overlay's nosuid,nodev can be cleared for the
 * container's root), the exec fifo and the hooks' state file (the state dir
 * is 0700).
 */
function hostOpens(input: CompileInput, ns: Namespaces): Op[] {
  const ops: Op[] = [{ op: 'openFifo', path: input.fifoPath, what: 'open exec fifo' }];
  if (input.spec.hooks?.startContainer?.length && input.hookStatePath) ops.push({ op: 'openState', path: input.hookStatePath, what: 'open state for startContainer hooks' });
  // A joined mount namespace is where the rootfs path means something: bound
  // there by C, as before. Without a mount namespace of its own nothing is mounted.
  if (ns.joined.has('mount') || !ns.isPrivate('mount')) {
    if (input.rootfsMount) throw new CapsaError('INVALID_CONFIG', 'config.linux.namespaces: a root given as a mount needs a mount namespace of the container\'s own', { configPath: 'linux.namespaces' });
    return ops;
  }
  const tree = rootPropagation(input.spec.linux?.rootfsPropagation).tree;
  if (input.rootfsMount) {
    ops.push(rootfsMountOp(input.rootfsMount, input.rootfs, tree & ~MS.REC, tree & MS.REC ? 1 : 0));
    return ops;
  }
  ops.push({
    op: 'rootfsTree', path: input.rootfs, propagation: tree & ~MS.REC, recursive: tree & MS.REC ? 1 : 0,
    attrClear: input.rootfsAttrClear ?? 0n, configPath: 'root.path', what: `open rootfs ${input.rootfs}`,
  });
  return ops;
}

function preCloneOps(input: CompileInput, ns: Namespaces, membership: CgroupMembership | undefined): Op[] {
  const { spec } = input;
  const join = cgroupJoinOps(membership, ns.fresh.has('user') || ns.joined.has('user'));
  const ops: Op[] = [...resctrlJoinOps(input.resctrlTasks ?? []), ...join.ops, ...hostOpens(input, ns)];
  for (const type of JOIN_ORDER) {
    const p = ns.joined.get(type);
    if (p !== undefined) ops.push({ op: 'setns', path: p, nstype: NS_FLAG[type], configPath: 'linux.namespaces', what: `join ${type} namespace ${p}` });
  }
  if (ns.joined.has('user')) ops.push({ op: 'setRootIds', what: 'become root in the joined user namespace' });
  if (ns.fresh.has('user')) {
    ops.push({ op: 'unshare', flags: CLONE.NEWUSER, configPath: 'linux.namespaces', what: 'create user namespace' });
    ops.push({ op: 'sync', code: SYNC.MAPS, configPath: 'linux.uidMappings', what: 'write id mappings' });
    ops.push({ op: 'setRootIds', what: 'become root in the user namespace' });
  }
  if (ns.fresh.has('time')) {
    ops.push({ op: 'unshare', flags: CLONE.NEWTIME, configPath: 'linux.namespaces', what: 'create time namespace' });
    const offsets = spec.linux?.timeOffsets ?? {};
    const lines = Object.entries(offsets).map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}\n`);
    if (lines.length) ops.push({ op: 'writeProc', path: 'self/timens_offsets', content: lines.join(''), configPath: 'linux.timeOffsets', what: 'set time offsets' });
  }
  let flags = 0;
  for (const type of ns.fresh) if (type !== 'user' && type !== 'time') flags |= NS_FLAG[type];
  // A cgroup namespace made by the clone would be rooted at P's cgroup, not
  // the one CLONE_INTO_CGROUP puts the child in: the child makes it instead.
  const lateCgroupNs = join.intoClone && ns.fresh.has('cgroup');
  if (lateCgroupNs) flags &= ~CLONE.NEWCGROUP;
  ops.push({ op: 'clone', flags, configPath: 'linux.namespaces', what: 'create the container process' });
  if (lateCgroupNs) ops.push({ op: 'unshare', flags: CLONE.NEWCGROUP, configPath: 'linux.namespaces', what: 'create cgroup namespace' });
  return ops;
}

function mountOps(m: Mount, i: number, input: CompileInput, ns: Namespaces, warnings: string[], idmapTrees: Op[]): Op[] {
  const configPath = `mounts[${i}]`;
  const opts = parseMountOptions(m.options ?? [], m.type, configPath);
  warnings.push(...opts.warnings);
  const type = m.type ?? (opts.bind ? 'bind' : '');
  if (isIdmapped(m, opts)) {
    // The tree is made in P, in the host's namespaces (idmap-mounts.ts).
    const treeOpts = opts.bind ? opts : { ...opts, data: withMountLabel(opts.data, type, input.mountLabel) };
    const { tree, mount } = idmappedMountOps(m, i, treeOpts, opts.bind ? '' : type, input.spec, ns, input.bundle, input.isDirectory);
    idmapTrees.push(tree);
    if (!opts.bind && SPECIAL_FS.has(type) && mount.op === 'mount') Object.assign(mount, { noSymlinks: 1, destination: normalizeDestination(m.destination) });
    return [mount];
  }
  const noSymlinks = SPECIAL_FS.has(type) ? 1 : 0;
  const base = { attrSet: opts.attrSet, attrClear: opts.attrClear, propagation: opts.propagation, data: opts.data, fallbackBindSource: '', copyUp: 0, slot: 0, noSymlinks, configPath };
  if (type === 'cgroup' || type === 'cgroup2') return cgroupMountOps(m, base, input, ns);
  if (opts.bind) {
    if (!m.source) invalid(`${configPath}.source`, 'a bind mount needs a source');
    const source = path.resolve(input.bundle, m.source);
    return [{
      ...base, op: 'mount', kind: MOUNT_KIND.BIND, source, destination: m.destination, fstype: '',
      create: input.isDirectory(source) ? CREATE.DIR : CREATE.FILE, recursive: opts.recursive, noSymlinks: 0,
      what: `bind mount "${m.source}" on "${m.destination}"`,
    }];
  }
  if (!type) invalid(`${configPath}.type`, 'a mount needs a type (or a bind/rbind option)');
  const fallback = type === 'sysfs' && ns.fresh.has('user') ? '/sys' : '';
  const destination = noSymlinks ? normalizeDestination(m.destination) : m.destination;
  return [{
    ...base, data: withMountLabel(base.data, type, input.mountLabel),
    op: 'mount', kind: MOUNT_KIND.FS, source: m.source ?? type, destination, fstype: type,
    create: CREATE.DIR, recursive: opts.recursive, fallbackBindSource: fallback, copyUp: opts.copyUp ? 1 : 0,
    what: `mount "${m.source ?? type}" on "${m.destination}"`,
  }];
}

// runc's choice: proc, sysfs and mqueue keep their own labels (bind mounts
// keep the source's); every other filesystem mounted for the container gets
// the context= option. capsa-init hands each option to fsconfig(2) as one
// key and value, so the label goes unquoted (mount(2)'s comma-separated data,
// which runc writes, needs context="..." around a level like s0:c1,c2).
const UNLABELLED = new Set(['proc', 'sysfs', 'mqueue', 'cgroup', 'cgroup2']);

export function withMountLabel(data: string[], fstype: string, label: string | undefined): string[] {
  if (!label || UNLABELLED.has(fstype) || data.some((d) => d.startsWith('context='))) return data;
  return [...data, `context=${label}`];
}

type MountBase = Pick<Extract<Op, { op: 'mount' }>, 'attrSet' | 'attrClear' | 'propagation' | 'data' | 'fallbackBindSource' | 'copyUp' | 'slot' | 'noSymlinks' | 'configPath'>;

// A cgroup mount shows the container's own cgroup at its root.
function cgroupMountOps(m: Mount, base: MountBase, input: CompileInput, ns: Namespaces): Op[] {
  const what = `mount cgroup on "${m.destination}"`;
  const v2Only = input.cgroupMounts.length === 1 && input.cgroupMounts[0]!.name === '';
  if (v2Only || m.type === 'cgroup2') {
    const src = v2Only ? input.cgroupMounts[0]! : input.cgroupMounts.find((c) => c.name === 'unified');
    if (ns.fresh.has('cgroup') || !src) {
      return [{ ...base, op: 'mount', kind: MOUNT_KIND.FS, source: 'cgroup2', destination: m.destination, fstype: 'cgroup2', create: CREATE.DIR, recursive: 0, data: [], what }];
    }
    return [{ ...base, op: 'mount', kind: MOUNT_KIND.BIND, source: src.hostDir, destination: m.destination, fstype: '', create: CREATE.DIR, recursive: RECURSIVE.BIND, data: [], what }];
  }
  // v1 / hybrid: a tmpfs holding one bind of each hierarchy's container dir.
  const ro = (BigInt(base.attrSet) & 1n) !== 0n;
  const ops: Op[] = [{
    ...base, op: 'mount', kind: MOUNT_KIND.FS, source: 'tmpfs', destination: m.destination, fstype: 'tmpfs',
    attrSet: BigInt(base.attrSet) & ~1n, create: CREATE.DIR, recursive: 0, data: withMountLabel(['mode=755'], 'tmpfs', input.mountLabel), what,
  }];
  // Only the v1 hierarchies, as runc does: a "cgroup" mount on a hybrid host
  // does not show the unified (v2) one.
  for (const c of input.cgroupMounts.filter((x) => x.name !== 'unified')) {
    ops.push({
      ...base, op: 'mount', kind: MOUNT_KIND.BIND, source: c.hostDir, destination: path.posix.join(m.destination, c.name), fstype: '',
      create: CREATE.DIR, recursive: RECURSIVE.BIND, data: [], what: `bind cgroup ${c.name} on "${path.posix.join(m.destination, c.name)}"`,
    });
  }
  if (ro) ops.push({ ...base, op: 'mount', kind: MOUNT_KIND.SETATTR, source: '', destination: m.destination, fstype: '', attrSet: 1n, attrClear: 0n, propagation: 0, create: CREATE.NONE, recursive: 0, data: [], what: `make "${m.destination}" read-only` });
  return ops;
}

export function compile(input: CompileInput): Plan {
  const { spec } = input;
  const proc = spec.process;
  if (!proc) invalid('process', 'is required to create a container');
  const warnings: string[] = [];
  const ns = namespaces(spec, input.isRuntimeNamespace);
  const privateMounts = ns.isPrivate('mount');
  if (!privateMounts && spec.linux?.rootfsPropagation) invalid('linux.rootfsPropagation', 'setting the propagation of the rootfs needs a private mount namespace');
  const topology = input.topology ?? {};
  // execCPUAffinity is not for the init (runtime-spec): checked here, used by exec.
  execAffinity(proc, topology);
  const idmapTrees: Op[] = [];
  const mounts = (spec.mounts ?? []).flatMap((m, i) => mountOps(m, i, input, ns, warnings, idmapTrees));
  // capsa-init first leaves any CPU pinning of the runtime behind (runc does),
  // then makes the idmapped trees before it joins the cgroup or any namespace.
  const ops: Op[] = [initialAffinityOp(undefined), ...idmapTrees, ...preCloneOps(input, ns, input.cgroupMembership)];
  const inUserNs = ns.fresh.has('user') || ns.joined.has('user');

  ops.push({ op: 'setsid', what: 'start a new session' });
  ops.push(...memoryPolicyOps(spec.linux?.memoryPolicy, topology));
  if (input.netDevices?.length) {
    // The kernel moves a link, then renames it: a taken name must be found first.
    for (const d of input.netDevices) ops.push({ op: 'netdevCheck', name: d.name, configPath: d.field, what: `move it in as "${d.name}"` });
    ops.push({ op: 'sync', code: SYNC.NETDEV, configPath: 'linux.netDevices', what: 'move network devices into the container' });
    for (const d of input.netDevices) {
      ops.push({ op: 'netdevUp', name: d.name, index: d.index, addresses: d.addresses, configPath: d.field, what: `set up network device ${d.name}` });
    }
  }
  if (ns.fresh.has('network')) ops.push({ op: 'loopbackUp', configPath: 'linux.namespaces', what: 'bring up the loopback interface' });
  if (!input.noNewKeyring) ops.push({ op: 'sessionKeyring', name: `_ses.${input.id ?? 'capsa'}`, what: 'join a new session keyring' });
  const persona = spec.linux?.personality;
  if (persona) {
    const domains: Record<string, number> = { LINUX: 0, LINUX32: 8 };
    const value = domains[persona.domain];
    if (value === undefined) invalid('linux.personality.domain', `unknown personality domain "${persona.domain}" (expected LINUX or LINUX32)`);
    ops.push({ op: 'personality', persona: value, configPath: 'linux.personality', what: `set personality ${persona.domain}` });
  }
  if (proc.oomScoreAdj !== undefined) ops.push({ op: 'writeProc', path: 'self/oom_score_adj', content: String(proc.oomScoreAdj), configPath: 'process.oomScoreAdj', what: 'set oom_score_adj' });

  // Filesystem: propagation, rootfs, mounts, /dev.
  const propagation = rootPropagation(spec.linux?.rootfsPropagation);
  const fsStart = ops.length;
  if (privateMounts) ops.push({ op: 'rootPropagation', flags: propagation.before, configPath: 'linux.rootfsPropagation', what: 'set rootfs propagation' });
  ops.push(ns.joined.has('mount') || !privateMounts
    ? { op: 'rootfs', path: input.rootfs, bind: privateMounts ? 1 : 0, sharedParent: propagation.sharedParent, configPath: 'root.path', what: `prepare rootfs ${input.rootfs}` }
    : { op: 'attachRootfs', sharedParent: propagation.sharedParent, configPath: 'root.path', what: `prepare rootfs ${input.rootfs}` });
  ops.push(...mounts);
  if (needsDevSetup(spec)) {
    ops.push(...deviceOps(spec, inUserNs));
    ops.push(...devSymlinkOps());
  }
  if (proc.terminal) {
    if (input.consoleFd === undefined) invalid('process.terminal', 'a terminal was requested but no console socket was given');
    ops.push({
      op: 'console', socketFd: input.consoleFd, rows: proc.consoleSize?.height ?? 0, cols: proc.consoleSize?.width ?? 0,
      // /dev/console is a bind mount: only in a mount namespace of our own.
      bindConsole: privateMounts ? 1 : 0, fromRootfs: 1, configPath: 'process.terminal', what: 'set up the console',
    });
  }
  const hooks = spec.hooks ?? {};
  const startHooks = hooks.startContainer ?? [];
  const hasHooksSync = !!(hooks.prestart?.length || hooks.createRuntime?.length || hooks.createContainer?.length);
  if (hasHooksSync) ops.push({ op: 'sync', code: SYNC.HOOKS, configPath: 'hooks', what: 'run createRuntime/createContainer hooks' });
  ops.push({ op: 'mkdir', path: proc.cwd, mode: 0o755, configPath: 'process.cwd', what: `create cwd ${proc.cwd}` });
  if (!privateMounts) ops.push({ op: 'chroot', configPath: 'root.path', what: 'chroot into the rootfs (no mount namespace of its own)' });
  else ops.push(input.noPivot ? { op: 'moveRoot', configPath: 'root.path', what: 'move rootfs to / (--no-pivot)' } : { op: 'pivotRoot', configPath: 'root.path', what: 'pivot_root' });

  ops.push(...sysctlOps(spec, ns));
  ops.push(...protectedPathOps(ops, [
    ...(spec.linux?.maskedPaths ?? []).map((p, i) => ({ kind: 'mask' as const, path: p, configPath: `linux.maskedPaths[${i}]`, what: `mask ${p}` })),
    ...(spec.linux?.readonlyPaths ?? []).map((p, i) => ({ kind: 'readonlyPath' as const, path: p, configPath: `linux.readonlyPaths[${i}]`, what: `make ${p} read-only` })),
  ]));
  if (spec.root?.readonly) ops.push({ op: 'rootReadonly', configPath: 'root.readonly', what: 'make rootfs read-only' });
  if (!privateMounts) refuseMountsWithoutMountNamespace(ops.slice(fsStart));
  // Last of the mount work: masks and read-only binds made on a shared root
  // would be shared themselves.
  if (privateMounts && propagation.after) ops.push({ op: 'rootPropagationAfter', flags: propagation.after, configPath: 'linux.rootfsPropagation', what: 'set rootfs propagation' });
  if (spec.hostname !== undefined && spec.hostname !== '') ops.push({ op: 'hostname', name: spec.hostname, configPath: 'hostname', what: 'set hostname' });
  if (spec.domainname !== undefined && spec.domainname !== '') ops.push({ op: 'domainname', name: spec.domainname, configPath: 'domainname', what: 'set domainname' });

  // Process: limits, scheduling, privileges, identity. The scheduler and I/O
  // priority need CAP_SYS_NICE/CAP_SYS_ADMIN: before the credentials and any filter.
  ops.push(...rlimitOps(proc));
  ops.push(...schedulerOps(proc, startHooks.length > 0), ...ioPriorityOps(proc));
  const caps = capabilitySets(proc, input.lastCap);
  warnings.push(...caps.warnings);
  ops.push({ op: 'capBounding', keep: caps.bounding, lastCap: input.lastCap, configPath: 'process.capabilities.bounding', what: 'drop bounding capabilities' });
  const seccomp = seccompPlacement(proc, caps, input.seccomp);
  ops.push(...seccomp.beforeCreds(proc.cwd, 3 + input.preserveFds));
  const user = proc.user;
  ops.push({
    op: 'creds', uid: user.uid, gid: user.gid, setGroups: 1, groups: user.additionalGids ?? [],
    effective: caps.effective, permitted: caps.permitted, inheritable: caps.inheritable, ambient: caps.ambient,
    lastCap: input.lastCap, configPath: 'process.user', what: `set user ${user.uid}:${user.gid} and capabilities`,
  });
  ops.push({ op: 'umask', mask: user.umask ?? 0o022, configPath: 'process.user.umask', what: 'set umask' });
  ops.push({ op: 'chdir', path: proc.cwd, configPath: 'process.cwd', what: `chdir to ${proc.cwd}` });
  const env = withHome(proc.env ?? [], input.home);
  ops.push({ op: 'resolveExec', file: proc.args![0]!, path: envPath(env), configPath: 'process.args', what: 'find the entrypoint' });
  ops.push(...seccomp.beforeReport());
  ops.push({ op: 'reportCreated', what: 'report created' });
  ops.push({ op: 'waitStart', what: 'wait for start' });
  startHooks.forEach((h, i) => ops.push({
    op: 'hook', path: h.path, argv: h.args?.length ? h.args : [h.path], env: h.env ?? [], timeout: h.timeout ?? 0, index: i,
    configPath: `hooks.startContainer[${i}]`, what: `run startContainer hook ${h.path}`,
  }));
  ops.push(...lsmOps(input.lsm));
  ops.push(...seccomp.beforeExec());
  ops.push({ op: 'exec', argv: proc.args!, env, configPath: 'process.args', what: 'exec the entrypoint' });
  return { ops, warnings, needsIdMaps: ns.fresh.has('user'), hasHooksSync };
}
