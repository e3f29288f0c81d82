// Small things the reliability tests share (crash, concurrency, fuzz, soak,
// signals): running capsa with its output in files (a created container
// inherits capsa's stdio, so pipes would keep a call "open" until the
// container exits), bounded polling, and checks on capsa's error output.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Test } from 'uvu';
import { CAPSA_BIN, type RunResult } from './capsa';
import { trackProcesses } from './host';

export { tick, until } from './wait';

export { tempDir } from './rootfs';

export interface FileRunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** stdin: 'ignore' (default) or a file path to read from. */
  stdin?: string;
}

export interface FileRunResult extends RunResult {
  /** How long the call took, ms. */
  ms: number;
}

let seq = 0;

/**
 * Runs capsa with stdout/stderr going to files in `outDir` and resolves when
 * the capsa process exits (not when every holder of its stdio has closed it).
 * A call that does not exit within the timeout is killed and rejected: a hang
 * is a failure.
 */
export function capsaFiles(root: string | undefined, args: readonly string[], outDir: string, opts: FileRunOptions = {}): Promise<FileRunResult> {
  const n = seq++;
  const outFile = path.join(outDir, `out.${process.pid}.${n}`);
  const errFile = path.join(outDir, `err.${process.pid}.${n}`);
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  const stdin = opts.stdin ? fs.openSync(opts.stdin, 'r') : 'ignore';
  const started = Date.now();
  const full = root === undefined ? [...args] : ['--root', root, ...args];
  let child;
  try {
    child = spawn(CAPSA_BIN, full, { stdio: [stdin, out, err], env: { ...process.env, ...opts.env }, cwd: opts.cwd });
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
    if (typeof stdin === 'number') fs.closeSync(stdin);
  }
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise<FileRunResult>((resolve, reject) => {
    const collect = () => {
      const r = { stdout: fs.readFileSync(outFile, 'utf8'), stderr: fs.readFileSync(errFile, 'utf8') };
      fs.rmSync(outFile, { force: true });
      fs.rmSync(errFile, { force: true });
      return r;
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      const { stdout, stderr } = collect();
      reject(new Error(`capsa ${full.map((a) => JSON.stringify(a)).join(' ')} did not exit within ${timeoutMs} ms (hang)\nstdout: ${stdout.slice(0, 2000)}\nstderr: ${stderr.slice(0, 2000)}`));
    }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ...collect(), ms: Date.now() - started });
    });
  });
}

const STACK_LINE = /^\s+at .+/m;

/**
 * Problems with a failed call's error output: capsa's contract is exit 1 and
 * exactly one line on stderr, never a stack trace, never a bug escaping as
 * "internal error". Returns [] when it is fine.
 */
export function errorOutputProblems(r: RunResult, allowedCodes: readonly number[] = [1], opts: { debug?: boolean } = {}): string[] {
  const problems: string[] = [];
  if (r.signal) problems.push(`killed by ${r.signal}`);
  else if (!allowedCodes.includes(r.code ?? -1)) problems.push(`exit ${r.code}, expected ${allowedCodes.join(' or ')}`);
  // With --debug, capsa adds level=debug lines (and the stack of a bug) by design;
  // warnings (an unknown capability skipped, as runc does) may precede the error.
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/level=warning/.test(l) && !(opts.debug && /level=debug/.test(l)));
  if (lines.length !== 1) problems.push(`${lines.length} lines on stderr, expected 1`);
  if (!opts.debug && STACK_LINE.test(r.stderr)) problems.push('a stack trace on stderr');
  if (/internal error/.test(r.stderr)) problems.push('an "internal error" (a bug escaping as an exception)');
  return problems;
}

export function hasStack(text: string): boolean {
  return STACK_LINE.test(text);
}

/** The msg of a text-format error line, or the whole text. */
export function errorMessage(stderr: string): string {
  const m = /level=error msg=("(?:[^"\\]|\\.)*")/.exec(stderr);
  if (m) {
    try { return JSON.parse(m[1]!) as string; } catch { /* not JSON-quoted after all */ }
  }
  return stderr.trim();
}

export interface OciState {
  id: string;
  status: string;
  pid: number;
  bundle: string;
  [k: string]: unknown;
}

export const STATUSES = ['creating', 'created', 'running', 'paused', 'stopped'];

/**
 * Wraps a suite's test() so each test ends only once the container processes
 * it made are reaped (orphans go to the host's init, which reaps them within
 * seconds); otherwise the per-test leak check would count them as leaks.
 */
export function reapingTest(test: Test): (name: string, fn: () => Promise<void> | void) => void {
  return (name, fn) => test(name, async () => {
    const tracked = trackProcesses();
    try {
      await fn();
    } finally {
      await tracked.wait();
    }
  });
}
