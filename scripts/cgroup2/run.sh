#!/usr/bin/env bash
# npm run test:cgroup2 — capsa's cgroup tests on a pure cgroup v2 host with
# systemd as PID 1, which this machine (hybrid cgroups, no systemd) is not.
#
# Boots a throw-away qemu guest (TCG: KVM guests hang on this machine kind)
# of this machine's own userland: Debian's linux-image-6.1 kernel with
# cgroup_no_v1=all, the host's root shared read-only over virtio-9p as the
# lower layer of an overlay whose upper layer is a tmpfs, and systemd as
# PID 1. A unit in the guest runs the chosen test files (default: cgroups*,
# systemd-cgroup, core-lifecycle, exec, library) with scripts/run-tests.mjs
# and the guest powers off. Prints the guest's output as it comes, then the
# guest's /sys/fs/cgroup type, the systemd version it talked to, the time the
# guest took, and its "N passed, M failed" line. Exit 0 only if all passed.
# The guest's console and output of the last run: build/cgroup2-guest/.
#
# Usage: bash scripts/cgroup2/run.sh [--only REGEX] [--timeout MINUTES]
#
# Installs what it needs (qemu-system-x86, cpio, busybox-static, kmod for depmod,
# the systemd and dbus packages for their files only: never systemd-sysv, the host's init
# is left alone) idempotently; the kernel package is downloaded once into
# /var/cache/capsa-cgroup2 and unpacked there, never installed.
#
# Nothing is mounted on the host. qemu runs with PR_SET_PDEATHSIG and under
# timeout(1); an EXIT/INT/TERM trap kills it and removes the work dir, so a
# killed run leaves nothing running (a SIGKILLed run's work dir is removed by
# the next run). The guest sees nothing of the host's containers and the host
# none of the guest's, so the host's test lock (/tmp/capsa-test-suite.lock)
# is taken only with CAPSA_CGROUP2_LOCK=1: TCG keeps both CPUs busy, which can
# slow host tests that assert on deadlines. The guest reads this checkout's
# build/ live: do not rebuild while it runs.
set -euo pipefail
# Everything is in main(), read whole before it runs: bash reads a script as it
# goes, and this one runs for many minutes while the checkout may change.
main() {
  cd "$(dirname "$0")/../.."
  REPO=$(pwd)
  
  ONLY='^(cgroups.*|systemd-cgroup|core-lifecycle|exec|library)\.test\.js$'
  TIMEOUT_MIN=60
  while [ $# -gt 0 ]; do
    case "$1" in
      --only) ONLY=$2; shift 2 ;;
      --timeout) TIMEOUT_MIN=$2; shift 2 ;;
      *) echo "usage: $0 [--only REGEX] [--timeout MINUTES]" >&2; exit 2 ;;
    esac
  done

  say() { echo "test:cgroup2: $*" >&2; }
  # The guest mounts its own /tmp, /run, /proc, /sys and /dev over the host's.
  case "$REPO/" in
    /tmp/*|/run/*|/proc/*|/sys/*|/dev/*) say "the checkout ($REPO) must not be under /tmp, /run, /proc, /sys or /dev: the guest mounts its own there"; exit 1 ;;
  esac
  [ "$(id -u)" = 0 ] || { say "needs root"; exit 1; }
  [ "$(uname -m)" = x86_64 ] || { say "only x86_64 hosts are supported (the guest runs this host's userland)"; exit 1; }

  # ---- what the host needs ----
  need=()
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  command -v cpio >/dev/null || need+=(cpio)
  [ -x /bin/busybox ] || need+=(busybox-static)
  [ -x /lib/systemd/systemd ] && command -v busctl >/dev/null || need+=(systemd)
  [ -e /lib/systemd/system/dbus.service ] || need+=(dbus)
  command -v dbus-daemon >/dev/null || need+=(dbus-daemon)
  command -v depmod >/dev/null || [ -x /usr/sbin/depmod ] || need+=(kmod)
  if [ "${#need[@]}" -gt 0 ]; then
    say "installing ${need[*]}"
    # No package may start a service on this host while it installs (see
    # scripts/engine-setup.sh): a policy-rc.d that refuses, for the install only.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      made_policy=1
    fi
    (timeout 300 apt-get update -qq || true) >/dev/null 2>&1
    # --no-install-recommends: systemd alone, never systemd-sysv (the host's init stays as it is).
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    [ "$made_policy" = 1 ] && rm -f "$policy"
  fi

  # ---- the guest's kernel: Debian's linux-image-6.1, unpacked, not installed ----
  CACHE=/var/cache/capsa-cgroup2
  mkdir -p "$CACHE"
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  case "$pkg" in
    linux-image-6.1.*-amd64) ;;
    *) say "linux-image-amd64 depends on '${pkg:-nothing}', not a 6.1 kernel; this script wants Debian 12's linux-image-6.1"; exit 1 ;;
  esac
  KVER=${pkg#linux-image-}
  KDIR=$CACHE/$KVER
  if [ ! -e "$KDIR/.complete" ]; then
    say "fetching $pkg (once; kept in $KDIR)"
    rm -rf "$KDIR" "$CACHE"/*.deb.part
    dl=$(mktemp -d /tmp/capsa-cgroup2-dl.XXXXXX)
    chmod 755 "$dl"
    (cd "$dl" && timeout 600 apt-get download -qq "$pkg" 2>/dev/null) || {
      (timeout 300 apt-get update -qq || true) >/dev/null 2>&1
      (cd "$dl" && timeout 600 apt-get download -qq "$pkg")
    }
    mkdir -p "$KDIR.part"
    dpkg-deb -x "$dl"/"$pkg"_*.deb "$KDIR.part"
    # modules.dep is made at install time; without it nothing loads in the guest
    PATH=$PATH:/usr/sbin:/sbin depmod -b "$KDIR.part" "$KVER"
    rm -rf "$dl"
    mv "$KDIR.part" "$KDIR"
    touch "$KDIR/.complete"
    # older kernels from earlier runs
    for old in "$CACHE"/6.1.*-amd64; do [ "$old" = "$KDIR" ] || rm -rf "$old"; done
  fi
  VMLINUZ=$KDIR/boot/vmlinuz-$KVER
  MODDIR=$KDIR/lib/modules/$KVER

  # ---- work dir, and cleanup whatever happens ----
  # Work dirs of runs that were SIGKILLed (their script is gone) go first.
  for old in /tmp/capsa-cgroup2-guest.*; do
    [ -d "$old" ] && [ -n "$(find "$old" -maxdepth 0 -mmin +1)" ] || continue
    owner=$(cat "$old/owner" 2>/dev/null || true)
    [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null || rm -rf "$old"
  done
  WORK=$(mktemp -d /tmp/capsa-cgroup2-guest.XXXXXX)
  echo $$ >"$WORK/owner"
  QEMU_PID=
  TAIL_PID=
  cleanup() {
    [ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null || true
    if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
      kill -KILL "$QEMU_PID" 2>/dev/null || true
      wait "$QEMU_PID" 2>/dev/null || true
    fi
    # The last run's logs stay in build/ (not the host's /tmp) for a look afterwards.
    mkdir -p "$REPO/build/cgroup2-guest"
    cp -f "$WORK"/console.log "$WORK"/results.log "$REPO/build/cgroup2-guest/" 2>/dev/null || true
    rm -rf "$WORK"
  }
  trap cleanup EXIT
  trap 'say "interrupted"; exit 130' INT
  trap 'say "terminated"; exit 143' TERM

  # ---- initramfs: busybox, the 9p/overlay modules, /init, the run's settings ----
  INITRD=$WORK/initramfs
  mkdir -p "$INITRD"/{bin,modules,proc,sys,dev}
  cp /bin/busybox "$INITRD/bin/busybox"
  for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay virtio_blk; do
    f=$(find "$MODDIR/kernel" -name "$m.ko" | head -1)
    [ -n "$f" ] || { say "module $m.ko is not in $pkg"; exit 1; }
    cp "$f" "$INITRD/modules/"
  done
  install -m 755 scripts/cgroup2/initramfs-init.sh "$INITRD/init"
  {
    printf 'KVER=%q\n' "$KVER"
    printf 'REPO=%q\n' "$REPO"
    printf 'ONLY=%q\n' "$ONLY"
  } >"$INITRD/guest.env"
  (cd "$INITRD" && find . | cpio -o -H newc --quiet) >"$WORK/initramfs.cpio"

  # A small empty disk: a block device for the io controller's limits (io.max, io.weight).
  truncate -s 64M "$WORK/disk.img"

  # ---- boot ----
  CONSOLE=$WORK/console.log
  RESULTS=$WORK/results.log
  : >"$RESULTS"
  # (lead's edit) The host's test lock is taken only when asked for
  # (CAPSA_CGROUP2_LOCK=1): a guest run lasts tens of minutes under TCG, and
  # holding the lock for all of it starved every other worktree's test runs on
  # this shared machine. In CI the guest runs after the host suite, so nothing
  # overlaps there anyway.
  if [ "${CAPSA_CGROUP2_LOCK:-0}" = 1 ]; then
    exec 9>/tmp/capsa-test-suite.lock
    say "waiting for the host's test lock (/tmp/capsa-test-suite.lock)"
    flock 9
  fi
  say "booting the guest: kernel $KVER, cgroup_no_v1=all, systemd as PID 1, tests: $ONLY"
  t0=$(date +%s)
  # -accel tcg: KVM guests hang before the kernel prints anything on this machine kind.
  setpriv --pdeathsig KILL -- timeout --kill-after=10 "$((TIMEOUT_MIN * 60))" \
    setpriv --pdeathsig KILL -- qemu-system-x86_64 \
      -accel tcg,thread=multi -cpu max -smp 2 -m 3072 \
      -nodefaults -no-user-config -display none -monitor none -no-reboot \
      -kernel "$VMLINUZ" -initrd "$WORK/initramfs.cpio" \
      -append "console=ttyS0 cgroup_no_v1=all panic=-1 psi=1 systemd.unit=capsa-guest.target systemd.show_status=1 systemd.log_target=console" \
      -virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap" \
      -virtfs "local,path=$MODDIR,mount_tag=modules,security_model=passthrough,readonly=on,multidevs=remap" \
      -drive "file=$WORK/disk.img,format=raw,if=virtio" \
    -serial "file:$CONSOLE" -serial "file:$RESULTS" \
      -nic none 9>&- </dev/null >"$WORK/qemu.out" 2>&1 &
  QEMU_PID=$!
  tail -n +1 -f "$RESULTS" --pid "$QEMU_PID" 2>/dev/null &
  TAIL_PID=$!
  set +e
  wait "$QEMU_PID"
  qemu_rc=$?
  set -e
  QEMU_PID=
  wait "$TAIL_PID" 2>/dev/null || true
  TAIL_PID=
  exec 9>&-
  secs=$(( $(date +%s) - t0 ))

  # ---- the verdict ----
  guest_rc=$(sed -n 's/.*cgroup2-guest-exit: \([0-9]*\).*/\1/p' "$RESULTS" | tail -1)
  info=$(grep -a 'cgroup2-guest-info:' "$RESULTS" | tail -1 || true)
  summary=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$RESULTS" | tail -1 || true)
  if [ -z "$guest_rc" ]; then
    say "the guest did not finish (qemu exit $qemu_rc after $secs s); its console (all of it: build/cgroup2-guest/console.log):"
    tail -n 60 "$CONSOLE" >&2 || true
    cat "$WORK/qemu.out" >&2 || true
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo
  echo "cgroup2 guest: /sys/fs/cgroup $(sed -n 's/.*fstype=\([^ ]*\).*/\1/p' <<<"$info"), systemd $(sed -n 's/.*systemd=\(.*\)$/\1/p' <<<"$info"), kernel $KVER, guest ran $secs s (boot to poweroff, TCG)"
  echo "${summary:-0 passed, 1 failed}"
  [ "$guest_rc" = 0 ] && [ -n "$summary" ]
}
main "$@"
exit
