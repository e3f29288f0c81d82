// Running the capsa CLI from integration tests, and a uvu suite wrapper that
// gives each file its own --root and checks for leaks after every test.
import { spawn, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, type Test } from 'uvu';
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
  const test = suite(name);
  const run = (args: readonly string[], opts?: RunOptions) => runCommand(CAPSA_BIN, ['--root', root, ...args], opts);
  const runOk = async (args: readonly string[], opts?: RunOptions) => {
    const r = await run(args, opts);
    if (r.code !== 0) throw new Error(`capsa ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r;
  };
  let before: HostSnapshot | undefined;
  test.before.each(() => { before = snapshot([root]); });
  test.after.each(async () => {
    if (!before) return;
    const leaks = leaksBetween(before, snapshot([root]));
    before = undefined;
    // Clean up whatever the test left so the next test starts clean, then fail it.
    for (const id of fs.existsSync(root) ? fs.readdirSync(root) : []) await run(['delete', '--force', id]);
    if (leaks.length) throw new Error(`test left resources behind:\n  ${leaks.join('\n  ')}`);
  });
  test.after(() => { fs.rmSync(root, { recursive: true, force: true }); });
  return { test, root, capsa: run, capsaOk: runOk };
}
