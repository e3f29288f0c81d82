#!/usr/bin/env bash
# Runs a demo container from a bundle capsa makes itself: busybox in fresh
# namespaces, printing what proves it is isolated.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=$(mktemp -d /tmp/capsa-demo-XXXXXX)
trap 'rm -rf "$demo"' EXIT
mkdir -p "$demo/rootfs/bin"
cp /usr/bin/busybox "$demo/rootfs/bin/busybox"
for tool in sh hostname id ls cat echo ps mount; do ln -s busybox "$demo/rootfs/bin/$tool"; done
(cd "$demo" && "$OLDPWD/dist/capsa" spec)
node - "$demo/config.json" <<'JS'
const fs = require('fs');
const file = process.argv[2];
const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
spec.process.terminal = false;
spec.hostname = 'capsa-demo';
spec.process.args = ['/bin/sh', '-c',
  'echo "hostname: $(hostname)"; echo "my pid: $$ (PID 1 of a new pid namespace)"; ' +
  'echo "processes I can see:"; ps -o pid,comm; echo "user: $(id)"; ' +
  'echo "root filesystem:"; ls /; echo "capabilities:"; grep Cap /proc/self/status'];
fs.writeFileSync(file, JSON.stringify(spec, null, 2));
JS
echo "== capsa run (bundle $demo)"
./dist/capsa --root /run/capsa run --bundle "$demo" "capsa-demo-$$"
