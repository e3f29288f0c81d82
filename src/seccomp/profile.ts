// Validate the OCI linux.seccomp object and normalise it: actions encoded,
// argument values as unsigned 64-bit bigints, flags as seccomp() bits.

import { encodeAction, isNotifyAction } from './actions';
import { invalid } from './arch';

export type CompareOp = 'NE' | 'LT' | 'LE' | 'EQ' | 'GE' | 'GT' | 'MASKED_EQ';

const OPS: Readonly<Record<string, CompareOp>> = Object.freeze({
  SCMP_CMP_NE: 'NE',
  SCMP_CMP_LT: 'LT',
  SCMP_CMP_LE: 'LE',
  SCMP_CMP_EQ: 'EQ',
  SCMP_CMP_GE: 'GE',
  SCMP_CMP_GT: 'GT',
  SCMP_CMP_MASKED_EQ: 'MASKED_EQ',
});

export interface ArgCondition {
  /** Which of the six syscall arguments. */
  readonly index: number;
  readonly op: CompareOp;
  /** For MASKED_EQ this is the mask. */
  readonly value: bigint;
  /** For MASKED_EQ, what the masked argument must equal; unused otherwise. */
  readonly valueTwo: bigint;
  readonly path: string;
}

export interface SyscallRule {
  readonly names: readonly string[];
  readonly action: number;
  /** All must hold (AND). An empty list matches every call. */
  readonly conditions: readonly ArgCondition[];
  readonly path: string;
}

// linux/seccomp.h SECCOMP_FILTER_FLAG_*
export const FILTER_FLAG = {
  TSYNC: 1 << 0,
  LOG: 1 << 1,
  SPEC_ALLOW: 1 << 2,
  NEW_LISTENER: 1 << 3,
  TSYNC_ESRCH: 1 << 4,
  WAIT_KILLABLE_RECV: 1 << 5,
} as const;

const CONFIG_FLAGS: Readonly<Record<string, number>> = Object.freeze({
  SECCOMP_FILTER_FLAG_TSYNC: FILTER_FLAG.TSYNC,
  SECCOMP_FILTER_FLAG_LOG: FILTER_FLAG.LOG,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: FILTER_FLAG.SPEC_ALLOW,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: FILTER_FLAG.WAIT_KILLABLE_RECV,
});

const ARG_COUNT = 6;
const U64_LIMIT = 1n << 64n;

export function parseDefaultAction(profile: Record<string, unknown>): number {
  const path = 'linux.seccomp.defaultAction';
  if (profile.defaultAction === undefined) throw invalid(path, 'is required');
  const value = encodeAction(profile.defaultAction, profile.defaultErrnoRet, path, 'linux.seccomp.defaultErrnoRet');
  // The filter is loaded before capsa-init's last syscalls; nobody could answer them yet.
  if (isNotifyAction(value)) throw invalid(path, 'SCMP_ACT_NOTIFY cannot be the default action');
  return value;
}

export function parseRules(syscalls: unknown): SyscallRule[] {
  const path = 'linux.seccomp.syscalls';
  if (syscalls === undefined || syscalls === null) return [];
  if (!Array.isArray(syscalls)) throw invalid(path, 'must be an array');
  return syscalls.map((entry: unknown, i) => parseRule(entry, `${path}[${i}]`));
}

function parseRule(entry: unknown, path: string): SyscallRule {
  if (!isObject(entry)) throw invalid(path, 'must be an object');
  const { names, args } = entry;
  if (!Array.isArray(names) || names.length === 0) throw invalid(`${path}.names`, 'must be a non-empty array of syscall names');
  names.forEach((name: unknown, j) => {
    if (typeof name !== 'string' || name === '') throw invalid(`${path}.names[${j}]`, `must be a syscall name, got ${JSON.stringify(name)}`);
  });
  const action = encodeAction(entry.action, entry.errnoRet, `${path}.action`, `${path}.errnoRet`);
  let conditions: ArgCondition[] = [];
  if (args !== undefined && args !== null) {
    if (!Array.isArray(args)) throw invalid(`${path}.args`, 'must be an array');
    conditions = args.map((arg: unknown, j) => parseCondition(arg, `${path}.args[${j}]`));
  }
  return { names: names as string[], action, conditions, path };
}

function parseCondition(arg: unknown, path: string): ArgCondition {
  if (!isObject(arg)) throw invalid(path, 'must be an object');
  const { index, op } = arg;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= ARG_COUNT) {
    throw invalid(`${path}.index`, `${JSON.stringify(index)} is not an argument index 0..${ARG_COUNT - 1}`);
  }
  if (typeof op !== 'string' || !Object.hasOwn(OPS, op)) throw invalid(`${path}.op`, `unknown operator ${JSON.stringify(op)}`);
  const value = toU64(arg.value, `${path}.value`);
  const valueTwo = arg.valueTwo === undefined || arg.valueTwo === null ? 0n : toU64(arg.valueTwo, `${path}.valueTwo`);
  return { index, op: OPS[op]!, value, valueTwo, path };
}

