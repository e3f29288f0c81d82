/*
 * capsa-init: executes an encoded Plan, op by op. It holds no policy: every
 * path, flag and mask was decided by the TypeScript runtime. See protocol.h
 * for the conversation with the runtime.
 *
 * Usage (by the runtime only): capsa-init SYNC_FD SEALED_FD|-1 FD_COUNT
 *   see protocol.h for what each argument means.
 *
 * The process starts as P (in the host's namespaces), does the steps that must
 * happen before the container's first process exists, then clones C with
 * CLONE_PARENT so C's parent is the runtime, reports C's pid and exits. C runs
 * the remaining ops and finally execve's the entrypoint. From the clone on,
 * code runs in a fresh single-threaded process and does not allocate.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include "init.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int fifo_fd = -1;

static int read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Step 1's plan length, and for a parked capsa-init the fds it would have
 * been spawned with (protocol.h). They arrive at the lowest free numbers,
 * which may be among their targets: all are lifted above every target first. */
static uint32_t recv_plan_length(void) {
  uint32_t len = 0;
  union {
    char buf[CMSG_SPACE((3 + PARKED_MAX_EXTRA_FDS) * sizeof(int))];
    struct cmsghdr align;
  } control;
  struct iovec iov = {&len, sizeof len};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do n = recvmsg(sync_fd, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n <= 0) die(n < 0 ? errno : EPROTO, "read plan length");
  if (msg.msg_flags & MSG_CTRUNC) die(EPROTO, "more fds came with the plan than a parked capsa-init takes");
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
    int got[3 + PARKED_MAX_EXTRA_FDS];
    int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    memcpy(got, CMSG_DATA(c), (size_t)count * sizeof(int));
    if (count < 3) die(EPROTO, "a parked capsa-init got %d fds, not its stdio", count);
    int lift = sync_fd + 1 + PARKED_MAX_EXTRA_FDS;
    for (int i = 0; i < count; i++) {
      int high = fcntl(got[i], F_DUPFD_CLOEXEC, lift);
      if (high < 0) die(errno, "fcntl(F_DUPFD_CLOEXEC) of passed fd %d", i);
      close(got[i]);
      got[i] = high;
    }
    for (int i = 0; i < count; i++) {
      int target = i < 3 ? i : sync_fd + 1 + (i - 3);
      /* as close_inherited leaves them: stdio inheritable, the rest close-on-exec */
      if (dup3(got[i], target, i < 3 ? 0 : O_CLOEXEC) < 0) die(errno, "dup3 of passed fd %d onto %d", i, target);
      close(got[i]);
    }
  }
  if ((size_t)n < sizeof len && read_full(sync_fd, (char *)&len + n, sizeof len - (size_t)n) < 0) die(EPROTO, "read plan length");
  return len;
}

static void op_sync(struct reader *r) {
  uint32_t code = rd_u32(r);
  if (send_msg(MSG_SYNC, (int32_t)code, 0, NULL) < 0) _exit(1);
  /* An abort means the runtime already reported why: leave without a word. */
  if (wait_ack() < 0) _exit(1);
}

static void op_setns(struct reader *r) {
  const char *path = rd_str(r);
  uint32_t type = rd_u32(r);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(errno, "open namespace %s", path);
  if (setns(fd, (int)type) < 0) die(errno, "setns %s", path);
  close(fd);
}

static void op_unshare(struct reader *r) {
  uint32_t flags = rd_u32(r);
  if (unshare((int)flags) < 0) die(errno, "unshare");
}

static void op_set_root_ids(void) {
  if (syscall(SYS_setresgid, 0, 0, 0) < 0) die(errno, "setresgid 0 in user namespace");
  if (syscall(SYS_setresuid, 0, 0, 0) < 0) die(errno, "setresuid 0 in user namespace");
}

