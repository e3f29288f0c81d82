// capsa addon: the few syscalls Node lacks. Nothing here creates namespaces,
// mounts or changes credentials — those only happen in capsa-init.
#include "addon.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>  // RENAME_EXCHANGE
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <spawn.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <unordered_map>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

const char* ErrnoName(int err) {
  switch (err) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF) E(ECHILD)
    E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR)
    E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC) E(ESPIPE)
    E(EROFS) E(EMLINK) E(EPIPE) E(ERANGE) E(ENAMETOOLONG) E(ENOSYS) E(ENOTEMPTY) E(ELOOP)
    E(EOPNOTSUPP) E(ENOTSOCK) E(ECONNREFUSED) E(ETIMEDOUT) E(EPROTO) E(ECANCELED) E(ENODATA)
#undef E
    default: return "EUNKNOWN";
  }
}

// An Error with message "op: strerror", code (EPERM…), errno and syscall.
// Raw napi calls, so that it can fail with a status instead of aborting
// (see SpawnWorker::OnOK).
bool ErrnoError(napi_env env, const char* op, int err, napi_value* out) {
  std::string msg = std::string(op) + ": " + strerror(err);
  napi_value text, code, no, call;
  return napi_create_string_utf8(env, msg.c_str(), NAPI_AUTO_LENGTH, &text) == napi_ok &&
         napi_create_string_utf8(env, ErrnoName(err), NAPI_AUTO_LENGTH, &code) == napi_ok &&
         napi_create_int32(env, err, &no) == napi_ok && napi_create_string_utf8(env, op, NAPI_AUTO_LENGTH, &call) == napi_ok &&
         napi_create_error(env, nullptr, text, out) == napi_ok && napi_set_named_property(env, *out, "code", code) == napi_ok &&
         napi_set_named_property(env, *out, "errno", no) == napi_ok && napi_set_named_property(env, *out, "syscall", call) == napi_ok;
}

void ThrowErrno(Napi::Env env, const char* op, int err) {
  napi_value e;
  if (ErrnoError(env, op, err, &e)) napi_throw(env, e);
}

namespace {

// pidfd_open(pid) -> fd
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  int pid = info[0].As<Napi::Number>().Int32Value();
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) { ThrowErrno(info.Env(), "pidfd_open", errno); return info.Env().Undefined(); }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Napi::Number::New(info.Env(), fd);
}

// pidfd_send_signal(fd, sig): no pid-reuse race when signalling a container.
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int sig = info[1].As<Napi::Number>().Int32Value();
  if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0) ThrowErrno(info.Env(), "pidfd_send_signal", errno);
  return info.Env().Undefined();
}

// Reap an exited child through its pidfd without blocking: {code, signal} or null.
Napi::Value ReapPidfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) < 0) {
    ThrowErrno(env, "waitid", errno);
    return env.Undefined();
  }
  if (si.si_pid == 0) return env.Null();
  Napi::Object res = Napi::Object::New(env);
  if (si.si_code == CLD_EXITED) {
    res.Set("code", si.si_status);
    res.Set("signal", env.Null());
  } else {
    res.Set("code", env.Null());
    res.Set("signal", si.si_status);
  }
  return res;
}

// Watch a pidfd with the event loop: calls back once when the process exits.
struct PidfdWatch {
  uv_poll_t poll;
  Napi::FunctionReference callback;
  napi_env env;
  int id;
  int fd;
  bool is_pidfd;  // else a readable fd (a socket or pipe)
  // Closes the handle if the thread's environment goes away first (a worker
  // exiting or terminated): a worker's loop must have no handle left open.
  napi_async_cleanup_hook_handle teardown = nullptr;
};

// Shared by every worker thread's instance of the addon.
std::mutex watches_lock;
std::unordered_map<int, PidfdWatch*> watches;
int next_watch_id = 1;

void Forget(PidfdWatch* w) {
  std::lock_guard<std::mutex> g(watches_lock);
  watches.erase(w->id);
}

void OnPidfdClosed(uv_handle_t* h) { delete static_cast<PidfdWatch*>(h->data); }

void StopWatch(PidfdWatch* w) {
  Forget(w);
  if (w->teardown) napi_remove_async_cleanup_hook(w->teardown);
  w->teardown = nullptr;
  uv_poll_stop(&w->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnPidfdClosed);
}

