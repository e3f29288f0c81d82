// The frame every engine test file uses: install/verify the engines, start
// what the file needs (its own daemons, its own image store), run the tests
// with an engine-level leftover check after each one, and end with a test
// that stops everything and fails on anything left on the host. A watchdog
// and an exit handler make sure no daemon outlives the file, even on a crash.
import { suite } from 'uvu';
import * as fs from 'node:fs';
import { capsaBuilt, cgroupsContaining, emergencyCleanup, ensureEngines, mountsUnder, processesInCgroups, removeCgroups, removeTree, sandbox, type Sandbox } from './common';

export interface GroupHooks<T> {
  /** Starts daemons, loads the image. Throwing fails (or skips) the whole file. */
  setup(sb: Sandbox): Promise<T>;
  /** After each test: engine-level leftovers (containers, tasks), cleaned up and reported. */
  leftovers(ctx: T): Promise<string[]>;
  /** Stops the daemons and removes engine state; returns anything it had to force. */
  teardown(ctx: T): Promise<string[]>;
  /** Host-level checks after teardown (capsa state dirs, cgroups...), extra to the generic ones. */
  hostLeftovers?(ctx: T): string[];
  /** Pids to SIGKILL if the process exits without a teardown (daemons). */
  daemonPids(ctx: T): number[];
  /** Paths outside the temp dir to remove if the process exits without a teardown (engine state), once `killed` are. */
  emergencyPaths?(ctx: T, killed: readonly number[]): string[];
  /** When setup fails: skip the file (printing why) instead of failing it. */
  skipWhenSetupFails?: boolean;
  /** Whole-file time limit (default 15 min). */
  watchdogMs?: number;
}

/** Registers a test whose engine leftovers are checked (and cleaned) right after it. */
export type EngineTest = (name: string, fn: () => Promise<void> | void) => void;

export interface Group<T> {
  test: EngineTest;
  ctx: T;
  sb: Sandbox;
}

/**
 * Builds the suite. `register` adds the tests once setup succeeded; the
 * returned promise resolves when the suite is queued to run.
 */
export async function engineGroup<T>(name: string, hooks: GroupHooks<T>, register: (g: Group<T>) => void): Promise<void> {
  const sb = sandbox();
  const test = suite(name);
  let ctx: T | undefined;
  let tornDown = false;
  let teardownProblems: string[] = [];

  const teardown = async (): Promise<string[]> => {
    if (tornDown || ctx === undefined) return teardownProblems;
    tornDown = true;
    try {
      teardownProblems = await hooks.teardown(ctx);
    } catch (e) {
      teardownProblems = [`teardown failed: ${(e as Error).stack ?? e}`];
    }
    return teardownProblems;
  };

  process.on('exit', () => {
    if (!tornDown && ctx !== undefined) emergencyCleanup(hooks.daemonPids(ctx), sb.dir, sb.mark, (killed) => hooks.emergencyPaths?.(ctx!, killed) ?? []);
    else if (fs.existsSync(sb.dir)) removeTree(sb.dir);
    removeCgroups(cgroupsContaining(sb.mark));
  });
  // Interrupted (^C, a SIGTERM from a supervisor): exit through the handler above.
  for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n[${name}] ${sig}: stopping the engines and removing what the tests made\n`);
      process.exit(128 + n);
    });
  }
  const watchdog = setTimeout(() => {
    process.stderr.write(`\n[${name}] watchdog: the file ran over ${hooks.watchdogMs ?? 15 * 60_000} ms; stopping everything\n`);
    const hard = setTimeout(() => process.exit(1), 60_000);
    hard.unref();
    void teardown().finally(() => process.exit(1));
  }, hooks.watchdogMs ?? 15 * 60_000);
  watchdog.unref();

  // CAPSA_TEST_ENGINES=0 skips the group (e.g. on a machine that must not
  // install or start engines); anything else runs it.
  if (process.env.CAPSA_TEST_ENGINES === '0') {
    process.stdout.write(`SKIP ${name}: CAPSA_TEST_ENGINES=0\n`);
    test.run();
    return;
  }
  let why = capsaBuilt() || (await ensureEngines());
  if (!why) {
    try {
      ctx = await hooks.setup(sb);
    } catch (e) {
      why = (e as Error).message;
    }
  }
  if (why || ctx === undefined) {
    if (hooks.skipWhenSetupFails) {
      process.stdout.write(`SKIP ${name}: ${why}\n`);
    } else {
      test(`${name}: setup`, () => { throw new Error(why); });
    }
    test.after(async () => { await teardown(); removeTree(sb.dir); });
    test.run();
    return;
  }

  const c = ctx;
  // Not an after.each hook: uvu aborts the whole suite when a hook throws
  // after a failed test. The check runs inside the test instead.
  const engineTest: EngineTest = (title, fn) => test(title, async () => {
    let failure: unknown;
    try {
      await fn();
    } catch (e) {
      failure = e;
    }
    let left: string[];
    try {
      left = await hooks.leftovers(c);
    } catch (e) {
      left = [`leftover check failed: ${(e as Error).message}`];
    }
    const note = left.length ? `test left engine resources behind (now removed):\n  ${left.join('\n  ')}` : '';
    if (failure) {
      if (note && failure instanceof Error) failure.message += `\n${note}`;
      throw failure;
    }
    if (note) throw new Error(note);
  });

  register({ test: engineTest, ctx: c, sb });

  test('leaves nothing on the host: daemons stopped, no containers, cgroups, mounts, state or temp dir', async () => {
    const problems = [...(await teardown())];
    problems.push(...(hooks.hostLeftovers?.(c) ?? []));
    const procs = processesInCgroups(sb.mark);
    if (procs.length) problems.push(`processes in cgroups named after ${sb.mark}:\n    ${procs.join('\n    ')}`);
    const stuck = removeCgroups(cgroupsContaining(sb.mark));
    if (stuck.length) problems.push(`cgroups that could not be removed: ${stuck.join(', ')}`);
    const mounts = mountsUnder(sb.dir);
    if (mounts.length) problems.push(`mounts left below ${sb.dir}: ${mounts.join(', ')}`);
    problems.push(...removeTree(sb.dir));
    if (fs.existsSync(sb.dir)) problems.push(`${sb.dir} still exists`);
    if (problems.length) throw new Error(problems.join('\n'));
  });
  test.after(async () => { await teardown(); removeTree(sb.dir); });
  test.run();
}
