/*
 * capsa-init protocol — the one place that documents how TypeScript and
 * capsa-init talk. src/plan/schema.ts is the TypeScript side of the same
 * contract; test/unit/plan-protocol.test.ts checks that the two agree.
 *
 * capsa-init is started by the runtime with the sync socket (a unix stream
 * socket) on the fd given in argv[1] as a decimal number.
 * argv[2], when >= 0, is an fd capsa-init closes at once: the runtime's
 * sealed copy of the binary it was executed from (/proc/self/fd/N).
 * argv[3], when given, is how many fds the runtime passed: every fd from
 * there up is closed first thing (leaked by the runtime's caller), and the
 * sync socket and the fds after it are made close-on-exec.
 * Fds below the sync socket are stdio and --preserve-fds, which pass into
 * the container.
 *
 *   step  who        what
 *   1     TS  -> P   u32 plan length, then the encoded plan (see below).
 *                    A parked P (started ahead of its work on /dev/null
 *                    stdio, no preserved fds) gets with the length, as
 *                    SCM_RIGHTS, the fds a spawn would have given it: three
 *                    for stdio (onto 0-2), then up to PARKED_MAX_EXTRA_FDS
 *                    for the fds after the sync socket (onto sync+1, ...).
 *   2     P          OP_JOIN_CGROUP: writes "0" to each cgroup file TS chose
 *                    (v1 "tasks": moving itself skips the kernel's global
 *                    threadgroup lock, which costs 5-10 ms per write);
 *                    OP_CGROUP_FD: the next clone uses CLONE_INTO_CGROUP (v2).
 *                    Only the systemd driver still syncs:
 *         P   -> TS  MSG_SYNC(val=SYNC_READY)        TS puts P in the cgroups
 *         TS  -> P   MSG_ACK
 *   3     P          setns(...) for namespaces given by path (user first)
 *   4     P   -> TS  MSG_SYNC(val=SYNC_MAPS) after unshare(CLONE_NEWUSER)
 *         TS  -> P   MSG_ACK after writing /proc/P/{setgroups,uid_map,gid_map}
 *   5     P          unshare(time) + offsets; clone(CLONE_PARENT|new ns flags)
 *   6     P   -> TS  MSG_CHILD(val=host pid of C); P exits 0
 *   6b    C   -> TS  MSG_SYNC(val=SYNC_NETDEV) when linux.netDevices is set:
 *         TS  -> C   MSG_ACK after moving the links into C's network namespace
 *                    (RTM_NEWLINK with IFLA_NET_NS_FD, from the runtime's own);
 *                    C adds their addresses and sets them up (OP_NETDEV_UP)
 *   7     C          mounts, devices, pivot_root, hostname, sysctl, rlimits,
 *                    credentials, cwd, PATH lookup
 *         C   -> TS  MSG_SYNC(val=SYNC_HOOKS) before pivot_root when the
 *                    config has createRuntime/createContainer/prestart hooks
 *         TS  -> C   MSG_ACK
 *         C   -> TS  MSG_SYNC(val=SYNC_SECCOMP) after loading a filter with a
 *                    notify listener, passed just before on its own socket
 *         TS  -> C   MSG_ACK once the seccomp agent has it
 *   8     C   -> TS  MSG_CREATED; TS writes state.json and exits (create)
 *   9     C          open(exec.fifo, O_WRONLY) blocks until `start` reads it
 *  10     C          execve. An execve failure is sent as MSG_ERROR if anyone
 *                    still listens.
 *
 * A prepared exec (the shim's Exec before its Start) has one more sync point,
 * as its last step before MSG_CREATED and execve, after the credentials, the
 * seccomp filter and the LSM label: C has become the process in everything
 * but its program, so nothing waits in the container with more privilege
 * than the process will have.
 *         C   -> TS  MSG_SYNC(val=SYNC_START)
 *         TS  -> C   MSG_ACK when the process is started (MSG_ABORT: C exits)
 *
 * Seccomp placement: without no_new_privs loading a filter needs
 * CAP_SYS_ADMIN, so when the process will not keep it the filter is loaded
 * before the credentials ("early"); otherwise just before execve. Whatever
 * runs after an early filter uses only syscalls runc also makes after its own
 * load (credentials, fchdir, close, the exec fifo's openat/write, execve):
 * the cwd is resolved (OP_OPEN_CWD, openat2) and inherited fds are marked
 * close-on-exec (OP_CLOSE_FDS, close_range) before it.
 *
 * Any failure: C or P sends MSG_ERROR(op index, errno, detail) and exits 1;
 * its val is an error_kind: ERR_REFUSED when capsa-init refused something it
 * found unsafe (the detail is the whole message), ERR_SYSCALL otherwise (the
 * detail names the operation; the runtime adds the errno's text).
 * TS never waits without a timeout and treats EOF as "init died".
 *
 * Plan encoding (little-endian):
 *   header: "CPLN" u32 version u32 op_count
 *   op:     u16 code  u16 reserved  u32 payload_len  payload
 *   payload fields, in the order op_fields() below lists per op:
 *     u32 | u64 | str (u32 len incl. NUL, bytes, NUL) | strs (u32 n, n×str)
 *     | blob (u32 len, bytes)
 */
