#!/usr/bin/env bash
# Installs what capsa needs on a fresh machine (as root) and builds it.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc)
command -v make >/dev/null || need_apt+=(make)
command -v busybox >/dev/null || need_apt+=(busybox-static)
command -v runc >/dev/null || need_apt+=(runc)
command -v zstd >/dev/null || need_apt+=(zstd)
command -v script >/dev/null || need_apt+=(bsdutils)
command -v nsenter >/dev/null || need_apt+=(util-linux)
# the --systemd-cgroup tests: a private bus and a stand-in systemd (libdbus, independent of capsa's D-Bus code)
command -v dbus-daemon >/dev/null || need_apt+=(dbus-daemon)
/usr/bin/python3 -c 'import dbus, gi' 2>/dev/null || need_apt+=(python3-dbus python3-gi)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/aarch64-linux-gnu/libc.a ] || need_apt+=(libc6-dev)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  (apt-get update -qq || true) >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# npm install runs node-gyp (the addon, capsa-init and the test binary).
if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
else
  npx --no-install node-gyp build --loglevel=error >/dev/null
fi
npx --no-install tsc -p tsconfig.json
node scripts/bundle.mjs

# The engines the engine tests drive (containerd, podman, docker) and runc to
# compare with: installed here, once, never from inside a test.
bash scripts/engine-setup.sh || echo "setup: the engine tests will be skipped (see above)" >&2
