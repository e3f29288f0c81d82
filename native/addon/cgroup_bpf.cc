// Device filters for cgroup v2: load an eBPF BPF_PROG_TYPE_CGROUP_DEVICE
// program (built in TypeScript, src/cgroups/devices-ebpf.ts) and attach it to
// a cgroup dir. Only the bpf(2) calls live here; what the program says is
// decided in TypeScript.
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

int BpfCall(int cmd, union bpf_attr* attr) {
  return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

// loadDeviceFilter(insns: Buffer, license: string): number — the program fd.
// On a verifier rejection the first line of the verifier log is added to the
// error message; without it an EACCES says nothing about what was wrong.
Napi::Value LoadDeviceFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a(info, "loadDeviceFilter");
  Napi::Buffer<uint8_t> insns = a.Buf(0, "insns");
  std::string license = a.Str(1, "license");
  if (a.ok() && (insns.Length() == 0 || insns.Length() % sizeof(struct bpf_insn) != 0)) a.Invalid("insns", "a non-empty multiple of 8 bytes");
  if (!a.ok()) return Napi::Value();

  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t)(uintptr_t)insns.Data();
  attr.insn_cnt = (uint32_t)(insns.Length() / sizeof(struct bpf_insn));
  attr.license = (uint64_t)(uintptr_t)license.c_str();
  int fd = BpfCall(BPF_PROG_LOAD, &attr);
  if (fd >= 0) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return Napi::Number::New(env, fd);
  }
  int err = errno;
  std::string op = "bpf(BPF_PROG_LOAD)";
  if (err == EACCES || err == EINVAL) {
    // Load again with a log, only to explain the failure.
    std::vector<char> log(16384, 0);
    attr.log_level = 1;
    attr.log_buf = (uint64_t)(uintptr_t)log.data();
    attr.log_size = (uint32_t)log.size();
    int again = BpfCall(BPF_PROG_LOAD, &attr);
    if (again >= 0) close(again);
    std::string text(log.data());
    size_t end = text.find_last_of('\n', text.size() > 1 ? text.size() - 2 : 0);
    std::string last = end == std::string::npos ? text : text.substr(end + 1);
    while (!last.empty() && (last.back() == '\n' || last.back() == ' ')) last.pop_back();
    if (!last.empty()) op += " (verifier: " + last + ")";
  }
  ThrowErrno(env, op.c_str(), err);
  return env.Undefined();
}

Napi::Value AttachOrDetach(const Napi::CallbackInfo& info, bool attach) {
  Napi::Env env = info.Env();
  Args a(info, attach ? "attachDeviceFilter" : "detachDeviceFilter");
  int cgroupFd = a.Fd(0, "cgroupDirFd");
  int progFd = a.Fd(1, "progFd");
  if (!a.ok()) return Napi::Value();
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.target_fd = (uint32_t)cgroupFd;
  attr.attach_bpf_fd = (uint32_t)progFd;
  attr.attach_type = BPF_CGROUP_DEVICE;
  // ALLOW_MULTI: the new program can be attached before the old one is
  // detached, so there is never a moment without a filter.
  if (attach) attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (BpfCall(attach ? BPF_PROG_ATTACH : BPF_PROG_DETACH, &attr) < 0) {
    ThrowErrno(env, attach ? "bpf(BPF_PROG_ATTACH)" : "bpf(BPF_PROG_DETACH)", errno);
  }
  return env.Undefined();
}

// attachDeviceFilter(cgroupDirFd, progFd)
Napi::Value AttachDeviceFilter(const Napi::CallbackInfo& info) { return AttachOrDetach(info, true); }

// detachDeviceFilter(cgroupDirFd, progFd)
Napi::Value DetachDeviceFilter(const Napi::CallbackInfo& info) { return AttachOrDetach(info, false); }

// attachedDeviceFilters(cgroupDirFd): number[] — fds of the device programs
// attached directly to this cgroup (caller closes them), so an update can
// detach the programs a previous capsa run attached.
Napi::Value AttachedDeviceFilters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a(info, "attachedDeviceFilters");
  int cgroupFd = a.Fd(0, "cgroupDirFd");
  if (!a.ok()) return Napi::Value();
  std::vector<uint32_t> ids(64);
  union bpf_attr attr;
  for (;;) {
    memset(&attr, 0, sizeof attr);
    attr.query.target_fd = (uint32_t)cgroupFd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids.data();
    attr.query.prog_cnt = (uint32_t)ids.size();
    if (BpfCall(BPF_PROG_QUERY, &attr) == 0) break;
    if (errno == ENOSPC && attr.query.prog_cnt > ids.size()) {
      ids.resize(attr.query.prog_cnt);
      continue;
    }
    ThrowErrno(env, "bpf(BPF_PROG_QUERY)", errno);
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env);
  for (uint32_t i = 0; i < attr.query.prog_cnt; i++) {
    union bpf_attr get;
    memset(&get, 0, sizeof get);
    get.prog_id = ids[i];
    int fd = BpfCall(BPF_PROG_GET_FD_BY_ID, &get);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // detached meanwhile
      int err = errno;
      for (uint32_t j = 0; j < out.Length(); j++) close(out.Get(j).As<Napi::Number>().Int32Value());
      ThrowErrno(env, "bpf(BPF_PROG_GET_FD_BY_ID)", err);
      return env.Undefined();
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    out.Set(out.Length(), Napi::Number::New(env, fd));
  }
  return out;
}

}  // namespace

void RegisterCgroupBpf(Napi::Env env, Napi::Object exports) {
  exports.Set("loadDeviceFilter", Napi::Function::New(env, LoadDeviceFilter));
  exports.Set("attachDeviceFilter", Napi::Function::New(env, AttachDeviceFilter));
  exports.Set("detachDeviceFilter", Napi::Function::New(env, DetachDeviceFilter));
  exports.Set("attachedDeviceFilters", Napi::Function::New(env, AttachedDeviceFilters));
}