#ifndef CAPSA_PROTOCOL_H
#define CAPSA_PROTOCOL_H
#include <stdint.h>

#define PLAN_MAGIC "CPLN"
#define PLAN_VERSION 1
/* A parked capsa-init takes at most this many fds after the sync socket
 * (a console socket, a seccomp agent's socket: see step 1). */
#define PARKED_MAX_EXTRA_FDS 4

enum msg_type {
  MSG_SYNC = 1,
  MSG_CHILD = 2,
  MSG_CREATED = 3,
  MSG_ERROR = 4,
  MSG_WARN = 5,
  MSG_DEBUG = 6,          /* detail for the runtime's --debug log */
  MSG_ACK = 100,
  MSG_ABORT = 101,
};

enum sync_code {
  SYNC_READY = 1,
  SYNC_MAPS = 2,
  SYNC_HOOKS = 3,
  SYNC_SECCOMP = 4, /* the notify listener was sent on OP_SECCOMP's socket */
  SYNC_NETDEV = 5,
  SYNC_START = 6, /* a prepared exec waits here until it is started */
};

enum error_kind {
  ERR_SYSCALL = 0,
  ERR_REFUSED = 1,
};

#define MSG_DETAIL_LEN 240
struct msg {
  uint32_t type;
  int32_t op;     /* index of the op that failed, -1 if none */
  int32_t err;    /* errno */
  int32_t val;
  char detail[MSG_DETAIL_LEN];
};

