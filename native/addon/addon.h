// capsa addon: only the syscalls Node lacks, through N-API alone (no libuv
// call, so the same .node loads in Node and in Bun). One file per concern,
// each registering its functions on the exports object:
//   errors.cc      the errno table and the Error objects built from it
//   args.cc        argument checks every export makes before any syscall
//   fd_ops.cc      fds, sockets, pipes, pidfds, prctl
//   fs_ops.cc      path calls: mkfifo, mknod, renameat2, xattrs
//   watches.cc     "tell me when this fd is readable" (a watcher thread)
//   spawn.cc       posix_spawn of capsa-init on a pool thread, sealed copies
//   leftovers.cc   what a thread torn down mid-operation leaves behind
//   cgroup_bpf.cc  v2 device filters (bpf(2))
//   netlink.cc     rtnetlink requests (linux.netDevices)
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

// ---- errors.cc
const char* ErrnoName(int err);
// An Error with message "op: strerror", code (EPERM…), errno and syscall.
// Raw napi calls, so it fails with a status (false) where node-addon-api would
// abort: while an environment is torn down no JavaScript value can be made.
bool ErrnoError(napi_env env, const char* op, int err, napi_value* out);
void ThrowErrno(napi_env env, const char* op, int err);

// ---- args.cc
// The arguments of one call, checked before the export does anything: the
// first bad one throws a TypeError (code ERR_INVALID_ARG_TYPE) naming the
// function and the parameter, and ok() turns false; later accessors then
// return placeholders the caller must not use.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : info_(info), fn_(fn) {}
  bool ok() const { return ok_; }
  Napi::Env Env() const { return info_.Env(); }
  int Fd(size_t i, const char* name);                 // an integer 0..INT32_MAX
  int32_t Int(size_t i, const char* name);            // an integer in int32
  uint32_t Uint(size_t i, const char* name);          // an integer in uint32
  int64_t Int64(size_t i, const char* name);          // a safe integer ≥ 0
  bool Bool(size_t i, const char* name);
  std::string Str(size_t i, const char* name);        // a string without NUL bytes
  std::string OptStr(size_t i, const char* name, const char* fallback);
  Napi::Buffer<uint8_t> Buf(size_t i, const char* name);
  Napi::Function Fn(size_t i, const char* name);
  Napi::Array Arr(size_t i, const char* name);
  // Throws "fn: name must be what" (the first failure only); returns false.
  bool Invalid(const char* name, const char* what);

 private:
  bool Integer(size_t i, const char* name, double lo, double hi, const char* what, double* out);
  const Napi::CallbackInfo& info_;
  const char* fn_;
  bool ok_ = true;
};

// ---- watches.cc
// Kept watching by the watcher thread, which reaps the process when it exits
// (waitid fails harmlessly with ECHILD if it is not our child) and closes the
// pidfd. For pidfds whose JavaScript owner is gone.
void ReapWhenExited(int pidfd);

// ---- leftovers.cc
// The calling environment's capsa-init (a dup of its pidfd is kept), killed
// if the environment is torn down while it may still wait for its plan.
void NoteSpawned(napi_env env, int pidfd);
// A flock() the calling environment holds (held) or released on fd.
void NoteLock(napi_env env, int fd, bool held);

// ---- registration, one per file
void RegisterFdOps(Napi::Env env, Napi::Object exports);
void RegisterFsOps(Napi::Env env, Napi::Object exports);
void RegisterWatches(Napi::Env env, Napi::Object exports);
void RegisterSpawn(Napi::Env env, Napi::Object exports);
void RegisterCgroupBpf(Napi::Env env, Napi::Object exports);
void RegisterNetlink(Napi::Env env, Napi::Object exports);
