// Crash at every step: capsa is SIGKILLed at each fault point
// (CAPSA_TEST_FAULT, src/runtime/faults.ts) of create, start, exec and
// delete, as an engine killing it mid-call would. Afterwards `state` must not
// crash on the half-made container, `list` must work, and
// `delete --force` must bring the host back to clean: no process, no cgroup,
// no state dir, no mount (checked by id here, and host-wide by the suite's
// per-test leak check).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Spec } from '../../src/spec/types';
import { makeBundle, type TestBundle } from '../helpers/bundle';
import { capsaSuite } from '../helpers/capsa';
import { containerTraces, waitContainerGone } from '../helpers/host';
import { capsaFiles, errorMessage, hasStack, tempDir, STATUSES, type FileRunResult, type OciState, reapingTest } from '../helpers/kit';

const suite = capsaSuite('crash');
const { root } = suite;
const test = reapingTest(suite.test);
const outDir = tempDir('crash-out');
suite.test.after(() => { fs.rmSync(outDir, { recursive: true, force: true }); });

const run = (args: readonly string[], env?: NodeJS.ProcessEnv) => capsaFiles(root, args, outDir, { env, timeoutMs: 20_000 });

async function ok(args: readonly string[]): Promise<FileRunResult> {
  const r = await run(args);
  assert.is(r.code, 0, `capsa ${args.join(' ')}: exit ${r.code} ${r.signal ?? ''} ${r.stderr}`);
  return r;
}

const sleeper = (s: Spec) => { s.process!.args = ['/bin/testinit', 'sleep', 'forever']; };
const userNs = (s: Spec) => {
  sleeper(s);
  s.linux!.namespaces = [...(s.linux!.namespaces ?? []), { type: 'user' }];
  s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
};
const createRuntimeHook = (s: Spec) => {
  sleeper(s);
  s.hooks = { createRuntime: [{ path: '/bin/true', args: ['true'] }] };
};

type Verb = 'create' | 'start' | 'exec' | 'delete';

interface FaultCase {
  point: string;
  verb: Verb;
  config: (s: Spec) => void;
  /** What `state` reads after the crash: the creator died before "created" → stopped. */
  status: string;
}

const CASES: FaultCase[] = [
  { point: 'create:before-init', verb: 'create', config: sleeper, status: 'stopped' },
  { point: 'create:maps', verb: 'create', config: userNs, status: 'stopped' },
  { point: 'create:cgroup', verb: 'create', config: sleeper, status: 'stopped' },
  { point: 'create:child', verb: 'create', config: sleeper, status: 'stopped' },
  { point: 'create:hooks', verb: 'create', config: createRuntimeHook, status: 'stopped' },
  { point: 'create:created', verb: 'create', config: sleeper, status: 'created' },
  { point: 'start:before-fifo', verb: 'start', config: sleeper, status: 'created' },
  { point: 'start:after-fifo', verb: 'start', config: sleeper, status: 'running' },
  { point: 'exec:child', verb: 'exec', config: sleeper, status: 'running' },
  { point: 'delete:before-kill', verb: 'delete', config: sleeper, status: 'running' },
  { point: 'delete:before-cgroup', verb: 'delete', config: sleeper, status: 'stopped' },
  { point: 'delete:before-remove', verb: 'delete', config: sleeper, status: 'stopped' },
];

function faultedArgs(verb: Verb, b: TestBundle): string[] {
  switch (verb) {
    case 'create': return ['create', '--bundle', b.dir, b.id];
    case 'start': return ['start', b.id];
    case 'exec': return ['exec', b.id, '/bin/testinit', 'sleep', 'forever'];
    case 'delete': return ['delete', '--force', b.id];
  }
}

/** `capsa state` after a crash: exit 0 with a valid status, or exit 1 "container does not exist"; never a stack. */
async function stateAfterCrash(id: string): Promise<OciState | undefined> {
  const r = await run(['state', id]);
  assert.not.ok(r.signal, `state was killed by ${r.signal}`);
  assert.not.ok(hasStack(r.stderr), `state printed a stack trace:\n${r.stderr}`);
  if (r.code === 1) {
    assert.is(errorMessage(r.stderr), 'container does not exist', r.stderr);
    return undefined;
  }
  assert.is(r.code, 0, `state exit ${r.code}: ${r.stderr}`);
  const s = JSON.parse(r.stdout) as OciState;
  assert.is(s.id, id);
  assert.ok(STATUSES.includes(s.status), `status "${s.status}"`);
  return s;
}

