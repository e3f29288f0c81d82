// What `capsa features` says about seccomp: the architectures with a syscall
// table and the flags capsa knows. Which flags the running kernel accepts is
// asked of the kernel (src/spec/seccomp-support.ts); the version table below
// is the answer only when that probe cannot run.

import { ARCHES } from './arch';

export const SECCOMP_ARCHS: readonly string[] = Object.keys(ARCHES);

// Linux version that added each flag (seccomp(2)).
const FLAG_SINCE: ReadonlyArray<[string, number, number]> = [
  ['SECCOMP_FILTER_FLAG_TSYNC', 3, 17],
  ['SECCOMP_FILTER_FLAG_LOG', 4, 14],
  ['SECCOMP_FILTER_FLAG_SPEC_ALLOW', 4, 17],
  ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV', 5, 19],
];

export const SECCOMP_KNOWN_FLAGS: readonly string[] = FLAG_SINCE.map(([flag]) => flag);

/** The flags a kernel of this `uname -r` release accepts, by the version each came in. */
export function seccompSupportedFlags(release: string): string[] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return [];
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return FLAG_SINCE.filter(([, maj, min]) => major > maj || (major === maj && minor >= min)).map(([flag]) => flag);
}
