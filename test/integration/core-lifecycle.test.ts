// Container lifecycle through the CLI, as root with real containers:
// create/start/state/kill/delete, run (foreground and detached), exit codes,
// signal forwarding, pid files, list, spec, features, --version and --log.
// Every assertion is about what the kernel did (/proc, the container's own
// output) or what runc prints for the same call.
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { makeBundle, type TestBundle } from '../helpers/bundle';
import { CAPSA_BIN, capsaSuite, capsaToFilesIn, type RunResult } from '../helpers/capsa';
import { cmd } from '../helpers/config';
import { REPO_ROOT, tempDir } from '../helpers/rootfs';
import { stateHelpersFor, withBundleFor, type OciState } from '../helpers/run';
import { until } from '../helpers/wait';

const { test, root, capsa, capsaOk } = capsaSuite('core-lifecycle');
const capsaToFiles = capsaToFilesIn(root);
const withBundle = withBundleFor(capsa);

// ---- local helpers ----

const { state, waitStatus } = stateHelpersFor({ capsa, capsaOk });

/** The process at pid, if it is still the one that started at `startTime`. */
function procStartTime(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return Number(rest[19]);
  } catch {
    return undefined;
  }
}

function oneLine(r: RunResult): string {
  return r.stderr.trim();
}

// ---- create / start / state ----

test('create leaves the container created, with the runtime-spec state shape', async () => {
  await withBundle((s) => { cmd('sleep', 'forever')(s); s.annotations = { 'org.capsa.test': 'yes', 'com.example/key': 'v=1' }; }, async (b) => {
    const before = Date.now();
    const r = await capsaToFiles(['create', '--bundle', b.dir, b.id], b.dir);
    assert.is(r.code, 0, r.stderr);
    const s = await state(b.id);
    assert.is(s.status, 'created');
    assert.is(s.id, b.id);
    assert.match(s.ociVersion, /^1\.\d+\.\d+/);
    assert.is(s.bundle, b.dir);
    assert.ok(Number.isInteger(s.pid) && s.pid > 0, `pid ${s.pid}`);
    assert.ok(procStartTime(s.pid) !== undefined, `process ${s.pid} exists`);
    const created = Date.parse(s.created);
    assert.ok(!Number.isNaN(created), `created "${s.created}" is a date`);
    assert.match(s.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    assert.ok(created >= before - 1000 && created <= Date.now() + 1000, `created ${s.created} is now`);
    assert.equal(s.annotations, { 'org.capsa.test': 'yes', 'com.example/key': 'v=1' });
    // The entrypoint has not run yet: the waiting process is still capsa's init.
    const comm = fs.readFileSync(`/proc/${s.pid}/comm`, 'utf8').trim();
    assert.is.not(comm, 'testinit');
  });
});

test('start makes it running; pid is the host pid of PID 1 of the container', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    assert.is((await capsaToFiles(['create', '-b', b.dir, b.id], b.dir)).code, 0);
    const pid = (await state(b.id)).pid;
    const r = await capsaToFiles(['start', b.id], b.dir);
    assert.is(r.code, 0, r.stderr);
    const s = await state(b.id);
    assert.is(s.status, 'running');
    assert.is(s.pid, pid, 'pid does not change across start');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const nspid = /^NSpid:\s+(.*)$/m.exec(status)![1]!.trim().split(/\s+/);
    assert.is(nspid[0], String(pid));
    assert.is(nspid[nspid.length - 1], '1', `NSpid: ${nspid.join(' ')}`);
    assert.is(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'testinit');
    // starting twice is refused
    const again = await capsa(['start', b.id]);
    assert.is(again.code, 1);
    await capsaOk(['kill', b.id, 'KILL']);
    await waitStatus(b.id, 'stopped');
  });
});

test('state of a nonexistent container: exit 1, "container does not exist"', async () => {
  const r = await capsa(['state', 'capsa-test-nonexistent']);
  assert.is(r.code, 1);
  assert.match(r.stderr, 'container does not exist');
});

// ---- kill ----

async function startSignals(b: TestBundle): Promise<{ pid: number; outFile: string }> {
  const c = await capsaToFiles(['create', '-b', b.dir, b.id], b.dir);
  assert.is(c.code, 0, c.stderr);
  assert.is((await capsaToFiles(['start', b.id], b.dir)).code, 0);
  // The handlers are installed once it says "ready" (PID 1 ignores signals without one).
  await until('testinit signals to be ready', () => (fs.readFileSync(c.outFile, 'utf8').includes('ready\n') ? true : undefined));
  return { pid: (await state(b.id)).pid, outFile: c.outFile };
}