for (const c of CASES) {
  test(`kill -9 at ${c.point}: state reads "${c.status}", list works, delete --force leaves the host clean`, async () => {
    const b = makeBundle({ config: c.config });
    let init: { pid: number } | undefined;
    try {
      if (c.verb !== 'create') {
        await ok(['create', '--bundle', b.dir, b.id]);
        const s = JSON.parse((await ok(['state', b.id])).stdout) as OciState;
        init = { pid: s.pid };
        if (c.verb !== 'start') await ok(['start', b.id]);
      }

      const r = await run(faultedArgs(c.verb, b), { CAPSA_TEST_FAULT: c.point });
      assert.is(r.signal, 'SIGKILL', `capsa did not die at ${c.point}: exit ${r.code} ${r.stderr}`);

      const s = await stateAfterCrash(b.id);
      assert.ok(s, `state of the crashed container: "container does not exist" although its state dir ${fs.existsSync(path.join(root, b.id)) ? 'exists' : 'is gone'}`);
      assert.is(s!.status, c.status);
      if (s!.pid > 0) init = { pid: s!.pid };

      const list = await run(['list', '--format', 'json']);
      assert.is(list.code, 0, list.stderr);
      assert.is(list.stderr, '');
      const listed = JSON.parse(list.stdout) as OciState[];
      assert.equal(listed.filter((x) => x.id === b.id).map((x) => x.status), [c.status], 'list shows the container with the same status');

      const del = await run(['delete', '--force', b.id]);
      assert.is(del.code, 0, `delete --force after a crash at ${c.point}: ${del.stderr}`);
      assert.not.ok(hasStack(del.stderr), del.stderr);

      assert.equal(await waitContainerGone(root, b.id, init), [], `left behind after delete --force`);
      const gone = await run(['state', b.id]);
      assert.is(gone.code, 1);
      assert.is(errorMessage(gone.stderr), 'container does not exist');
    } finally {
      await run(['delete', '--force', b.id]).catch(() => undefined);
      await waitContainerGone(root, b.id, init);
      b.cleanup();
    }
  });
}

test('kill -9 at start:before-fifo releases the container lock: a second start runs it at once', async () => {
  const b = makeBundle({ config: sleeper });
  try {
    await ok(['create', '--bundle', b.dir, b.id]);
    const r = await run(['start', b.id], { CAPSA_TEST_FAULT: 'start:before-fifo' });
    assert.is(r.signal, 'SIGKILL');
    const again = await ok(['start', b.id]);
    // The lock wait is 30 s: a start that waited for a dead holder would show it.
    assert.ok(again.ms < 5000, `second start took ${again.ms} ms`);
    const s = JSON.parse((await ok(['state', b.id])).stdout) as OciState;
    assert.is(s.status, 'running');
    assert.is(fs.readFileSync(`/proc/${s.pid}/comm`, 'utf8').trim(), 'testinit');
  } finally {
    await run(['delete', '--force', b.id]);
    assert.equal(await waitContainerGone(root, b.id), []);
    b.cleanup();
  }
});

test('kill -9 at create:created, then the container is still usable: start, state running, delete', async () => {
  const b = makeBundle({ config: sleeper });
  try {
    const r = await run(['create', '--bundle', b.dir, b.id], { CAPSA_TEST_FAULT: 'create:created' });
    assert.is(r.signal, 'SIGKILL');
    await ok(['start', b.id]);
    const s = JSON.parse((await ok(['state', b.id])).stdout) as OciState;
    assert.is(s.status, 'running');
    await ok(['kill', b.id, 'KILL']);
    await ok(['delete', '--force', b.id]);
    assert.equal(await waitContainerGone(root, b.id, { pid: s.pid }), []);
  } finally {
    await run(['delete', '--force', b.id]);
    b.cleanup();
  }
});

test('a create killed before it wrote anything (empty state dir): state "does not exist", delete removes it', async () => {
  const id = `capsa-test-empty-${process.pid}`;
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(path.join(root, id));
  try {
    const s = await run(['state', id]);
    assert.is(s.code, 1);
    assert.is(errorMessage(s.stderr), 'container does not exist');
    const list = await run(['list', '--format', 'json']);
    assert.is(list.code, 0, list.stderr);
    const del = await run(['delete', '--force', id]);
    assert.is(del.code, 0, del.stderr);
    assert.equal(containerTraces(root, id), []);
  } finally {
    fs.rmSync(path.join(root, id), { recursive: true, force: true });
  }
});

suite.test.run();
