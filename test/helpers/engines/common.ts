// Shared pieces of the engine test group: running commands with a timeout
// (never a hang), a private temp dir per test process, a logging wrapper in
// front of capsa (the main debugging tool: it records every call an engine
// makes and its exit status), pty runs through script(1), polling, and the
// host leftover check the group ends with.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../rootfs';

export const CAPSA_DIST = path.join(REPO_ROOT, 'dist', 'capsa');
export const ENGINE_SETUP = path.join(REPO_ROOT, 'scripts', 'engine-setup.sh');

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The command line, for messages. */
  cmd: string;
  ms: number;
}

export interface RunOpts {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
  cwd?: string;
}

const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
export const shellLine = (file: string, args: readonly string[]): string => [file, ...args].map(quote).join(' ');

/**
 * Runs a command to completion. The child gets its own process group, so a
 * timeout kills everything it started (script(1), an engine client and its
 * helpers) and the result says it timed out instead of the test hanging.
 */
export function run(file: string, args: readonly string[], opts: RunOpts = {}): Promise<Result> {
  const cmd = shellLine(file, args);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd, detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, signal: null, stdout, stderr: stderr + String(e), timedOut, cmd, ms: Date.now() - started });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, cmd, ms: Date.now() - started });
    });
  });
}

export function describe(r: Result): string {
  const how = r.timedOut ? 'timed out' : r.signal ? `died of ${r.signal}` : `exited ${r.code}`;
  return `${r.cmd}\n  ${how} after ${r.ms} ms\n  stdout: ${r.stdout.trim().slice(-2000)}\n  stderr: ${r.stderr.trim().slice(-2000)}`;
}

/** Like run() but throws (with the whole story) unless it exited 0. */
export async function ok(file: string, args: readonly string[], opts: RunOpts = {}): Promise<Result> {
  const r = await run(file, args, opts);
  if (r.code !== 0 || r.timedOut) throw new Error(`command failed: ${describe(r)}`);
  return r;
}

/**
 * Runs a shell command line inside a fresh pseudo-terminal (script(1)), for
 * clients that insist on a terminal on stdin (`ctr task exec -t`, `podman
 * run -t`). Output comes back with \r\n and script's NULs cleaned up.
 */
export async function runInPty(cmdline: string, opts: RunOpts = {}): Promise<Result> {
  const r = await run('script', ['-qec', cmdline, '/dev/null'], opts);
  const clean = (s: string) => s.replace(/\r/g, '').replace(/\0/g, '');
  return { ...r, stdout: clean(r.stdout), stderr: clean(r.stderr), cmd: `script -qec ${quote(cmdline)} /dev/null` };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` returns something other than undefined; throws after ms. */
export async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await sleep(50);
  }
}

/** Whether a pid is alive (and not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the pid is gone. */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!alive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    const hard = Date.now() + 5000;
    while (alive(pid) && Date.now() < hard) await sleep(50);
  }
}

/** Pids whose command line contains every one of `needles` (exact substrings). */
export function pidsMatching(...needles: string[]): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (needles.every((n) => cmdline.includes(n))) out.push(Number(entry));
    } catch { /* exited */ }
  }
  return out;
}

// ---- the private temp dir ----

/** Mount points at or below dir, deepest first. */
export function mountsUnder(dir: string): string[] {
  const prefix = path.resolve(dir);
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4])
    .filter((mp): mp is string => !!mp && (mp === prefix || mp.startsWith(prefix + '/')))
    .map((mp) => mp.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts whatever the engines left mounted below dir (lazily), then removes it. */
export function removeTree(dir: string): string[] {
  const problems: string[] = [];
  for (let round = 0; round < 3; round++) {
    const mounts = mountsUnder(dir);
    if (!mounts.length) break;
    for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 });
  }
  const left = mountsUnder(dir);
  if (left.length) {
    problems.push(`still mounted below ${dir}: ${left.join(', ')}`);
    return problems;
  }
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (e) {
    problems.push(`remove ${dir}: ${(e as Error).message}`);
  }
  return problems;
}

export interface Sandbox {
  /** /tmp/capsa-test-engines-<pid> */
  dir: string;
  /** A name unique to this test process, usable as namespace / cgroup parent. */
  mark: string;
  /** Directory holding the `capsa` and `runc` wrappers. */
  binDir: string;
  /** The logging wrapper around dist/capsa (its file name is `capsa`). */
  capsa: string;
  /** A logging wrapper around the host's runc, for side-by-side runs. */
  runc: string;
  callLog: string;
}

export function findRunc(): string {
  for (const p of ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc']) if (fs.existsSync(p)) return p;
  return 'runc';
}

function writeWrapper(file: string, target: string, log: string): void {
  // No process substitution or pipes here: anything the wrapper keeps open is
  // inherited by the container and would hold an engine's pipes open.
  fs.writeFileSync(file, [
    '#!/bin/bash',
    `# Logs every call (argv, exit status) to ${log}, then runs ${target}.`,
    `log=${quote(log)}`,
    'start=$(date +%s%N)',
    `{ printf 'call\\t%s\\t%s' "$$" "$(basename "$0")"; printf '\\t%s' "$@"; printf '\\n'; } >>"$log"`,
    `${quote(target)} "$@"`,
    'rc=$?',
    `printf 'exit\\t%s\\t%s\\t%s\\n' "$$" "$rc" "$(( ($(date +%s%N) - start) / 1000000 ))" >>"$log"`,
    'exit $rc',
    '',
  ].join('\n'), { mode: 0o755 });
}

