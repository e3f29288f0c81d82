// Watches: "call me back once when this fd is readable" — a pidfd is readable
// once its process has exited; a socket, pipe or fifo when data or EOF is
// there. N-API means only, so the same addon runs under Node and Bun:
// - one watcher thread for the process waits in epoll_wait on every watched
//   fd (EPOLLONESHOT, keyed by watch id);
// - it hands a fired watch to the environment (main thread or worker) that
//   owns it through that environment's threadsafe function, whose call runs
//   the JavaScript callback on the owner's thread;
// - that function is ref'd while its environment has a ref'd watch, so a
//   watch keeps the event loop alive until it fires (refWatch(id, false)
//   opts out, for a process nobody waits for yet);
// - an env cleanup hook takes over the watches of an environment torn down
//   mid-watch (a worker terminated): their fds were its JavaScript's to
//   close. A readable fd is closed; a pidfd stays watched, as an orphan, and
//   its process is reaped when it exits — an unreaped child of ours in a
//   container's pid namespace would keep that namespace's init from exiting.
// The watcher thread is detached and lives as long as the process: the addon
// pins itself in memory (see PinLoaded in addon.cc).
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>
#include <unordered_map>
#include <vector>

#include "addon.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace {

struct Watch {
  int id = 0;
  napi_env env = nullptr;  // null: an orphan, reaped and closed by the watcher thread
  int fd = -1;
  bool is_pidfd = false;
  bool ref = true;     // counts toward keeping the owner's event loop alive
  bool fired = false;  // handed to the owner's thread, not delivered yet
  napi_ref callback = nullptr;
};

// One per environment that has watched something.
struct Channel {
  napi_env env;
  napi_threadsafe_function tsfn = nullptr;
  int refs = 0;  // ref'd watches not yet delivered; touched on the env's thread only
};

std::mutex mu;  // guards everything below
int epfd = -1;
int epoll_err = 0;
std::unordered_map<int, Watch*> watches;
std::unordered_map<napi_env, Channel*> channels;
int next_id = 1;

void CloseOrphan(Watch* w) {
  if (w->is_pidfd) {
    siginfo_t si;
    waitid((idtype_t)P_PIDFD, (id_t)w->fd, &si, WEXITED | WNOHANG);
  }
  close(w->fd);
  delete w;
}

void* WatcherLoop(void*) {
  struct epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epfd, events, 64, -1);
    if (n < 0) continue;  // EINTR
    std::lock_guard<std::mutex> g(mu);
    for (int i = 0; i < n; i++) {
      auto it = watches.find((int)events[i].data.u64);
      if (it == watches.end()) continue;  // unwatched meanwhile
      Watch* w = it->second;
      epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, nullptr);
      if (!w->env) {
        watches.erase(it);
        CloseOrphan(w);
        continue;
      }
      w->fired = true;
      auto ch = channels.find(w->env);
      // Without a channel its environment is being torn down: Teardown takes the watch.
      if (ch != channels.end()) napi_call_threadsafe_function(ch->second->tsfn, (void*)(intptr_t)w->id, napi_tsfn_nonblocking);
    }
  }
}

// Starts the watcher thread once; false (epoll_err set) if it cannot be.
bool WatcherRunning() {
  static std::once_flag once;
  std::call_once(once, [] {
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
      epoll_err = errno;
      return;
    }
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    // Signals go to other threads: Node's and Bun's handlers expect their own.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&thread, &attr, WatcherLoop, nullptr);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    pthread_attr_destroy(&attr);
    if (err) {
      epoll_err = err;
      close(epfd);
      epfd = -1;
    }
  });
  return epfd >= 0;
}

// Adds w to the map and to epoll; call with mu held. 0 or the errno.
int Register(Watch* w) {
  do {
    if (++next_id <= 0) next_id = 1;
  } while (watches.count(next_id));
  w->id = next_id;
  struct epoll_event ev = {};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = (uint64_t)w->id;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0) return errno;
  watches[w->id] = w;
  return 0;
}

void Ref(Channel* ch, napi_env env) {
  if (ch->refs++ == 0) napi_ref_threadsafe_function(env, ch->tsfn);
}

void Unref(Channel* ch, napi_env env) {
  if (--ch->refs == 0) napi_unref_threadsafe_function(env, ch->tsfn);
}

