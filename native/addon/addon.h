// capsa addon: only the syscalls Node lacks. Each source file registers its
// functions on the exports object; addon.cc calls every Register* function.
#pragma once
#include <napi.h>
#include <string>

// Throws a JS Error with .code = errno name and .errno = number, message "op: strerror".
void ThrowErrno(Napi::Env env, const char* op, int err);
const char* ErrnoName(int err);

void RegisterCore(Napi::Env env, Napi::Object exports);       // addon.cc
void RegisterCgroupBpf(Napi::Env env, Napi::Object exports);  // cgroup_bpf.cc (device eBPF)
