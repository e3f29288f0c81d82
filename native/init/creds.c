/* Credentials, capabilities, seccomp, rlimits and the final execve. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "init.h"

void op_cap_bounding(struct reader *r) {
  uint64_t keep = rd_u64(r);
  uint32_t last = rd_u32(r);
  for (uint32_t cap = 0; cap <= last && cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) die(errno, "drop bounding capability %u", cap);
  }
}

static void set_caps(uint64_t eff, uint64_t perm, uint64_t inh) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  data[0].effective = (uint32_t)eff;
  data[1].effective = (uint32_t)(eff >> 32);
  data[0].permitted = (uint32_t)perm;
  data[1].permitted = (uint32_t)(perm >> 32);
  data[0].inheritable = (uint32_t)inh;
  data[1].inheritable = (uint32_t)(inh >> 32);
  if (syscall(SYS_capset, &hdr, data) < 0) die(errno, "capset");
}

void op_creds(struct reader *r) {
  gid_t groups[256];
  uint32_t uid = rd_u32(r), gid = rd_u32(r), set_groups = rd_u32(r), n = rd_u32(r);
  if (n > 256) die(EINVAL, "too many additional gids");
  for (uint32_t i = 0; i < n; i++) groups[i] = rd_u32(r);
  uint64_t eff = rd_u64(r), perm = rd_u64(r), inh = rd_u64(r), amb = rd_u64(r);
  uint32_t last = rd_u32(r);
  if (r->bad) die(EINVAL, "malformed credentials op");

  /* Keep permitted caps across setuid; effective is restored by capset. */
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) die(errno, "prctl(PR_SET_KEEPCAPS)");
  if (set_groups && syscall(SYS_setgroups, n, groups) < 0) die(errno, "setgroups");
  if (syscall(SYS_setresgid, gid, gid, gid) < 0) die(errno, "setresgid %u", gid);
  if (syscall(SYS_setresuid, uid, uid, uid) < 0) die(errno, "setresuid %u", uid);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) die(errno, "prctl(PR_SET_KEEPCAPS, 0)");
  set_caps(eff, perm, inh);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) die(errno, "clear ambient capabilities");
  for (uint32_t cap = 0; cap <= last && cap < 64; cap++) {
    if (!(amb & (1ULL << cap))) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) die(errno, "raise ambient capability %u", cap);
  }
}

/* Hands the notify listener fd to the runtime over `sock` (SCM_RIGHTS). */
static int send_listener(int sock, int fd) {
  char byte = 0;
  struct iovec iov = {&byte, 1};
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : -1;
}

void op_seccomp(struct reader *r) {
  uint32_t flags = rd_u32(r);
  uint32_t len;
  const uint8_t *prog = rd_blob(r, &len);
  uint32_t notify_sock = rd_u32(r);
  if (r->bad || len % sizeof(struct sock_filter) != 0) die(EINVAL, "malformed seccomp program");
  struct sock_fprog fprog = {(unsigned short)(len / sizeof(struct sock_filter)), (struct sock_filter *)prog};
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
  if (fd < 0) die(errno, "load seccomp filter");
  if (!(flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) return;
  /* SCMP_ACT_NOTIFY: the runtime passes the listener to the seccomp agent
   * (with the container's state) before we go on; until the agent has it,
   * only sendmsg/sendto run here, which a profile may not notify on. */
  if (notify_sock == UINT32_MAX) die(EBADF, "no socket to pass the seccomp notify fd on");
  if (send_listener((int)notify_sock, (int)fd) < 0) die(errno, "pass the seccomp notify fd to the runtime");
  close((int)notify_sock);
  if (send_msg(MSG_SYNC, SYNC_SECCOMP, 0, NULL) < 0) die(EPIPE, "runtime went away");
  /* An abort means the runtime already reported why (the agent could not be reached). */
  if (wait_ack() < 0) _exit(1);
  close((int)fd);
}

/* `capsa-init --probe-seccomp`: what this kernel's seccomp accepts, for
 * `capsa features` (asked of the kernel, as libseccomp does, not inferred
 * from its version). Prints "enabled 0|1", then "flag NAME 0|1" and
 * "action NAME 0|1" lines. Nothing is loaded: a flag is tried with a NULL
 * program, which the kernel checks only after the flags (EFAULT: accepted,
 * EINVAL: unknown); an action is asked with SECCOMP_GET_ACTION_AVAIL. */
int capsa_probe_seccomp(void) {
  static const struct { const char *name; unsigned long bits; } flags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", 1UL << 0},
    {"SECCOMP_FILTER_FLAG_LOG", 1UL << 1},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", 1UL << 2},
    /* only valid together with NEW_LISTENER (1 << 3) */
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", (1UL << 5) | (1UL << 3)},
  };
  static const struct { const char *name; uint32_t ret; } actions[] = {
    {"SCMP_ACT_ALLOW", 0x7fff0000U}, {"SCMP_ACT_ERRNO", 0x00050000U}, {"SCMP_ACT_KILL", 0x00000000U},
    {"SCMP_ACT_KILL_PROCESS", 0x80000000U}, {"SCMP_ACT_KILL_THREAD", 0x00000000U}, {"SCMP_ACT_LOG", 0x7ffc0000U},
    {"SCMP_ACT_NOTIFY", 0x7fc00000U}, {"SCMP_ACT_TRACE", 0x7ff00000U}, {"SCMP_ACT_TRAP", 0x00030000U},
  };
  /* No seccomp at all: prctl says EINVAL; no filter mode: seccomp(2) ENOSYS. */
  int enabled = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 &&
                !(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, NULL) < 0 && errno != EFAULT);
  printf("enabled %d\n", enabled);
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    long rc = enabled ? syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags[i].bits, NULL) : 0;
    printf("flag %s %d\n", flags[i].name, enabled && rc < 0 && errno == EFAULT);
  }
  for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
    uint32_t ret = actions[i].ret;
    long rc = enabled ? syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &ret) : -1;
    int avail = rc == 0;
    /* Before 4.14 there is no GET_ACTION_AVAIL: the original actions exist. */
    if (enabled && rc < 0 && errno == EINVAL)
      avail = ret == 0x7fff0000U || ret == 0x00050000U || ret == 0 || ret == 0x7ff00000U || ret == 0x00030000U;
    printf("action %s %d\n", actions[i].name, avail);
  }
  return 0;
}

