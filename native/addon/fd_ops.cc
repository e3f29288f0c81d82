// Calls on file descriptors Node lacks: pidfds, flock, SCM_RIGHTS, socket
// pairs and pipes we own as plain fds, non-blocking reads, prctl.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "addon.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace {

// pidfdOpen(pid) -> fd
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Args a(info, "pidfdOpen");
  int pid = a.Int(0, "pid");
  if (!a.ok()) return Napi::Value();
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) { ThrowErrno(info.Env(), "pidfd_open", errno); return Napi::Value(); }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Napi::Number::New(info.Env(), fd);
}

// pidfdSendSignal(pidfd, sig): no pid-reuse race when signalling a container.
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Args a(info, "pidfdSendSignal");
  int fd = a.Fd(0, "pidfd");
  int sig = a.Int(1, "signal");
  if (!a.ok()) return Napi::Value();
  if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0) ThrowErrno(info.Env(), "pidfd_send_signal", errno);
  return info.Env().Undefined();
}

// reapPidfd(pidfd): reaps an exited child without blocking: {code, signal} or null.
Napi::Value ReapPidfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a(info, "reapPidfd");
  int fd = a.Fd(0, "pidfd");
  if (!a.ok()) return Napi::Value();
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) < 0) {
    ThrowErrno(env, "waitid", errno);
    return Napi::Value();
  }
  if (si.si_pid == 0) return env.Null();
  Napi::Object res = Napi::Object::New(env);
  bool exited = si.si_code == CLD_EXITED;
  res.Set("code", exited ? Napi::Value(Napi::Number::New(env, si.si_status)) : env.Null());
  res.Set("signal", exited ? env.Null() : Napi::Value(Napi::Number::New(env, si.si_status)));
  return res;
}

// flock(fd, op): true when taken (or released), false on EWOULDBLOCK.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Args a(info, "flock");
  int fd = a.Fd(0, "fd");
  int op = a.Int(1, "op");
  if (!a.ok()) return Napi::Value();
  int rc;
  do rc = flock(fd, op); while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
    ThrowErrno(info.Env(), "flock", errno);
    return Napi::Value();
  }
  NoteLock(info.Env(), fd, (op & LOCK_UN) == 0);
  return Napi::Boolean::New(info.Env(), true);
}

// sendmsg of `len` bytes with `fds` attached (SCM_RIGHTS); false with errno set.
bool SendWithFds(int sock, const void* data, size_t len, const int* fds, size_t n) {
  struct iovec iov = {const_cast<void*>(data), len};
  std::vector<char> cbuf(CMSG_SPACE(n * sizeof(int)), 0);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf.data();
  msg.msg_controllen = cbuf.size();
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(n * sizeof(int));
  memcpy(CMSG_DATA(c), fds, n * sizeof(int));
  ssize_t sent;
  do sent = sendmsg(sock, &msg, MSG_NOSIGNAL); while (sent < 0 && errno == EINTR);
  if (sent >= 0 && (size_t)sent != len) errno = EMSGSIZE;  // the fds went with a part only
  return sent >= 0 && (size_t)sent == len;
}

// sendFd(sock, fd, name = "/dev/ptmx"): one fd over a unix socket (SCM_RIGHTS),
// as the console-socket protocol wants.
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  Args a(info, "sendFd");
  int sock = a.Fd(0, "sock");
  int fd = a.Fd(1, "fd");
  std::string name = a.OptStr(2, "name", "/dev/ptmx");
  if (!a.ok()) return Napi::Value();
  if (!SendWithFds(sock, name.data(), name.size(), &fd, 1)) ThrowErrno(info.Env(), "sendmsg(SCM_RIGHTS)", errno);
  return info.Env().Undefined();
}

// sendFds(sock, data, fds): a small message with fds attached (SCM_RIGHTS),
// sent whole: a parked capsa-init's plan length and its stdio.
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Args a(info, "sendFds");
  int sock = a.Fd(0, "sock");
  Napi::Buffer<uint8_t> data = a.Buf(1, "data");
  Napi::Array list = a.Arr(2, "fds");
  std::vector<int> fds;
  for (uint32_t i = 0; a.ok() && i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (d < 0 || d > INT32_MAX || (double)(int)d != d) { a.Invalid("fds", "an array of file descriptors"); break; }
    fds.push_back((int)d);
  }
  if (a.ok() && fds.empty()) a.Invalid("fds", "a non-empty array of file descriptors");
  if (!a.ok()) return Napi::Value();
  if (!SendWithFds(sock, data.Data(), data.Length(), fds.data(), fds.size())) ThrowErrno(info.Env(), "sendmsg(SCM_RIGHTS)", errno);
  return info.Env().Undefined();
}

// recvFd(sock): one fd sent with SCM_RIGHTS (blocking).
Napi::Value RecvFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a(info, "recvFd");
  int sock = a.Fd(0, "sock");
  if (!a.ok()) return Napi::Value();
  char data[256];
  struct iovec iov = {data, sizeof data};
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n < 0) { ThrowErrno(env, "recvmsg(SCM_RIGHTS)", errno); return Napi::Value(); }
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) { ThrowErrno(env, "recvmsg: no fd received", EPROTO); return Napi::Value(); }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return Napi::Number::New(env, fd);
}