static void op_write_proc(struct reader *r) {
  const char *path = rd_str(r);
  const char *content = rd_str(r);
  int fd = openat(host_proc_fd, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die(errno, "open /proc/%s", path);
  size_t len = strlen(content);
  if (write(fd, content, len) != (ssize_t)len) die(errno, "write /proc/%s", path);
  close(fd);
}

static void op_join_cgroup(struct reader *r) {
  const char *file = rd_str(r);
  uint32_t optional = rd_u32(r);
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0 && write(fd, "0", 1) != 1) err = errno;
  if (fd >= 0) close(fd);
  if (!err) return;
  if (!optional) die(err, "join cgroup: write 0 to %s", file);
  warn_msg("process not placed in cgroup %s: %s", file, strerror(err));
}

static int cgroup_fd = -1;
static const char *cgroup_dir;
static int cgroup_optional;

/*
 * The fd CLONE_INTO_CGROUP needs is inherited by C, and C is visible in the
 * container's pid namespace before it can close it: a neighbour with
 * CAP_SYS_PTRACE that stops C would walk "fd/N/../../.." from the cgroup2
 * mount up to the host's root, or write the container's own limits. So it is
 * a detached, read-only copy of the cgroup dir: ".." stays inside it and no
 * file can be written through it. (The kernel checks the cgroup's own
 * permissions for the clone, not the mount's.) Without the privilege for
 * that (rootless), a plain O_PATH fd, as before.
 */
static int open_cgroup_dir(const char *dir) {
  int fd = open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) return open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
  if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) die(errno, "make the cgroup fd of %s read-only", dir);
  return fd;
}

static void op_cgroup_fd(struct reader *r) {
  cgroup_dir = rd_str(r);
  cgroup_optional = (int)rd_u32(r);
  cgroup_fd = open_cgroup_dir(cgroup_dir);
  if (cgroup_fd >= 0) return;
  if (!cgroup_optional) die(errno, "open cgroup %s", cgroup_dir);
  warn_msg("process not placed in cgroup %s: %s", cgroup_dir, strerror(errno));
}

struct capsa_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* clone, into the cgroup of OP_CGROUP_FD when one is open. */
static long clone_child(uint32_t flags) {
  if (cgroup_fd >= 0) {
    struct capsa_clone_args a;
    memset(&a, 0, sizeof a);
    /* clone3 refuses an exit signal with CLONE_PARENT; the child inherits P's
     * (SIGCHLD) anyway. */
    a.flags = (uint64_t)flags | CLONE_PARENT | 0x200000000ULL /* CLONE_INTO_CGROUP */;
    a.cgroup = (uint64_t)cgroup_fd;
    long pid = syscall(SYS_clone3, &a, sizeof a);
    if (pid >= 0 || !cgroup_optional) {
      if (pid < 0) die(errno, "clone into cgroup %s", cgroup_dir);
      return pid;
    }
    warn_msg("process not placed in cgroup %s: %s", cgroup_dir, strerror(errno));
  }
  return syscall(SYS_clone, (unsigned long)(flags | CLONE_PARENT | SIGCHLD), NULL, NULL, NULL, 0);
}

static void op_clone(struct reader *r) {
  uint32_t flags = rd_u32(r);
  /* Nothing after the clone needs the host's procfs, and C is visible in the
   * container's pid namespace from its first instruction: a neighbour with
   * CAP_SYS_PTRACE that stops it must find no host directory among its fds. */
  if (host_proc_fd >= 0) { close(host_proc_fd); host_proc_fd = -1; }
  idmap_close_userns();
  /* CLONE_PARENT: the container's first process becomes the runtime's child,
   * so `run` can reap it; P itself only exists to get here. */
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) < 0) die(errno, "pipe2");
  long pid = clone_child(flags);
  if (pid < 0) die(errno, "clone");
  if (pid > 0) {
    close(gate[0]);
    send_msg(MSG_CHILD, (int32_t)pid, 0, NULL);
    _exit(0); /* closes the gate */
  }
  /* A host cgroupfs fd has no business in the container. */
  if (cgroup_fd >= 0) { close(cgroup_fd); cgroup_fd = -1; }
  /* The runtime must learn C's pid before C says anything on the shared
   * socket: wait until P has reported and gone. */
  close(gate[1]);
  char b;
  while (read(gate[0], &b, 1) < 0 && errno == EINTR) {}
  close(gate[0]);
  /* From here on use a procfs of the container's own pid namespace: the
   * host's must not be reachable through this process's fds (CVE-2024-21626). */
  int priv = capsa_private_procfs();
  if (priv < 0) die(errno, "make a private procfs for the container process");
  host_proc_fd = priv;
}