// The thread that watched a child is gone, but the child may still be ours
// and running: a zombie of ours in a container's pid namespace would keep its
// init from exiting. A detached thread reaps it whenever it exits (waitid
// fails with ECHILD if it is not our child) and closes the pidfd.
void ReapInBackground(int pidfd) {
  std::thread([pidfd] {
    // The pidfd is non-blocking (it was watched by the loop): wait for the exit with poll.
    struct pollfd p = {pidfd, POLLIN, 0};
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {}
    siginfo_t si;
    waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG);
    close(pidfd);
  }).detach();
}

// What a thread leaves behind if it is torn down mid-operation (a worker
// terminated at any point), released by one env cleanup hook:
// - `spawned`: our dups of the pidfds of capsa-init processes it spawned. One
//   waiting for its plan would wait for ever; capsa-init exits by itself once
//   it has made the process, so killing one at teardown loses nothing that
//   could still complete.
// - `locks`: flock()ed fds it holds. Its unlock would never run, and a later
//   delete --force of that container would wait for the lock.
struct ThreadLeftovers {
  std::vector<int> spawned;
  std::vector<int> locks;
};
std::mutex leftovers_lock;
std::unordered_map<napi_env, ThreadLeftovers> leftovers;

void ReleaseLeftovers(void* arg) {
  ThreadLeftovers mine;
  {
    std::lock_guard<std::mutex> g(leftovers_lock);
    auto it = leftovers.find(static_cast<napi_env>(arg));
    if (it == leftovers.end()) return;
    mine = std::move(it->second);
    leftovers.erase(it);
  }
  for (int fd : mine.locks) {
    flock(fd, LOCK_UN);
    close(fd);
  }
  for (int fd : mine.spawned) {
    syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
    ReapInBackground(fd);
  }
}

// The calling thread's leftovers (registering the hook on first use); call
// with leftovers_lock held. Null if the hook cannot be added.
ThreadLeftovers* LeftoversOf(napi_env env) {
  auto it = leftovers.find(env);
  if (it != leftovers.end()) return &it->second;
  if (napi_add_env_cleanup_hook(env, ReleaseLeftovers, env) != napi_ok) return nullptr;
  return &leftovers[env];
}

