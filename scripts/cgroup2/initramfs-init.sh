#!/bin/busybox sh
# /init of the cgroup2 guest's initramfs (scripts/cgroup2/run.sh builds it).
# Makes the host's root, shared read-only over 9p, the guest's root: an
# overlay with a tmpfs upper layer, so the guest can write anywhere and the
# host sees none of it. Then hands over to systemd as PID 1 and a unit that
# runs capsa's tests (capsa-guest.service, written here; the run's settings
# come in /guest.env and go on to the guest as /etc/capsa-guest.env).
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "cgroup2-guest-init: $*" >/dev/ttyS1; echo "cgroup2-guest-exit: 125" >/dev/ttyS1; poweroff -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# 9p and overlay live in modules of the guest's kernel; load order matters
# (each needs the ones before it). virtio_blk: the scratch disk run.sh adds,
# a block device for the io controller tests.
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
         netfs fscache 9pnet 9pnet_virtio 9p overlay virtio_blk; do
  insmod "/modules/$m.ko" || fail "insmod $m failed"
done

# KVER, REPO, ONLY (written by run.sh)
. /guest.env

mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower || fail "mount 9p hostroot"
mount -t tmpfs -o size=1536m,mode=755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "mount overlay"
R=/newroot

# The kernel's own modules (modprobe inside the guest), from a second share.
mkdir -p "$R/lib/modules/$KVER"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose modules "$R/lib/modules/$KVER" || fail "mount 9p modules"

# What the host's /etc says about disks, services and terminals does not
# apply here: no fstab entries, and systemd boots only capsa-guest.target.
echo '# cgroup2 guest: no fstab' >"$R/etc/fstab"
mkdir -p "$R/etc/systemd/system"
cat >"$R/etc/systemd/system/capsa-guest.target" <<UNIT
[Unit]
Description=capsa cgroup2 guest: run the tests
Requires=capsa-guest.service dbus.socket
After=capsa-guest.service
AllowIsolate=yes
UNIT
cat >"$R/etc/systemd/system/capsa-guest.service" <<UNIT
[Unit]
Description=capsa tests on a pure cgroup v2 host
Wants=dbus.socket dbus.service
After=dbus.socket dbus.service sysinit.target
[Service]
Type=oneshot
# guest-tests.sh powers the guest off when it ends; if it cannot even start
# (or fails), the guest must not sit there until run.sh's timeout.
FailureAction=poweroff-force
WorkingDirectory=$REPO
ExecStart=/bin/bash $REPO/scripts/cgroup2/guest-tests.sh
UNIT
cp /guest.env "$R/etc/capsa-guest.env"
[ -s "$R/etc/machine-id" ] || echo 0123456789abcdef0123456789abcdef >"$R/etc/machine-id"

# This machine's root marks it as a container (/.dockerenv); the guest is a
# whole machine, and systemd in a container ignores the kernel command line.
rm -f "$R/.dockerenv"

# The host's /tmp is not the guest's: a tmpfs of its own.
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"

umount /proc/sys/fs/binfmt_misc 2>/dev/null
umount /dev /sys /proc || fail "umount initramfs api filesystems"
exec switch_root /newroot /lib/systemd/systemd