for (const [label, sigArgs, expect] of [
  ['default signal is SIGTERM', [] as string[], 'got SIGTERM'],
  ['by name without SIG (HUP)', ['HUP'], 'got SIGHUP'],
  ['by name with SIG (SIGUSR1)', ['SIGUSR1'], 'got SIGUSR1'],
  ['by number (2 = SIGINT)', ['2'], 'got SIGINT'],
] as const) {
  test(`kill ${label} → the container gets it and is stopped`, async () => {
    await withBundle(cmd('signals'), async (b) => {
      const { outFile } = await startSignals(b);
      const r = await capsa(['kill', b.id, ...sigArgs]);
      assert.is(r.code, 0, r.stderr);
      const s = await waitStatus(b.id, 'stopped');
      assert.is(s.pid, 0, 'a stopped container reports pid 0');
      assert.match(fs.readFileSync(outFile, 'utf8'), expect);
    });
  });
}

test('kill KILL stops a container that ignores TERM; kill of a stopped one: "container not running"', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    assert.is((await capsaToFiles(['create', '-b', b.dir, b.id], b.dir)).code, 0);
    assert.is((await capsaToFiles(['start', b.id], b.dir)).code, 0);
    const pid = (await state(b.id)).pid;
    const start = procStartTime(pid);
    await capsaOk(['kill', b.id, 'KILL']);
    await waitStatus(b.id, 'stopped');
    assert.is.not(procStartTime(pid), start, 'process is gone');
    const r = await capsa(['kill', b.id, 'KILL']);
    assert.is(r.code, 1);
    assert.match(r.stderr, 'container not running');
  });
});

test('kill of a nonexistent container: exit 1, "container does not exist"', async () => {
  const r = await capsa(['kill', 'capsa-test-nonexistent', 'KILL']);
  assert.is(r.code, 1);
  assert.match(r.stderr, 'container does not exist');
});

// ---- delete ----

test('delete of a stopped container removes its state dir', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    assert.is((await capsaToFiles(['create', '-b', b.dir, b.id], b.dir)).code, 0);
    assert.is((await capsaToFiles(['start', b.id], b.dir)).code, 0);
    assert.ok(fs.existsSync(path.join(root, b.id)), 'state dir exists while the container does');
    await capsaOk(['kill', b.id, 'KILL']);
    await waitStatus(b.id, 'stopped');
    const r = await capsa(['delete', b.id]);
    assert.is(r.code, 0, r.stderr);
    assert.not.ok(fs.existsSync(path.join(root, b.id)), 'state dir removed');
    const st = await capsa(['state', b.id]);
    assert.is(st.code, 1);
    assert.match(st.stderr, 'container does not exist');
  });
});

test('delete refuses a running container without --force', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    assert.is((await capsaToFiles(['create', '-b', b.dir, b.id], b.dir)).code, 0);
    assert.is((await capsaToFiles(['start', b.id], b.dir)).code, 0);
    const pid = (await state(b.id)).pid;
    const r = await capsa(['delete', b.id]);
    assert.is(r.code, 1);
    assert.match(r.stderr, `cannot delete container ${b.id} that is not stopped: running`);
    assert.is((await state(b.id)).status, 'running', 'still running after the refused delete');
    assert.ok(procStartTime(pid) !== undefined);
  });
});

test('delete --force kills a running container and removes it', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    assert.is((await capsaToFiles(['create', '-b', b.dir, b.id], b.dir)).code, 0);
    assert.is((await capsaToFiles(['start', b.id], b.dir)).code, 0);
    const pid = (await state(b.id)).pid;
    const start = procStartTime(pid);
    const r = await capsa(['delete', '--force', b.id]);
    assert.is(r.code, 0, r.stderr);
    assert.is.not(procStartTime(pid), start, 'container process is gone');
    assert.not.ok(fs.existsSync(path.join(root, b.id)));
  });
});

test('delete of a created container kills its waiting init', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    assert.is((await capsaToFiles(['create', '-b', b.dir, b.id], b.dir)).code, 0);
    const pid = (await state(b.id)).pid;
    const start = procStartTime(pid);
    assert.ok(start !== undefined);
    const r = await capsa(['delete', b.id]);
    assert.is(r.code, 0, r.stderr);
    assert.is.not(procStartTime(pid), start, 'waiting init is gone');
    assert.not.ok(fs.existsSync(path.join(root, b.id)));
  });
});

