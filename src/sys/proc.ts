// Facts about processes and the host kernel read from /proc.
import * as fs from 'node:fs';

export interface ProcStat {
  state: string; // R, S, D, Z, T, ...
  ppid: number;
  startTime: number; // clock ticks after boot: with the pid, identifies a process
}

/** Parses /proc/<pid>/stat; undefined when the process does not exist. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: fields start after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0]!, ppid: Number(rest[1]), startTime: Number(rest[19]) };
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
    try {
      lastCap = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'latin1').trim());
    } catch {
      lastCap = 40;
    }
  }
  return lastCap;
}