/* The cwd, resolved by OP_OPEN_CWD while capsa-init is still root and no
 * seccomp filter is loaded; OP_CHDIR enters it. */
static int cwd_fd = -1;

/* The directory must be inside the container root (getcwd of a directory
 * outside it starts with "(unreachable)", or fails). */
static void check_cwd_inside(const char *path) {
  char buf[4096];
  if (!getcwd(buf, sizeof buf) || buf[0] != '/') refuse(EPERM, "cwd %s is outside the container root", path);
}

static void op_open_cwd(struct reader *r) {
  const char *path = rd_str(r);
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  /* Resolve inside the container root and refuse /proc/self/fd/N style magic
   * links, so a leaked host fd can never become the cwd (CVE-2024-21626). */
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die(errno, "open /");
  int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
  int err = errno;
  close(rootfd);
  if (fd < 0) {
    /* Root may be refused where the user is not (a root-squashing mount):
     * OP_CHDIR then tries as the user. */
    if (err == EACCES || err == EPERM) return;
    die(err, "chdir to cwd %s", path);
  }
  if (fchdir(fd) < 0) die(errno, "chdir to cwd %s", path);
  check_cwd_inside(path);
  cwd_fd = fd;
}

/* After the credentials: enter the cwd as the process user, so its search
 * permission is checked. Only fchdir/close when OP_OPEN_CWD resolved it: a
 * seccomp filter may already be loaded, and old profiles deny openat2. */
static void op_chdir(struct reader *r) {
  const char *path = rd_str(r);
  if (cwd_fd >= 0) {
    if (fchdir(cwd_fd) < 0) die(errno, "chdir to cwd %s", path);
    close(cwd_fd);
    cwd_fd = -1;
    return;
  }
  /* runc's way, with old syscalls only; the check catches a path that led
   * out of the root through a magic link. */
  if (chdir(path) < 0) die(errno, "chdir to cwd %s", path);
  check_cwd_inside(path);
}

static void op_open_fifo(struct reader *r) {
  const char *path = rd_str(r);
  fifo_fd = open(path, O_PATH | O_CLOEXEC);
  if (fifo_fd < 0) die(errno, "open exec fifo %s", path);
}