bool HasExited(int pidfd) {
  struct pollfd p = {pidfd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

void TrackSpawned(napi_env env, int pidfd) {
  int own = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
  if (own < 0) return;  // then a worker terminated mid-create can leave it waiting, as before
  std::lock_guard<std::mutex> g(leftovers_lock);
  ThreadLeftovers* l = LeftoversOf(env);
  if (!l) {
    close(own);
    return;
  }
  auto& fds = l->spawned;
  fds.erase(std::remove_if(fds.begin(), fds.end(), [](int fd) { return HasExited(fd) && close(fd) == 0; }), fds.end());
  fds.push_back(own);
}

void NoteLock(napi_env env, int fd, bool held) {
  std::lock_guard<std::mutex> g(leftovers_lock);
  ThreadLeftovers* l = LeftoversOf(env);
  if (!l) return;
  auto& fds = l->locks;
  fds.erase(std::remove(fds.begin(), fds.end(), fd), fds.end());
  if (held) fds.push_back(fd);
}

// The watched fd was the thread's to close once the watch fired; it never will now.
void OnClosedAtTeardown(uv_handle_t* h) {
  auto* w = static_cast<PidfdWatch*>(h->data);
  napi_async_cleanup_hook_handle hook = w->teardown;
  if (w->is_pidfd) ReapInBackground(w->fd);
  else close(w->fd);
  delete w;
  napi_remove_async_cleanup_hook(hook);  // tells Node this watch is done
}

void OnEnvTeardown(napi_async_cleanup_hook_handle, void* arg) {
  auto* w = static_cast<PidfdWatch*>(arg);
  Forget(w);
  uv_poll_stop(&w->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnClosedAtTeardown);
}

// Plain N-API calls, each checked: while the environment is torn down (the
// loop runs once more with our unref'd watches still in it) JavaScript can no
// longer run, and the callback is then skipped instead of aborting the process.
void OnPidfdReadable(uv_poll_t* handle, int status, int) {
  PidfdWatch* w = static_cast<PidfdWatch*>(handle->data);
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return StopWatch(w);
  napi_value fn = nullptr, global = nullptr, arg = nullptr, result = nullptr;
  bool ready = napi_get_reference_value(env, w->callback, &fn) == napi_ok && fn != nullptr &&
               napi_get_global(env, &global) == napi_ok && napi_create_int32(env, status, &arg) == napi_ok;
  StopWatch(w);
  if (ready) napi_make_callback(env, nullptr, global, fn, 1, &arg, &result);
  napi_close_handle_scope(env, scope);
}

// The calling thread's watch with this id, or null (fired, stopped, or another thread's).
PidfdWatch* OwnWatch(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> g(watches_lock);
  auto it = watches.find(info[0].As<Napi::Number>().Int32Value());
  if (it == watches.end() || it->second->env != info.Env()) return nullptr;
  return it->second;
}

// Cancels a watch that has not fired; the caller still owns the pidfd.
Napi::Value UnwatchPidfd(const Napi::CallbackInfo& info) {
  if (PidfdWatch* w = OwnWatch(info)) StopWatch(w);
  return info.Env().Undefined();
}

// ref false: the watch alone does not keep the event loop (and the process) alive.
Napi::Value RefWatch(const Napi::CallbackInfo& info) {
  if (PidfdWatch* w = OwnWatch(info)) {
    auto* h = reinterpret_cast<uv_handle_t*>(&w->poll);
    if (info[1].As<Napi::Boolean>().Value()) uv_ref(h);
    else uv_unref(h);
  }
  return info.Env().Undefined();
}

Napi::Value Watch(const Napi::CallbackInfo& info, bool is_pidfd) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto* w = new PidfdWatch();
  w->env = env;
  w->fd = fd;
  w->is_pidfd = is_pidfd;
  w->callback = Napi::Persistent(info[1].As<Napi::Function>());
  w->poll.data = w;
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc == 0) rc = uv_poll_start(&w->poll, UV_READABLE, OnPidfdReadable);
  if (rc != 0) {
    delete w;
    ThrowErrno(env, "uv_poll_start(pidfd)", -rc);
    return env.Undefined();
  }
  napi_status st = napi_add_async_cleanup_hook(env, OnEnvTeardown, w, &w->teardown);
  if (st != napi_ok) w->teardown = nullptr;  // then only a worker exiting mid-watch is unsafe, as before
  {
    std::lock_guard<std::mutex> g(watches_lock);
    w->id = next_watch_id++;
    watches[w->id] = w;
  }
  return Napi::Number::New(env, w->id);
}

Napi::Value WatchPidfd(const Napi::CallbackInfo& info) { return Watch(info, true); }
Napi::Value WatchReadable(const Napi::CallbackInfo& info) { return Watch(info, false); }

Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>();
  int mode = info[1].As<Napi::Number>().Int32Value();
  if (mkfifo(path.c_str(), (mode_t)mode) < 0) ThrowErrno(info.Env(), ("mkfifo " + path).c_str(), errno);
  return info.Env().Undefined();
}

// renameat2(RENAME_EXCHANGE): atomically swaps two existing names. Returns
// false (nothing changed) when `to` does not exist or the filesystem cannot
// exchange, so the caller can fall back to a plain rename.
Napi::Value RenameExchange(const Napi::CallbackInfo& info) {
  std::string from = info[0].As<Napi::String>();
  std::string to = info[1].As<Napi::String>();
  if (syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == ENOENT || errno == EINVAL || errno == ENOSYS) return Napi::Boolean::New(info.Env(), false);
  ThrowErrno(info.Env(), ("renameat2 " + from + " <-> " + to).c_str(), errno);
  return info.Env().Undefined();
}

Napi::Value Mknod(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>();
  int mode = info[1].As<Napi::Number>().Int32Value();
  int64_t dev = info[2].As<Napi::Number>().Int64Value();
  if (mknod(path.c_str(), (mode_t)mode, (dev_t)dev) < 0) ThrowErrno(info.Env(), ("mknod " + path).c_str(), errno);
  return info.Env().Undefined();
}

Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  Napi::Buffer<uint8_t> value = info[2].As<Napi::Buffer<uint8_t>>();
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), 0) < 0)
    ThrowErrno(info.Env(), ("lsetxattr " + name + " on " + path).c_str(), errno);
  return info.Env().Undefined();
}

Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  char buf[65536];
  ssize_t n = lgetxattr(path.c_str(), name.c_str(), buf, sizeof buf);
  if (n < 0) {
    if (errno == ENODATA) return env.Null();
    ThrowErrno(env, ("lgetxattr " + name + " on " + path).c_str(), errno);
    return env.Undefined();
  }
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t*>(buf), (size_t)n);
}

