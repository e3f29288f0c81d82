// What this kernel's seccomp accepts, for `capsa features` (linux.seccomp:
// enabled, actions, supportedFlags). Asked of the kernel, as libseccomp does
// for runc, not inferred from its version: capsa-init --probe-seccomp tries
// each flag with a NULL program (the kernel checks flags first) and asks
// SECCOMP_GET_ACTION_AVAIL for each action; nothing is loaded, and it runs
// in a child process.
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';

import { SECCOMP_KNOWN_FLAGS, seccompSupportedFlags } from '../seccomp/support';
import { initBinaryPath } from '../sys/paths';

export interface SeccompSupport {
  enabled: boolean;
  flags: string[];
  /** undefined: not probed (every known action). */
  actions?: string[];
  /** Why the kernel was not asked; the flags then follow the kernel version. */
  reason?: string;
}

let cached: SeccompSupport | undefined;

/** Parses the probe's "enabled N" / "flag NAME N" / "action NAME N" lines. */
export function parseSeccompProbe(out: string): SeccompSupport | undefined {
  const lines = out.split('\n').filter(Boolean).map((l) => l.split(' '));
  const enabled = lines.find((l) => l[0] === 'enabled');
  if (!enabled) return undefined;
  const yes = (kind: string) => lines.filter((l) => l[0] === kind && l[2] === '1').map((l) => l[1]!);
  return { enabled: enabled[1] === '1', flags: yes('flag').filter((f) => SECCOMP_KNOWN_FLAGS.includes(f)), actions: yes('action') };
}

export function seccompSupport(): SeccompSupport {
  if (cached) return cached;
  let reason: string;
  try {
    const r = spawnSync(initBinaryPath(), ['--probe-seccomp'], { encoding: 'utf8', timeout: 5_000 });
    const parsed = parseSeccompProbe(r.stdout ?? '');
    if (parsed) return (cached = parsed);
    reason = r.error?.message ?? (r.stderr || `probe exited ${r.status}`).trim();
  } catch (e) {
    reason = (e as Error).message;
  }
  cached = { enabled: true, flags: seccompSupportedFlags(os.release()), reason };
  return cached;
}
