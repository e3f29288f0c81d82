// Signal names and numbers for `kill` and friends (Linux x86_64 numbering).
// Parsing mirrors runc: a decimal number is taken as-is (the kernel rejects
// out-of-range ones with EINVAL), a name is matched case-insensitively with or
// without "SIG", and anything else is `unknown signal "X"`. Unlike runc we
// also accept real-time signals (SIGRTMIN+3, RTMAX-1).

import { CapsaError } from '../errors';

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10,
  SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19,
  TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28,
  IO: 29, PWR: 30, SYS: 31,
};

// Old names kept by the kernel headers; parsed but never printed.
const ALIASES: Record<string, number> = { IOT: 6, CLD: 17, POLL: 29 };

// The kernel's real-time range; glibc reserves 32 and 33 for itself.
export const SIGRTMIN = 34;
export const SIGRTMAX = 64;

const NAME_BY_NUMBER = new Map<number, string>(Object.entries(SIGNALS).map(([name, n]) => [n, `SIG${name}`]));

function unknown(raw: string): CapsaError {
  // JSON quoting matches Go's %q for the strings people type.
  return new CapsaError('INVALID_ARGUMENT', `unknown signal ${JSON.stringify(raw)}`);
}

/** Parse "9", "KILL", "SIGKILL", "kill", "SIGRTMIN+3" into a signal number. */
export function parseSignal(raw: string): number {
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n > 0x7fffffff) throw unknown(raw);
    return n;
  }
  let name = raw.toUpperCase();
  if (name.startsWith('SIG')) name = name.slice(3);
  const known = SIGNALS[name] ?? ALIASES[name];
  if (known !== undefined) return known;
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
    const offset = rt[3] === undefined ? 0 : Number(rt[3]) * (rt[2] === '-' ? -1 : 1);
    const n = base + offset;
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  throw unknown(raw);
}

/**
 * "SIGKILL" for 9; real-time signals are named as `kill -l` names them
 * (SIGRTMIN+1 … SIGRTMIN+15, SIGRTMAX-14 … SIGRTMAX); unknown numbers are
 * returned in decimal.
 */
export function signalName(n: number): string {
  const name = NAME_BY_NUMBER.get(n);
  if (name) return name;
  if (n === SIGRTMIN) return 'SIGRTMIN';
  if (n === SIGRTMAX) return 'SIGRTMAX';
  if (n > SIGRTMIN && n <= SIGRTMIN + 15) return `SIGRTMIN+${n - SIGRTMIN}`;
  if (n > SIGRTMIN + 15 && n < SIGRTMAX) return `SIGRTMAX-${SIGRTMAX - n}`;
  return String(n);
}
