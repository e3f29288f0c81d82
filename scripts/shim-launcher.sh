#!/bin/sh
# dist/containerd-shim-capsa-v2, written by scripts/bundle.mjs from
# scripts/shim-launcher.sh: NODE below becomes the absolute path of the Node
# that built capsa (containerd's PATH may only have another node, such as
# Debian's node 18).
#
# containerd runs `<shim> ... delete` whenever its connection to a shim
# closes, after every task, and waits for it. When the daemon deleted the
# task itself, it left the answer (a DeleteResponse, octal-escaped) in the
# bundle: print it without starting Node. Anything else runs the shim.
NODE=node
bundle=.
prev=
last=
for a in "$@"; do
  case $prev in -bundle|--bundle) bundle=$a ;; esac
  case $a in -bundle=*|--bundle=*) bundle=${a#*=} ;; esac
  prev=$a
  last=$a
done
if [ "$last" = delete ] && [ -f "$bundle/capsa-shim.deleted" ] && IFS= read -r answer < "$bundle/capsa-shim.deleted"; then
  printf "$answer"
  exit 0
fi
self=$(readlink -f "$0")
exec "$NODE" --no-warnings "${self%/*}/containerd-shim-capsa-v2.cjs" "$@"