// flock(fd, LOCK_EX|LOCK_NB ...): returns true when taken, false on EWOULDBLOCK.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int op = info[1].As<Napi::Number>().Int32Value();
  int rc;
  do rc = flock(fd, op); while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
    ThrowErrno(info.Env(), "flock", errno);
    return info.Env().Undefined();
  }
  NoteLock(info.Env(), fd, (op & LOCK_UN) == 0);
  return Napi::Boolean::New(info.Env(), true);
}

// Send one fd over a unix socket (SCM_RIGHTS), as the console-socket protocol wants.
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  int sock = info[0].As<Napi::Number>().Int32Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  std::string name = info.Length() > 2 ? info[2].As<Napi::String>().Utf8Value() : std::string("/dev/ptmx");
  struct iovec iov = {(void*)name.data(), name.size()};
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (sendmsg(sock, &msg, 0) < 0) ThrowErrno(info.Env(), "sendmsg(SCM_RIGHTS)", errno);
  return info.Env().Undefined();
}

// Receive one fd sent with SCM_RIGHTS (blocking): returns the fd.
Napi::Value RecvFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = info[0].As<Napi::Number>().Int32Value();
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
  if (n < 0) { ThrowErrno(env, "recvmsg(SCM_RIGHTS)", errno); return env.Undefined(); }
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) { ThrowErrno(env, "recvmsg: no fd received", EPROTO); return env.Undefined(); }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return Napi::Number::New(env, fd);
}

// Connect a unix stream socket to a path synchronously; returns the fd.
Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { ThrowErrno(env, "socket", errno); return env.Undefined(); }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) { close(fd); ThrowErrno(env, ("connect " + path).c_str(), ENAMETOOLONG); return env.Undefined(); }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    ThrowErrno(env, ("connect " + path).c_str(), e);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// socketpair(AF_UNIX, SOCK_STREAM) with both ends close-on-exec: [a, b].
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) { ThrowErrno(env, "socketpair", errno); return env.Undefined(); }
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, sv[0]);
  a.Set(1u, sv[1]);
  return a;
}

// A pipe for capturing a child's output: [read end (ours, non-blocking), write end].
// Both close-on-exec; the write end reaches the child by an explicit dup2.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) { ThrowErrno(env, "pipe2", errno); return env.Undefined(); }
  if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    ThrowErrno(env, "fcntl(O_NONBLOCK)", e);
    return env.Undefined();
  }
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, p[0]);
  a.Set(1u, p[1]);
  return a;
}

Napi::Value Dup(const Napi::CallbackInfo& info) {
  int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) { ThrowErrno(info.Env(), "dup", errno); return info.Env().Undefined(); }
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  ws.ws_row = (unsigned short)info[1].As<Napi::Number>().Uint32Value();
  ws.ws_col = (unsigned short)info[2].As<Napi::Number>().Uint32Value();
  if (ioctl(fd, TIOCSWINSZ, &ws) < 0) ThrowErrno(info.Env(), "ioctl(TIOCSWINSZ)", errno);
  return info.Env().Undefined();
}

// prctl(PR_SET_CHILD_SUBREAPER): orphaned container processes come to us.
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  if (prctl(PR_SET_CHILD_SUBREAPER, info[0].As<Napi::Boolean>().Value() ? 1 : 0, 0, 0, 0) < 0)
    ThrowErrno(info.Env(), "prctl(PR_SET_CHILD_SUBREAPER)", errno);
  return info.Env().Undefined();
}