static void op_wait_start(void) {
  char path[64];
  snprintf(path, sizeof path, "self/fd/%d", fifo_fd);
  /* Blocks until `start` opens the fifo for reading. */
  int fd = openat(host_proc_fd, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die(errno, "open exec fifo for writing");
  if (write(fd, "0", 1) != 1) die(errno, "write exec fifo");
  /* Kept open until execve closes it: `start` returns at that EOF, and any
   * failure before (a startContainer hook, the exec) is written here. */
  start_fd = fd;
  close(fifo_fd);
  fifo_fd = -1;
}

/* Marks fds from `first` up close-on-exec by walking /proc/self/fd, for
 * kernels without close_range(CLOSE_RANGE_CLOEXEC) (< 5.11) or a filter that
 * denies it. Old syscalls only: openat, getdents64, fcntl, close. */
static int cloexec_from_proc(unsigned first) {
  int dir = openat(host_proc_fd, "self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  char buf[4096];
  long n;
  while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
    for (long off = 0; off < n;) {
      struct dirent64 *d = (struct dirent64 *)(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      int fd = atoi(d->d_name);
      if (fd == dir || (unsigned)fd < first) continue;
      int fl = fcntl(fd, F_GETFD);
      if (fl >= 0 && !(fl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) { close(dir); return -1; }
    }
  }
  int err = n < 0 ? errno : 0;
  close(dir);
  errno = err;
  return n < 0 ? -1 : 0;
}

static void op_close_fds(struct reader *r) {
  uint32_t first = rd_u32(r);
  /* The mounts masks were resolved beneath are done with (close() only:
   * a seccomp filter may be loaded already). */
  close_mount_slots();
  /* Everything from `first` up closes at execve; the sync socket stays usable
   * until then so an exec failure can still be reported. capsa-init's own fds
   * (host_proc_fd, root_fd, the fifo) are O_CLOEXEC and closed by op_exec. */
  if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  if (cloexec_from_proc(first) < 0) die(errno, "mark inherited fds close-on-exec");
}

/* Closes every fd from `first` up, and marks the runtime's own fds (the
 * sync socket and the extras after it) close-on-exec so that hooks and the
 * container never get them. Runs first thing: no seccomp filter yet. */
static void close_inherited(int first) {
  if (first <= sync_fd) first = sync_fd + 1;
  if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) < 0) {
    if (errno != ENOSYS) die(errno, "close inherited fds");
    for (int fd = first; fd < 65536; fd++) close(fd);
  }
  for (int fd = sync_fd; fd < first; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0) fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
  }
}

/* Ops whose whole work is one call, and adapters for handlers that take no
 * payload or a fixed argument, so every op has one entry in op_table. */
static void op_set_root_ids_r(struct reader *r) { (void)r; op_set_root_ids(); }
static void op_setsid(struct reader *r) {
  (void)r;
  if (setsid() < 0) die(errno, "setsid");
}
static void op_root_propagation_before(struct reader *r) { op_root_propagation(r, 0); }
static void op_root_propagation_after(struct reader *r) { op_root_propagation(r, 1); }
static void op_pivot_root_r(struct reader *r) { (void)r; op_pivot_root(); }
static void op_move_root_r(struct reader *r) { (void)r; op_move_root(); }
static void op_chroot_r(struct reader *r) { (void)r; op_chroot(); }
static void op_root_readonly_r(struct reader *r) { (void)r; op_root_readonly(); }
static void op_wait_start_r(struct reader *r) { (void)r; op_wait_start(); }

static void op_hostname(struct reader *r) {
  const char *h = rd_str(r);
  if (sethostname(h, strlen(h)) < 0) die(errno, "sethostname %s", h);
}

static void op_domainname(struct reader *r) {
  const char *d = rd_str(r);
  if (setdomainname(d, strlen(d)) < 0) die(errno, "setdomainname %s", d);
}

static void op_no_new_privs(struct reader *r) {
  (void)r;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die(errno, "prctl(PR_SET_NO_NEW_PRIVS)");
}

static void op_umask(struct reader *r) { umask((mode_t)rd_u32(r)); }

static void op_report_created(struct reader *r) {
  (void)r;
  if (send_msg(MSG_CREATED, (int32_t)getpid(), 0, NULL) < 0) die(EPIPE, "runtime went away");
}

static void op_dumpable(struct reader *r) {
  if (prctl(PR_SET_DUMPABLE, rd_u32(r), 0, 0, 0) < 0) die(errno, "prctl(PR_SET_DUMPABLE)");
}

static void op_session_keyring(struct reader *r) {
  const char *name = rd_str(r);
  /* KEYCTL_JOIN_SESSION_KEYRING: keys of the runtime stay out of reach.
   * Kernels without keyrings (ENOSYS) or refusing in a user ns are fine. */
  if (syscall(SYS_keyctl, 1, name) < 0 && errno != ENOSYS && errno != EPERM && errno != EACCES)
    die(errno, "join session keyring %s", name);
}

