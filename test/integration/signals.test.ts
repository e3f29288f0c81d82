// Signals to a foreground `capsa run`: SIGINT/SIGTERM/SIGHUP (and SIGUSR1)
// reach the container's process, and capsa exits with the container's status
// (testinit signals prints "got SIGxxx" and exits 100+N). SIGKILL of
// `capsa run` cannot be forwarded or cleaned up after: what capsa does then —
// the container keeps running, reads "running", and is killable and deletable
// — is asserted here as the documented behaviour.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as assert from 'uvu/assert';

import type { Spec } from '../../src/spec/types';
import { makeBundle } from '../helpers/bundle';
import { CAPSA_BIN, capsaSuite } from '../helpers/capsa';
import { alive, waitContainerGone } from '../helpers/host';
import { capsaFiles, errorMessage, reapingTest, tempDir, until, type OciState } from '../helpers/kit';

const suite = capsaSuite('signals');
const { root } = suite;
const test = reapingTest(suite.test);
const outDir = tempDir('signals-out');
suite.test.after(() => { fs.rmSync(outDir, { recursive: true, force: true }); });

const run = (args: readonly string[]) => capsaFiles(root, args, outDir, { timeoutMs: 20_000 });
const signalsConfig = (s: Spec) => { s.process!.args = ['/bin/testinit', 'signals']; };

interface Foreground {
  child: ChildProcess;
  stdout(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `capsa run` in the foreground, its stdout (the container's) captured. */
function runForeground(bundleDir: string, id: string): Foreground {
  const child = spawn(CAPSA_BIN, ['--root', root, 'run', '--bundle', bundleDir, id], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`capsa run did not exit in 20 s; stdout ${out} stderr ${err}`)); }, 20_000);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
  });
  return { child, stdout: () => out, exited };
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15, SIGUSR1: 10 };

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1'] as const) {
  test(`${sig} to a foreground capsa run reaches the container; capsa exits with its status (${100 + SIGNAL_NUMBERS[sig]!})`, async () => {
    const b = makeBundle({ config: signalsConfig });
    try {
      const fg = runForeground(b.dir, b.id);
      // Handlers are installed once the container says "ready".
      await until('the container to be ready', () => (fg.stdout().includes('ready\n') ? true : undefined));
      const st = await run(['state', b.id]);
      const pid = (JSON.parse(st.stdout) as OciState).pid;
      fg.child.kill(sig);
      const { code, signal } = await fg.exited;
      assert.is(signal, null, `capsa itself died of ${signal}`);
      assert.is(code, 100 + SIGNAL_NUMBERS[sig]!, `exit status; stdout: ${fg.stdout()}`);
      assert.match(fg.stdout(), `got ${sig}\n`);
      // run removed its container.
      assert.equal(await waitContainerGone(root, b.id, { pid }), []);
    } finally {
      await run(['delete', '--force', b.id]);
      b.cleanup();
    }
  });
}

test('SIGKILL of a foreground capsa run: the container keeps running (not cleaned), reads "running", and is killable and deletable', async () => {
  const b = makeBundle({ config: signalsConfig });
  try {
    const fg = runForeground(b.dir, b.id);
    await until('the container to be ready', () => (fg.stdout().includes('ready\n') ? true : undefined));
    const before = JSON.parse((await run(['state', b.id])).stdout) as OciState;
    fg.child.kill('SIGKILL');
    const { signal } = await fg.exited;
    assert.is(signal, 'SIGKILL');

    // Documented outcome: nothing cleans up after a SIGKILLed capsa; the container lives on.
    const st = await run(['state', b.id]);
    assert.is(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout) as OciState;
    assert.is(s.status, 'running');
    assert.is(s.pid, before.pid);
    assert.ok(alive(s.pid), 'the container process is alive');
    const listed = JSON.parse((await run(['list', '--format', 'json'])).stdout) as OciState[];
    assert.equal(listed.filter((x) => x.id === b.id).map((x) => x.status), ['running']);

    // It is managed like any detached container: delete refuses, kill works, then delete.
    const refused = await run(['delete', b.id]);
    assert.is(refused.code, 1);
    assert.is(errorMessage(refused.stderr), `cannot delete container ${b.id} that is not stopped: running`);
    const k = await run(['kill', b.id, 'TERM']);
    assert.is(k.code, 0, k.stderr);
    await until('the container to stop', async () => {
      const r = await run(['state', b.id]);
      return r.code === 0 && (JSON.parse(r.stdout) as OciState).status === 'stopped' ? true : undefined;
    });
    const d = await run(['delete', b.id]);
    assert.is(d.code, 0, d.stderr);
    assert.equal(await waitContainerGone(root, b.id, { pid: s.pid }), []);
  } finally {
    await run(['delete', '--force', b.id]);
    b.cleanup();
  }
});

test('SIGKILL of a foreground capsa run, then delete --force: the running container is cleaned at once', async () => {
  const b = makeBundle({ config: signalsConfig });
  try {
    const fg = runForeground(b.dir, b.id);
    await until('the container to be ready', () => (fg.stdout().includes('ready\n') ? true : undefined));
    const pid = (JSON.parse((await run(['state', b.id])).stdout) as OciState).pid;
    fg.child.kill('SIGKILL');
    await fg.exited;
    const d = await run(['delete', '--force', b.id]);
    assert.is(d.code, 0, d.stderr);
    assert.equal(await waitContainerGone(root, b.id, { pid }), []);
  } finally {
    await run(['delete', '--force', b.id]);
    b.cleanup();
  }
});

suite.test.run();
