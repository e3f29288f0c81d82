// containerd drives capsa the way Kubernetes nodes do: through
// containerd-shim-runc-v2 with capsa as the runc binary (`ctr run
// --runc-binary`). A private containerd (own config, root, state, socket,
// namespace) runs for this file only. Every test is one operation a user
// makes; on failure the message carries the runtime calls the shim made.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import {
  alive, callsSince, cgroupsContaining, describe, failedCapsaCalls, formatCalls, pidsMatching, readCalls, runInPty, shellLine, sleep, spawnCollect, until, verbOf, type Result,
} from '../helpers/engines/common';
import { importImage, startContainerd, type Containerd } from '../helpers/engines/containerd';
import { buildTestImage, CTR_IMAGE } from '../helpers/engines/image';
import { engineGroup } from '../helpers/engines/suite';

interface Ctx {
  cd: Containerd;
  capsa: string;
  runc: string;
}

/**
 * Runs cmd, then sleeps half a second, keeping cmd's exit status: tests of an
 * option use it so they measure that option, not how `start` copes with a
 * process that is already gone (the short-lived tests cover that).
 */
const lingering = (cmd: string[]) => ['/bin/sh', '-c', '"$0" "$@"; rc=$?; sleep 0.5; exit $rc', ...cmd];

let seq = 0;
const used = new Set<string>();
const newId = (tag: string): string => {
  const id = `${tag}-${seq++}`;
  used.add(id);
  return id;
};