static void op_loopback_up(struct reader *r) {
  (void)r;
  /* A new network namespace starts with lo down; runc brings it up. */
  autoclose int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die(errno, "socket for loopback");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die(errno, "get lo flags");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die(errno, "bring lo up");
}

static void op_personality(struct reader *r) {
  if (syscall(SYS_personality, (unsigned long)rd_u32(r)) < 0) die(errno, "personality");
}

/* One handler per op code (protocol.h); a code without one is refused. */
typedef void (*op_handler)(struct reader *);
static const op_handler op_table[] = {
  [OP_SYNC] = op_sync,
  [OP_SETNS] = op_setns,
  [OP_UNSHARE] = op_unshare,
  [OP_SET_ROOT_IDS] = op_set_root_ids_r,
  [OP_WRITE_PROC] = op_write_proc,
  [OP_CLONE] = op_clone,
  [OP_SETSID] = op_setsid,
  [OP_ROOT_PROPAGATION] = op_root_propagation_before,
  [OP_ROOTFS] = op_rootfs,
  [OP_MOUNT] = op_mount,
  [OP_MKNOD] = op_mknod,
  [OP_SYMLINK] = op_symlink,
  [OP_MKDIR] = op_mkdir,
  [OP_MASK] = op_mask,
  [OP_READONLY] = op_readonly,
  [OP_PIVOT_ROOT] = op_pivot_root_r,
  [OP_MOVE_ROOT] = op_move_root_r,
  [OP_ROOT_READONLY] = op_root_readonly_r,
  [OP_HOSTNAME] = op_hostname,
  [OP_DOMAINNAME] = op_domainname,
  [OP_SYSCTL] = op_sysctl,
  [OP_RLIMIT] = op_rlimit,
  [OP_CAP_BOUNDING] = op_cap_bounding,
  [OP_CREDS] = op_creds,
  [OP_NO_NEW_PRIVS] = op_no_new_privs,
  [OP_SECCOMP] = op_seccomp,
  [OP_UMASK] = op_umask,
  [OP_CHDIR] = op_chdir,
  [OP_RESOLVE_EXEC] = op_resolve_exec,
  [OP_REPORT_CREATED] = op_report_created,
  [OP_OPEN_FIFO] = op_open_fifo,
  [OP_WAIT_START] = op_wait_start_r,
  [OP_CLOSE_FDS] = op_close_fds,
  [OP_EXEC] = op_exec,
  [OP_DUMPABLE] = op_dumpable,
  [OP_ROOT_PROPAGATION_AFTER] = op_root_propagation_after,
  [OP_CONSOLE] = op_console,
  [OP_OPEN_STATE] = op_open_state,
  [OP_HOOK] = op_hook,
  [OP_SETNS_PID] = op_setns_pid,
  [OP_SESSION_KEYRING] = op_session_keyring,
  [OP_PERSONALITY] = op_personality,
  [OP_LOOPBACK_UP] = op_loopback_up,
  [OP_JOIN_CGROUP] = op_join_cgroup,
  [OP_CGROUP_FD] = op_cgroup_fd,
  [OP_OPEN_CWD] = op_open_cwd,
  [OP_ROOTFS_TREE] = op_rootfs_tree,
  [OP_ATTACH_ROOTFS] = op_attach_rootfs,
  [OP_CHROOT] = op_chroot_r,
  [OP_ROOTFS_MOUNT] = op_rootfs_mount,
  [OP_SCHEDULER] = op_scheduler,
  [OP_IOPRIO] = op_ioprio,
  [OP_CPU_AFFINITY] = op_cpu_affinity,
  [OP_MEMPOLICY] = op_mempolicy,
  [OP_IDMAP_TREE] = op_idmap_tree,
  [OP_NETDEV_UP] = op_netdev_up,
  [OP_NETDEV_CHECK] = op_netdev_check,
};

