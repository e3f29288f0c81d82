// compileSeccomp: OCI linux.seccomp -> a classic BPF program for seccomp(2).

import * as os from 'node:os';
import type { Seccomp } from '../spec/types';
import { invalid, nativeArch, selectArches } from './arch';
import { emitFilter, planFilter } from './filter';
import { isObject, notifyListener, parseDefaultAction, parseFlags, parseRules, validateListener } from './profile';

export interface CompiledSeccomp {
  /** struct sock_filter[]: 8 bytes each, little-endian u16 code, u8 jt, u8 jf, u32 k. */
  program: Buffer;
  /** SECCOMP_FILTER_FLAG_* bits to pass to seccomp(SECCOMP_SET_MODE_FILTER). */
  flags: number;
  /** Things skipped or adjusted that the user should hear of, one line each. */
  warnings: string[];
  /** Routine skips (a syscall only other ABIs have), one line each, for a debug log. */
  notes: string[];
  /**
   * Some rule returns SCMP_ACT_NOTIFY: flags include NEW_LISTENER, and the
   * fd seccomp() returns must reach the agent at listenerPath.
   */
  needsNotifyListener: boolean;
  /** With needsNotifyListener: the agent's socket and the metadata it gets. */
  listener?: { path: string; metadata?: string };
}

/** What the host allows, where it changes the compiled result. */
export interface SeccompHostOptions {
  /**
   * SECCOMP_FILTER_FLAG_SPEC_ALLOW (Linux >= 4.17) is set when the profile
   * gives no `flags` at all, as runc >= 1.2 and crun do. Default: from the
   * running kernel's version.
   */
  specAllowSupported?: boolean;
}

/**
 * Compile `profile` for a process whose native ABI is `arch` (Node's naming).
 * The native ABI is always covered; listed architectures are added. Throws
 * CapsaError INVALID_CONFIG naming the offending field.
 */
export function compileSeccomp(profile: Seccomp, arch: NodeJS.Architecture = process.arch, host: SeccompHostOptions = {}): CompiledSeccomp {
  const raw: unknown = profile;
  if (!isObject(raw)) throw invalid('linux.seccomp', 'must be an object');
  const warnings: string[] = [];
  const notes: string[] = [];
  const defaultAction = parseDefaultAction(raw);
  validateListener(raw);
  const rules = parseRules(raw.syscalls);
  const native = nativeArch(arch);
  const arches = selectArches(raw.architectures, native, warnings);
  const plan = planFilter(rules, arches, defaultAction, { warnings, notes });
  const specAllow = host.specAllowSupported ?? kernelAtLeast(os.release(), 4, 17);
  const flags = parseFlags(raw.flags, plan.needsNotifyListener, warnings, specAllow);
  const listener = plan.needsNotifyListener ? notifyListener(raw, rules) : undefined;
  return { program: emitFilter(plan, native.bigEndian), flags, warnings, notes, needsNotifyListener: plan.needsNotifyListener, ...(listener ? { listener } : {}) };
}

/** Whether a `uname -r` string is at least major.minor. */
export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}
