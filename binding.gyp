{
  "targets": [
    {
      "target_name": "capsa_addon",
      "sources": ["native/addon/addon.cc", "native/addon/args.cc", "native/addon/errors.cc", "native/addon/fd_ops.cc", "native/addon/fs_ops.cc", "native/addon/watches.cc", "native/addon/spawn.cc", "native/addon/leftovers.cc", "native/addon/cgroup_bpf.cc", "native/addon/netlink.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "ldflags": ["-static-libstdc++", "-static-libgcc", "-Wl,--exclude-libs,ALL", "-Wl,--version-script=<(module_root_dir)/native/addon/exports.map"]
    },
    {
      "target_name": "capsa-init",
      "type": "executable",
      "sources": ["native/init/capsa-init.c", "native/init/mounts.c", "native/init/creds.c", "native/init/plan.c", "native/init/sync.c", "native/init/console.c", "native/init/copyup.c", "native/init/selfclone.c", "native/init/privproc.c", "native/init/procattr.c", "native/init/idmap.c", "native/init/netdev.c"],
      "cflags": ["-std=gnu11", "-D_GNU_SOURCE", "-D_FORTIFY_SOURCE=2", "-Os", "-Wall", "-Wextra", "-fno-asynchronous-unwind-tables", "-fstack-protector-strong"],
      "ldflags": ["-static", "-s"]
    },
    {
      "target_name": "capsa-testinit",
      "type": "executable",
      "sources": ["test/bin/testinit.c", "test/bin/seccomp-probes.c"],
      "cflags": ["-std=gnu11", "-O1", "-Wall"],
      "ldflags": ["-static", "-s"]
    },
    {
      "target_name": "capsa-seccomp-agent",
      "type": "executable",
      "sources": ["test/bin/seccomp-agent.c"],
      "cflags": ["-std=gnu11", "-O1", "-Wall"]
    }
  ]
}