enum op_code {
  OP_SYNC = 1,            /* u32 code */
  OP_SETNS = 2,           /* str path, u32 nstype */
  OP_UNSHARE = 3,         /* u32 flags */
  OP_SET_ROOT_IDS = 4,    /* - */
  OP_WRITE_PROC = 5,      /* str path relative to host /proc, str content */
  OP_CLONE = 6,           /* u32 flags; into the cgroup of OP_CGROUP_FD if one is open */
  OP_SETSID = 7,          /* - */
  OP_ROOT_PROPAGATION = 8,/* u32 ms flags, applied to "/" */
  OP_ROOTFS = 9,          /* str host path, u32 bind onto itself, u32 propagation for the
                             mount holding it when that one is shared; remember fd */
  OP_MOUNT = 10,          /* see mounts.c: u32 kind, str source, str dest, str fstype,
                             u64 attr_set, u64 attr_clr, u32 propagation, u32 create,
                             u32 recursive, strs data, str fallback_bind_source,
                             u32 copy_up (tmpcopyup), u32 slot (keep the mount
                             for OP_MASK/OP_READONLY; 0: none), u32 no_symlinks
                             (the destination must be reached without symlinks) */
  OP_MKNOD = 11,          /* str dest, u32 mode, u32 major, u32 minor, u32 uid, u32 gid */
  OP_SYMLINK = 12,        /* str target, str linkpath */
  OP_MKDIR = 13,          /* str path, u32 mode */
  OP_MASK = 14,           /* str path, u32 slot, str path relative to that slot's
                             mount (slot 0: path resolved in the root after pivot) */
  OP_READONLY = 15,       /* same fields as OP_MASK */
  OP_PIVOT_ROOT = 16,     /* - */
  OP_MOVE_ROOT = 17,      /* - (no pivot: MS_MOVE + chroot) */
  OP_ROOT_READONLY = 18,  /* - */
  OP_HOSTNAME = 19,       /* str */
  OP_DOMAINNAME = 20,     /* str */
  OP_SYSCTL = 21,         /* str key as path under /proc/sys, str value */
  OP_RLIMIT = 22,         /* u32 resource, u64 soft, u64 hard */
  OP_CAP_BOUNDING = 23,   /* u64 keep mask, u32 last cap */
  OP_CREDS = 24,          /* u32 uid, u32 gid, u32 set_groups, strs-less: u32 n + n×u32 gids,
                             u64 effective, u64 permitted, u64 inheritable, u64 ambient, u32 last cap */
  OP_NO_NEW_PRIVS = 25,   /* - */
  OP_SECCOMP = 26,        /* u32 flags, blob program, u32 notify socket fd (~0: none):
                             with NEW_LISTENER the listener fd goes there (SCM_RIGHTS),
                             then MSG_SYNC(SYNC_SECCOMP) waits for the runtime */
  OP_UMASK = 27,          /* u32 */
  OP_CHDIR = 28,          /* str: enter the cwd OP_OPEN_CWD resolved (fchdir), or chdir to it */
  OP_RESOLVE_EXEC = 29,   /* str file, str PATH */
  OP_REPORT_CREATED = 30, /* - */
  OP_OPEN_FIFO = 31,      /* str host path */
  OP_WAIT_START = 32,     /* - */
  OP_CLOSE_FDS = 33,      /* u32 first fd to keep closed-on-exec */
  OP_EXEC = 34,           /* strs argv, strs env */
  OP_DUMPABLE = 35,       /* u32 0|1 */
  OP_ROOT_PROPAGATION_AFTER = 36, /* u32 ms flags, applied to new "/" after pivot */
  OP_CONSOLE = 37,        /* u32 socket fd, u32 rows, u32 cols, u32 bind /dev/console,
                             u32 from rootfs (1: before pivot via the rootfs fd; 0: from "/") */
  OP_OPEN_STATE = 38,     /* str host path of the state JSON startContainer hooks read */
  OP_HOOK = 39,           /* str path, strs argv, strs env, u32 timeout seconds, u32 index */
  OP_SETNS_PID = 40,      /* u32 pid, u32 nstype: join /proc/<pid>/ns/<type> (exec) */
  OP_SESSION_KEYRING = 41,/* str name: join a new session keyring */
  OP_PERSONALITY = 42,    /* u32 persona */
  OP_LOOPBACK_UP = 43,    /* - : bring lo up in a new network namespace */
  OP_JOIN_CGROUP = 44,    /* str file, u32 optional: write "0" (this process) to it;
                             optional: a failure is a warning */
  OP_CGROUP_FD = 45,      /* str dir, u32 optional: the next clone goes into this
                             cgroup2 dir (clone3 CLONE_INTO_CGROUP); optional: on
                             failure warn and clone without it */
  OP_OPEN_CWD = 46,       /* str: resolve the cwd in the container root (openat2) and
                             keep it for OP_CHDIR; before any seccomp filter */
  OP_ROOTFS_TREE = 47,    /* str host path, u32 propagation (one MS_*), u32 recursive,
                             u64 attr_clr: in P, before any user namespace: a
                             detached copy of the rootfs tree; P's cwd becomes it */
  OP_ATTACH_ROOTFS = 48,  /* u32 propagation for the mount holding the cwd when that one
                             is shared; in C: attach that tree on the cwd; it is the root */
  OP_CHROOT = 49,         /* - : no mount namespace of our own: chroot into the rootfs */
  OP_ROOTFS_MOUNT = 50,   /* str fstype ("bind": open_tree of source), str source, strs data,
                             u64 attr_set, u32 propagation, u32 recursive, str cwd (for
                             relative lowerdirs; "" none), str attach dir: like
                             OP_ROOTFS_TREE, but the root is a filesystem made here (a
                             containerd snapshot's overlay), never mounted on the host */
  /* 60-69: process attributes and idmapped mounts (runtime-spec 1.1-1.3). */
  OP_SCHEDULER = 60,      /* u32 policy, u32 nice (s32), u32 priority, u64 flags,
                             u64 runtime, u64 deadline, u64 period: sched_setattr */
  OP_IOPRIO = 61,         /* u32 (class << 13 | level): ioprio_set(IOPRIO_WHO_PROCESS, 0) */
  OP_CPU_AFFINITY = 62,   /* blob cpu_set_t bytes (empty: every CPU), u32 report:
                             sched_setaffinity; report sends the result as MSG_DEBUG */
  OP_MEMPOLICY = 63,      /* u32 mode|flags, u32s nodes: set_mempolicy */
  OP_IDMAP_TREE = 64,     /* in P, before any user/mount namespace is joined or made
                             (see idmap.c): u32 kind (0 bind, 1 new filesystem),
                             str source, str fstype, strs data, u32 recursive bind,
                             u32 recursive idmap, str uid_map, str gid_map,
                             str user namespace path (instead of the maps),
                             u64 attr_set, u64 attr_clr, u32 recursive attrs (the
                             mount's flags, set before C exists).
                             OP_MOUNT kind 3 (idmapped) attaches the trees in order. */
  OP_NETDEV_UP = 51,      /* str name, u32 host index, strs "addr/prefixlen": a link the
                             runtime moved in (SYNC_NETDEV): add the addresses, set it
                             up. The index finds a name given as a "%d" template. */
  OP_NETDEV_CHECK = 52,   /* str name: fail (EEXIST) if this network namespace already has
                             a link of that name — before SYNC_NETDEV, since the kernel
                             moves a link first and renames it after */
};