/**
 * Argument values are uint64 in the spec. JSON numbers above 2^53 arrive
 * rounded, so bigints are accepted too; negative integers are taken as their
 * two's-complement u64 (what a C caller passing -1 puts in the register).
 */
function toU64(value: unknown, path: string): bigint {
  let big: bigint;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number' && Number.isInteger(value)) big = BigInt(value);
  else throw invalid(path, `${JSON.stringify(value) ?? String(value)} is not an integer`);
  if (big < 0n && big >= -(U64_LIMIT >> 1n)) big += U64_LIMIT;
  if (big < 0n || big >= U64_LIMIT) throw invalid(path, `${big} does not fit in 64 bits`);
  return big;
}

/**
 * seccomp() flag bits for the listed flags, plus those notification needs.
 * No `flags` field at all (not even an empty list) means SPEC_ALLOW where the
 * kernel has it, as in runc >= 1.2 and crun: the filter then does not turn on
 * the Speculative Store Bypass mitigation for the container.
 */
export function parseFlags(flags: unknown, needsNotifyListener: boolean, warnings: string[], specAllowByDefault = false): number {
  const path = 'linux.seccomp.flags';
  let bits = 0;
  if (flags === undefined || flags === null) {
    if (specAllowByDefault) bits |= FILTER_FLAG.SPEC_ALLOW;
  } else {
    if (!Array.isArray(flags)) throw invalid(path, 'must be an array of strings');
    flags.forEach((flag: unknown, i) => {
      if (typeof flag !== 'string' || !Object.hasOwn(CONFIG_FLAGS, flag)) {
        throw invalid(`${path}[${i}]`, `unknown flag ${JSON.stringify(flag)}`);
      }
      bits |= CONFIG_FLAGS[flag]!;
    });
  }
  if (!needsNotifyListener) {
    if (bits & FILTER_FLAG.WAIT_KILLABLE_RECV) {
      // the kernel rejects it without a listener
      warnings.push('seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only applies with SCMP_ACT_NOTIFY, ignoring it');
      bits &= ~FILTER_FLAG.WAIT_KILLABLE_RECV;
    }
    return bits;
  }
  bits |= FILTER_FLAG.NEW_LISTENER;
  // TSYNC and NEW_LISTENER together are EINVAL unless TSYNC_ESRCH is set
  if (bits & FILTER_FLAG.TSYNC) bits |= FILTER_FLAG.TSYNC_ESRCH;
  return bits;
}

export function validateListener(profile: Record<string, unknown>): void {
  const { listenerPath, listenerMetadata } = profile;
  if (listenerPath !== undefined && typeof listenerPath !== 'string') {
    throw invalid('linux.seccomp.listenerPath', 'must be a string');
  }
  if (listenerMetadata !== undefined && typeof listenerMetadata !== 'string') {
    throw invalid('linux.seccomp.listenerMetadata', 'must be a string');
  }
  if (listenerMetadata !== undefined && !listenerPath) {
    throw invalid('linux.seccomp.listenerMetadata', 'is set but listenerPath is not');
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Syscalls capsa-init makes after loading a notifying filter and before the
 * agent has its fd (passing the fd to the runtime, telling it so): a rule
 * notifying on them would wait for an agent that cannot answer yet. runc
 * refuses "write" for the same reason.
 */
const USED_BEFORE_AGENT = ['sendmsg', 'sendto', 'socketcall'];

/** The agent's address for a profile that notifies. */
export function notifyListener(profile: Record<string, unknown>, rules: readonly SyscallRule[]): { path: string; metadata?: string } {
  const path = profile.listenerPath;
  if (typeof path !== 'string' || path === '') {
    throw invalid('linux.seccomp.listenerPath', 'SCMP_ACT_NOTIFY is used but no listenerPath (the seccomp agent\'s socket) is given');
  }
  for (const rule of rules) {
    if (!isNotifyAction(rule.action)) continue;
    const bad = rule.names.find((n) => USED_BEFORE_AGENT.includes(n));
    if (bad) throw invalid(`${rule.path}.action`, `SCMP_ACT_NOTIFY cannot be used for ${bad}: capsa-init needs it to hand the notify fd to the agent`);
  }
  const metadata = profile.listenerMetadata;
  return typeof metadata === 'string' && metadata !== '' ? { path, metadata } : { path };
}
