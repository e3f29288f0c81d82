/*
 * A small seccomp agent for capsa's tests (runtime-spec "Container process
 * state"): listens on a unix stream socket; each connection brings one JSON
 * container process state with the notify fd in SCM_RIGHTS. It appends the
 * JSON as one line to LOG, then answers every notification on every fd it
 * got: a call numbered NR gets -ERRNO, anything else continues as if no
 * filter had asked.
 *
 * Usage: seccomp-agent SOCKET LOG NR ERRNO [killable]
 *   killable: after receiving a notification for NR, send the task SIGUSR1,
 *   wait (up to 3 s) until it sleeps uninterruptibly (state D) still waiting
 *   for the answer, log "state=D", or "state=L" when it left the wait (the
 *   signal interrupted it) or "state=<last seen>", then answer. With
 *   SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV a non-fatal signal after the agent
 *   received the notification makes the task wait on, killable only (D);
 *   without the flag the signal ends its syscall (EINTR).
 *
 * Prints "ready" once listening; runs until killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 32

static FILE *logf;

static void fail(const char *what) {
  fprintf(stderr, "seccomp-agent: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int receive(int conn) {
  static char buf[65536];
  struct iovec iov = {buf, sizeof buf - 1};
  char cbuf[CMSG_SPACE(sizeof(int) * 4)];
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) fail("recvmsg");
  buf[n] = 0;
  int fd = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(c), sizeof fd);
  fprintf(logf, "%s\n", buf);
  fflush(logf);
  return fd;
}

static char task_state(int pid) {
  char path[64], stat[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return '?';
  ssize_t n = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (n <= 0) return '?';
  stat[n] = 0;
  char *paren = strrchr(stat, ')');
  return paren && paren[1] && paren[2] ? paren[2] : '?';
}

/* Waits (up to 3 s) for the task to sleep uninterruptibly while it still
 * waits for our answer: 'D'. 'L' when it left the wait first (a signal
 * interrupted it); a D seen after that (on its way out) does not count. */
static char wait_killable(int fd, __u64 id, int pid) {
  struct timespec step = {0, 2 * 1000 * 1000};
  char st = '?';
  for (int i = 0; i < 1500; i++) {
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0) return 'L';
    st = task_state(pid);
    if (st == 'D' && ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0) return 'D';
    nanosleep(&step, NULL);
  }
  return st;
}

static void answer(int fd, long nr, int err, int killable) {
  struct seccomp_notif req;
  struct seccomp_notif_resp resp;
  memset(&req, 0, sizeof req);
  if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) return; /* the task went away */
  memset(&resp, 0, sizeof resp);
  resp.id = req.id;
  if (req.data.nr == nr) {
    if (killable) {
      kill((pid_t)req.pid, SIGUSR1);
      char st = wait_killable(fd, req.id, (int)req.pid);
      fprintf(logf, "state=%c\n", st);
      fflush(logf);
    }
    resp.error = -err;
  } else {
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  }
  if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT) fail("SECCOMP_IOCTL_NOTIF_SEND");
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: seccomp-agent SOCKET LOG NR ERRNO [killable]\n");
    return 2;
  }
  long nr = strtol(argv[3], NULL, 10);
  int err = (int)strtol(argv[4], NULL, 10);
  int killable = argc > 5 && !strcmp(argv[5], "killable");
  logf = fopen(argv[2], "a");
  if (!logf) fail("open log");
  int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (srv < 0) fail("socket");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
  unlink(argv[1]);
  if (bind(srv, (struct sockaddr *)&addr, sizeof addr) < 0) fail("bind");
  if (listen(srv, 8) < 0) fail("listen");
  printf("ready\n");
  fflush(stdout);

  struct pollfd fds[MAX_FDS + 1];
  int count = 0;
  fds[0] = (struct pollfd){srv, POLLIN, 0};
  for (;;) {
    if (poll(fds, (nfds_t)count + 1, -1) < 0) {
      if (errno == EINTR) continue;
      fail("poll");
    }
    if (fds[0].revents & POLLIN) {
      int conn = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
      if (conn < 0) fail("accept");
      int fd = receive(conn);
      close(conn);
      if (fd >= 0 && count < MAX_FDS) fds[++count] = (struct pollfd){fd, POLLIN, 0};
    }
    for (int i = 1; i <= count; i++) {
      if (fds[i].revents & POLLIN) answer(fds[i].fd, nr, err, killable);
      /* every task of that filter is gone */
      if (fds[i].revents & (POLLHUP | POLLERR)) { close(fds[i].fd); fds[i--] = fds[count--]; }
    }
  }
}