static void run_op(struct op *op) {
  struct reader *r = &op->args;
  op_handler handler = op->code < sizeof op_table / sizeof op_table[0] ? op_table[op->code] : NULL;
  if (!handler) die(EINVAL, "unknown op code %u", op->code);
  handler(r);
  if (r->bad) die(EINVAL, "malformed op %u", op->code);
}

/* --check-plan: reads "u32 length, plan" on stdin and says whether it passes
 * plan_check: "ok N" or "bad op I". Runs nothing (test/unit/plan-protocol). */
static int check_plan_mode(void) {
  static uint8_t buf[1 << 20];
  uint32_t len;
  if (read_full(0, &len, sizeof len) < 0 || len > sizeof buf || read_full(0, buf, len) < 0) {
    printf("bad input\n");
    return 2;
  }
  int bad_op;
  int n = plan_check(buf, len, &bad_op);
  if (n < 0) printf("bad op %d\n", bad_op);
  else printf("ok %d\n", n);
  return n < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--check-plan") == 0) return check_plan_mode();
  if (argc < 2) {
    static const char usage[] = "capsa-init is started by the capsa runtime; it is not a command\n";
    (void)!write(2, usage, sizeof usage - 1);
    return 2;
  }
  if (strcmp(argv[1], "--probe-idmap") == 0) return capsa_probe_idmap();
  if (strcmp(argv[1], "--probe-seccomp") == 0) return capsa_probe_seccomp();
  sync_fd = atoi(argv[1]);
  /* Run from a sealed in-memory copy, so /proc/<pid>/exe never leads to the
   * host binary (CVE-2019-5736). Returns only once running sealed. */
  if (capsa_run_sealed(argv) < 0) die(errno, "re-execute capsa-init from a sealed copy");
  /* A warm runtime starts us straight from its own sealed copy, passed as
   * this fd (we were executed through /proc/self/fd/N): not ours to keep. */
  if (argc >= 3 && atoi(argv[2]) >= 0) close(atoi(argv[2]));
  /* The runtime handed us argv[3] fds (stdio, preserved fds, the sync socket
   * and its extras); anything above was leaked to it by its own caller and
   * must not reach the waiting init, hooks or the container. */
  if (argc >= 4) close_inherited(atoi(argv[3]));
  /* Not dumpable: nobody in the container may open /proc/<pid>/exe of this
   * process for writing or ptrace it (CVE-2019-5736 class). */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* Die with the runtime while it still talks to us. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* A parked capsa-init waits here, before anything that depends on its work. */
  uint32_t len = recv_plan_length();
  if (len == 0 || len > (64u << 20)) die(EPROTO, "bad plan length %u", len);
  /* Node may have made the shared stdio descriptions non-blocking. */
  for (int fd = 0; fd < 3; fd++) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
  host_proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (host_proc_fd < 0) die(errno, "open /proc");

  uint8_t *plan = malloc(len);
  if (!plan) die(ENOMEM, "plan buffer");
  if (read_full(sync_fd, plan, len) < 0) die(EPROTO, "read plan");

  /* The whole plan is checked before anything runs: no op may act on a
   * payload that turns out truncated or malformed after its syscalls. */
  int bad_op;
  if (plan_check(plan, len, &bad_op) < 0) {
    current_op = bad_op;
    die(EPROTO, bad_op < 0 ? "bad plan header" : "malformed plan: op %d does not match its field table", bad_op);
  }
  const uint8_t *cursor;
  int count = plan_open(plan, len, &cursor);
  for (int i = 0; i < count; i++) {
    struct op op;
    current_op = i;
    if (plan_next(&cursor, plan + len, &op) < 0) die(EPROTO, "bad plan op %d", i);
    if (op.code == OP_CLONE) prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    run_op(&op);
  }
  current_op = -1;
  die(EINVAL, "plan ended without exec");
}