let current: Sandbox | undefined;

/** The process's private temp dir with the wrappers in it. */
export function sandbox(): Sandbox {
  if (current) return current;
  const mark = `capsa-test-engines-${process.pid}`;
  const dir = path.join('/tmp', mark);
  removeTree(dir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
  const binDir = path.join(dir, 'bin');
  fs.mkdirSync(binDir);
  const callLog = path.join(dir, 'calls.log');
  fs.writeFileSync(callLog, '');
  const capsa = path.join(binDir, 'capsa');
  const runc = path.join(binDir, 'runc');
  writeWrapper(capsa, CAPSA_DIST, callLog);
  writeWrapper(runc, findRunc(), callLog);
  current = { dir, mark, binDir, capsa, runc, callLog };
  return current;
}

export interface Call {
  pid: number;
  /** Which wrapper: capsa or runc. */
  runtime: string;
  args: string[];
  rc?: number;
  ms?: number;
}

/** Every call recorded by the wrappers so far, in order. */
export function readCalls(sb: Sandbox = sandbox()): Call[] {
  const calls: Call[] = [];
  const open = new Map<number, Call>();
  let text = '';
  try { text = fs.readFileSync(sb.callLog, 'utf8'); } catch { return calls; }
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'call') {
      const c: Call = { pid: Number(f[1]), runtime: f[2]!, args: f.slice(3) };
      calls.push(c);
      open.set(c.pid, c);
    } else if (f[0] === 'exit') {
      const c = open.get(Number(f[1]));
      if (c) { c.rc = Number(f[2]); c.ms = Number(f[3]); open.delete(c.pid); }
    }
  }
  return calls;
}

/** The verb of a runtime call (the first argument after the global flags). */
export function verbOf(args: readonly string[]): string {
  const withValue = new Set(['--root', '--log', '--log-format', '--criu', '--rootless']);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-')) return a;
    if (withValue.has(a)) i++;
  }
  return '';
}

export const formatCalls = (calls: readonly Call[]): string =>
  calls.map((c) => `  ${c.runtime} ${c.args.map(quote).join(' ')}  -> ${c.rc === undefined ? 'running' : `rc=${c.rc}`}`).join('\n');

/** Calls made since `mark` (an index from readCalls().length). */
export const callsSince = (mark: number, sb?: Sandbox): Call[] => readCalls(sb).slice(mark);

/** Failed capsa calls since mark, formatted for an assertion message ('' when none). */
export function failedCapsaCalls(mark: number): string {
  const bad = callsSince(mark).filter((c) => c.runtime === 'capsa' && c.rc !== undefined && c.rc !== 0);
  return bad.length ? `failed capsa calls:\n${formatCalls(bad)}` : '';
}

// ---- installing the engines ----

let setupDone: string | undefined;

/** Checks (scripts/engine-setup.sh --check, once per process) that the engines are installed; returns '' or what is missing. */
export async function ensureEngines(): Promise<string> {
  if (setupDone !== undefined) return setupDone;
  const r = await run('bash', [ENGINE_SETUP, '--check'], { timeoutMs: 60_000 });
  setupDone = r.code === 0 ? '' : `scripts/engine-setup.sh failed: ${describe(r)}`;
  return setupDone;
}

export function capsaBuilt(): string {
  return fs.existsSync(CAPSA_DIST) ? '' : `${CAPSA_DIST} is missing: build capsa first (npm run build)`;
}

// ---- leftovers ----

/** cgroup directories (any hierarchy) whose path contains `needle`. */
export function cgroupsContaining(needle: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 6) return;
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (p.includes(needle)) found.push(p);
      walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found.sort();
}

/** Removes empty cgroup dirs (deepest first); returns those that would not go. */
export function removeCgroups(dirs: readonly string[]): string[] {
  const left: string[] = [];
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    try { fs.rmdirSync(d); } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') left.push(`${d} (${(e as NodeJS.ErrnoException).code})`);
    }
  }
  return left;
}

