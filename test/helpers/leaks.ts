// What a test may leave behind on the host: mounts, cgroups, state dirs,
// processes and fds. Taken before and after each integration test; a
// difference fails the test that caused it.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface HostSnapshot {
  mounts: string[];
  cgroups: string[];
  processes: string[];
  stateDirs: string[];
  fds: string[];
}

const TEST_MARK = /capsa-test/;

function testMounts(): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => /capsa/.test(l)).map((l) => l.split(' ').slice(3, 5).join(' '));
}

function testCgroups(): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 4) return;
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (TEST_MARK.test(e.name)) found.push(p);
      walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found.sort();
}

function testProcesses(): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const cgroup = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      const where = (/capsa-test[^\n/]*/.exec(cgroup) ?? [''])[0];
      if (comm === 'capsa-init' || TEST_MARK.test(cgroup)) out.push(`${pid} ${state} ${comm} ${where}`);
    } catch { /* exited while we looked */ }
  }
  return out.sort();
}

function openFds(): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try { target = fs.readlinkSync(`/proc/self/fd/${fd}`); } catch { continue; /* the dir fd itself */ }
    // The runtime's sealed copy of capsa-init: made once per process and kept on purpose.
    if (target === '/memfd:capsa-init (deleted)') continue;
    out.push(`${fd} -> ${target}`);
  }
  return out.sort();
}

export function snapshot(stateRoots: readonly string[]): HostSnapshot {
  const stateDirs: string[] = [];
  for (const root of stateRoots) {
    try { for (const d of fs.readdirSync(root)) stateDirs.push(path.join(root, d)); } catch { /* no root yet */ }
  }
  return { mounts: testMounts(), cgroups: testCgroups(), processes: testProcesses(), stateDirs: stateDirs.sort(), fds: openFds() };
}

/** Lines describing what `after` has that `before` did not. */
export function leaksBetween(before: HostSnapshot, after: HostSnapshot): string[] {
  const leaks: string[] = [];
  for (const key of Object.keys(after) as (keyof HostSnapshot)[]) {
    const old = new Set(before[key]);
    for (const item of after[key]) {
      // fd numbers of pipes/sockets Node opened lazily are not leaks of ours
      if (key === 'fds' && /(pipe|socket|anon_inode):/.test(item)) continue;
      if (!old.has(item)) leaks.push(`${key}: ${item}`);
    }
  }
  return leaks;
}
