// OCI action names -> the 32-bit SECCOMP_RET_* values a filter returns.

import { invalid } from './arch';

// linux/seccomp.h
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

const ACTION_MASK = 0xffff0000;
const DATA_MAX = 0xffff; // SECCOMP_RET_DATA is the low 16 bits
const EPERM = 1;

interface ActionKind {
  readonly base: number;
  /** ERRNO and TRACE carry a 16-bit value (errno / tracer message). */
  readonly takesErrno: boolean;
}

const ACTIONS: Readonly<Record<string, ActionKind>> = Object.freeze({
  SCMP_ACT_KILL: { base: SECCOMP_RET.KILL_THREAD, takesErrno: false },
  SCMP_ACT_KILL_THREAD: { base: SECCOMP_RET.KILL_THREAD, takesErrno: false },
  SCMP_ACT_KILL_PROCESS: { base: SECCOMP_RET.KILL_PROCESS, takesErrno: false },
  SCMP_ACT_TRAP: { base: SECCOMP_RET.TRAP, takesErrno: false },
  SCMP_ACT_ERRNO: { base: SECCOMP_RET.ERRNO, takesErrno: true },
  SCMP_ACT_TRACE: { base: SECCOMP_RET.TRACE, takesErrno: true },
  SCMP_ACT_ALLOW: { base: SECCOMP_RET.ALLOW, takesErrno: false },
  SCMP_ACT_LOG: { base: SECCOMP_RET.LOG, takesErrno: false },
  SCMP_ACT_NOTIFY: { base: SECCOMP_RET.USER_NOTIF, takesErrno: false },
});

/**
 * Encode `action` (+ optional errno) as a filter return value. `actionPath`
 * and `errnoPath` name the config fields for error messages.
 */
export function encodeAction(action: unknown, errnoRet: unknown, actionPath: string, errnoPath: string): number {
  if (typeof action !== 'string') throw invalid(actionPath, `must be a string, got ${JSON.stringify(action)}`);
  const kind = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
  if (!kind) throw invalid(actionPath, `unknown action "${action}"`);
  if (errnoRet === undefined || errnoRet === null) {
    // runtime-spec: errno defaults to EPERM (runc does the same for TRACE)
    return (kind.takesErrno ? kind.base | EPERM : kind.base) >>> 0;
  }
  if (!kind.takesErrno) throw invalid(errnoPath, `${action} does not take an errno (got ${JSON.stringify(errnoRet)})`);
  if (typeof errnoRet !== 'number' || !Number.isInteger(errnoRet) || errnoRet < 0 || errnoRet > DATA_MAX) {
    throw invalid(errnoPath, `${JSON.stringify(errnoRet)} is not an integer in 0..${DATA_MAX}`);
  }
  return (kind.base | errnoRet) >>> 0;
}

export function isNotifyAction(value: number): boolean {
  return ((value & ACTION_MASK) >>> 0) === SECCOMP_RET.USER_NOTIF;
}
