#!/bin/sh
# dist/containerd-shim-capsa-v2, written by scripts/bundle.mjs from
# scripts/shim-launcher.sh: NODE below becomes the absolute path of the Node
# that built capsa (containerd's PATH may only have another node, such as
# Debian's node 18).
#
# containerd runs `<shim> ... delete` whenever its connection to a shim
# closes, after every task, and waits for it. When the daemon deleted the
# task itself, it left the answer (a DeleteResponse, octal-escaped) in the
# bundle: print it without starting Node.
#
# `start`, when a spare shim waits (src/shim/spare.ts; SPARE below is its
# path, also fixed at build time): hand the request to it through its FIFO
# and print the address it answers; the spare reads the rest (arguments,
# bundle, environment, and the options on stdin, which it reads from fd 5:
# `read <&4` makes fd 0 the reply FIFO for a while) from /proc/$$. No spare, an error
# before it read stdin, or no answer within 2 s: the ordinary Node `start`
# runs. A failure after that (a bad config file): its one line, exit 1.
#
# Anything else runs the shim.
NODE=node
SPARE=
bundle=.
prev=
last=
for a in "$@"; do
  case $prev in -bundle|--bundle) bundle=$a ;; esac
  case $a in -bundle=*|--bundle=*) bundle=${a#*=} ;; esac
  prev=$a
  last=$a
done
# (Redirections: 2>/dev/null comes first, so a failed open prints nothing
# into what containerd reads as the address.)
if [ "$last" = delete ] && [ -f "$bundle/capsa-shim.deleted" ] && IFS= read -r answer 2>/dev/null < "$bundle/capsa-shim.deleted"; then
  printf "$answer"
  exit 0
fi
if [ "$last" = start ] && [ -n "$SPARE" ] && [ -p "$SPARE.req" ] \
  && IFS= read -r spare 2>/dev/null < "$SPARE.pid" && [ -n "$spare" ] \
  && IFS= read -r comm 2>/dev/null < "/proc/$spare/comm" && [ "$comm" = containerd-shim ]; then
  reply="${SPARE%/*}/capsa-reply-$$"
  answer=
  if mkfifo -m 600 "$reply" 2>/dev/null; then
    {
      (trap 'kill $s 2>/dev/null; exit 0' TERM; sleep 2 & s=$!; wait $s; printf 'timeout\n' >"$reply") </dev/null >/dev/null 2>&1 &
      watchdog=$!
      printf '%s %s\n' "$$" "$reply" >&3
      IFS= read -r answer <&4
      kill "$watchdog" 2>/dev/null
    } 2>/dev/null 5<&0 4<>"$reply" 3<>"$SPARE.req"
    rm -f "$reply"
  fi
  case $answer in
    unix://*) printf '%s' "$answer"; exit 0 ;;
    fail\ *) printf 'containerd-shim-capsa-v2: %s\n' "${answer#fail }" >&2; exit 1 ;;
  esac
fi
self=$(readlink -f "$0")
exec "$NODE" --no-warnings "${self%/*}/containerd-shim-capsa-v2.cjs" "$@"
