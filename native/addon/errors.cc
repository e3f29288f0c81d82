// The one errno table: every error the addon throws or rejects with is built
// here, so JavaScript sees the same shape as Node's own system errors.
#include <errno.h>
#include <string.h>

#include "addon.h"

const char* ErrnoName(int err) {
  switch (err) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF) E(ECHILD)
    E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR)
    E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC) E(ESPIPE)
    E(EROFS) E(EMLINK) E(EPIPE) E(ERANGE) E(ENAMETOOLONG) E(ENOSYS) E(ENOTEMPTY) E(ELOOP)
    E(EOPNOTSUPP) E(ENOTSOCK) E(ECONNREFUSED) E(ECONNRESET) E(ETIMEDOUT) E(EPROTO) E(ECANCELED)
    E(ENODATA) E(EADDRINUSE) E(EDQUOT) E(EOVERFLOW)
#undef E
    default: return "EUNKNOWN";
  }
}

bool ErrnoError(napi_env env, const char* op, int err, napi_value* out) {
  std::string msg = std::string(op) + ": " + strerror(err);
  napi_value text, code, no, call;
  return napi_create_string_utf8(env, msg.c_str(), NAPI_AUTO_LENGTH, &text) == napi_ok &&
         napi_create_string_utf8(env, ErrnoName(err), NAPI_AUTO_LENGTH, &code) == napi_ok &&
         napi_create_int32(env, err, &no) == napi_ok && napi_create_string_utf8(env, op, NAPI_AUTO_LENGTH, &call) == napi_ok &&
         napi_create_error(env, nullptr, text, out) == napi_ok && napi_set_named_property(env, *out, "code", code) == napi_ok &&
         napi_set_named_property(env, *out, "errno", no) == napi_ok && napi_set_named_property(env, *out, "syscall", call) == napi_ok;
}

void ThrowErrno(napi_env env, const char* op, int err) {
  napi_value e;
  if (ErrnoError(env, op, err, &e)) napi_throw(env, e);
}