Channel* ChannelOfLocked(napi_env env) {
  auto it = channels.find(env);
  return it == channels.end() ? nullptr : it->second;
}

// Runs on the owner's thread for each fired watch. env is null when the
// function is torn down with calls still queued: Teardown handles those. The
// watch stays in the map until JavaScript has run its callback (and so taken
// over the fd): while a worker is torn down Node still dispatches queued calls,
// but JavaScript can no longer run, and Teardown must then close the fd.
void Deliver(napi_env env, napi_value, void* context, void* data) {
  if (!env) return;
  auto* ch = static_cast<Channel*>(context);
  const int id = (int)(intptr_t)data;
  napi_ref callback;
  {
    std::lock_guard<std::mutex> g(mu);
    auto it = watches.find(id);
    if (it == watches.end() || it->second->env != env) return;  // unwatched after it fired
    callback = it->second->callback;
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;  // JavaScript cannot run: Teardown takes it
  napi_value fn = nullptr, global = nullptr, arg = nullptr, result = nullptr;
  bool ready = napi_get_reference_value(env, callback, &fn) == napi_ok && fn != nullptr &&
               napi_get_global(env, &global) == napi_ok && napi_create_int32(env, 0, &arg) == napi_ok;
  napi_status status = ready ? napi_call_function(env, global, fn, 1, &arg, &result) : napi_generic_failure;
  bool threw = false;
  napi_is_exception_pending(env, &threw);
  if (status == napi_ok || threw) {
    // The callback ran: the fd is JavaScript's now. (It may have unwatched
    // this id itself, which removed the record already.)
    Watch* w = nullptr;
    {
      std::lock_guard<std::mutex> g(mu);
      auto it = watches.find(id);
      if (it != watches.end() && it->second->env == env) {
        w = it->second;
        watches.erase(it);
      }
    }
    if (w) {
      if (w->ref) Unref(ch, env);
      napi_delete_reference(env, w->callback);
      delete w;
    }
  }
  if (threw) {
    // A throwing callback is an uncaught exception, as for any event callback.
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

// The function's finalizer: its environment is going away.
void ForgetChannel(napi_env, void* data, void*) {
  auto* ch = static_cast<Channel*>(data);
  {
    std::lock_guard<std::mutex> g(mu);
    auto it = channels.find(ch->env);
    if (it != channels.end() && it->second == ch) channels.erase(it);
  }
  delete ch;
}

// The env cleanup hook: the environment's JavaScript will never close, reap
// or unwatch what it watched.
void Teardown(void* arg) {
  napi_env env = static_cast<napi_env>(arg);
  std::vector<Watch*> done;
  {
    std::lock_guard<std::mutex> g(mu);
    channels.erase(env);  // the finalizer frees it
    for (auto it = watches.begin(); it != watches.end();) {
      Watch* w = it->second;
      if (w->env != env) {
        ++it;
        continue;
      }
      napi_delete_reference(env, w->callback);
      w->callback = nullptr;
      if (w->is_pidfd && !w->fired) {
        w->env = nullptr;  // an orphan now: the watcher thread reaps it when it exits
        ++it;
        continue;
      }
      if (!w->fired) epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, nullptr);
      done.push_back(w);
      it = watches.erase(it);
    }
  }
  for (Watch* w : done) CloseOrphan(w);  // a fired pidfd's process has exited: reaped now
}

Channel* ChannelOf(napi_env env) {
  {
    std::lock_guard<std::mutex> g(mu);
    if (Channel* ch = ChannelOfLocked(env)) return ch;
  }
  auto* ch = new Channel{env};
  napi_value name;
  if (napi_create_string_utf8(env, "capsa:watch", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, ch, ForgetChannel, ch, Deliver, &ch->tsfn) != napi_ok) {
    delete ch;
    return nullptr;
  }
  napi_unref_threadsafe_function(env, ch->tsfn);
  // Added after the function, so that where hooks run last-added first (Node)
  // this one runs while the function still exists.
  napi_add_env_cleanup_hook(env, Teardown, env);
  std::lock_guard<std::mutex> g(mu);
  channels[env] = ch;
  return ch;
}

Napi::Value StartWatch(const Napi::CallbackInfo& info, const char* fn, bool is_pidfd) {
  napi_env env = info.Env();
  Args a(info, fn);
  int fd = a.Fd(0, is_pidfd ? "pidfd" : "fd");
  Napi::Function callback = a.Fn(1, "callback");
  if (!a.ok()) return Napi::Value();
  if (!WatcherRunning()) {
    ThrowErrno(env, "epoll_create1", epoll_err);
    return Napi::Value();
  }
  Channel* ch = ChannelOf(env);
  if (!ch) {
    ThrowErrno(env, "napi_create_threadsafe_function", EAGAIN);
    return Napi::Value();
  }
  auto* w = new Watch();
  w->env = env;
  w->fd = fd;
  w->is_pidfd = is_pidfd;
  if (napi_create_reference(env, callback, 1, &w->callback) != napi_ok) {
    delete w;
    return Napi::Value();
  }
  int err;
  {
    std::lock_guard<std::mutex> g(mu);
    err = Register(w);
  }
  if (err) {
    napi_delete_reference(env, w->callback);
    delete w;
    ThrowErrno(env, "epoll_ctl(EPOLL_CTL_ADD)", err);
    return Napi::Value();
  }
  Ref(ch, env);
  return Napi::Number::New(env, w->id);
}

// watchPidfd(pidfd, onExit): calls back once when the process exits.
Napi::Value WatchPidfd(const Napi::CallbackInfo& info) { return StartWatch(info, "watchPidfd", true); }
// watchReadable(fd, onReadable): calls back once when fd is readable (or at EOF).
Napi::Value WatchReadable(const Napi::CallbackInfo& info) { return StartWatch(info, "watchReadable", false); }

// The calling environment's watch with this id, not yet fired; taken out of
// the map when `take`. Null if it fired, was stopped, or is another thread's.
Watch* OwnWatch(napi_env env, int id, bool take) {
  std::lock_guard<std::mutex> g(mu);
  auto it = watches.find(id);
  if (it == watches.end() || it->second->env != env) return nullptr;
  Watch* w = it->second;
  if (take) {
    watches.erase(it);
    if (!w->fired) epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, nullptr);
  }
  return w;
}

// unwatchPidfd(id): cancels a watch that has not run its callback; the caller
// still owns the fd.
Napi::Value UnwatchPidfd(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Args a(info, "unwatchPidfd");
  int id = a.Int(0, "watchId");
  if (!a.ok()) return Napi::Value();
  if (Watch* w = OwnWatch(env, id, true)) {
    if (w->ref) {
      std::unique_lock<std::mutex> g(mu);
      Channel* ch = ChannelOfLocked(env);
      g.unlock();
      if (ch) Unref(ch, env);
    }
    napi_delete_reference(env, w->callback);
    delete w;
  }
  return info.Env().Undefined();
}

// refWatch(id, ref): false — the watch alone does not keep the event loop
// (and the process) alive; true again to undo.
Napi::Value RefWatch(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Args a(info, "refWatch");
  int id = a.Int(0, "watchId");
  bool ref = a.Bool(1, "ref");
  if (!a.ok()) return Napi::Value();
  Watch* w = OwnWatch(env, id, false);  // only this thread delivers or removes its watches
  if (!w || w->ref == ref) return info.Env().Undefined();
  std::unique_lock<std::mutex> g(mu);
  Channel* ch = ChannelOfLocked(env);
  g.unlock();
  if (!ch) return info.Env().Undefined();
  w->ref = ref;
  if (ref) Ref(ch, env);
  else Unref(ch, env);
  return info.Env().Undefined();
}

}  // namespace

void ReapWhenExited(int pidfd) {
  auto* w = new Watch();
  w->fd = pidfd;
  w->is_pidfd = true;
  int err = EBADF;
  if (WatcherRunning()) {
    std::lock_guard<std::mutex> g(mu);
    err = Register(w);
  }
  if (err) CloseOrphan(w);  // reaped now if it has exited; otherwise left to whoever reaps
}

void RegisterWatches(Napi::Env env, Napi::Object exports) {
  exports.Set("watchPidfd", Napi::Function::New(env, WatchPidfd));
  exports.Set("watchReadable", Napi::Function::New(env, WatchReadable));
  exports.Set("unwatchPidfd", Napi::Function::New(env, UnwatchPidfd));
  exports.Set("refWatch", Napi::Function::New(env, RefWatch));
}