// posix_spawn (a vfork-style clone in glibc: no copy of Node's page tables)
// of `path` with child fd i = fds[i] for every i; signal dispositions and the
// mask are reset as after a fresh exec. On failure returns the errno and sets
// *op to the call that failed.
int SpawnWithFds(const std::string& path, const std::vector<std::string>& args, const std::vector<int>& fds,
                 pid_t* pid, int* pidfd, const char** op) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  size_t n = fds.size();
  // Move every source above all targets first, so one dup2 never clobbers
  // the source of a later one.
  std::vector<int> high(n, -1);
  int err = 0;
  *op = "fcntl(F_DUPFD_CLOEXEC)";
  for (size_t i = 0; i < n && !err; i++) {
    high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)n + 3);
    if (high[i] < 0) err = errno;
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  if (!err) {
    *op = "posix_spawn";
    for (size_t i = 0; i < n && !err; i++) err = posix_spawn_file_actions_adddup2(&fa, high[i], (int)i);
    if (!err) err = posix_spawnattr_setsigmask(&attr, &none);
    if (!err) err = posix_spawnattr_setsigdefault(&attr, &all);
    if (!err) err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!err) err = posix_spawn(pid, path.c_str(), &fa, &attr, argv.data(), environ);
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  for (int fd : high) if (fd >= 0) close(fd);
  if (err) return err;
  *pidfd = (int)syscall(SYS_pidfd_open, *pid, 0);
  if (*pidfd < 0) {
    err = errno;
    *op = "pidfd_open";
    kill(*pid, SIGKILL);
    waitpid(*pid, nullptr, 0);
  }
  return err;
}

// The spawn runs on a libuv pool thread: a vfork parent waits until the child
// has exec'd, which under load is a millisecond or more of a blocked event
// loop per container otherwise.
class SpawnWorker : public Napi::AsyncWorker {
 public:
  SpawnWorker(Napi::Env env, std::string path, std::vector<std::string> args, std::vector<int> fds)
      : Napi::AsyncWorker(env), path_(std::move(path)), args_(std::move(args)), fds_(std::move(fds)) {
    napi_create_promise(env, &deferred_, &promise_);
  }
  Napi::Value Promise() { return Napi::Value(Env(), promise_); }
  void Execute() override { err_ = SpawnWithFds(path_, args_, fds_, &pid_, &pidfd_, &op_); }
  // Raw napi calls only: while a worker thread is being terminated they
  // return an error status, where node-addon-api's would abort the process.
  void OnOK() override {
    napi_env env = Env();
    napi_value value = nullptr;
    bool settled = err_ ? Rejection(env, &value) && napi_reject_deferred(env, deferred_, value) == napi_ok
                        : Result(env, &value) && napi_resolve_deferred(env, deferred_, value) == napi_ok;
    if (settled && !err_) TrackSpawned(env, pidfd_);
    if (settled || err_) return;
    // JavaScript can no longer run here: nobody will send this capsa-init its
    // plan, so it must not be left waiting for one.
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    close(pidfd_);
  }

 private:
  bool Result(napi_env env, napi_value* out) {
    napi_value pid, pidfd;
    return napi_create_array_with_length(env, 2, out) == napi_ok && napi_create_int32(env, pid_, &pid) == napi_ok &&
           napi_create_int32(env, pidfd_, &pidfd) == napi_ok && napi_set_element(env, *out, 0, pid) == napi_ok &&
           napi_set_element(env, *out, 1, pidfd) == napi_ok;
  }

  bool Rejection(napi_env env, napi_value* out) {
    std::string op = std::string(op_) == "posix_spawn" ? "posix_spawn " + path_ : op_;
    return ErrnoError(env, op.c_str(), err_, out);
  }

  napi_deferred deferred_ = nullptr;
  napi_value promise_ = nullptr;
  std::string path_;
  std::vector<std::string> args_;
  std::vector<int> fds_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int err_ = 0;
  const char* op_ = "";
};

// spawnFds(path, argv, fds) -> Promise<[pid, pidfd]>; the fds must stay open
// until it settles.
Napi::Value SpawnFds(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>();
  Napi::Array jsArgv = info[1].As<Napi::Array>();
  Napi::Array jsFds = info[2].As<Napi::Array>();
  std::vector<std::string> args;
  for (uint32_t i = 0; i < jsArgv.Length(); i++) args.push_back(jsArgv.Get(i).As<Napi::String>());
  std::vector<int> fds;
  for (uint32_t i = 0; i < jsFds.Length(); i++) fds.push_back(jsFds.Get(i).As<Napi::Number>().Int32Value());
  SpawnWorker* w = new SpawnWorker(info.Env(), std::move(path), std::move(args), std::move(fds));
  Napi::Value p = w->Promise();
  w->Queue();
  return p;
}

// A sealed in-memory copy of the file at path (close-on-exec): capsa-init
// executed from it needs no copy of its own (see native/init/selfclone.c).
// Made once per process (shared by worker threads) and kept: a bounded cache.
std::mutex sealed_lock;
std::unordered_map<std::string, int> sealed_copies;