test('delete of a nonexistent container: exit 1 "container does not exist"; with --force: exit 0', async () => {
  const r = await capsa(['delete', 'capsa-test-nonexistent']);
  assert.is(r.code, 1);
  assert.match(r.stderr, 'container does not exist');
  const f = await capsa(['delete', '--force', 'capsa-test-nonexistent']);
  assert.is(f.code, 0, f.stderr);
  assert.is(f.stderr, '');
});

// ---- ids ----

test('a duplicate id is refused and the first container is untouched', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    assert.is((await capsaToFiles(['create', '-b', b.dir, b.id], b.dir)).code, 0);
    const first = await state(b.id);
    const r = await capsaToFiles(['create', '-b', b.dir, b.id], b.dir);
    assert.is(r.code, 1);
    assert.match(r.stderr, `container with id exists: ${b.id}`);
    const after = await state(b.id);
    assert.is(after.status, 'created');
    assert.is(after.pid, first.pid);
    assert.is(after.created, first.created);
  });
});

for (const [label, id] of [
  ['with a slash', 'a/b'],
  ['".."', '..'],
  ['empty', ''],
  ['300 characters long', `capsa-test-${'x'.repeat(289)}`],
] as const) {
  test(`an invalid id (${label}) is refused with exit 1 and nothing is created`, async () => {
    await withBundle(undefined, async (b) => {
      const entriesBefore = fs.existsSync(root) ? fs.readdirSync(root).sort() : [];
      const r = await capsaToFiles(['create', '-b', b.dir, id], b.dir);
      assert.is(r.code, 1);
      assert.match(r.stderr, /container id/);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
      const entriesAfter = fs.existsSync(root) ? fs.readdirSync(root).sort() : [];
      assert.equal(entriesAfter, entriesBefore, 'nothing appeared in the state root');
      if (id === 'a/b') assert.not.ok(fs.existsSync(path.join(root, 'a')));
      if (id === '..') assert.not.ok(fs.existsSync(path.join(path.dirname(root), 'state.json')));
    });
  });
}

// ---- run ----

test('run in the foreground exits 0 and removes the container', async () => {
  await withBundle(cmd('echo', 'hello', 'from', 'inside'), async (b) => {
    const r = await capsa(['run', '-b', b.dir, b.id]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'hello from inside\n');
    assert.not.ok(fs.existsSync(path.join(root, b.id)), 'run removes its container');
  });
});

test('run in the foreground exits with the container\'s status (7)', async () => {
  await withBundle(cmd('exit', '7'), async (b) => {
    const r = await capsa(['run', '-b', b.dir, b.id]);
    assert.is(r.code, 7, r.stderr);
  });
});

test('run in the foreground exits 128+9 when the container is killed by SIGKILL', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    const running = capsa(['run', '-b', b.dir, b.id]);
    await waitStatus(b.id, 'running');
    await capsaOk(['kill', b.id, 'KILL']);
    const r = await running;
    assert.is(r.code, 137, r.stderr);
  });
});

test('run --detach returns while the container runs', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    const r = await capsaToFiles(['run', '--detach', '-b', b.dir, b.id], b.dir);
    assert.is(r.code, 0, r.stderr);
    const s = await state(b.id);
    assert.is(s.status, 'running');
    assert.is(fs.readFileSync(`/proc/${s.pid}/comm`, 'utf8').trim(), 'testinit');
    await capsaOk(['kill', b.id, 'KILL']);
    await waitStatus(b.id, 'stopped');
  });
});

test('run -d of an entrypoint that exits at once: returns 0, then reads stopped', async () => {
  await withBundle(cmd('exit', '3'), async (b) => {
    const r = await capsaToFiles(['run', '-d', '-b', b.dir, b.id], b.dir);
    assert.is(r.code, 0, r.stderr);
    await waitStatus(b.id, 'stopped');
    await capsaOk(['delete', b.id]);
  });
});

test('run passes stdin and stdout through', async () => {
  await withBundle(cmd('stdin'), async (b) => {
    const input = 'line one\nline two\n' + 'x'.repeat(100_000) + '\n';
    const r = await capsa(['run', '-b', b.dir, b.id], { input });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout.length, input.length);
    assert.ok(r.stdout === input, 'stdout echoes stdin byte for byte');
  });
});

test('run passes stderr through', async () => {
  await withBundle(cmd('cat', '/nonexistent-file'), async (b) => {
    const r = await capsa(['run', '-b', b.dir, b.id]);
    assert.is(r.code, 1);
    assert.match(r.stderr, 'testinit: cat: /nonexistent-file: ENOENT');
    assert.is(r.stdout, '');
  });
});

