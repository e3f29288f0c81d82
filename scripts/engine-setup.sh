#!/usr/bin/env bash
# Installs the container engines the engine test group drives (containerd,
# podman + conmon, docker), plus runc (the reference the tests and the
# benchmark compare capsa with), from Debian's packages when missing.
# Idempotent and quick when everything is there. Needs root to install.
#
# No package install may start a daemon: on machines with a SysV-style
# invoke-rc.d, docker.io's and containerd's postinst would start system-wide
# services; a policy-rc.d that says "no" is in place for the install only.
#
# Prints one line per missing command it could not get and exits 1 then.
# scripts/setup.sh calls it (the installs happen there, once); the engine tests
# call it with --check, which installs nothing and only reports what is missing.
set -euo pipefail
check_only=0
[ "${1:-}" = --check ] && check_only=1

declare -A pkg_of=(
  [containerd]=containerd
  [ctr]=containerd
  [containerd-shim-runc-v2]=containerd
  [podman]=podman
  [conmon]=conmon
  [dockerd]=docker.io
  [runc]=runc
  [script]=bsdutils
  [tar]=tar
)

have() {
  command -v "$1" >/dev/null 2>&1 && return 0
  # /usr/sbin is not on every PATH (dockerd, runc live there on Debian).
  [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ] || [ -x "/usr/libexec/podman/$1" ]
}

missing=()
for cmd in "${!pkg_of[@]}"; do
  have "$cmd" || missing+=("${pkg_of[$cmd]}")
done
# docker's CLI from the same package (another docker on PATH may speak a newer API).
[ -x /usr/bin/docker ] || missing+=(docker.io)

if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$check_only" = 1 ]; then
    echo "engine-setup: missing ${pkgs[*]} (bash scripts/setup.sh installs them)" >&2
    exit 1
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "engine-setup: missing ${pkgs[*]} and not root: cannot install" >&2
    exit 1
  fi
  echo "engine-setup: installing ${pkgs[*]}" >&2
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT
  (timeout 300 apt-get update -qq || true) >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

status=0
for cmd in "${!pkg_of[@]}"; do
  if ! have "$cmd"; then
    echo "engine-setup: $cmd is still missing (package ${pkg_of[$cmd]})" >&2
    status=1
  fi
done
exit "$status"
