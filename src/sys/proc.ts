// Facts about processes and the host kernel read from /proc. A /proc that
// cannot be read (not mounted, a tmpfs over it, a denied file) is a one-line
// CapsaError naming the file, never a crash further on.
import * as fs from 'node:fs';
import { CapsaError, fromSystemError } from '../errors';

export interface ProcStat {
  state: string; // R, S, D, Z, T, ...
  ppid: number;
  startTime: number; // clock ticks after boot: with the pid, identifies a process
}

let scratch = Buffer.allocUnsafe(0);

/**
 * The whole of a small file (most of /proc), as latin1: open, read(2) to EOF
 * into one reused buffer, close. fs.readFileSync with any encoding but utf8
 * takes a slower path (fstat, then growing reads): ~50 µs for a
 * /proc/<pid>/stat here against ~15 µs, and an exec reads several. Errors
 * are fs's own (code ENOENT, ESRCH …).
 */
export function readSmallFile(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    if (!scratch.length) scratch = Buffer.allocUnsafe(4096);
    let n = 0;
    for (;;) {
      if (n === scratch.length) {
        const bigger = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(bigger);
        scratch = bigger;
      }
      const got = fs.readSync(fd, scratch, n, scratch.length - n, null);
      if (got === 0) return scratch.toString('latin1', 0, n);
      n += got;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a file under /proc; any failure is a CapsaError naming it. */
export function readProcFile(file: string): string {
  try {
    return readSmallFile(file);
  } catch (e) {
    throw procError(e, file);
  }
}

function procError(e: unknown, file: string): CapsaError {
  const err = fromSystemError(e, `read ${file}`);
  return new CapsaError(err.code, `${err.message} (is procfs mounted on /proc?)`, { errno: err.errno, cause: e });
}

/** Parses the text of a /proc/<pid>/stat file; undefined when it is not one. */
export function parseProcStat(text: string): ProcStat | undefined {
  // comm may contain spaces and parentheses: fields start after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = text.slice(close + 2).split(' ');
  const st = { state: rest[0] ?? '', ppid: Number(rest[1]), startTime: Number(rest[19]) };
  return st.state && Number.isInteger(st.ppid) && Number.isInteger(st.startTime) ? st : undefined;
}

/**
 * Parses /proc/<pid>/stat; undefined when the process does not exist. A
 * /proc that cannot be read or does not look like procfs is an error: a
 * missing process and a missing /proc must not look alike.
 */
export function readProcStat(pid: number): ProcStat | undefined {
  const file = `/proc/${pid}/stat`;
  let text: string;
  try {
    text = readSmallFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'ENOENT' || code === 'ESRCH') && procMounted()) return undefined;
    throw procError(e, file);
  }
  const st = parseProcStat(text);
  if (!st) throw new CapsaError('SYSCALL', `read ${file}: not in the format of procfs (is procfs mounted on /proc?)`);
  return st;
}

/** This process's start time: a process always has one, so no answer is an error. */
export function ownStartTime(): number {
  const st = readProcStat(process.pid);
  if (!st) throw new CapsaError('SYSCALL', `read /proc/${process.pid}/stat: no such file or directory (is procfs mounted on /proc?)`);
  return st.startTime;
}

// /proc/self exists whenever procfs is mounted on /proc (of any pid namespace).
function procMounted(): boolean {
  try {
    fs.statSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}

/** True when pid still names the process that started at startTime and has not exited. */
export function isAlive(pid: number, startTime: number): boolean {
  if (pid <= 0) return false;
  const st = readProcStat(pid);
  return st !== undefined && st.startTime === startTime && st.state !== 'Z' && st.state !== 'X';
}

let lastCap: number | undefined;
export function hostLastCap(): number {
  if (lastCap === undefined) {
    const file = '/proc/sys/kernel/cap_last_cap';
    const value = Number(readProcFile(file).trim());
    if (!Number.isInteger(value) || value < 0 || value > 63) throw new CapsaError('SYSCALL', `read ${file}: unexpected content`);
    lastCap = value;
  }
  return lastCap;
}