function runWithSignal(b: TestBundle, sig: NodeJS.Signals): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(CAPSA_BIN, ['--root', root, 'run', '-b', b.dir, b.id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`run did not finish\nstdout: ${stdout}\nstderr: ${stderr}`)); }, 30_000);
    child.stdout!.on('data', (d) => {
      stdout += d;
      if (!sent && stdout.includes('ready\n')) {
        sent = true;
        child.kill(sig);
      }
    });
    child.stderr!.on('data', (d) => { stderr += d; });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

for (const [sig, n] of [['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1], ['SIGUSR1', 10]] as const) {
  test(`run forwards ${sig} to the container and exits with its status (100+${n})`, async () => {
    await withBundle(cmd('signals'), async (b) => {
      const r = await runWithSignal(b, sig);
      assert.match(r.stdout, `got ${sig}\n`);
      assert.is(r.signal, null, 'capsa itself was not killed by the signal');
      assert.is(r.code, 100 + n, r.stderr);
      assert.not.ok(fs.existsSync(path.join(root, b.id)));
    });
  });
}

test('--pid-file holds the host pid of the container init', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    const pidFile = path.join(b.dir, 'container.pid');
    const r = await capsaToFiles(['create', '--pid-file', pidFile, '-b', b.dir, b.id], b.dir);
    assert.is(r.code, 0, r.stderr);
    const content = fs.readFileSync(pidFile, 'utf8');
    assert.match(content, /^\d+$/, `pid file content ${JSON.stringify(content)} (runc writes no newline)`);
    assert.is(Number(content), (await state(b.id)).pid);
  });
});

test('--pid-file with a relative path is written relative to the cwd', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    const out = fs.openSync(path.join(b.dir, 'out'), 'w');
    const child = spawn(CAPSA_BIN, ['--root', root, 'create', '--pid-file', 'rel.pid', '-b', b.dir, b.id], { stdio: ['ignore', out, out], cwd: b.dir });
    fs.closeSync(out);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.is(code, 0, fs.readFileSync(path.join(b.dir, 'out'), 'utf8'));
    assert.is(Number(fs.readFileSync(path.join(b.dir, 'rel.pid'), 'utf8')), (await state(b.id)).pid);
  });
});

test('status reads stopped when the process dies without capsa being called', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    assert.is((await capsaToFiles(['run', '-d', '-b', b.dir, b.id], b.dir)).code, 0);
    const pid = (await state(b.id)).pid;
    process.kill(pid, 'SIGKILL'); // from the host, behind capsa's back
    const s = await waitStatus(b.id, 'stopped');
    assert.is(s.pid, 0);
    await capsaOk(['delete', b.id]); // no --force needed
    assert.not.ok(fs.existsSync(path.join(root, b.id)));
  });
});

test('status reads stopped when the entrypoint exits by itself', async () => {
  await withBundle(cmd('true'), async (b) => {
    assert.is((await capsaToFiles(['create', '-b', b.dir, b.id], b.dir)).code, 0);
    assert.is((await state(b.id)).status, 'created');
    assert.is((await capsaToFiles(['start', b.id], b.dir)).code, 0);
    await waitStatus(b.id, 'stopped');
  });
});

// ---- list ----