// connectUnix(path): a unix stream socket connected synchronously.
Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a(info, "connectUnix");
  std::string path = a.Str(0, "path");
  if (!a.ok()) return Napi::Value();
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) { ThrowErrno(env, ("connect " + path).c_str(), ENAMETOOLONG); return Napi::Value(); }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { ThrowErrno(env, "socket", errno); return Napi::Value(); }
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    ThrowErrno(env, ("connect " + path).c_str(), e);
    return Napi::Value();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value PairOf(Napi::Env env, const int fds[2]) {
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, fds[0]);
  a.Set(1u, fds[1]);
  return a;
}

// socketPair(): AF_UNIX stream pair, both ends close-on-exec.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) { ThrowErrno(info.Env(), "socketpair", errno); return Napi::Value(); }
  return PairOf(info.Env(), sv);
}

// pipe(): [read end (ours, non-blocking), write end], both close-on-exec; the
// write end reaches a child by an explicit dup2.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) { ThrowErrno(info.Env(), "pipe2", errno); return Napi::Value(); }
  if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    ThrowErrno(info.Env(), "fcntl(O_NONBLOCK)", e);
    return Napi::Value();
  }
  return PairOf(info.Env(), p);
}

Napi::Value Dup(const Napi::CallbackInfo& info) {
  Args a(info, "dup");
  int src = a.Fd(0, "fd");
  if (!a.ok()) return Napi::Value();
  int fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) { ThrowErrno(info.Env(), "dup", errno); return Napi::Value(); }
  return Napi::Number::New(info.Env(), fd);
}

// pendingBytes(fd): bytes waiting to be read in a pipe or FIFO (FIONREAD).
Napi::Value PendingBytes(const Napi::CallbackInfo& info) {
  Args a(info, "pendingBytes");
  int fd = a.Fd(0, "fd");
  if (!a.ok()) return Napi::Value();
  int n = 0;
  if (ioctl(fd, FIONREAD, &n) < 0) { ThrowErrno(info.Env(), "ioctl(FIONREAD)", errno); return Napi::Value(); }
  return Napi::Number::New(info.Env(), n);
}

Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  Args a(info, "setWinsize");
  int fd = a.Fd(0, "fd");
  uint32_t rows = a.Uint(1, "rows");
  uint32_t cols = a.Uint(2, "cols");
  if (!a.ok()) return Napi::Value();
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  ws.ws_row = (unsigned short)rows;
  ws.ws_col = (unsigned short)cols;
  if (ioctl(fd, TIOCSWINSZ, &ws) < 0) ThrowErrno(info.Env(), "ioctl(TIOCSWINSZ)", errno);
  return info.Env().Undefined();
}

// setChildSubreaper(on): orphaned container processes come to us.
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  Args a(info, "setChildSubreaper");
  bool on = a.Bool(0, "on");
  if (!a.ok()) return Napi::Value();
  if (prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) < 0) ThrowErrno(info.Env(), "prctl(PR_SET_CHILD_SUBREAPER)", errno);
  return info.Env().Undefined();
}

// readSome(fd): one non-blocking read: a Buffer, an empty Buffer at EOF, or
// null when nothing is there yet (EAGAIN). Sockets need no O_NONBLOCK; other fds do.
Napi::Value ReadSome(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a(info, "readSome");
  int fd = a.Fd(0, "fd");
  if (!a.ok()) return Napi::Value();
  char buf[65536];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    // Not a socket (the exec fifo, opened O_NONBLOCK; a pipe): a plain read.
    if (r < 0 && errno == ENOTSOCK) r = read(fd, buf, sizeof buf);
    if (r >= 0) return Napi::Buffer<char>::Copy(env, buf, (size_t)r);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return env.Null();
    ThrowErrno(env, "recv", errno);
    return Napi::Value();
  }
}

// writeAll(fd, data): blocking send of the whole buffer (the peer is always reading).
Napi::Value WriteAll(const Napi::CallbackInfo& info) {
  Args a(info, "writeAll");
  int fd = a.Fd(0, "fd");
  Napi::Buffer<uint8_t> b = a.Buf(1, "data");
  if (!a.ok()) return Napi::Value();
  size_t off = 0;
  while (off < b.Length()) {
    ssize_t w = send(fd, b.Data() + off, b.Length() - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) { ThrowErrno(info.Env(), "send", errno); return Napi::Value(); }
    off += (size_t)w;
  }
  return info.Env().Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Args a(info, "closeFd");
  int fd = a.Fd(0, "fd");
  if (!a.ok()) return Napi::Value();
  close(fd);
  return info.Env().Undefined();
}

}  // namespace

void RegisterFdOps(Napi::Env env, Napi::Object exports) {
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal));
  exports.Set("reapPidfd", Napi::Function::New(env, ReapPidfd));
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("sendFd", Napi::Function::New(env, SendFd));
  exports.Set("sendFds", Napi::Function::New(env, SendFds));
  exports.Set("recvFd", Napi::Function::New(env, RecvFd));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair));
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  exports.Set("dup", Napi::Function::New(env, Dup));
  exports.Set("pendingBytes", Napi::Function::New(env, PendingBytes));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsize));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper));
  exports.Set("readSome", Napi::Function::New(env, ReadSome));
  exports.Set("writeAll", Napi::Function::New(env, WriteAll));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
}
