// Running the capsa CLI from integration tests, and a uvu suite wrapper that
// gives each file its own --root and checks for leaks after every test.
import { spawn, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { leaksBetween, snapshot, type HostSnapshot } from './leaks';
import { REPO_ROOT } from './rootfs';

export const CAPSA_BIN = path.join(REPO_ROOT, 'dist', 'capsa');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  stdio?: SpawnOptions['stdio'];
  cwd?: string;
}

/** Runs a command to completion; a hang is killed and reported, not waited out. */
export function runCommand(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(file)} ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

export interface FilesRunResult extends RunResult {
  /** The file stdout went to (a detached container may still write to it). */
  outFile: string;
  /** How long the call took, ms. */
  ms: number;
}

/**
 * `capsa --root <root> ...args` with stdout/stderr going to files in `dir`: a
 * detached container inherits them, so pipes would keep the call open until
 * the container exits. A call still running after timeoutMs is killed.
 */
export function capsaToFilesIn(root: string): (args: readonly string[], dir: string, timeoutMs?: number) => Promise<FilesRunResult> {
  let seq = 0;
  return async (args, dir, timeoutMs = 30_000) => {
    const n = seq++;
    const outFile = path.join(dir, `stdout.${n}`);
    const errFile = path.join(dir, `stderr.${n}`);
    const out = fs.openSync(outFile, 'w');
    const err = fs.openSync(errFile, 'w');
    const t0 = Date.now();
    const child = spawn(CAPSA_BIN, ['--root', root, ...args], { stdio: ['ignore', out, err] });
    fs.closeSync(out);
    fs.closeSync(err);
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`capsa ${args.join(' ')} did not exit in ${timeoutMs} ms`)); }, timeoutMs);
      child.on('error', (e) => { clearTimeout(timer); reject(e); });
      child.on('exit', (c, s) => { clearTimeout(timer); resolve({ code: c, signal: s }); });
    });
    const ms = Date.now() - t0;
    return { code, signal, stdout: fs.readFileSync(outFile, 'utf8'), stderr: fs.readFileSync(errFile, 'utf8'), outFile, ms };
  };
}

/** The message of a one-line error (text log format: msg="..."), unescaped. */
export function messageOf(stderr: string): string {
  const line = stderr.trim();
  const m = /^time="[^"]*" level=error msg=(".*")$/.exec(line);
  return m ? (JSON.parse(m[1]!) as string) : line;
}

/** A refused command: exit 1, one line on stderr naming `field`, no stack trace. */
export function assertOneLineError(r: RunResult, field: string): void {
  assert.is(r.code, 1, `expected exit 1, got ${r.code}: ${r.stderr}`);
  const line = oneLine(r.stderr);
  assert.ok(line.includes(field), `"${line}" should name ${field}`);
  assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
}

/** The only line of an error's stderr (asserts there is exactly one). */
export function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.is(lines.length, 1, `expected a one-line error, got:\n${stderr}`);
  return lines[0]!;
}

export interface CapsaSuite {
  test: Test;
  root: string;
  /** `capsa --root <root> ...args` */
  capsa(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Like capsa() but throws unless the exit status is 0. */
  capsaOk(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

export function capsaSuite(name: string): CapsaSuite {
  const root = `/tmp/capsa-test-root-${process.pid}-${name.replace(/[^A-Za-z0-9]+/g, '-')}`;
  const inner = suite(name);
  // Container ids this suite touched: leaks are attributed by them, so other
  // suites running on the same host at the same time are not blamed here.
  const ids = new Set<string>();
  const noteIds = (args: readonly string[]) => { for (const a of args) if (a.startsWith('capsa-test-')) ids.add(a); };
  const run = (args: readonly string[], opts?: RunOptions) => {
    noteIds(args);
    return runCommand(CAPSA_BIN, ['--root', root, ...args], opts);
  };
  const runOk = async (args: readonly string[], opts?: RunOptions) => {
    const r = await run(args, opts);
    if (r.code !== 0) throw new Error(`capsa ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r;
  };
  const mine = (item: string) => item.includes(root) || [...ids].some((id) => item.includes(id));

  // The leak check runs inside each test's handler, so a leak fails the test
  // that caused it, and a test that fails anyway keeps its own message.
  const wrap = (fn: (ctx: unknown) => unknown) => async (ctx: unknown) => {
    const before = snapshot([root]);
    for (const d of before.stateDirs) ids.add(path.basename(d));
    let leaks: string[] = [];
    try {
      await fn(ctx);
    } finally {
      if (fs.existsSync(root)) for (const d of fs.readdirSync(root)) ids.add(d);
      leaks = await settledLeaks(before, root, mine);
      for (const id of fs.existsSync(root) ? fs.readdirSync(root) : []) await run(['delete', '--force', id]);
    }
    // Reached only when the test passed: a failing test keeps its own message.
    if (leaks.length) throw new Error(`test left resources behind:\n  ${leaks.join('\n  ')}`);
  };
  const test = ((title: string, fn: (ctx: unknown) => unknown) => inner(title, wrap(fn))) as unknown as Test;
  test.before = inner.before;
  test.after = inner.after;
  test.run = inner.run;
  test.skip = inner.skip;
  test.only = ((title: string, fn: (ctx: unknown) => unknown) => inner.only(title, wrap(fn))) as Test['only'];
  inner.after(() => { fs.rmSync(root, { recursive: true, force: true }); });
  return { test, root, capsa: run, capsaOk: runOk };
}

/**
 * Leaks attributable to this suite. Exiting processes of a stopped container
 * linger as zombies until the host's init reaps them: wait (bounded) for
 * those to go before calling anything a leak.
 */
async function settledLeaks(before: HostSnapshot, root: string, mine: (item: string) => boolean): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const leaks = leaksBetween(before, snapshot([root])).filter((l) => l.startsWith('fds:') || mine(l));
    const onlyExiting = leaks.length > 0 && leaks.every((l) => l.startsWith('processes:') && l.includes(' Z '));
    if (!onlyExiting || Date.now() > deadline) return leaks.filter((l) => !l.includes(' Z ') || Date.now() > deadline);
    await new Promise((r) => setTimeout(r, 50));
  }
}
