/*
 * Terminals and startContainer hooks.
 *
 * The pty is opened from the container's own devpts instance, the slave
 * becomes the controlling terminal and stdio of the process, and the master
 * is sent over the console socket with SCM_RIGHTS (what conmon and the
 * containerd shim expect).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <termios.h>
#include <unistd.h>
#include "init.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

static int state_fd = -1;

/*
 * The pty master, from the container's own devpts instance: /dev/pts is
 * reached from the root without following any symlink and must be a devpts
 * mount, and ptmx is opened beneath it. An image cannot hand us a host pty
 * (a symlinked /dev/pts, or a planted 5:2 device node) this way.
 */
static int open_ptmx(int from_rootfs) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int dirfd = from_rootfs ? root_fd : AT_FDCWD;
  int pts = (int)syscall(SYS_openat2, dirfd, "/dev/pts", &how, sizeof how);
  if (pts < 0) die(errno, "open /dev/pts in the container (a terminal needs devpts there, not a symlink)");
  struct statfs sf;
  if (fstatfs(pts, &sf) < 0) die(errno, "statfs /dev/pts");
  if (sf.f_type != DEVPTS_SUPER_MAGIC) refuse(EINVAL, "refusing: /dev/pts in the container is not a devpts mount");
  how.flags = O_RDWR | O_NOCTTY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  int fd = (int)syscall(SYS_openat2, pts, "ptmx", &how, sizeof how);
  int saved = errno;
  close(pts);
  errno = saved;
  return fd;
}

static void send_fd(int sock, int fd) {
  char name[] = "/dev/ptmx";
  struct iovec iov = {name, sizeof name - 1};
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
  if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) die(errno, "send pty master to the console socket");
}

void op_console(struct reader *r) {
  uint32_t sock = rd_u32(r), rows = rd_u32(r), cols = rd_u32(r), bind_console = rd_u32(r), from_rootfs = rd_u32(r);
  int master = open_ptmx((int)from_rootfs);
  if (master < 0) die(errno, "open /dev/pts/ptmx in the container");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) die(errno, "unlock pty");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) die(errno, "open pty slave");
  if (rows || cols) {
    struct winsize ws = {(unsigned short)rows, (unsigned short)cols, 0, 0};
    if (ioctl(slave, TIOCSWINSZ, &ws) < 0) die(errno, "set console size");
  }
  if (bind_console) {
    /* /dev/console inside the container is the pty slave: the very file we
     * hold, never a path that could lead elsewhere. */
    struct statfs sf;
    struct stat st;
    if (fstatfs(slave, &sf) < 0 || fstat(slave, &st) < 0) die(errno, "stat the pty slave");
    if (sf.f_type != DEVPTS_SUPER_MAGIC || !S_ISCHR(st.st_mode)) refuse(EINVAL, "refusing: the pty slave is not a devpts character device");
    int mfd = open_tree(slave, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (mfd < 0) die(errno, "bind the pty slave");
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW;
    how.mode = 0600;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
    int cfd = (int)syscall(SYS_openat2, root_fd, "dev/console", &how, sizeof how);
    if (cfd < 0) die(errno, "create /dev/console");
    close(cfd);
    how.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW;
    how.mode = 0;
    cfd = (int)syscall(SYS_openat2, root_fd, "dev/console", &how, sizeof how);
    if (cfd < 0) die(errno, "open /dev/console");
    if (move_mount(mfd, "", cfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) die(errno, "bind pty on /dev/console");
    close(mfd);
    close(cfd);
  }
  send_fd((int)sock, master);
  close(master);
  close((int)sock);
  if (ioctl(slave, TIOCSCTTY, 0) < 0) die(errno, "make the pty the controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) die(errno, "dup pty to stdio");
  close(slave);
}

void op_open_state(struct reader *r) {
  const char *path = rd_str(r);
  state_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (state_fd < 0) die(errno, "open hook state %s", path);
}

/* Runs one startContainer hook in the container and waits for it. */
void op_hook(struct reader *r) {
  const char *argv[256], *envp[256];
  const char *path = rd_str(r);
  rd_strs(r, argv, 256);
  rd_strs(r, envp, 256);
  uint32_t timeout = rd_u32(r);
  uint32_t index = rd_u32(r);
  if (r->bad) die(E2BIG, "malformed hook op");
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) die(errno, "pipe for hook");
  pid_t pid = fork();
  if (pid < 0) die(errno, "fork hook");
  if (pid == 0) {
    if (dup2(pipefd[0], 0) < 0) _exit(127);
    execve(path, (char *const *)argv, (char *const *)envp);
    _exit(127);
  }
  close(pipefd[0]);
  /* The state is small; write it in chunks from a stack buffer. */
  char buf[4096];
  ssize_t n;
  off_t off = 0;
  while (state_fd >= 0 && (n = pread(state_fd, buf, sizeof buf, off)) > 0) {
    if (write(pipefd[1], buf, (size_t)n) < 0) break; /* hook need not read */
    off += n;
  }
  close(pipefd[1]);
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd >= 0 && timeout > 0) {
    struct pollfd p = {pidfd, POLLIN, 0};
    int rc;
    do rc = poll(&p, 1, (int)(timeout * 1000)); while (rc < 0 && errno == EINTR);
    if (rc == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      die(ETIMEDOUT, "hooks.startContainer[%u]: hook %s timed out after %us", index, path, timeout);
    }
  }
  if (pidfd >= 0) close(pidfd);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) die(errno, "wait for hook");
  if (WIFSIGNALED(status)) die(0, "hooks.startContainer[%u]: hook %s was killed by signal %d", index, path, WTERMSIG(status));
  if (WEXITSTATUS(status) != 0) die(0, "hooks.startContainer[%u]: hook %s exited with status %d", index, path, WEXITSTATUS(status));
}

void op_setns_pid(struct reader *r) {
  uint32_t pid = rd_u32(r), type = rd_u32(r);
  const char *name = type == 0x10000000 ? "user" : type == 0x00020000 ? "mnt" : type == 0x04000000 ? "uts"
                   : type == 0x08000000 ? "ipc" : type == 0x40000000 ? "net" : type == 0x20000000 ? "pid"
                   : type == 0x02000000 ? "cgroup" : type == 0x00000080 ? "time" : NULL;
  if (!name) die(EINVAL, "unknown namespace type %u", type);
  char path[64];
  snprintf(path, sizeof path, "%u/ns/%s", pid, name);
  int fd = openat(host_proc_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(errno, "open /proc/%s", path);
  if (setns(fd, (int)type) < 0) die(errno, "join %s namespace of the container", name);
  close(fd);
}
