#!/bin/bash
# Runs inside the cgroup2 guest as capsa-guest.service (systemd is PID 1):
# says what kind of host this is, runs the chosen test files through
# scripts/run-tests.mjs, and powers the guest off. Everything goes to the
# second serial port, which scripts/cgroup2/run.sh reads on the host.
out=/dev/ttyS1
stty -F "$out" raw -echo 2>/dev/null
exec >"$out" 2>&1
cd "$(dirname "$0")/../.."
# ONLY: the test files to run (scripts/cgroup2/run.sh --only)
. /etc/capsa-guest.env

fstype=$(stat -f -c %T /sys/fs/cgroup)
version=$(busctl get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager Version 2>&1 | sed -n 's/^s "\(.*\)"$/\1/p')
echo "cgroup2-guest: kernel $(uname -r), /sys/fs/cgroup is $fstype, controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "cgroup2-guest: PID 1 is $(cat /proc/1/comm), systemd version $version (D-Bus org.freedesktop.systemd1.Manager.Version)"
echo "cgroup2-guest-info: fstype=$fstype systemd=${version:-none}"

rc=0
if [ "$fstype" != cgroup2fs ] || [ -z "$version" ]; then
  echo "cgroup2-guest: not a pure cgroup v2 host with systemd; not running the tests"
  rc=125
else
  start=$(date +%s)
  node scripts/run-tests.mjs --only "$ONLY" integration
  rc=$?
  echo "cgroup2-guest: tests took $(( $(date +%s) - start )) s"
fi
echo "cgroup2-guest-exit: $rc"
sync
systemctl poweroff --force --force
