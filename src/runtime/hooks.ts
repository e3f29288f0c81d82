// OCI hooks: each gets the container state as JSON on stdin, runs with its own
// args/env, and is killed when it exceeds its timeout.
import { spawn } from 'node:child_process';
import { CapsaError } from '../errors';
import type { Hook, State } from '../spec/types';

export type HookKind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export interface HookOptions {
  /** Run inside this process's mount namespace (createContainer). */
  mountNamespaceOf?: number;
  /** Where hook output goes; default: capsa's stderr. */
  output?: (chunk: Buffer) => void;
}

function runOne(kind: HookKind, index: number, hook: Hook, state: unknown, opts: HookOptions): Promise<void> {
  const argv = hook.args?.length ? hook.args : [hook.path];
  const [file, args] = opts.mountNamespaceOf
    ? ['nsenter', [`--mount=/proc/${opts.mountNamespaceOf}/ns/mnt`, '--', hook.path, ...argv.slice(1)]]
    : [hook.path, argv.slice(1)];
  const where = `hooks.${kind}[${index}]`;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args as string[], {
      argv0: opts.mountNamespaceOf ? undefined : argv[0],
      env: Object.fromEntries((hook.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out = opts.output ?? ((c: Buffer) => process.stderr.write(c));
    child.stdout.on('data', out);
    child.stderr.on('data', out);
    child.stdin.on('error', () => { /* hook need not read its stdin */ });
    child.stdin.end(JSON.stringify(state));
    let timer: NodeJS.Timeout | undefined;
    if (hook.timeout) {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new CapsaError('TIMEOUT', `config.${where}: hook ${hook.path} timed out after ${hook.timeout}s`, { configPath: where }));
      }, hook.timeout * 1000);
    }
    child.once('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new CapsaError('INVALID_CONFIG', `config.${where}: cannot run hook ${hook.path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : e.message}`, { configPath: where }));
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new CapsaError('INIT', `config.${where}: hook ${hook.path} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}`, { configPath: where }));
    });
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