void op_rlimit(struct reader *r) {
  uint32_t res = rd_u32(r);
  struct rlimit lim = {(rlim_t)rd_u64(r), (rlim_t)rd_u64(r)};
  if (setrlimit((int)res, &lim) < 0) die(errno, "setrlimit");
}

/* The path execve will use, found at create time so a missing entrypoint
 * fails `create`, with the wording runc users know. */
static char exec_path[PATH_MAX];

static int is_executable_file(const char *path, int *err) {
  struct stat st;
  if (stat(path, &st) < 0) { *err = errno; return 0; }
  if (S_ISDIR(st.st_mode)) { *err = EACCES; return 0; }
  if (!(st.st_mode & 0111)) { *err = EACCES; return 0; }
  /* access() also sees what mode bits cannot: a noexec mount, an LSM. */
  if (access(path, X_OK) < 0) { *err = errno; return 0; }
  return 1;
}

void op_resolve_exec(struct reader *r) {
  const char *file = rd_str(r);
  const char *path_env = rd_str(r);
  int err = 0;
  if (strchr(file, '/')) {
    if (!is_executable_file(file, &err)) {
      if (err == ENOENT) die(err, "exec: \"%s\": stat %s: no such file or directory", file, file);
      die(err, "exec: \"%s\": permission denied", file);
    }
    strncpy(exec_path, file, sizeof exec_path - 1);
    return;
  }
  const char *p = path_env;
  while (1) {
    const char *colon = strchr(p, ':');
    size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
    /* An empty PATH element means the current directory. */
    int n = dlen ? snprintf(exec_path, sizeof exec_path, "%.*s/%s", (int)dlen, p, file)
                 : snprintf(exec_path, sizeof exec_path, "./%s", file);
    if (n > 0 && (size_t)n < sizeof exec_path && is_executable_file(exec_path, &err)) return;
    if (!colon) break;
    p = colon + 1;
  }
  exec_path[0] = '\0';
  die(ENOENT, "exec: \"%s\": executable file not found in $PATH", file);
}

void op_exec(struct reader *r) {
  const char *argv[1024], *envp[1024];
  rd_strs(r, argv, 1024);
  rd_strs(r, envp, 1024);
  if (r->bad) die(E2BIG, "malformed exec op (too many args or env entries?)");
  /* O_CLOEXEC anyway; closed here so no host-side fd is held even briefly
   * by the process image that execve replaces. */
  if (host_proc_fd >= 0) { close(host_proc_fd); host_proc_fd = -1; }
  if (root_fd >= 0) { close(root_fd); root_fd = -1; }
  execve(exec_path[0] ? exec_path : argv[0], (char *const *)argv, (char *const *)envp);
  die(errno, "exec %s", exec_path[0] ? exec_path : argv[0]);
}
