// Concurrency: many containers through the lifecycle at once, many verbs on
// one container at once, and locks whose holder was SIGKILLed. Every call
// either succeeds or fails with one of runc's one-line errors; state.json is
// valid JSON whenever it is read (atomic rename); nothing leaks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Spec } from '../../src/spec/types';
import { makeBundle, type TestBundle } from '../helpers/bundle';
import { capsaSuite } from '../helpers/capsa';
import { containerTraces, settle, waitContainerGone } from '../helpers/host';
import { capsaFiles, errorMessage, hasStack, tempDir, until, STATUSES, type FileRunResult, type OciState, reapingTest } from '../helpers/kit';
import { Rng } from '../helpers/fuzz';

const suite = capsaSuite('reliability-concurrency');
const { root } = suite;
const test = reapingTest(suite.test);
const outDir = tempDir('concurrency-out');
suite.test.after(() => { fs.rmSync(outDir, { recursive: true, force: true }); });

const run = (args: readonly string[], env?: NodeJS.ProcessEnv) => capsaFiles(root, args, outDir, { env, timeoutMs: 60_000 });
const cmd = (...a: string[]) => (s: Spec) => { s.process!.args = ['/bin/testinit', ...a]; };

async function ok(args: readonly string[]): Promise<FileRunResult> {
  const r = await run(args);
  if (r.code !== 0) throw new Error(`capsa ${args.join(' ')}: exit ${r.code} ${r.signal ?? ''} ${r.stderr.trim()}`);
  return r;
}

async function status(id: string): Promise<string | undefined> {
  const r = await run(['state', id]);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as OciState).status;
}