/** Processes whose cgroup membership mentions `needle` (containers and their shims). */
export function processesInCgroups(needle: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!fs.readFileSync(`/proc/${entry}/cgroup`, 'utf8').includes(needle)) continue;
      out.push(`${entry} ${fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim()}`);
    } catch { /* exited */ }
  }
  return out;
}

/** capsa state dirs (runc-style roots) holding any of ids. */
export function capsaStateLeftovers(roots: readonly string[], ids: readonly string[]): string[] {
  const out: string[] = [];
  for (const root of roots) {
    let names: string[] = [];
    try { names = fs.readdirSync(root); } catch { continue; }
    for (const n of names) if (ids.includes(n)) out.push(path.join(root, n));
  }
  return out;
}

/** Synchronous last-resort cleanup for process exit: kill pids, unmount, remove. */
/**
 * Cleanup when a test file ends without its teardown (a crash, a signal, the
 * watchdog): SIGKILLs the daemons (and unlinks the unix sockets they listened
 * on outside the temp dir: shim sockets in /run/containerd/s), empties and
 * removes the cgroups named after the mark (containers outlive their killed
 * shims otherwise), removes extra paths (engine state outside the temp dir),
 * then the temp dir. Synchronous: it runs from process.on('exit').
 */
export function emergencyCleanup(daemons: readonly number[], dir: string, mark = path.basename(dir), extraPaths: (killed: readonly number[]) => string[] = () => []): void {
  // and whatever the daemons started with the temp dir in its environment
  // (containerd's PATH): a shim, a spare shim still booting
  const pids = [...new Set([...daemons, ...pidsWithEnv(`${dir}/`)])];
  const sockets = pids.flatMap(listeningSockets).filter((s) => !s.startsWith(`${dir}/`));
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  killCgroups(cgroupsContaining(mark));
  for (const s of sockets) fs.rmSync(s, { force: true });
  for (const p of extraPaths(pids)) fs.rmSync(p, { recursive: true, force: true });
  try { execFileSync('sync', [], { timeout: 5000 }); } catch { /* ignore */ }
  removeTree(dir);
  removeCgroups(cgroupsContaining(mark));
}

/** Processes (not this one) whose environment mentions needle. */
export function pidsWithEnv(needle: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/environ`, 'latin1').includes(needle)) out.push(Number(entry));
    } catch { /* exited, or a kernel thread */ }
  }
  return out;
}

/** The paths of the unix sockets pid listens on (its fds matched against /proc/net/unix). */
export function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch { /* closed meanwhile */ }
    }
  } catch { return []; }
  const out: string[] = [];
  try {
    // Num RefCount Protocol Flags Type St Inode Path; St 01 = listening
    for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 8 && f[5] === '01' && inodes.has(f[6]!) && f[7]!.startsWith('/')) out.push(f[7]!);
    }
  } catch { /* no procfs net */ }
  return out;
}

/** Thaws the cgroups, SIGKILLs every process in them, and waits (up to 3 s) until they are empty. */
export function killCgroups(dirs: readonly string[]): void {
  const procsOf = (d: string) => {
    try { return fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number); } catch { return []; }
  };
  for (const d of dirs) {
    for (const [f, v] of [['cgroup.freeze', '0'], ['freezer.state', 'THAWED']] as const) {
      try { fs.writeFileSync(path.join(d, f), v); } catch { /* not that kind of cgroup */ }
    }
  }
  const end = Date.now() + 3000;
  for (;;) {
    const pids = dirs.flatMap(procsOf).filter((p) => p !== process.pid);
    if (!pids.length || Date.now() > end) return;
    for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

export interface Background {
  /** Output (stdout + stderr) so far. */
  out(): string;
  done: Promise<Result>;
  kill(): void;
}

/** Starts a command in the background (own process group, time-limited), collecting its output. */
export function spawnCollect(file: string, args: readonly string[], timeoutMs: number, opts: RunOpts = {}): Background {
  const cmd = shellLine(file, args);
  const started = Date.now();
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, detached: true });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  const killGroup = () => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } };
  const timer = setTimeout(() => { timedOut = true; killGroup(); }, timeoutMs);
  const done = new Promise<Result>((resolve) => {
    child.on('error', (e) => { clearTimeout(timer); resolve({ code: 127, signal: null, stdout, stderr: stderr + String(e), timedOut, cmd, ms: Date.now() - started }); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, timedOut, cmd, ms: Date.now() - started }); });
  });
  return { out: () => stdout + stderr, done, kill: () => { clearTimeout(timer); killGroup(); } };
}
