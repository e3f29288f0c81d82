// What capsa may leave on the host, looked at from outside: mounts, cgroup
// directories, processes, state directories. Used by the end-of-run leak
// check (leaks.test.ts) and by the reliability tests to check one container
// (by id) is completely gone after a crash, a fuzz case or a race.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CGROUP_ROOT = '/sys/fs/cgroup';
/** capsa's default cgroup parent (src/cgroups/paths.ts DEFAULT_CGROUP_PARENT). */
export const DEFAULT_CGROUP_PARENT = 'capsa';

export interface CgroupDir {
  path: string;
  procs: number[];
  children: string[];
}

function readInts(file: string): number[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function subdirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** Every cgroup directory at depth ≤ maxDepth below /sys/fs/cgroup whose name matches. */
export function cgroupDirs(match: (name: string, full: string) => boolean, maxDepth = 4): CgroupDir[] {
  const out: CgroupDir[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > maxDepth) return;
    for (const name of subdirs(dir)) {
      const full = path.join(dir, name);
      if (match(name, full)) out.push({ path: full, procs: readInts(path.join(full, 'cgroup.procs')), children: subdirs(full) });
      walk(full, depth + 1);
    }
  };
  walk(CGROUP_ROOT, 1);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** All cgroup directory paths (any name), for before/after diffs. */
export function allCgroupPaths(maxDepth = 5): string[] {
  return cgroupDirs(() => true, maxDepth).map((d) => d.path);
}

export function mountLines(): string[] {
  try {
    return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** "mountpoint fstype source" of every mount whose mountinfo line matches. */
export function mountsMatching(re: RegExp): string[] {
  return mountLines().filter((l) => re.test(l)).map((l) => {
    const f = l.split(' ');
    const dash = f.indexOf('-');
    return `${f[4]} ${f[dash + 1]} ${f[dash + 2]}`;
  });
}

export interface ProcInfo {
  pid: number;
  comm: string;
  state: string;
  cgroup: string;
  startTime: number;
}

export function procInfo(pid: number): ProcInfo | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const rest = stat.slice(close + 2).split(' ');
    let cgroup = '';
    try { cgroup = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'); } catch { /* zombie or gone */ }
    return { pid, comm, state: rest[0]!, cgroup, startTime: Number(rest[19]) };
  } catch {
    return undefined;
  }
}

export function allProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const p = procInfo(Number(e));
    if (p) out.push(p);
  }
  return out;
}

const fmtProc = (p: ProcInfo) => `${p.pid} ${p.comm} (${p.state}) ${p.cgroup.split('\n').find((l) => /capsa/.test(l)) ?? ''}`.trim();

/** Is the process still alive (not gone, not a zombie) and the same one (start time)? */
export function alive(pid: number, startTime?: number): boolean {
  const p = procInfo(pid);
  if (!p || p.state === 'Z' || p.state === 'X') return false;
  return startTime === undefined || p.startTime === startTime;
}

/**
 * What is left of one container: its state dir, any cgroup dir named after
 * it, mounts naming it, processes in its cgroup, and its recorded init
 * process. Zombies count (the host's init reaps orphans within seconds).
 */
export function containerTraces(root: string, id: string, init?: { pid: number; startTime?: number }): string[] {
  const traces: string[] = [];
  const stateDir = path.join(root, id);
  if (fs.existsSync(stateDir)) {
    let entries: string[] = [];
    try { entries = fs.readdirSync(stateDir); } catch { /* vanished */ }
    traces.push(`state dir ${stateDir} [${entries.join(', ')}]`);
  }
  for (const d of cgroupDirs((name) => name === id)) traces.push(`cgroup ${d.path} procs=[${d.procs.join(',')}]`);
  const idRe = new RegExp(`(^|[/ ])${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([/ ]|$)`);
  for (const m of mountsMatching(idRe)) traces.push(`mount ${m}`);
  for (const p of allProcesses()) {
    if (p.pid === process.pid) continue;
    const inCgroup = p.cgroup.split('\n').some((l) => l.endsWith(`/${id}`) || l.includes(`/${id}/`));
    const isInit = init && p.pid === init.pid && (init.startTime === undefined || p.startTime === init.startTime);
    if (inCgroup || isInit) traces.push(`process ${fmtProc(p)}`);
  }
  return traces;
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until check() is empty or the deadline passes; returns the last result. */
export async function settle(check: () => string[], ms = 10_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = check();
    if (left.length === 0 || Date.now() > deadline) return left;
    await tick(50);
  }
}

/** Waits (≤ 10 s, for the host init to reap zombies) until the container left nothing behind. */
export function waitContainerGone(root: string, id: string, init?: { pid: number; startTime?: number }): Promise<string[]> {
  return settle(() => containerTraces(root, id, init));
}

// ---- whole-host scan, for the end of the run ----

export interface HostLeaks {
  mounts: string[];
  cgroups: string[];
  processes: string[];
  stateRoots: string[];
  runCapsa: string[];
}

/**
 * Everything capsa-related still on the host. The one cgroup directory
 * tolerated is capsa's shared default parent (/capsa in each hierarchy) while
 * it is empty: no processes and no child cgroups. It is a parent, like
 * runc's /user.slice, not a container's cgroup.
 */
export function hostLeaks(): HostLeaks {
  const cgroups = cgroupDirs((name) => /capsa/i.test(name))
    .filter((d) => !(path.basename(d.path) === DEFAULT_CGROUP_PARENT && path.dirname(path.dirname(d.path)) === CGROUP_ROOT && d.procs.length === 0 && d.children.length === 0))
    .map((d) => `${d.path} procs=[${d.procs.join(',')}] children=[${d.children.join(',')}]`);
  const processes = allProcesses()
    .filter((p) => p.pid !== process.pid && (p.comm === 'capsa-init' || /:\/capsa(\/|$)|capsa-test/.test(p.cgroup)))
    .map(fmtProc);
  const stateRoots: string[] = [];
  for (const e of fs.readdirSync('/tmp')) {
    if (!e.startsWith('capsa-test-root-')) continue;
    const dir = path.join('/tmp', e);
    const containers = subdirs(dir);
    if (containers.length) stateRoots.push(`${dir}: ${containers.join(', ')}`);
  }
  let runCapsa: string[] = [];
  try { runCapsa = fs.readdirSync('/run/capsa').filter((e) => /capsa-test/.test(e)).map((e) => path.join('/run/capsa', e)); } catch { /* no /run/capsa */ }
  return { mounts: mountsMatching(/capsa/), cgroups, processes, stateRoots, runCapsa };
}

export function describeLeaks(l: HostLeaks): string[] {
  return (Object.keys(l) as (keyof HostLeaks)[]).flatMap((k) => l[k].map((v) => `${k}: ${v}`));
}

/** capsa-init, testinit and processes in capsa cgroups, zombies included: "pid:starttime comm". */
export function containerProcesses(): string[] {
  return allProcesses()
    .filter((p) => p.pid !== process.pid && (p.comm === 'capsa-init' || p.comm === 'testinit' || /capsa/.test(p.cgroup)))
    .map((p) => `${p.pid}:${p.startTime} ${p.comm}`);
}

/**
 * Remembers the container processes that exist now; wait() then settles (≤ 10 s)
 * until every newer one is gone — reaped, not just dead — so the per-test
 * leak check does not see this test's orphans as zombies.
 */
export function trackProcesses(): { wait(): Promise<string[]> } {
  const before = new Set(containerProcesses());
  return { wait: () => settle(() => containerProcesses().filter((p) => !before.has(p))) };
}
