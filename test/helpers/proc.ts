// What the host's /proc says about a process: its state, its cgroup's
// members, and mount tables.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The process's state letter (/proc/PID/stat), or undefined when it is gone. */
export function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Alive = exists and is neither a zombie nor dead. */
export function alive(pid: number): boolean {
  const s = procState(pid);
  return s !== undefined && s !== 'Z' && s !== 'X';
}

/** The pids in the container's pids cgroup (v1 "pids:" or the v2 "0::" line of init's /proc/PID/cgroup). */
export function cgroupProcs(initPid: number): number[] {
  const lines = fs.readFileSync(`/proc/${initPid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => /^\d+:pids:/.test(l));
  const file = v1
    ? path.join('/sys/fs/cgroup/pids', v1.split(':').slice(2).join(':'), 'cgroup.procs')
    : path.join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3), 'cgroup.procs');
  return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(Number).sort((a, b) => a - b);
}

export interface MountInfo {
  id: number;
  parent: number;
  root: string;
  mountpoint: string;
  opts: string[];
  optional: string[];
  fstype: string;
  source: string;
  superOpts: string[];
}

/** Undoes mountinfo's octal escapes (\040 for a space, ...). */
const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Parses /proc/PID/mountinfo text. */
export function parseMountinfo(text: string): MountInfo[] {
  return text.split('\n').filter(Boolean).map((line) => {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    return {
      id: Number(f[0]), parent: Number(f[1]), root: unescape(f[3]!), mountpoint: unescape(f[4]!),
      opts: f[5]!.split(','), optional: f.slice(6, dash), fstype: f[dash + 1]!, source: f[dash + 2]!,
      superOpts: (f[dash + 3] ?? '').split(','),
    };
  });
}
