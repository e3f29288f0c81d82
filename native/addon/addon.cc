// capsa addon: the few syscalls Node lacks. Nothing here creates namespaces,
// mounts or changes credentials — those only happen in capsa-init. See
// addon.h for the files and what each holds.
#include <dlfcn.h>

#include "addon.h"

namespace {

// The watcher thread (watches.cc) is detached and outlives any environment
// that loaded us: when the last worker thread using the addon ends, Node
// would dlclose it under that thread. RTLD_NODELETE keeps the code mapped for
// the life of the process.
void PinLoaded() {
  Dl_info self;
  if (dladdr(reinterpret_cast<void*>(&PinLoaded), &self) && self.dli_fname)
    dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinLoaded();
  RegisterFdOps(env, exports);
  RegisterFsOps(env, exports);
  RegisterWatches(env, exports);
  RegisterSpawn(env, exports);
  RegisterCgroupBpf(env, exports);
  RegisterNetlink(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(capsa_addon, Init)
