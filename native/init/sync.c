/* Messages to and from the runtime. Async-signal-safe: no stdio, no malloc. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "init.h"

int sync_fd = -1;
int current_op = -1;
int start_fd = -1;

/* send(MSG_NOSIGNAL): a runtime that went away must not kill us with SIGPIPE. */
static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int read_all(int fd, void *buf, size_t len) {
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

int send_msg(uint32_t type, int32_t val, int32_t err, const char *detail) {
  struct msg m;
  memset(&m, 0, sizeof m);
  m.type = type;
  m.op = current_op;
  m.err = err;
  m.val = val;
  if (detail) strncpy(m.detail, detail, sizeof m.detail - 1);
  if (sync_fd < 0) return -1;
  return write_all(sync_fd, &m, sizeof m);
}

int wait_ack(void) {
  struct msg m;
  if (read_all(sync_fd, &m, sizeof m) < 0) return -1;
  return m.type == MSG_ACK ? 0 : -1;
}

/* vsnprintf from glibc does not allocate for plain %s/%d formats. */
static void fail(int kind, int err, const char *fmt, va_list ap) __attribute__((noreturn));

void die(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fail(ERR_SYSCALL, err, fmt, ap);
}

void refuse(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fail(ERR_REFUSED, err, fmt, ap);
}

static void fail(int kind, int err, const char *fmt, va_list ap) {
  char detail[MSG_DETAIL_LEN];
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (start_fd >= 0) {
    /* After start: `start` is reading the exec fifo and reports this. */
    char line[MSG_DETAIL_LEN + 160];
    int n = err ? snprintf(line, sizeof line, "%s: %s", detail, strerror(err)) : snprintf(line, sizeof line, "%s", detail);
    if (n > 0) {
      char *colon = strrchr(line, ':');
      if (err && colon && colon[1] == ' ' && colon[2] >= 'A' && colon[2] <= 'Z') colon[2] = (char)(colon[2] - 'A' + 'a');
      (void)!write(start_fd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
    }
    _exit(1);
  }
  if (send_msg(MSG_ERROR, kind, err, detail) < 0) {
    /* Nobody listens (e.g. after `create` returned): say it on stderr. */
    /* Same shape as the runtime's own errors: "what: lower-case reason". */
    (void)!write(2, detail, strlen(detail));
    if (err) {
      char reason[128];
      strncpy(reason, strerror(err), sizeof reason - 1);
      reason[sizeof reason - 1] = '\0';
      if (reason[0] >= 'A' && reason[0] <= 'Z') reason[0] = (char)(reason[0] - 'A' + 'a');
      (void)!write(2, ": ", 2);
      (void)!write(2, reason, strlen(reason));
    }
    (void)!write(2, "\n", 1);
  }
  _exit(1);
}

void warn_msg(const char *fmt, ...) {
  char detail[MSG_DETAIL_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  send_msg(MSG_WARN, 0, 0, detail);
}