/*
 * Each op's payload, field by field in wire order: u32, u64, str (u32 length
 * with the NUL, bytes, NUL), strs (u32 count, that many str), blob (u32
 * length, bytes), u32s (u32 count, that many u32). capsa-init checks the
 * whole plan against this table before it runs its first op (plan_check in
 * plan.c), so no op acts on a payload that turns out short later; and
 * test/unit/plan-protocol.test.ts checks it against src/plan/schema.ts, so the
 * two sides cannot drift apart. Add a line here with every new op.
 */
static inline const char *op_fields(unsigned code) {
  switch (code) {
  case OP_SYNC: return "u32";
  case OP_SETNS: return "str u32";
  case OP_UNSHARE: return "u32";
  case OP_SET_ROOT_IDS: return "";
  case OP_WRITE_PROC: return "str str";
  case OP_CLONE: return "u32";
  case OP_SETSID: return "";
  case OP_ROOT_PROPAGATION: return "u32";
  case OP_ROOTFS: return "str u32 u32";
  case OP_MOUNT: return "u32 str str str u64 u64 u32 u32 u32 strs str u32 u32 u32";
  case OP_MKNOD: return "str u32 u32 u32 u32 u32";
  case OP_SYMLINK: return "str str";
  case OP_MKDIR: return "str u32";
  case OP_MASK: return "str u32 str";
  case OP_READONLY: return "str u32 str";
  case OP_PIVOT_ROOT: return "";
  case OP_MOVE_ROOT: return "";
  case OP_ROOT_READONLY: return "";
  case OP_HOSTNAME: return "str";
  case OP_DOMAINNAME: return "str";
  case OP_SYSCTL: return "str str";
  case OP_RLIMIT: return "u32 u64 u64";
  case OP_CAP_BOUNDING: return "u64 u32";
  case OP_CREDS: return "u32 u32 u32 u32s u64 u64 u64 u64 u32";
  case OP_NO_NEW_PRIVS: return "";
  case OP_SECCOMP: return "u32 blob u32";
  case OP_UMASK: return "u32";
  case OP_CHDIR: return "str";
  case OP_RESOLVE_EXEC: return "str str";
  case OP_REPORT_CREATED: return "";
  case OP_OPEN_FIFO: return "str";
  case OP_WAIT_START: return "";
  case OP_CLOSE_FDS: return "u32";
  case OP_EXEC: return "strs strs";
  case OP_DUMPABLE: return "u32";
  case OP_ROOT_PROPAGATION_AFTER: return "u32";
  case OP_CONSOLE: return "u32 u32 u32 u32 u32";
  case OP_OPEN_STATE: return "str";
  case OP_HOOK: return "str strs strs u32 u32";
  case OP_SETNS_PID: return "u32 u32";
  case OP_SESSION_KEYRING: return "str";
  case OP_PERSONALITY: return "u32";
  case OP_LOOPBACK_UP: return "";
  case OP_JOIN_CGROUP: return "str u32";
  case OP_CGROUP_FD: return "str u32";
  case OP_OPEN_CWD: return "str";
  case OP_ROOTFS_TREE: return "str u32 u32 u64";
  case OP_ATTACH_ROOTFS: return "u32";
  case OP_CHROOT: return "";
  case OP_ROOTFS_MOUNT: return "str str strs u64 u32 u32 str str";
  case OP_SCHEDULER: return "u32 u32 u32 u64 u64 u64 u64";
  case OP_IOPRIO: return "u32";
  case OP_CPU_AFFINITY: return "blob u32";
  case OP_MEMPOLICY: return "u32 u32s";
  case OP_IDMAP_TREE: return "u32 str str strs u32 u32 str str str u64 u64 u32";
  case OP_NETDEV_UP: return "str u32 strs";
  case OP_NETDEV_CHECK: return "str";
  default: return 0;
  }
}

#endif