test('list: table, json and -q show every container with its status', async () => {
  const b1 = makeBundle({ config: cmd('sleep', 'forever') });
  const b2 = makeBundle({ config: cmd('sleep', 'forever') });
  try {
    assert.is((await capsaToFiles(['create', '-b', b1.dir, b1.id], b1.dir)).code, 0);
    assert.is((await capsaToFiles(['run', '-d', '-b', b2.dir, b2.id], b2.dir)).code, 0);
    const pid1 = (await state(b1.id)).pid;
    const pid2 = (await state(b2.id)).pid;

    const table = (await capsaOk(['list'])).stdout.trimEnd().split('\n');
    assert.match(table[0]!, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
    const row = (id: string) => table.find((l) => l.split(/\s+/)[0] === id)?.split(/\s+/);
    assert.equal(row(b1.id)?.slice(0, 4), [b1.id, String(pid1), 'created', b1.dir]);
    assert.equal(row(b2.id)?.slice(0, 4), [b2.id, String(pid2), 'running', b2.dir]);
    assert.is(table.length, 3);

    const json = JSON.parse((await capsaOk(['list', '--format', 'json'])).stdout) as OciState[];
    assert.ok(Array.isArray(json));
    const byId = new Map(json.map((s) => [s.id, s]));
    assert.is(byId.get(b1.id)?.status, 'created');
    assert.is(byId.get(b1.id)?.pid, pid1);
    assert.is(byId.get(b2.id)?.status, 'running');
    assert.is(byId.get(b2.id)?.bundle, b2.dir);
    assert.is(json.length, 2);

    const quiet = (await capsaOk(['list', '-q'])).stdout;
    assert.equal(quiet.trim().split('\n').sort(), [b1.id, b2.id].sort());
  } finally {
    for (const b of [b1, b2]) {
      await capsa(['delete', '--force', b.id]);
      b.cleanup();
    }
  }
});

test('list with no containers prints just the header; json prints []', async () => {
  const table = (await capsaOk(['list'])).stdout.trimEnd().split('\n');
  assert.is(table.length, 1);
  assert.match(table[0]!, /^ID\s+PID\s+STATUS/);
  const json = (await capsaOk(['list', '-f', 'json'])).stdout.trim();
  assert.equal(JSON.parse(json), []);
});

// ---- spec / features / version / log ----

function runcSpec(): Record<string, unknown> {
  const dir = tempDir('runc-spec');
  try {
    execFileSync('runc', ['spec'], { cwd: dir, stdio: 'pipe' });
    return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test/fixtures/runc-spec.json'), 'utf8')) as Record<string, unknown>;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('spec writes the same config.json as runc spec (except ociVersion)', async () => {
  const dir = tempDir('spec');
  try {
    const r = await capsa(['spec'], { cwd: dir });
    assert.is(r.code, 0, r.stderr);
    const mine = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const theirs = runcSpec();
    assert.match(String(mine.ociVersion), /^1\.\d+\.\d+$/);
    delete mine.ociVersion;
    delete theirs.ociVersion;
    assert.equal(mine, theirs);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('spec --bundle writes into that dir and refuses to overwrite an existing config.json', async () => {
  const dir = tempDir('spec');
  try {
    await capsaOk(['spec', '--bundle', dir]);
    const file = path.join(dir, 'config.json');
    assert.ok(fs.existsSync(file));
    fs.writeFileSync(file, '{"mine": true}\n');
    const r = await capsa(['spec', '--bundle', dir]);
    assert.is(r.code, 1);
    assert.match(r.stderr, 'File config.json exists. Remove it first');
    assert.is(fs.readFileSync(file, 'utf8'), '{"mine": true}\n', 'existing file untouched');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('features prints runtime-spec features JSON', async () => {
  const r = await capsaOk(['features']);
  const f = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.match(String(f.ociVersionMin), /^1\.0\.\d+$/);
  assert.match(String(f.ociVersionMax), /^1\.\d+\.\d+$/);
  assert.ok(Array.isArray(f.hooks) && Array.isArray(f.mountOptions), 'hooks and mountOptions lists');
  const linux = f.linux as { namespaces?: string[] } | undefined;
  for (const ns of ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']) assert.ok(linux?.namespaces?.includes(ns), `namespace ${ns}`);
});

test('--version prints "capsa version X" and "spec: Y" lines', async () => {
  for (const flag of ['--version', '-v']) {
    const r = await capsaOk([flag]);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^capsa version \S+$/);
    assert.ok(lines.some((l) => /^spec: 1\.\d+\.\d+$/.test(l)), r.stdout);
  }
});

test('--log FILE --log-format json writes an error line for a failing command', async () => {
  const dir = tempDir('log');
  try {
    const log = path.join(dir, 'log.json');
    const r = await capsa(['--log', log, '--log-format', 'json', 'delete', 'capsa-test-nonexistent']);
    assert.is(r.code, 1);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1]!) as { level: string; msg: string; time: string };
    assert.is(last.level, 'error');
    assert.match(last.msg, 'container does not exist');
    assert.ok(!Number.isNaN(Date.parse(last.time)), `time ${last.time}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--log FILE in text format writes runc\'s logfmt line', async () => {
  const dir = tempDir('log');
  try {
    const log = path.join(dir, 'log.txt');
    const r = await capsa(['--log', log, 'state', 'capsa-test-nonexistent']);
    assert.is(r.code, 1);
    assert.match(fs.readFileSync(log, 'utf8'), /^time="[^"]+" level=error msg="container does not exist[^"]*"$/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown command exits non-zero with one line', async () => {
  const r = await capsa(['bogus-verb']);
  assert.ok(r.code !== 0);
  assert.is(oneLine(r).split('\n').length, 1);
});

test.run();