test('50 containers through create/start/wait/delete in parallel: all succeed, nothing leaks', async () => {
  const bundles = Array.from({ length: 50 }, () => makeBundle({ config: cmd('true') }));
  try {
    const results = await Promise.allSettled(bundles.map(async (b) => {
      await ok(['create', '--bundle', b.dir, b.id]);
      await ok(['start', b.id]);
      await until(`${b.id} to stop`, async () => ((await status(b.id)) === 'stopped' ? true : undefined));
      await ok(['delete', b.id]);
      const gone = await run(['state', b.id]);
      if (gone.code !== 1 || errorMessage(gone.stderr) !== 'container does not exist') throw new Error(`state after delete: exit ${gone.code} ${gone.stderr}`);
    }));
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${bundles[i]!.id}: ${(r.reason as Error).message}`] : []));
    assert.equal(failures, [], `${failures.length} of 50 lifecycles failed`);
    const left = await settle(() => bundles.flatMap((b) => containerTraces(root, b.id)));
    assert.equal(left, []);
  } finally {
    await Promise.all(bundles.map((b) => run(['delete', '--force', b.id])));
    await settle(() => bundles.flatMap((b) => containerTraces(root, b.id)));
    bundles.forEach((b) => b.cleanup());
  }
});

// The one-line errors a verb racing others on the same container may give.
const EXPECTED_ERRORS: RegExp[] = [
  /^container does not exist$/,
  /^container not running$/,
  /^cannot start (a container that has stopped|an already running container|a container in the \w+ state)$/,
  /^cannot delete container \S+ that is not stopped: \w+$/,
];

interface RaceOutcome { args: string[]; r: FileRunResult }

/** Reads state.json as fast as it can until stopped; every read must parse. */
function watchStateFile(id: string): { stop(): { reads: number; bad: string[] } } {
  const file = path.join(root, id, 'state.json');
  let reads = 0;
  const bad: string[] = [];
  let running = true;
  const loop = async () => {
    while (running) {
      let text: string | undefined;
      try { text = fs.readFileSync(file, 'utf8'); } catch { /* not there (yet / any more) */ }
      if (text !== undefined) {
        reads++;
        try { JSON.parse(text); } catch { bad.push(text.slice(0, 200)); }
      }
      await new Promise((r) => setImmediate(r));
    }
  };
  const done = loop();
  return { stop: () => { running = false; void done; return { reads, bad }; } };
}

function checkOutcomes(outcomes: RaceOutcome[]): string[] {
  const problems: string[] = [];
  for (const { args, r } of outcomes) {
    const what = `capsa ${args.join(' ')}`;
    if (r.signal) { problems.push(`${what}: killed by ${r.signal}`); continue; }
    if (hasStack(r.stderr)) problems.push(`${what}: stack trace: ${r.stderr}`);
    if (args[0] === 'list' && r.code !== 0) { problems.push(`${what}: exit ${r.code} ${r.stderr.trim()}`); continue; }
    if (r.code === 0) {
      if (args[0] === 'list') {
        try { JSON.parse(r.stdout); } catch { problems.push(`${what}: stdout is not JSON: ${r.stdout.slice(0, 200)}`); }
      }
      if (args[0] === 'state') {
        try {
          const s = JSON.parse(r.stdout) as OciState;
          if (!STATUSES.includes(s.status)) problems.push(`${what}: status "${s.status}"`);
        } catch { problems.push(`${what}: stdout is not JSON: ${r.stdout.slice(0, 200)}`); }
      }
      continue;
    }
    const lines = r.stderr.split('\n').filter(Boolean);
    const msg = errorMessage(r.stderr);
    if (r.code !== 1 || lines.length !== 1 || !EXPECTED_ERRORS.some((re) => re.test(msg))) {
      problems.push(`${what}: exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`);
    }
  }
  return problems;
}

async function race(b: TestBundle, calls: string[][]): Promise<void> {
  const watcher = watchStateFile(b.id);
  const outcomes = await Promise.all(calls.map(async (args) => ({ args, r: await run(args) })));
  const { reads, bad } = watcher.stop();
  assert.equal(checkOutcomes(outcomes), [], 'every call succeeds or fails with an expected one-line error');
  assert.equal(bad, [], `state.json read ${reads} times; some reads were not valid JSON`);
  // Whatever the interleaving, the container must still be usable or gone, and deletable.
  const st = await run(['state', b.id]);
  assert.ok(st.code === 0 || errorMessage(st.stderr) === 'container does not exist', `state after the race: ${st.stderr}`);
  const del = await run(['delete', '--force', b.id]);
  assert.is(del.code, 0, del.stderr);
  assert.equal(await waitContainerGone(root, b.id), []);
}

const raceMix = (id: string, rng: Rng): string[][] => {
  const calls: string[][] = [];
  for (let i = 0; i < 5; i++) calls.push(['start', id]);
  for (let i = 0; i < 4; i++) calls.push(['state', id]);
  calls.push(['list', '--format', 'json']);
  for (let i = 0; i < 4; i++) calls.push(['kill', id, rng.pick(['KILL', 'TERM', '9'])]);
  for (let i = 0; i < 3; i++) calls.push(['delete', id]);
  for (let i = 0; i < 3; i++) calls.push(['delete', '--force', id]);
  return rng.shuffle(calls);
};

for (const [label, started, seed] of [
  ['a created container', false, 1],
  ['a running container', true, 2],
  ['a created container (second interleaving)', false, 3],
  ['a running container (second interleaving)', true, 4],
] as const) {
  test(`20 concurrent start/state/kill/delete calls on ${label}: expected outcomes only, state.json always valid`, async () => {
    const b = makeBundle({ config: cmd('sleep', 'forever') });
    try {
      await ok(['create', '--bundle', b.dir, b.id]);
      if (started) await ok(['start', b.id]);
      await race(b, raceMix(b.id, new Rng(seed)));
    } finally {
      await run(['delete', '--force', b.id]);
      await waitContainerGone(root, b.id);
      b.cleanup();
    }
  });
}

test('20 concurrent state/kill calls on a running container, no delete: all succeed or "container not running"', async () => {
  const b = makeBundle({ config: cmd('sleep', 'forever') });
  try {
    await ok(['create', '--bundle', b.dir, b.id]);
    await ok(['start', b.id]);
    const calls = new Rng(5).shuffle([...Array.from({ length: 10 }, () => ['state', b.id]), ...Array.from({ length: 10 }, () => ['kill', b.id, 'KILL'])]);
    const outcomes = await Promise.all(calls.map(async (args) => ({ args, r: await run(args) })));
    assert.equal(checkOutcomes(outcomes), []);
    // The first kill lands; the rest find it running or already dead, never another error.
    assert.ok(outcomes.some(({ args, r }) => args[0] === 'kill' && r.code === 0), 'at least one kill succeeded');
    await until('the container to be stopped', async () => ((await status(b.id)) === 'stopped' ? true : undefined));
    await ok(['delete', b.id]);
    assert.equal(await waitContainerGone(root, b.id), []);
  } finally {
    await run(['delete', '--force', b.id]);
    b.cleanup();
  }
});

test('10 concurrent creates of the same id: exactly one succeeds, the others say "container with id exists"', async () => {
  const b = makeBundle({ config: cmd('sleep', 'forever') });
  try {
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => run(['create', '--bundle', b.dir, b.id])));
    const succeeded = outcomes.filter((r) => r.code === 0);
    assert.is(succeeded.length, 1, outcomes.map((r) => `${r.code} ${r.stderr.trim()}`).join('\n'));
    for (const r of outcomes.filter((x) => x.code !== 0)) {
      assert.is(r.code, 1);
      assert.is(errorMessage(r.stderr), `container with id exists: ${b.id}`);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const s = JSON.parse((await ok(['state', b.id])).stdout) as OciState;
    assert.is(s.status, 'created');
    // The one container is whole: it starts and runs.
    await ok(['start', b.id]);
    assert.is(await status(b.id), 'running');
    await ok(['delete', '--force', b.id]);
    assert.equal(await waitContainerGone(root, b.id, { pid: s.pid }), []);
  } finally {
    await run(['delete', '--force', b.id]);
    b.cleanup();
  }
});

/** Locks on the inode of `dir` listed in /proc/locks (flock entries show maj:min:inode). */
function locksOn(dir: string): string[] {
  let ino: number;
  try { ino = fs.statSync(dir).ino; } catch { return []; }
  return fs.readFileSync('/proc/locks', 'utf8').split('\n').filter((l) => l.split(/\s+/).some((f) => f.endsWith(`:${ino}`)));
}

for (const [point, prep] of [
  ['start:before-fifo', 'create'],
  ['create:cgroup', 'none'],
  ['delete:before-cgroup', 'start'],
] as const) {
  test(`a lock held by a SIGKILLed capsa (${point}) does not block later calls`, async () => {
    const b = makeBundle({ config: cmd('sleep', 'forever') });
    try {
      if (prep !== 'none') await ok(['create', '--bundle', b.dir, b.id]);
      if (prep === 'start') await ok(['start', b.id]);
      const args = point.startsWith('start') ? ['start', b.id] : point.startsWith('create') ? ['create', '--bundle', b.dir, b.id] : ['delete', '--force', b.id];
      const r = await run(args, { CAPSA_TEST_FAULT: point });
      assert.is(r.signal, 'SIGKILL', `capsa did not die at ${point}: ${r.stderr}`);
      // The kernel dropped the dead holder's flock.
      assert.equal(locksOn(path.join(root, b.id)), [], 'no lock left on the state dir');
      // Calls that take the lock finish promptly (the lock wait gives up after 30 s).
      const calls = [['state', b.id], ['kill', b.id, 'KILL'], ['start', b.id], ['delete', '--force', b.id]];
      const outcomes: RaceOutcome[] = [];
      for (const c of calls) outcomes.push({ args: c, r: await run(c) });
      assert.equal(checkOutcomes(outcomes), []);
      for (const { args: a, r: o } of outcomes) assert.ok(o.ms < 5000, `capsa ${a.join(' ')} took ${o.ms} ms`);
      assert.is(outcomes[3]!.r.code, 0, 'delete --force succeeded');
      assert.equal(await waitContainerGone(root, b.id), []);
    } finally {
      await run(['delete', '--force', b.id]);
      await waitContainerGone(root, b.id);
      b.cleanup();
    }
  });
}

suite.test.run();
