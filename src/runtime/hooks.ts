// OCI hooks: each gets the container state as JSON on stdin, runs with its own
// args/env, and is killed — with every process it started — when it exceeds
// its timeout.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError } from '../errors';
import type { Hook, State } from '../spec/types';

export type HookKind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export interface HookOptions {
  /** Run inside this process's namespaces, all of them, as runc runs createContainer hooks from its init. */
  namespacesOf?: number;
  /** Where hook output goes; default: capsa's stderr. */
  output?: (chunk: Buffer) => void;
}

/**
 * How long output a hook's leftover background processes still write is read
 * after the hook itself exited; then capsa stops listening (a daemon a hook
 * started must not keep capsa alive).
 */
const OUTPUT_GRACE_MS = 200;

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
};

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return (code && ERRNO_TEXT[code]) ?? (e as Error).message;
}

/**
 * The hook must be an executable file where it will be resolved: the host's
 * mount namespace, or the container's for createContainer (seen through
 * /proc/PID/root). Checked first so a bad path is one clear error, not the
 * message of whatever tried to exec it.
 */
function checkExecutable(hook: Hook, where: string, opts: HookOptions): void {
  const resolved = opts.namespacesOf ? path.join(`/proc/${opts.namespacesOf}/root`, hook.path) : hook.path;
  const bad = (why: string) => new CapsaError('INVALID_CONFIG', `config.${where}: cannot run hook ${hook.path}: ${why}`, { configPath: `${where}.path` });
  let st: fs.Stats;
  try {
    st = fs.statSync(resolved);
  } catch (e) {
    throw bad(errnoText(e));
  }
  if (!st.isFile()) throw bad('not a regular file');
  try {
    fs.accessSync(resolved, fs.constants.X_OK);
  } catch (e) {
    throw bad(`${errnoText(e)} (not executable)`);
  }
}

/** SIGKILL the hook's whole process group (it leads its own). */
function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
}

function runOne(kind: HookKind, index: number, hook: Hook, state: unknown, opts: HookOptions): Promise<void> {
  const where = `hooks.${kind}[${index}]`;
  checkExecutable(hook, where, opts);
  const argv = hook.args?.length ? hook.args : [hook.path];
  const [file, args] = opts.namespacesOf
    ? ['nsenter', ['--target', String(opts.namespacesOf), '--all', '--', hook.path, ...argv.slice(1)]]
    : [hook.path, argv.slice(1)];
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout kills what the hook started too.
    // Loaded only when a hook runs: most creates have none (CLI startup).
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const child = spawn(file, args as string[], {
      argv0: opts.namespacesOf ? undefined : argv[0],
      env: Object.fromEntries((hook.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const out = opts.output ?? ((c: Buffer) => process.stderr.write(c));
    child.stdout.on('data', out);
    child.stderr.on('data', out);
    child.stdin.on('error', () => { /* hook need not read its stdin */ });
    child.stdin.end(JSON.stringify(state));
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let grace: NodeJS.Timeout | undefined;
    const stopReading = () => {
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (grace) clearTimeout(grace);
      stopReading();
      if (err) reject(err); else resolve();
    };
    if (hook.timeout) {
      timer = setTimeout(() => {
        killGroup(child.pid);
        settle(new CapsaError('TIMEOUT', `config.${where}: hook ${hook.path} timed out after ${hook.timeout}s`, { configPath: where }));
      }, hook.timeout * 1000);
    }
    child.once('error', (e) => {
      settle(new CapsaError('INVALID_CONFIG', `config.${where}: cannot run hook ${hook.path}: ${errnoText(e)}`, { configPath: where }));
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (code === 0) settle();
      else settle(new CapsaError('INIT', `config.${where}: hook ${hook.path} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}`, { configPath: where }));
    };
    // 'close' comes after the output is read; if something the hook left
    // behind holds its stdout open, settle shortly after 'exit' anyway.
    child.once('exit', (code, signal) => {
      grace = setTimeout(() => finish(code, signal), OUTPUT_GRACE_MS);
    });
    child.once('close', (code, signal) => finish(code, signal));
  });
}

/** Runs hooks in order; the first failure stops them and is thrown. */
export async function runHooks(kind: HookKind, hooks: Hook[] | undefined, state: Partial<State>, opts: HookOptions = {}): Promise<void> {
  for (const [i, hook] of (hooks ?? []).entries()) await runOne(kind, i, hook, state, opts);
}

/** Runs every hook; failures become warnings (poststart, poststop). */
export async function runHooksWarnOnly(kind: HookKind, hooks: Hook[] | undefined, state: Partial<State>, warn: (m: string) => void, opts: HookOptions = {}): Promise<void> {
  for (const [i, hook] of (hooks ?? []).entries()) {
    try {
      await runOne(kind, i, hook, state, opts);
    } catch (e) {
      warn((e as Error).message);
    }
  }
}
