// Starting capsa-init: posix_spawn with an exact fd table, run on a pool
// thread (napi_async_work), from a sealed in-memory copy of the binary.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>
#include <unordered_map>
#include <vector>

#include "addon.h"

namespace {

// posix_spawn (a vfork-style clone in glibc: no copy of the parent's page
// tables) of `path` with child fd i = fds[i] for every i; signal dispositions
// and the mask are reset as after a fresh exec. On failure returns the errno
// and sets *op to the call that failed.
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

// One spawn on the pool: a vfork parent waits until the child has exec'd,
// which under load is a millisecond or more of a blocked event loop per
// container otherwise. Raw napi calls only: while an environment is torn down
// they return an error status, where node-addon-api's would abort.
struct SpawnJob {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  std::string path;
  std::vector<std::string> args;
  std::vector<int> fds;
  pid_t pid = -1;
  int pidfd = -1;
  int err = 0;
  const char* op = "";
};

void ExecuteSpawn(napi_env, void* data) {
  auto* job = static_cast<SpawnJob*>(data);
  job->err = SpawnWithFds(job->path, job->args, job->fds, &job->pid, &job->pidfd, &job->op);
}

bool SpawnResult(napi_env env, const SpawnJob* job, napi_value* out) {
  napi_value pid, pidfd;
  return napi_create_array_with_length(env, 2, out) == napi_ok && napi_create_int32(env, job->pid, &pid) == napi_ok &&
         napi_create_int32(env, job->pidfd, &pidfd) == napi_ok && napi_set_element(env, *out, 0, pid) == napi_ok &&
         napi_set_element(env, *out, 1, pidfd) == napi_ok;
}

bool SpawnRejection(napi_env env, const SpawnJob* job, napi_value* out) {
  std::string op = strcmp(job->op, "posix_spawn") == 0 ? "posix_spawn " + job->path : job->op;
  return ErrnoError(env, op.c_str(), job->err, out);
}

void CompleteSpawn(napi_env env, napi_status status, void* data) {
  auto* job = static_cast<SpawnJob*>(data);
  if (status == napi_cancelled) {
    job->err = ECANCELED;  // never ran: no child
    job->op = "posix_spawn";
  }
  napi_handle_scope scope = nullptr;
  bool scoped = napi_open_handle_scope(env, &scope) == napi_ok;
  napi_value value = nullptr;
  bool settled = scoped && (job->err ? SpawnRejection(env, job, &value) && napi_reject_deferred(env, job->deferred, value) == napi_ok
                                     : SpawnResult(env, job, &value) && napi_resolve_deferred(env, job->deferred, value) == napi_ok);
  if (settled && !job->err) NoteSpawned(env, job->pidfd);
  if (!settled && !job->err) {
    // JavaScript can no longer run here: nobody will send this capsa-init its
    // plan, so it must not be left waiting for one.
    kill(job->pid, SIGKILL);
    waitpid(job->pid, nullptr, 0);
    close(job->pidfd);
  }
  if (scoped) napi_close_handle_scope(env, scope);
  napi_delete_async_work(env, job->work);
  delete job;
}

// spawnFds(path, argv, fds) -> Promise<[pid, pidfd]>; the fds must stay open
// until it settles.
Napi::Value SpawnFds(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Args a(info, "spawnFds");
  auto* job = new SpawnJob();
  job->path = a.Str(0, "path");
  Napi::Array argv = a.Arr(1, "argv");
  Napi::Array fds = a.Arr(2, "fds");
  for (uint32_t i = 0; a.ok() && i < argv.Length(); i++) {
    Napi::Value v = argv.Get(i);
    if (!v.IsString()) { a.Invalid("argv", "an array of strings"); break; }
    job->args.push_back(v.As<Napi::String>().Utf8Value());
  }
  for (uint32_t i = 0; a.ok() && i < fds.Length(); i++) {
    Napi::Value v = fds.Get(i);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (d < 0 || d > INT32_MAX || (double)(int)d != d) { a.Invalid("fds", "an array of file descriptors"); break; }
    job->fds.push_back((int)d);
  }
  napi_value promise = nullptr, name = nullptr;
  bool queued = a.ok() && napi_create_promise(env, &job->deferred, &promise) == napi_ok &&
                napi_create_string_utf8(env, "capsa:spawn", NAPI_AUTO_LENGTH, &name) == napi_ok &&
                napi_create_async_work(env, nullptr, name, ExecuteSpawn, CompleteSpawn, job, &job->work) == napi_ok &&
                napi_queue_async_work(env, job->work) == napi_ok;
  if (!queued) {
    if (job->work) napi_delete_async_work(env, job->work);
    delete job;
    return Napi::Value();
  }
  return Napi::Value(env, promise);
}

// sealedCopy(path): a sealed in-memory copy of the file (close-on-exec):
// capsa-init executed from it needs no copy of its own (see
// native/init/selfclone.c). Made once per process (shared by worker threads)
// and kept: a bounded cache.
std::mutex sealed_lock;
std::unordered_map<std::string, int> sealed_copies;

Napi::Value SealedCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a(info, "sealedCopy");
  std::string path = a.Str(0, "path");
  if (!a.ok()) return Napi::Value();
  std::lock_guard<std::mutex> g(sealed_lock);
  auto it = sealed_copies.find(path);
  if (it != sealed_copies.end()) return Napi::Number::New(env, it->second);
  int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) { ThrowErrno(env, ("open " + path).c_str(), errno); return Napi::Value(); }
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
    return Napi::Value();
  }
  sealed_copies[path] = mfd;
  return Napi::Number::New(env, mfd);
}

}  // namespace

void RegisterSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnFds", Napi::Function::New(env, SpawnFds));
  exports.Set("sealedCopy", Napi::Function::New(env, SealedCopy));
}
