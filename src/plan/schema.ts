// The Plan's op table: one entry per op capsa-init knows, with its payload
// fields in wire order. Mirrors native/init/protocol.h — change both together.

export type FieldType = 'u32' | 'u64' | 'str' | 'strs' | 'blob' | 'u32s';

export const OPS = {
  sync: { code: 1, fields: [['code', 'u32']] },
  setns: { code: 2, fields: [['path', 'str'], ['nstype', 'u32']] },
  unshare: { code: 3, fields: [['flags', 'u32']] },
  setRootIds: { code: 4, fields: [] },
  writeProc: { code: 5, fields: [['path', 'str'], ['content', 'str']] },
  clone: { code: 6, fields: [['flags', 'u32']] },
  setsid: { code: 7, fields: [] },
  rootPropagation: { code: 8, fields: [['flags', 'u32']] },
  rootfs: { code: 9, fields: [['path', 'str'], ['bind', 'u32'], ['sharedParent', 'u32']] },
  mount: {
    code: 10,
    fields: [
      ['kind', 'u32'], ['source', 'str'], ['destination', 'str'], ['fstype', 'str'],
      ['attrSet', 'u64'], ['attrClear', 'u64'], ['propagation', 'u32'], ['create', 'u32'],
      ['recursive', 'u32'], ['data', 'strs'], ['fallbackBindSource', 'str'], ['copyUp', 'u32'],
      ['slot', 'u32'], ['noSymlinks', 'u32'],
    ],
  },
  mknod: { code: 11, fields: [['path', 'str'], ['mode', 'u32'], ['major', 'u32'], ['minor', 'u32'], ['uid', 'u32'], ['gid', 'u32']] },
  symlink: { code: 12, fields: [['target', 'str'], ['path', 'str']] },
  mkdir: { code: 13, fields: [['path', 'str'], ['mode', 'u32']] },
  mask: { code: 14, fields: [['path', 'str'], ['slot', 'u32'], ['rel', 'str']] },
  readonlyPath: { code: 15, fields: [['path', 'str'], ['slot', 'u32'], ['rel', 'str']] },
  pivotRoot: { code: 16, fields: [] },
  moveRoot: { code: 17, fields: [] },
  rootReadonly: { code: 18, fields: [] },
  hostname: { code: 19, fields: [['name', 'str']] },
  domainname: { code: 20, fields: [['name', 'str']] },
  sysctl: { code: 21, fields: [['key', 'str'], ['value', 'str']] },
  rlimit: { code: 22, fields: [['resource', 'u32'], ['soft', 'u64'], ['hard', 'u64']] },
  capBounding: { code: 23, fields: [['keep', 'u64'], ['lastCap', 'u32']] },
  creds: {
    code: 24,
    fields: [
      ['uid', 'u32'], ['gid', 'u32'], ['setGroups', 'u32'], ['groups', 'u32s'],
      ['effective', 'u64'], ['permitted', 'u64'], ['inheritable', 'u64'], ['ambient', 'u64'], ['lastCap', 'u32'],
    ],
  },
  noNewPrivs: { code: 25, fields: [] },
  seccomp: { code: 26, fields: [['flags', 'u32'], ['program', 'blob'], ['notifySocket', 'u32']] },
  umask: { code: 27, fields: [['mask', 'u32']] },
  chdir: { code: 28, fields: [['path', 'str']] },
  resolveExec: { code: 29, fields: [['file', 'str'], ['path', 'str']] },
  reportCreated: { code: 30, fields: [] },
  openFifo: { code: 31, fields: [['path', 'str']] },
  waitStart: { code: 32, fields: [] },
  closeFds: { code: 33, fields: [['first', 'u32']] },
  exec: { code: 34, fields: [['argv', 'strs'], ['env', 'strs']] },
  dumpable: { code: 35, fields: [['value', 'u32']] },
  rootPropagationAfter: { code: 36, fields: [['flags', 'u32']] },
  console: { code: 37, fields: [['socketFd', 'u32'], ['rows', 'u32'], ['cols', 'u32'], ['bindConsole', 'u32'], ['fromRootfs', 'u32']] },
  openState: { code: 38, fields: [['path', 'str']] },
  hook: { code: 39, fields: [['path', 'str'], ['argv', 'strs'], ['env', 'strs'], ['timeout', 'u32'], ['index', 'u32']] },
  setnsPid: { code: 40, fields: [['pid', 'u32'], ['nstype', 'u32']] },
  sessionKeyring: { code: 41, fields: [['name', 'str']] },
  personality: { code: 42, fields: [['persona', 'u32']] },
  loopbackUp: { code: 43, fields: [] },
  joinCgroup: { code: 44, fields: [['file', 'str'], ['optional', 'u32']] },
  cgroupFd: { code: 45, fields: [['dir', 'str'], ['optional', 'u32']] },
  openCwd: { code: 46, fields: [['path', 'str']] },
  rootfsTree: { code: 47, fields: [['path', 'str'], ['propagation', 'u32'], ['recursive', 'u32'], ['attrClear', 'u64']] },
  attachRootfs: { code: 48, fields: [['sharedParent', 'u32']] },
  chroot: { code: 49, fields: [] },
  rootfsMount: {
    code: 50,
    fields: [['fstype', 'str'], ['source', 'str'], ['data', 'strs'], ['attrSet', 'u64'], ['propagation', 'u32'], ['recursive', 'u32'], ['cwd', 'str'], ['path', 'str']],
  },
  // 60-69: process attributes and idmapped mounts (runtime-spec 1.1-1.3).
  scheduler: {
    code: 60,
    fields: [['policy', 'u32'], ['nice', 'u32'], ['priority', 'u32'], ['flags', 'u64'], ['runtime', 'u64'], ['deadline', 'u64'], ['period', 'u64']],
  },
  ioprio: { code: 61, fields: [['value', 'u32']] },
  cpuAffinity: { code: 62, fields: [['mask', 'blob'], ['report', 'u32']] },
  mempolicy: { code: 63, fields: [['mode', 'u32'], ['nodes', 'u32s']] },
  idmapTree: {
    code: 64,
    fields: [
      ['kind', 'u32'], ['source', 'str'], ['fstype', 'str'], ['data', 'strs'], ['recursiveBind', 'u32'],
      ['recursiveIdmap', 'u32'], ['uidMap', 'str'], ['gidMap', 'str'], ['usernsPath', 'str'],
      ['attrSet', 'u64'], ['attrClear', 'u64'], ['recursiveAttr', 'u32'],
    ],
  },
  netdevUp: { code: 51, fields: [['name', 'str'], ['index', 'u32'], ['addresses', 'strs']] },
  netdevCheck: { code: 52, fields: [['name', 'str']] },
} as const satisfies Record<string, { code: number; fields: readonly (readonly [string, FieldType])[] }>;

