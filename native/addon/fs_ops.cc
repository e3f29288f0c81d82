// Path calls Node lacks: mkfifo with an exact mode, mknod, an atomic swap of
// two names (renameat2), and xattrs on symlinks themselves.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>  // RENAME_EXCHANGE
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "addon.h"

namespace {

Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  Args a(info, "mkfifo");
  std::string path = a.Str(0, "path");
  uint32_t mode = a.Uint(1, "mode");
  if (!a.ok()) return Napi::Value();
  if (mkfifo(path.c_str(), (mode_t)mode) < 0) ThrowErrno(info.Env(), ("mkfifo " + path).c_str(), errno);
  return info.Env().Undefined();
}

Napi::Value Mknod(const Napi::CallbackInfo& info) {
  Args a(info, "mknod");
  std::string path = a.Str(0, "path");
  uint32_t mode = a.Uint(1, "mode");
  int64_t dev = a.Int64(2, "dev");
  if (!a.ok()) return Napi::Value();
  if (mknod(path.c_str(), (mode_t)mode, (dev_t)dev) < 0) ThrowErrno(info.Env(), ("mknod " + path).c_str(), errno);
  return info.Env().Undefined();
}

// renameExchange(from, to): renameat2(RENAME_EXCHANGE) atomically swaps two
// existing names. False (nothing changed) when `to` does not exist or the
// filesystem cannot exchange, so the caller can fall back to a plain rename.
Napi::Value RenameExchange(const Napi::CallbackInfo& info) {
  Args a(info, "renameExchange");
  std::string from = a.Str(0, "from");
  std::string to = a.Str(1, "to");
  if (!a.ok()) return Napi::Value();
  if (syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == ENOENT || errno == EINVAL || errno == ENOSYS) return Napi::Boolean::New(info.Env(), false);
  ThrowErrno(info.Env(), ("renameat2 " + from + " <-> " + to).c_str(), errno);
  return Napi::Value();
}

Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  Args a(info, "lsetxattr");
  std::string path = a.Str(0, "path");
  std::string name = a.Str(1, "name");
  Napi::Buffer<uint8_t> value = a.Buf(2, "value");
  if (!a.ok()) return Napi::Value();
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), 0) < 0)
    ThrowErrno(info.Env(), ("lsetxattr " + name + " on " + path).c_str(), errno);
  return info.Env().Undefined();
}

// lgetxattr(path, name): the value, or null when the file does not have it.
Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a(info, "lgetxattr");
  std::string path = a.Str(0, "path");
  std::string name = a.Str(1, "name");
  if (!a.ok()) return Napi::Value();
  char buf[65536];
  ssize_t n = lgetxattr(path.c_str(), name.c_str(), buf, sizeof buf);
  if (n < 0) {
    if (errno == ENODATA) return env.Null();
    ThrowErrno(env, ("lgetxattr " + name + " on " + path).c_str(), errno);
    return Napi::Value();
  }
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t*>(buf), (size_t)n);
}

}  // namespace

void RegisterFsOps(Napi::Env env, Napi::Object exports) {
  exports.Set("mkfifo", Napi::Function::New(env, Mkfifo));
  exports.Set("mknod", Napi::Function::New(env, Mknod));
  exports.Set("renameExchange", Napi::Function::New(env, RenameExchange));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr));
}