Napi::Value SealedCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  std::lock_guard<std::mutex> g(sealed_lock);
  auto it = sealed_copies.find(path);
  if (it != sealed_copies.end()) return Napi::Number::New(env, it->second);
  int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) { ThrowErrno(env, ("open " + path).c_str(), errno); return env.Undefined(); }
  struct stat st;
  int mfd = -1;
  int err = fstat(src, &st) < 0 ? errno : 0;
  if (!err) {
    mfd = (int)syscall(SYS_memfd_create, "capsa-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) err = errno;
  }
  for (off_t left = st.st_size; !err && left > 0;) {
    ssize_t n = sendfile(mfd, src, nullptr, (size_t)left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { err = n == 0 ? EIO : errno; break; }
    left -= n;
  }
  if (!err && fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) err = errno;
  close(src);
  if (err) {
    if (mfd >= 0) close(mfd);
    ThrowErrno(env, ("sealed copy of " + path).c_str(), err);
    return env.Undefined();
  }
  sealed_copies[path] = mfd;
  return Napi::Number::New(env, mfd);
}

// One non-blocking read: a Buffer, an empty Buffer at EOF, or null when
// nothing is there yet (EAGAIN). Sockets need no O_NONBLOCK; other fds do.
Napi::Value ReadSome(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  char buf[65536];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    // Not a socket (the exec fifo, opened O_NONBLOCK): a plain read.
    if (r < 0 && errno == ENOTSOCK) r = read(fd, buf, sizeof buf);
    if (r >= 0) return Napi::Buffer<char>::Copy(env, buf, (size_t)r);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return env.Null();
    ThrowErrno(env, "recv", errno);
    return env.Undefined();
  }
}

// Blocking send of the whole buffer (the peer is always reading).
Napi::Value WriteAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<char> b = info[1].As<Napi::Buffer<char>>();
  size_t off = 0;
  while (off < b.Length()) {
    ssize_t w = send(fd, b.Data() + off, b.Length() - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) { ThrowErrno(env, "send", errno); return env.Undefined(); }
    off += (size_t)w;
  }
  return env.Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

}  // namespace

void RegisterCore(Napi::Env env, Napi::Object exports) {
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal));
  exports.Set("reapPidfd", Napi::Function::New(env, ReapPidfd));
  exports.Set("watchPidfd", Napi::Function::New(env, WatchPidfd));
  exports.Set("refWatch", Napi::Function::New(env, RefWatch));
  exports.Set("unwatchPidfd", Napi::Function::New(env, UnwatchPidfd));
  exports.Set("mkfifo", Napi::Function::New(env, Mkfifo));
  exports.Set("mknod", Napi::Function::New(env, Mknod));
  exports.Set("renameExchange", Napi::Function::New(env, RenameExchange));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr));
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("sendFd", Napi::Function::New(env, SendFd));
  exports.Set("recvFd", Napi::Function::New(env, RecvFd));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("spawnFds", Napi::Function::New(env, SpawnFds));
  exports.Set("readSome", Napi::Function::New(env, ReadSome));
  exports.Set("sealedCopy", Napi::Function::New(env, SealedCopy));
  exports.Set("writeAll", Napi::Function::New(env, WriteAll));
  // A pidfd watch is a one-shot "fd readable" watch: the sync socket uses it too.
  exports.Set("watchReadable", Napi::Function::New(env, WatchReadable));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair));
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  exports.Set("dup", Napi::Function::New(env, Dup));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsize));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper));
}

// Defined in cgroup_bpf.cc when that file is linked in.
void RegisterCgroupBpf(Napi::Env env, Napi::Object exports) __attribute__((weak));

// The reaping threads are detached and can outlive the environment that
// loaded us: when the last worker thread using the addon ends, Node would
// dlclose it under them. RTLD_NODELETE keeps the code mapped for the process.
void PinLoaded() {
  Dl_info self;
  if (dladdr(reinterpret_cast<void*>(&PinLoaded), &self) && self.dli_fname)
    dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinLoaded();
  RegisterCore(env, exports);
  if (RegisterCgroupBpf) RegisterCgroupBpf(env, exports);
  return exports;
}

NODE_API_MODULE(capsa_addon, Init)