void engineGroup<Ctx>('engines/containerd', {
  async setup(sb) {
    const cd = await startContainerd(sb);
    try {
      await importImage(cd, buildTestImage(sb.dir).archive);
    } catch (e) {
      await cd.stop();
      throw e;
    }
    return { cd, capsa: sb.capsa, runc: sb.runc };
  },
  async leftovers({ cd }) {
    const left: string[] = [];
    const tasks = (await cd.ctr(['task', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
    for (const t of tasks) {
      left.push(`task ${t}`);
      await cd.ctr(['task', 'kill', '-s', 'SIGKILL', t]);
      await sleep(300);
      await cd.ctr(['task', 'delete', '--force', t]);
    }
    const containers = (await cd.ctr(['containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
    for (const c of containers) {
      left.push(`container ${c}`);
      await cd.ctr(['containers', 'rm', c]);
    }
    // What capsa itself must have removed once the shim deleted the task.
    for (const id of used) {
      const state = path.join(cd.runtimeRoot, id);
      if (fs.existsSync(state)) left.push(`capsa state dir ${state}`);
      for (const cg of cgroupsContaining(`/${cd.namespace}/${id}`)) left.push(`cgroup ${cg}`);
    }
    used.clear();
    return left;
  },
  async teardown({ cd }) {
    const forced = await cd.stop();
    // The shim's runtime root for our namespace (holds nothing once tasks are gone).
    try { fs.rmdirSync(cd.runtimeRoot); } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') forced.push(`${cd.runtimeRoot}: ${(e as Error).message}`);
    }
    return forced.map((f) => `had to clean up at teardown: ${f}`);
  },
  hostLeftovers({ cd }) {
    return fs.existsSync(cd.runtimeRoot) ? [`runtime root ${cd.runtimeRoot} left: ${fs.readdirSync(cd.runtimeRoot).join(', ')}`] : [];
  },
  daemonPids: ({ cd }) => [cd.pid, ...pidsMatching('containerd-shim-runc-v2', cd.address)],
  emergencyPaths: ({ cd }) => [cd.runtimeRoot],
}, ({ test, ctx }) => {
  const { cd, capsa } = ctx;

  /** `ctr run --runc-binary capsa ...` */
  const ctrRun = (flags: string[], id: string, args: string[], timeoutMs = 60_000) =>
    cd.ctr(['run', '--runc-binary', capsa, ...flags, CTR_IMAGE, id, ...args], { timeoutMs });

  const expectOk = (r: Result, mark: number, what: string) => {
    if (r.code !== 0 || r.timedOut) assert.unreachable(`${what} failed: ${describe(r)}\n${failedCapsaCalls(mark)}\nruntime calls:\n${formatCalls(callsSince(mark))}`);
  };

  const taskRow = async (id: string): Promise<{ pid: number; status: string } | undefined> => {
    const r = await cd.ctr(['task', 'ls']);
    for (const line of r.stdout.split('\n').slice(1)) {
      const [name, pid, status] = line.trim().split(/\s+/);
      if (name === id) return { pid: Number(pid), status: status! };
    }
    return undefined;
  };

  const waitStatus = (id: string, status: string) =>
    until(`task ${id} to be ${status}`, async () => {
      const row = await taskRow(id);
      return row?.status === status ? row : undefined;
    });

  /** Starts a detached task and waits until it runs. */
  const detached = async (id: string, args: string[], flags: string[] = []) => {
    const mark = readCalls().length;
    const r = await ctrRun(['-d', ...flags], id, args);
    expectOk(r, mark, 'ctr run -d');
    return waitStatus(id, 'RUNNING');
  };

  /** Kills (SIGKILL) and deletes a task and its container. */
  const remove = async (id: string) => {
    await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitStatus(id, 'STOPPED').catch(() => undefined);
    await cd.ctr(['task', 'delete', id]);
    await cd.ctr(['containers', 'rm', id]);
  };

  /** Where a task's cgroup (v1 controller, or the unified tree) lives on the host. */
  const cgroupDir = (pid: number, controller: string): string => {
    const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes(controller));
    if (v1) return path.join('/sys/fs/cgroup', controller, v1.split(':')[2]!);
    const v2 = lines.find((l) => l.startsWith('0::'))!;
    return path.join(fs.existsSync('/sys/fs/cgroup/unified') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup', v2.slice(3));
  };

  test('ctr run --rm: output, exit 0, and the shim\'s create/start/delete calls', async () => {
    const id = newId('run-rm');
    const mark = readCalls().length;
    const r = await ctrRun(['--rm'], id, ['/bin/testinit', 'echo', 'hello from capsa']);
    expectOk(r, mark, 'ctr run --rm');
    assert.is(r.stdout.trim(), 'hello from capsa');
    const calls = callsSince(mark).filter((c) => c.runtime === 'capsa');
    const verbs = calls.map((c) => verbOf(c.args));
    assert.equal(verbs, ['create', 'start', 'delete', 'delete'], formatCalls(calls));
    for (const c of calls) {
      assert.ok(c.args.includes('--log-format') && c.args.includes('json'), `every call carries --log-format json:\n${formatCalls([c])}`);
      assert.is(c.rc, 0, `${formatCalls([c])}`);
    }
    assert.ok(calls[3]!.args.includes('--force'), 'the second delete is delete --force');
  });

  test('ctr run --rm: short-lived tasks start reliably (10 runs in a row)', async () => {
    const failures: string[] = [];
    for (let i = 0; i < 10; i++) {
      const id = newId('run-many');
      const mark = readCalls().length;
      const r = await ctrRun(['--rm'], id, ['/bin/testinit', 'true']);
      if (r.code !== 0) failures.push(`run ${i}: ${r.stderr.trim()}\n${failedCapsaCalls(mark)}`);
    }
    assert.is(failures.length, 0, `${failures.length}/10 runs failed:\n${failures.join('\n')}`);
  });

  test('ctr run: the task\'s exit status is ctr\'s exit status', async () => {
    const id = newId('exit');
    const r = await ctrRun(['--rm'], id, lingering(['/bin/testinit', 'exit', '7']));
    assert.is(r.code, 7, describe(r));
  });

  test('ctr run --env: variables reach the process', async () => {
    const id = newId('env');
    const mark = readCalls().length;
    const r = await ctrRun(['--rm', '--env', 'GREETING=hello', '--env', 'EMPTY='], id, lingering(['/bin/testinit', 'env']));
    expectOk(r, mark, 'ctr run --env');
    const env = r.stdout.split('\n');
    assert.ok(env.includes('GREETING=hello'), r.stdout);
    assert.ok(env.includes('EMPTY='), r.stdout);
    assert.ok(env.includes('PATH=/bin'), `image Env kept: ${r.stdout}`);
  });

  test('ctr run -t: the process gets a terminal (console socket)', async () => {
    const id = newId('tty');
    const mark = readCalls().length;
    const r = await runInPty(shellLine('ctr', cd.ctrArgs(['run', '--runc-binary', capsa, '--rm', '-t', CTR_IMAGE, id, ...lingering(['/bin/testinit', 'tty'])])), { timeoutMs: 60_000 });
    expectOk(r, mark, 'ctr run -t');
    assert.match(r.stdout, /stdin=1 stdout=1 stderr=1 ttyname=\/dev\/pts\/\d+/);
    const create = callsSince(mark).find((c) => verbOf(c.args) === 'create');
    assert.ok(create?.args.includes('--console-socket'), formatCalls(callsSince(mark)));
  });

  test('ctr run -d, then ctr task ls shows it RUNNING with the pid capsa wrote', async () => {
    const id = newId('detach');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    try {
      assert.ok(row.pid > 0 && alive(row.pid), `task pid ${row.pid} is alive`);
      assert.is(fs.readFileSync(`/proc/${row.pid}/cmdline`, 'utf8').split('\0')[0], '/bin/testinit');
      const calls = callsSince(0).filter((c) => c.args.includes(id));
      const create = calls.find((c) => verbOf(c.args) === 'create')!;
      const pidFile = create.args[create.args.indexOf('--pid-file') + 1]!;
      assert.ok(pidFile, formatCalls([create]));
    } finally {
      await remove(id);
    }
  });

  test('ctr task exec (no tty): output and exit status', async () => {
    const id = newId('exec');
    await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    try {
      const mark = readCalls().length;
      const r = await cd.ctr(['task', 'exec', '--exec-id', 'e1', id, '/bin/testinit', 'echo', 'from exec']);
      expectOk(r, mark, 'ctr task exec');
      assert.is(r.stdout.trim(), 'from exec');
      const exec = callsSince(mark).find((c) => verbOf(c.args) === 'exec');
      assert.ok(exec && exec.args.includes('--process') && exec.args.includes('--detach') && exec.args.includes('--pid-file'), formatCalls(callsSince(mark)));
      const failing = await cd.ctr(['task', 'exec', '--exec-id', 'e2', id, '/bin/testinit', 'exit', '3']);
      assert.is(failing.code, 3, describe(failing));
    } finally {
      await remove(id);
    }
  });

  test('ctr task exec -t: the exec\'d process gets a terminal', async () => {
    const id = newId('exec-tty');
    await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    try {
      const mark = readCalls().length;
      const r = await runInPty(shellLine('ctr', cd.ctrArgs(['task', 'exec', '-t', '--exec-id', 'et', id, '/bin/testinit', 'tty'])), { timeoutMs: 60_000 });
      assert.match(r.stdout, /stdin=1 stdout=1 stderr=1 ttyname=\/dev\/pts\/\d+/, `${describe(r)}\n${formatCalls(callsSince(mark))}`);
      const exec = callsSince(mark).find((c) => verbOf(c.args) === 'exec');
      assert.ok(exec?.args.includes('--tty') || exec?.args.includes('--console-socket'), formatCalls(callsSince(mark)));
      assert.is(exec?.rc, 0, formatCalls(callsSince(mark)));
    } finally {
      await remove(id);
    }
  });

  test('ctr task kill: a signal by number reaches the process; SIGKILL stops it (137)', async () => {
    const id = newId('kill');
    // A foreground run, so the exit status comes back to us.
    const fg = spawnCollect('ctr', cd.ctrArgs(['run', '--runc-binary', capsa, '--rm', CTR_IMAGE, id, '/bin/testinit', 'signals']), 60_000);
    await until('the task to be ready', () => (fg.out().includes('ready') ? true : undefined), 30_000);
    const mark = readCalls().length;
    const k = await cd.ctr(['task', 'kill', '-s', 'SIGUSR1', id]);
    expectOk(k, mark, 'ctr task kill -s SIGUSR1');
    const done = await fg.done;
    assert.match(done.stdout, /got SIGUSR1/);
    assert.is(done.code, 110, describe(done));
    const kill = callsSince(mark).find((c) => verbOf(c.args) === 'kill');
    assert.equal(kill?.args.slice(-2), [id, '10'], formatCalls(callsSince(mark)));

    const id2 = newId('kill9');
    await detached(id2, ['/bin/testinit', 'sleep', 'forever']);
    const k9 = await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id2]);
    assert.is(k9.code, 0, describe(k9));
    await waitStatus(id2, 'STOPPED');
    const del = await cd.ctr(['task', 'delete', id2]);
    assert.match(del.stderr + del.stdout, /137/, `ctr task delete reports the exit code: ${describe(del)}`);
    await cd.ctr(['containers', 'rm', id2]);
  });

  test('ctr task pause / resume: PAUSED with the freezer frozen, then RUNNING', async () => {
    const id = newId('pause');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    try {
      const mark = readCalls().length;
      const p = await cd.ctr(['task', 'pause', id]);
      expectOk(p, mark, 'ctr task pause');
      await waitStatus(id, 'PAUSED');
      const freezer = cgroupDir(row.pid, 'freezer');
      const stateFile = fs.existsSync(path.join(freezer, 'freezer.state')) ? path.join(freezer, 'freezer.state') : path.join(freezer, 'cgroup.freeze');
      assert.match(fs.readFileSync(stateFile, 'utf8'), /FROZEN|1/, stateFile);
      const r = await cd.ctr(['task', 'resume', id]);
      expectOk(r, mark, 'ctr task resume');
      await waitStatus(id, 'RUNNING');
      assert.match(fs.readFileSync(stateFile, 'utf8'), /THAWED|0/, stateFile);
      assert.equal(callsSince(mark).map((c) => verbOf(c.args)).filter((v) => v === 'pause' || v === 'resume'), ['pause', 'resume']);
    } finally {
      await remove(id);
    }
  });

  test('ctr task ps: lists the init and an exec\'d process by host pid', async () => {
    const id = newId('ps');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    const side = spawnCollect('ctr', cd.ctrArgs(['task', 'exec', '--exec-id', 'sleeper', id, '/bin/testinit', 'sleep', '30']), 60_000);
    try {
      const mark = readCalls().length;
      const pids = await until('two processes in ctr task ps', async () => {
        const r = await cd.ctr(['task', 'ps', id]);
        if (r.code !== 0) throw new Error(`${describe(r)}\n${failedCapsaCalls(mark)}`);
        const found = r.stdout.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0])).filter((n) => n > 0);
        return found.length >= 2 ? found : undefined;
      });
      assert.ok(pids.includes(row.pid), `init pid ${row.pid} in ${pids.join(',')}`);
      const ps = callsSince(mark).find((c) => verbOf(c.args) === 'ps');
      assert.ok(ps?.args.includes('--format') && ps.args.includes('json'), formatCalls(callsSince(mark)));
    } finally {
      // End the exec'd process so ctr exits by itself (and cleans up after itself).
      await cd.ctr(['task', 'kill', '--exec-id', 'sleeper', '-s', 'SIGKILL', id]);
      const ended = await Promise.race([side.done, sleep(10_000).then(() => undefined)]);
      if (!ended) side.kill();
      await remove(id);
    }
  });

  test('ctr task metrics: cgroup statistics for the task', async () => {
    const id = newId('metrics');
    await detached(id, ['/bin/testinit', 'sleep', 'forever'], ['--memory-limit', String(96 << 20)]);
    try {
      const r = await cd.ctr(['task', 'metrics', id]);
      assert.is(r.code, 0, describe(r));
      assert.match(r.stdout, /memory\.(usage_in_bytes|usage)/, r.stdout);
      assert.match(r.stdout, /pids\.current\s+1\b/, r.stdout);
      assert.match(r.stdout, new RegExp(`memory\\.limit(_in_bytes)?\\s+${96 << 20}\\b`), r.stdout);
    } finally {
      await remove(id);
    }
  });

  test('ctr run --memory-limit: the task\'s memory cgroup has the limit', async () => {
    const id = newId('memory');
    const limit = 64 << 20;
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever'], ['--memory-limit', String(limit)]);
    try {
      const dir = cgroupDir(row.pid, 'memory');
      const file = fs.existsSync(path.join(dir, 'memory.limit_in_bytes')) ? 'memory.limit_in_bytes' : 'memory.max';
      assert.is(fs.readFileSync(path.join(dir, file), 'utf8').trim(), String(limit), `${dir}/${file}`);
      assert.ok(dir.includes(`/${cd.namespace}/${id}`), `cgroup path ${dir} is the one containerd asked for`);
    } finally {
      await remove(id);
    }
  });

  test('an OOM-killed task is reported as such: /tasks/oom event and exit 137', async () => {
    const id = newId('oom');
    const events = spawnCollect('ctr', ['-a', cd.address, '-n', cd.namespace, 'events'], 60_000);
    try {
      await sleep(300);
      // The shim arms its OOM watch only once `start` has returned: allocate a
      // moment later so the kill falls inside the watch (as it would for a real
      // workload), for runc and capsa alike.
      const r = await ctrRun(['--rm', '--memory-limit', String(32 << 20)], id, ['/bin/sh', '-c', 'sleep 1; exec /bin/testinit hog 256'], 60_000);
      assert.is(r.code, 137, describe(r));
      await until('a /tasks/oom event', () => (events.out().includes('/tasks/oom') ? true : undefined), 5000)
        .catch(() => assert.unreachable(`no /tasks/oom event; events seen:\n${events.out()}`));
      assert.match(events.out(), new RegExp(`/tasks/oom \\{"container_id":"${id}"`));
      assert.match(events.out(), /\/tasks\/exit .*"exit_status":137/);
    } finally {
      events.kill();
    }
  });

  test('ctr task delete: exit status reported, capsa state and cgroup removed', async () => {
    const id = newId('delete');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    const cgroup = cgroupDir(row.pid, 'memory');
    await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitStatus(id, 'STOPPED');
    const mark = readCalls().length;
    const del = await cd.ctr(['task', 'delete', id]);
    assert.is(del.code, 0, describe(del));
    const calls = callsSince(mark);
    assert.equal(calls.map((c) => verbOf(c.args)), ['delete', 'delete'], formatCalls(calls));
    assert.ok(calls.every((c) => c.rc === 0), `delete then delete --force of a gone container both exit 0:\n${formatCalls(calls)}`);
    assert.not.ok(fs.existsSync(path.join(cd.runtimeRoot, id)), 'capsa state dir removed');
    assert.not.ok(fs.existsSync(cgroup), `${cgroup} removed`);
    assert.not.ok(alive(row.pid));
    const rm = await cd.ctr(['containers', 'rm', id]);
    assert.is(rm.code, 0, describe(rm));
  });

  test('a failing create shows capsa\'s one-line error, as runc does', async () => {
    const id = newId('bad');
    const r = await ctrRun(['--rm'], id, ['/no/such/binary']);
    assert.is.not(r.code, 0);
    const msg = r.stderr.trim();
    assert.match(msg, /\/no\/such\/binary/, msg);
    assert.not.match(msg, /\n\s+at /, `no stack trace: ${msg}`);
    assert.ok(msg.split('\n').length <= 2, `one line: ${msg}`);
    // What runc says for the same thing, for the record.
    const ref = await cd.ctr(['run', '--runc-binary', ctx.runc, '--rm', CTR_IMAGE, newId('bad-runc'), '/no/such/binary']);
    process.stdout.write(`\n    capsa: ${msg}\n    runc:  ${ref.stderr.trim()}\n`);
    assert.is.not(ref.code, 0);
  });

  test('--runc-systemd-cgroup: --systemd-cgroup reaches capsa; without systemd as PID 1, a clear one-line error', async () => {
    const id = newId('systemd');
    const mark = readCalls().length;
    const r = await cd.ctr(['run', '--runc-binary', capsa, '--runc-systemd-cgroup', '--cgroup', `system.slice:capsa:${id}`, '--rm', CTR_IMAGE, id, '/bin/testinit', 'true']);
    const create = callsSince(mark).find((c) => verbOf(c.args) === 'create');
    assert.ok(create?.args.includes('--systemd-cgroup'), formatCalls(callsSince(mark)));
    const systemd = fs.readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd';
    if (systemd) {
      assert.is(r.code, 0, describe(r));
    } else {
      assert.is.not(r.code, 0);
      assert.match(r.stderr, /systemd/, r.stderr);
      assert.ok(r.stderr.trim().split('\n').length === 1, `one line: ${r.stderr}`);
    }
    await cd.ctr(['containers', 'rm', id]);
  });

  test('ctr run works with runc too (the same daemon and image: a sanity check of the setup)', async () => {
    const id = newId('runc');
    const r = await cd.ctr(['run', '--runc-binary', ctx.runc, '--rm', CTR_IMAGE, id, '/bin/testinit', 'echo', 'hi']);
    assert.is(r.stdout.trim(), 'hi', describe(r));
  });
});
