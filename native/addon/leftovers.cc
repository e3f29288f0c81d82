// What an environment (the main thread or a worker) leaves behind if it is
// torn down mid-operation — a worker terminated at any point — released by
// one env cleanup hook:
// - capsa-init processes it spawned (our dups of their pidfds). One waiting
//   for its plan would wait for ever; capsa-init exits by itself once it has
//   made the process, so killing one at teardown loses nothing that could
//   still complete.
// - flock()ed fds it holds. Its unlock would never run, and a later
//   delete --force of that container would wait for the lock.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "addon.h"

namespace {

struct EnvLeftovers {
  std::vector<int> spawned;
  std::vector<int> locks;
};
std::mutex lock;
std::unordered_map<napi_env, EnvLeftovers> leftovers;

void Release(void* arg) {
  EnvLeftovers mine;
  {
    std::lock_guard<std::mutex> g(lock);
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
    ReapWhenExited(fd);
  }
}

// The environment's record, registering the hook on first use; call with
// `lock` held. Null if the hook cannot be added.
EnvLeftovers* Of(napi_env env) {
  auto it = leftovers.find(env);
  if (it != leftovers.end()) return &it->second;
  if (napi_add_env_cleanup_hook(env, Release, env) != napi_ok) return nullptr;
  return &leftovers[env];
}

bool HasExited(int pidfd) {
  struct pollfd p = {pidfd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

}  // namespace

void NoteSpawned(napi_env env, int pidfd) {
  int own = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
  if (own < 0) return;  // then a worker terminated mid-create can leave it waiting
  std::lock_guard<std::mutex> g(lock);
  EnvLeftovers* l = Of(env);
  if (!l) {
    close(own);
    return;
  }
  auto& fds = l->spawned;
  fds.erase(std::remove_if(fds.begin(), fds.end(), [](int fd) { return HasExited(fd) && close(fd) == 0; }), fds.end());
  fds.push_back(own);
}

void NoteLock(napi_env env, int fd, bool held) {
  std::lock_guard<std::mutex> g(lock);
  EnvLeftovers* l = Of(env);
  if (!l) return;
  auto& fds = l->locks;
  fds.erase(std::remove(fds.begin(), fds.end(), fd), fds.end());
  if (held) fds.push_back(fd);
}
