// Argument checks: every export validates all of its arguments before its
// first syscall. Without them a missing fd read as 0 (closeFd(undefined)
// closed stdin) and a string with a NUL byte named a shorter path.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "addon.h"

namespace {

const char* TypeName(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return "unknown";
  switch (t) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "a number";
    case napi_string: return "a string";
    case napi_symbol: return "a symbol";
    case napi_function: return "a function";
    case napi_bigint: return "a bigint";
    default: return "an object";
  }
}

}  // namespace

bool Args::Invalid(const char* name, const char* what) {
  if (!ok_) return false;  // only the first bad argument is reported
  ok_ = false;
  std::string msg = std::string(fn_) + ": " + name + " must be " + what;
  napi_throw_type_error(info_.Env(), "ERR_INVALID_ARG_TYPE", msg.c_str());
  return false;
}

bool Args::Integer(size_t i, const char* name, double lo, double hi, const char* what, double* out) {
  *out = 0;
  if (!ok_) return false;
  napi_env env = info_.Env();
  napi_value v = info_[i];
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok)
    return Invalid(name, (std::string(what) + ", got " + TypeName(env, v)).c_str());
  if (!isfinite(d) || floor(d) != d || d < lo || d > hi) {
    char num[40];
    snprintf(num, sizeof num, "%.17g", d);
    return Invalid(name, (std::string(what) + ", got " + num).c_str());
  }
  *out = d;
  return true;
}

int Args::Fd(size_t i, const char* name) {
  double d;
  return Integer(i, name, 0, INT32_MAX, "a file descriptor (an integer from 0)", &d) ? (int)d : -1;
}

int32_t Args::Int(size_t i, const char* name) {
  double d;
  return Integer(i, name, INT32_MIN, INT32_MAX, "a 32-bit integer", &d) ? (int32_t)d : 0;
}

uint32_t Args::Uint(size_t i, const char* name) {
  double d;
  return Integer(i, name, 0, UINT32_MAX, "an unsigned 32-bit integer", &d) ? (uint32_t)d : 0;
}

int64_t Args::Int64(size_t i, const char* name) {
  double d;
  return Integer(i, name, 0, 9007199254740991.0, "a non-negative safe integer", &d) ? (int64_t)d : 0;
}

bool Args::Bool(size_t i, const char* name) {
  if (!ok_) return false;
  bool b;
  if (napi_get_value_bool(info_.Env(), info_[i], &b) != napi_ok)
    return Invalid(name, (std::string("a boolean, got ") + TypeName(info_.Env(), info_[i])).c_str());
  return b;
}

std::string Args::Str(size_t i, const char* name) {
  if (!ok_) return std::string();
  napi_env env = info_.Env();
  napi_value v = info_[i];
  size_t len;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) {
    Invalid(name, (std::string("a string, got ") + TypeName(env, v)).c_str());
    return std::string();
  }
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, &s[0], len + 1, &len);
  if (memchr(s.data(), 0, s.size())) {
    Invalid(name, "a string without NUL bytes");
    return std::string();
  }
  return s;
}

std::string Args::OptStr(size_t i, const char* name, const char* fallback) {
  if (info_[i].IsUndefined()) return fallback;
  return Str(i, name);
}

Napi::Buffer<uint8_t> Args::Buf(size_t i, const char* name) {
  if (ok_ && !info_[i].IsBuffer()) Invalid(name, (std::string("a Buffer, got ") + TypeName(info_.Env(), info_[i])).c_str());
  return ok_ ? info_[i].As<Napi::Buffer<uint8_t>>() : Napi::Buffer<uint8_t>();
}

Napi::Function Args::Fn(size_t i, const char* name) {
  if (ok_ && !info_[i].IsFunction()) Invalid(name, (std::string("a function, got ") + TypeName(info_.Env(), info_[i])).c_str());
  return ok_ ? info_[i].As<Napi::Function>() : Napi::Function();
}

Napi::Array Args::Arr(size_t i, const char* name) {
  if (ok_ && !info_[i].IsArray()) Invalid(name, (std::string("an array, got ") + TypeName(info_.Env(), info_[i])).c_str());
  return ok_ ? info_[i].As<Napi::Array>() : Napi::Array();
}