export type OpName = keyof typeof OPS;

type FieldValue<T extends FieldType> = T extends 'u32' ? number
  : T extends 'u64' ? bigint | number
  : T extends 'str' ? string
  : T extends 'strs' ? string[]
  : T extends 'u32s' ? number[]
  : Buffer;

type FieldsOf<N extends OpName> = {
  [F in (typeof OPS)[N]['fields'][number] as F[0]]: FieldValue<F[1]>;
};

/** Where an op came from, so a failure can name the config field. */
export interface OpOrigin {
  configPath?: string; // e.g. "mounts[2]"
  what?: string; // e.g. 'mount "proc" on "/proc"'
}

export type Op = { [N in OpName]: { op: N } & FieldsOf<N> & OpOrigin }[OpName];
export type OpOf<N extends OpName> = Extract<Op, { op: N }>;

// Namespace clone flags (linux/sched.h).
export const CLONE = {
  NEWTIME: 0x00000080,
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

// Sync points and message types (protocol.h).
export const SYNC = { READY: 1, MAPS: 2, HOOKS: 3, SECCOMP: 4, NETDEV: 5, START: 6 } as const;
export const MSG = { SYNC: 1, CHILD: 2, CREATED: 3, ERROR: 4, WARN: 5, DEBUG: 6, ACK: 100, ABORT: 101 } as const;
/** MSG_ERROR's val: a refusal's detail is the whole message; a syscall's gets the errno's text added. */
export const ERR = { SYSCALL: 0, REFUSED: 1 } as const;
export const MSG_SIZE = 256;
export const MSG_DETAIL_LEN = 240;

/** OP_SECCOMP's notifySocket when no notify listener is expected. */
export const NO_FD = 0xffffffff;

export const MOUNT_KIND = { FS: 0, BIND: 1, SETATTR: 2, IDMAPPED: 3 } as const;
export const IDMAP_TREE = { BIND: 0, FS: 1 } as const;
export const CREATE = { NONE: 0, DIR: 1, FILE: 2 } as const;
export const RECURSIVE = { BIND: 1, ATTR: 2 } as const;
