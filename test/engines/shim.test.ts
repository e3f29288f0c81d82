// containerd-shim-capsa-v2 under a real containerd 1.6 (Debian's), driven
// with ctr as users drive it: `ctr run --runtime <abs path to the shim>`. A
// private containerd (own root, state, sockets, namespace) runs for this
// file; the shim's sockets go to /run/containerd/s (containerd's fixed dir)
// and capsa's state to /run/containerd/capsa/<namespace>: both are checked
// empty after every test. Each test checks what the kernel and containerd
// report (process tree, cgroup files, ctr's view, decoded events).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { alive, cgroupsContaining, describe, runInPty, shellLine, sleep, spawnCollect, until, type Result } from '../helpers/engines/common';
import { importImage, startContainerd, type Containerd } from '../helpers/engines/containerd';
import { buildTestImage, CTR_IMAGE } from '../helpers/engines/image';
import { bundleOf, leftoverSockets, removeSockets, SHIM_DIST, shimBuilt, shimPids, shimRoot, shimSparePid, spareFiles, stopSpare, taskClient } from '../helpers/engines/shim';
import { engineGroup } from '../helpers/engines/suite';
import { readProcStat } from '../../src/sys/proc';
import { RpcError } from '../../src/shim/ttrpc/frame';

interface Ctx { cd: Containerd; binDir: string; configDir: string }

/** A cgroup file of a process's cgroup: under its v1 controller's hierarchy, or the unified one. */
function cgroupFile(pid: number, controller: string, file: string): string {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const line = lines.find((l) => l.split(':')[1]?.split(',').includes(controller));
  return line ? path.join('/sys/fs/cgroup', controller, line.split(':')[2]!, file) : path.join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3), file);
}

/** The process of an exec that waits for its Start: capsa-init inside the task's pid namespace (not the
 *  capsa-init that joined from the host and forked it), in the task's cgroup, once `ready` holds for its
 *  /proc/<pid>/status. It is found by polling, so a process seen before it reached its wait could still
 *  be on its way there: `ready` names what must already be true of it while it waits. */
function waitingExec(initPid: number, ready: (status: string) => boolean = () => true): Promise<number> {
  const read = (file: string) => { try { return fs.readFileSync(file, 'utf8'); } catch { return ''; } };
  const pidns = (pid: number) => { try { return fs.readlinkSync(`/proc/${pid}/ns/pid`); } catch { return ''; } };
  const procs = () => read(cgroupFile(initPid, 'pids', 'cgroup.procs')).split('\n').filter(Boolean).map(Number);
  return until('the exec\'s process to wait in the task\'s cgroup and pid namespace', () => procs().find((pid) => {
    const status = read(`/proc/${pid}/status`);
    return pid !== initPid && /^Name:\s+capsa-init$/m.test(status) && pidns(pid) === pidns(initPid) && ready(status);
  }));
}

let seq = 0;
const used = new Set<string>();
const newId = (tag: string) => {
  const id = `${tag}-${seq++}`;
  used.add(id);
  return id;
};

void engineGroup<Ctx>('engines/shim', {
  async setup(sb) {
    const why = shimBuilt();
    if (why) throw new Error(why);
    // containerd's PATH: the shim under its name (for --runtime io.containerd.capsa.v2)
    // and a `node` that is not ours (Debian's node 18 stands for it), which the shim must not use.
    const binDir = path.join(sb.dir, 'shim-bin');
    fs.mkdirSync(binDir, { recursive: true });
    fs.symlinkSync(SHIM_DIST, path.join(binDir, 'containerd-shim-capsa-v2'));
    fs.writeFileSync(path.join(binDir, 'node'), '#!/bin/sh\necho "v18.19.0 (not the node capsa was built with)" >&2\nexit 99\n', { mode: 0o755 });
    const configDir = path.join(sb.dir, 'shim-config');
    fs.mkdirSync(configDir, { recursive: true });
    const cd = await startContainerd(sb, { name: 'containerd-shim', pathPrefix: [binDir] });
    try {
      await importImage(cd, buildTestImage(sb.dir).archive);
    } catch (e) {
      await cd.stop();
      throw e;
    }
    return { cd, binDir, configDir };
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
    for (const c of (await cd.ctr(['containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean)) {
      left.push(`container ${c}`);
      await cd.ctr(['containers', 'rm', c]);
    }
    for (const id of used) {
      if (fs.existsSync(path.join(shimRoot(cd.namespace), id))) left.push(`capsa state dir ${path.join(shimRoot(cd.namespace), id)}`);
      for (const cg of cgroupsContaining(`/${cd.namespace}/${id}`)) left.push(`cgroup ${cg}`);
    }
    // Shims exit once their last task is deleted (Shutdown).
    await until('the shims to exit', () => (shimPids(cd).length ? undefined : true), 5000).catch(() => {
      left.push(`shim processes still running: ${shimPids(cd).join(', ')}`);
    });
    const sockets = leftoverSockets(cd, [...used, 'grp-a', 'grp-fail']);
    if (sockets.length) { left.push(`shim sockets: ${sockets.join(', ')}`); removeSockets(sockets); }
    used.clear();
    return left;
  },
  async teardown({ cd }) {
    const forced = await cd.stop();
    await stopSpare();
    try { fs.rmdirSync(shimRoot(cd.namespace)); } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') forced.push(`${shimRoot(cd.namespace)}: ${(e as Error).message}`);
    }
    return forced.map((f) => `had to clean up at teardown: ${f}`);
  },
  hostLeftovers: ({ cd }) => (fs.existsSync(shimRoot(cd.namespace)) ? [`shim state root ${shimRoot(cd.namespace)} left`] : []),
  daemonPids: ({ cd }) => [cd.pid, ...shimPids(cd), ...[shimSparePid()].filter((p): p is number => p !== undefined)],
  // The namespace is this file's own (the sandbox mark): its capsa state root is too.
  emergencyPaths: ({ cd }, killed) => [shimRoot(cd.namespace), ...spareFiles(killed)],
}, ({ test, ctx }) => {
  const { cd } = ctx;
  const ctrRun = (flags: string[], id: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}) =>
    cd.ctr(['run', '--runtime', SHIM_DIST, ...flags, CTR_IMAGE, id, ...args], { timeoutMs: opts.timeoutMs ?? 60_000, input: opts.input });
  const expectOk = (r: Result, what: string) => {
    if (r.code !== 0 || r.timedOut) assert.unreachable(`${what} failed: ${describe(r)}\n${tail()}`);
  };
  const tail = () => {
    try { return `containerd log (shim lines):\n${fs.readFileSync(cd.log, 'utf8').split('\n').filter((l) => /capsa|shim|error/i.test(l)).slice(-12).join('\n')}`; } catch { return ''; }
  };
  const taskRow = async (id: string) => {
    for (const line of (await cd.ctr(['task', 'ls'])).stdout.split('\n').slice(1)) {
      const [name, pid, status] = line.trim().split(/\s+/);
      if (name === id) return { pid: Number(pid), status: status! };
    }
    return undefined;
  };
  const waitStatus = (id: string, status: string) => until(`task ${id} ${status}`, async () => ((await taskRow(id))?.status === status ? true : undefined));
  const detached = async (id: string, args: string[], flags: string[] = []) => {
    expectOk(await ctrRun(['-d', ...flags], id, args), 'ctr run -d');
    await waitStatus(id, 'RUNNING');
    return (await taskRow(id))!;
  };
  const remove = async (id: string) => {
    await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitStatus(id, 'STOPPED').catch(() => undefined);
    await cd.ctr(['task', 'delete', id]);
    await cd.ctr(['containers', 'rm', id]);
  };
  test('ctr run --rm --runtime /abs/containerd-shim-capsa-v2: output, exit 0, no capsa state or shim left', async () => {
    const id = newId('run');
    const r = await ctrRun(['--rm'], id, ['/bin/testinit', 'echo', 'hello from the shim']);
    expectOk(r, 'ctr run --rm');
    assert.is(r.stdout, 'hello from the shim\n');
  });

  test('the container runs as a child of the shim daemon (no runtime CLI), whose name and title are the shim\'s', async () => {
    const id = newId('tree');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    try {
      const shims = shimPids(cd);
      assert.is(shims.length, 1, `one shim: ${shims}`);
      assert.is(readProcStat(row.pid)?.ppid, shims[0], 'the init is the shim\'s child');
      assert.is(fs.readFileSync(`/proc/${shims[0]}/comm`, 'utf8').trim(), 'containerd-shim');
      const cmdline = fs.readFileSync(`/proc/${shims[0]}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      assert.ok(cmdline.startsWith(`containerd-shim-capsa-v2 -namespace ${cd.namespace} -id ${id} -address ${cd.address}`), cmdline);
      const exe = fs.readlinkSync(`/proc/${shims[0]}/exe`);
      assert.is(exe, process.execPath, 'the shim runs on the node capsa was built with');
    } finally { await remove(id); }
  });

  test('a task served by the spare shim (booted at nice 19) runs at nice 0, as does every thread of its shim', async () => {
    // The spare: started by an earlier task's shim; one is started here if none waits.
    if (shimSparePid() === undefined) expectOk(await ctrRun(['--rm'], newId('sparer'), ['/bin/testinit', 'true']), 'ctr run --rm');
    const spare = await until('a waiting spare shim', () => shimSparePid(), 30_000);
    const niceOf = (stat: string) => Number(stat.split(') ')[1]!.split(' ')[16]);
    assert.is(niceOf(fs.readFileSync(`/proc/${spare}/stat`, 'utf8')), 19, 'the spare waits at nice 19');
    const id = newId('nice');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    try {
      assert.is(readProcStat(row.pid)?.ppid, spare, 'the spare became this task\'s shim');
      assert.is(niceOf(fs.readFileSync(`/proc/${row.pid}/stat`, 'utf8')), 0, 'the task\'s init is at nice 0');
      const threads = fs.readdirSync(`/proc/${spare}/task`).map((t) => niceOf(fs.readFileSync(`/proc/${spare}/task/${t}/stat`, 'utf8')));
      assert.ok(threads.every((n) => n === 0), `the shim's threads: ${threads.join(' ')}`);
      const exec = await cd.ctr(['task', 'exec', '--exec-id', 'nice', id, '/bin/sh', '-c', 'cut -d" " -f19 /proc/self/stat'], { timeoutMs: 60_000 });
      expectOk(exec, 'ctr task exec');
      assert.is(exec.stdout.trim(), '0', 'an exec in the task is at nice 0 (read inside the container)');
    } finally { await remove(id); }
  });

  test('--runtime io.containerd.capsa.v2 finds the shim on containerd\'s PATH, and the node first on that PATH is not used', async () => {
    const id = newId('bypath');
    const r = await cd.ctr(['run', '--runtime', 'io.containerd.capsa.v2', '--rm', CTR_IMAGE, id, '/bin/testinit', 'echo', 'via PATH'], { timeoutMs: 60_000 });
    expectOk(r, 'ctr run --runtime io.containerd.capsa.v2');
    assert.is(r.stdout, 'via PATH\n');
  });

  test('short-lived tasks: 10 runs in a row of an entrypoint that exits at once all succeed', async () => {
    const failures: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await ctrRun(['--rm'], newId('short'), ['/bin/testinit', 'true']);
      if (r.code !== 0) failures.push(describe(r));
    }
    assert.equal(failures, [], tail());
  });

  test('exit statuses: the code; 128+signal for a task killed by a signal (init and exec)', async () => {
    assert.is((await ctrRun(['--rm'], newId('exit'), ['/bin/testinit', 'exit', '7'])).code, 7);
    const id = newId('sig');
    const run = spawnCollect('ctr', cd.ctrArgs(['run', '--runtime', SHIM_DIST, '--rm', CTR_IMAGE, id, '/bin/testinit', 'sleep', 'forever']), 60_000);
    try {
      await waitStatus(id, 'RUNNING');
      // a process that is not its pid namespace's init can die of its own signal
      const e = await cd.ctr(['task', 'exec', '--exec-id', 'self', id, '/bin/sh', '-c', 'kill -KILL $$']);
      assert.is(e.code, 137, describe(e));
      await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
      const r = await run.done;
      assert.is(r.code, 137, describe(r));
    } finally { run.kill(); }
  });

  test('stdin reaches the task, and its EOF once ctr has seen EOF (CloseIO)', async () => {
    // stdin stays open until the task runs: ctr only calls CloseIO when its
    // stdin ends after the task exists (an earlier EOF is lost in ctr, with runc too).
    const id = newId('stdin');
    const child = spawn('ctr', cd.ctrArgs(['run', '--runtime', SHIM_DIST, '--rm', CTR_IMAGE, id, '/bin/sh', '-c', 'cat; echo "[eof]"']), { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    try {
      await waitStatus(id, 'RUNNING');
      child.stdin.write('line one\nline two\n');
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      assert.is(await exited, 0, out);
      clearTimeout(timer);
      assert.is(out, 'line one\nline two\n[eof]\n');
    } finally { child.kill('SIGKILL'); }
  });

  test('-t: the task gets a terminal; the size set by ResizePty is the pty\'s', async () => {
    const id = newId('tty');
    const line = shellLine('ctr', cd.ctrArgs(['run', '--runtime', SHIM_DIST, '--rm', '-t', CTR_IMAGE, id, '/bin/sh', '-c', 'sleep 0.3; /bin/testinit tty; /bin/testinit winsize']));
    const r = await runInPty(`stty rows 31 cols 97; ${line}`, { timeoutMs: 60_000 });
    expectOk(r, 'ctr run -t');
    assert.match(r.stdout, /stdin=1 stdout=1 stderr=1 ttyname=\/dev\/pts\/\d+/);
    assert.match(r.stdout, /rows=31 cols=97/);
  });

  test('detached task: exec with and without a tty (exit statuses), kill, delete', async () => {
    const id = newId('exec');
    // testinit signals: exits 100+signal when signalled (an init ignores signals it has no handler for)
    await detached(id, ['/bin/testinit', 'signals']);
    try {
      const e1 = await cd.ctr(['task', 'exec', '--exec-id', 'e1', id, '/bin/sh', '-c', 'echo out; echo err >&2; exit 4']);
      assert.is(e1.code, 4, describe(e1));
      assert.is(e1.stdout, 'out\n');
      assert.is(e1.stderr, 'err\n');
      const t = await runInPty(shellLine('ctr', cd.ctrArgs(['task', 'exec', '-t', '--exec-id', 'e2', id, '/bin/testinit', 'tty'])), { timeoutMs: 30_000 });
      assert.match(t.stdout, /stdin=1 stdout=1 stderr=1 ttyname=\/dev\/pts\/\d+/, describe(t));
      assert.is((await cd.ctr(['task', 'kill', '-s', 'SIGTERM', id])).code, 0);
      await waitStatus(id, 'STOPPED');
      const d = await cd.ctr(['task', 'delete', id]);
      assert.is(d.code, 0, describe(d));
      assert.match(d.stderr, /exit with non-zero exit code 115/, 'the init\'s status (100 + SIGTERM) reached containerd');
      assert.not.ok(fs.existsSync(path.join(shimRoot(cd.namespace), id)), 'capsa state removed');
    } finally { await remove(id); }
  });

  test('Exec prepares the process before Start: it waits in the task\'s cgroup as capsa-init, not listed by Pids, State CREATED; Start runs it (its exit status); an exec deleted unstarted leaves', async () => {
    const id = newId('prepared');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    const shim = await taskClient(cd, id);
    const procs = () => fs.readFileSync(cgroupFile(row.pid, 'pids', 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    const waiting = () => waitingExec(row.pid);
    const spec = (args: string[]) => ({ typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify({ args, cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } })) });
    try {
      await shim.call('Exec', shim.T.ExecProcessRequest, shim.T.StartResponse, { id, execId: 'p1', spec: spec(['/bin/testinit', 'exit', '7']) });
      const pid = await waiting();
      const listed = (await shim.call<{ processes?: { pid?: number }[] }>('Pids', shim.T.PidsRequest, shim.T.PidsResponse, { id })).processes?.map((p) => p.pid) ?? [];
      assert.ok(listed.includes(row.pid) && !listed.includes(pid), `Pids ${listed.join(' ')} lists the init, not the waiting ${pid}`);
      const st = await shim.call<{ status?: number; pid?: number }>('State', shim.T.StateRequest, shim.T.StateResponse, { id, execId: 'p1' });
      assert.is(st.status ?? 0, 1, 'CREATED');
      assert.is(st.pid ?? 0, 0);
      const waited = shim.call<{ exitStatus?: number }>('Wait', shim.T.WaitRequest, shim.T.WaitResponse, { id, execId: 'p1' });
      const started = await shim.call<{ pid?: number }>('Start', shim.T.StartRequest, shim.T.StartResponse, { id, execId: 'p1' });
      assert.is(started.pid, pid, 'the prepared process is the one started');
      assert.is((await waited).exitStatus, 7);
      await shim.call('Delete', shim.T.DeleteRequest, shim.T.DeleteResponse, { id, execId: 'p1' });
      await shim.call('Exec', shim.T.ExecProcessRequest, shim.T.StartResponse, { id, execId: 'p2', spec: spec(['/bin/testinit', 'echo', 'never']) });
      const unstarted = await waiting();
      await shim.call('Delete', shim.T.DeleteRequest, shim.T.DeleteResponse, { id, execId: 'p2' });
      assert.not.ok(procs().includes(unstarted), 'the unstarted exec\'s process left the cgroup');
      await until('the unstarted exec\'s process to be gone', () => (alive(unstarted) ? undefined : true));
      assert.equal(procs(), [row.pid]);
    } finally { shim.close(); await remove(id); }
  });

  test('a prepared exec whose task is paused (ctr task pause) before its Start: Start fails as runc\'s does (cannot exec in a paused container); after ctr task resume the waiting process has left and is reaped, and the task is removed as usual', async () => {
    const id = newId('pausedstart');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    const shim = await taskClient(cd, id);
    const spec = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify({ args: ['/bin/testinit', 'echo', 'never'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } })) };
    try {
      await shim.call('Exec', shim.T.ExecProcessRequest, shim.T.StartResponse, { id, execId: 'p1', spec });
      const pid = await waitingExec(row.pid);
      const paused = await cd.ctr(['task', 'pause', id]);
      assert.is(paused.code, 0, describe(paused));
      let refused = '';
      try {
        await shim.call('Start', shim.T.StartRequest, shim.T.StartResponse, { id, execId: 'p1' });
      } catch (e) {
        refused = (e as Error).message;
      }
      assert.match(refused, /cannot exec in a paused container/);
      const resumed = await cd.ctr(['task', 'resume', id]);
      assert.is(resumed.code, 0, describe(resumed));
      // Gone from /proc: reaped, not a zombie left in the task's pid namespace.
      await until('the waiting process to leave and be reaped', () => (fs.existsSync(`/proc/${pid}`) ? undefined : true));
      await shim.call('Delete', shim.T.DeleteRequest, shim.T.DeleteResponse, { id, execId: 'p1' });
      const deleted = await cd.ctr(['task', 'delete', '--force', id], { timeoutMs: 20_000 });
      assert.is(deleted.code, 0, `the task is deleted (before the fix its init never finished exiting): ${describe(deleted)}`);
    } finally { shim.close(); await remove(id); }
  });

  test('under containerd\'s own default seccomp profile (ctr run --seccomp, no_new_privs as ctr sets it): the prepared exec waits with that filter loaded, and Start runs it', async () => {
    const id = newId('ctrseccomp');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever'], ['--seccomp']);
    const shim = await taskClient(cd, id);
    const status = (pid: number) => { try { return fs.readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return ''; } };
    try {
      assert.match(status(row.pid), /^Seccomp:\s+2$/m, 'the task itself runs under the profile');
      const spec = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify({ args: ['/bin/testinit', 'exit', '5'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 }, noNewPrivileges: true })) };
      await shim.call('Exec', shim.T.ExecProcessRequest, shim.T.StartResponse, { id, execId: 's1', spec });
      // the filter is loaded before the wait, so a waiting process without it never shows (the wait times out)
      const pid = await waitingExec(row.pid, (s) => /^Seccomp:\s+2$/m.test(s));
      assert.match(status(pid), /^NoNewPrivs:\s+1$/m);
      const waited = shim.call<{ exitStatus?: number }>('Wait', shim.T.WaitRequest, shim.T.WaitResponse, { id, execId: 's1' });
      assert.is((await shim.call<{ pid?: number }>('Start', shim.T.StartRequest, shim.T.StartResponse, { id, execId: 's1' })).pid, pid);
      assert.is((await waited).exitStatus, 5);
      await shim.call('Delete', shim.T.DeleteRequest, shim.T.DeleteResponse, { id, execId: 's1' });
      const e = await cd.ctr(['task', 'exec', '--exec-id', 'x', id, '/bin/sh', '-c', 'echo under the profile']);
      assert.is(e.stdout, 'under the profile\n', describe(e));
    } finally { shim.close(); await remove(id); }
  });

  test('a task whose seccomp profile refuses read(2): the prepared exec cannot wait for its Start, which starts the process anew (exit status reaches ctr)', async () => {
    const id = newId('noread');
    const profile = path.join(cd.dir, `${id}-seccomp.json`);
    fs.writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
    try {
      await detached(id, ['/bin/testinit', 'sleep', 'forever'], ['--seccomp', '--seccomp-profile', profile]);
      const e = await cd.ctr(['task', 'exec', '--exec-id', 'x', id, '/bin/testinit', 'exit', '3']);
      assert.is(e.code, 3, describe(e));
      assert.match(fs.readFileSync(cd.log, 'utf8'), /the prepared exec failed .*; starting it anew/);
    } finally { await remove(id); fs.rmSync(profile, { force: true }); }
  });

  test('25 execs in a row that print and exit at once: ctr prints every one\'s output (the exit waits until ctr has read it)', async () => {
    const id = newId('quickout');
    await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    try {
      for (let i = 0; i < 25; i++) {
        const e = await cd.ctr(['task', 'exec', '--exec-id', `q${i}`, id, '/bin/testinit', 'echo', `exec ${i}`]);
        assert.is(e.stdout, `exec ${i}\n`, describe(e));
        assert.is(e.code, 0);
      }
    } finally { await remove(id); }
  });

  test('execs take a capsa-init the shim parked ahead: after an exec one waits in the host as the shim\'s child (outside the task\'s cgroup, on /dev/null); the next exec, with a terminal, is done by it and another is parked; it ends with the shim', async () => {
    const id = newId('parked');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    const shim = readProcStat(row.pid)!.ppid;
    const hostPidns = fs.readlinkSync('/proc/self/ns/pid');
    const children = (pid: number) => {
      try { return fs.readdirSync(`/proc/${pid}/task`).flatMap((t) => fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)); } catch { return []; }
    };
    const parked = () => children(shim).filter((pid) => {
      try { return alive(pid) && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'capsa-init' && fs.readlinkSync(`/proc/${pid}/ns/pid`) === hostPidns; } catch { return false; }
    });
    const taskProcs = () => fs.readFileSync(cgroupFile(row.pid, 'pids', 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    let last: number | undefined;
    try {
      const e1 = await cd.ctr(['task', 'exec', '--exec-id', 'e1', id, '/bin/testinit', 'echo', 'one']);
      assert.is(e1.stdout, 'one\n', describe(e1));
      const first = await until('a capsa-init parked in the shim', () => parked()[0]);
      assert.not.ok(taskProcs().includes(first), 'not in the task\'s cgroup');
      for (const fd of [0, 1, 2]) assert.is(fs.readlinkSync(`/proc/${first}/fd/${fd}`), '/dev/null', `parked fd ${fd}`);
      const t = await runInPty(shellLine('ctr', cd.ctrArgs(['task', 'exec', '-t', '--exec-id', 'e2', id, '/bin/testinit', 'tty'])), { timeoutMs: 30_000 });
      assert.match(t.stdout, /stdin=1 stdout=1 stderr=1 ttyname=\/dev\/pts\/\d+/, describe(t));
      // one not taken would wait on: only doing an exec ends it
      await until('the parked capsa-init to have done the exec', () => (alive(first) ? undefined : true));
      last = await until('another one parked', () => parked().find((pid) => pid !== first));
    } finally { await remove(id); }
    await until('the shim to exit', () => (alive(shim) ? undefined : true));
    await until('the parked capsa-init to end with the shim', () => (alive(last!) ? undefined : true));
  });

  test('pause / resume: the freezer state and ctr\'s view follow; task ps and task metrics', async () => {
    const id = newId('pause');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever'], ['--memory-limit', String(96 << 20)]);
    try {
      assert.is((await cd.ctr(['task', 'pause', id])).code, 0);
      await waitStatus(id, 'PAUSED');
      assert.is(fs.readFileSync(cgroupFile(row.pid, 'freezer', 'freezer.state'), 'utf8').trim(), 'FROZEN');
      assert.is((await cd.ctr(['task', 'resume', id])).code, 0);
      await waitStatus(id, 'RUNNING');
      assert.is(fs.readFileSync(cgroupFile(row.pid, 'freezer', 'freezer.state'), 'utf8').trim(), 'THAWED');
      const bg = spawnCollect('ctr', cd.ctrArgs(['task', 'exec', '--exec-id', 'sleeper', id, '/bin/testinit', 'sleep', '30']), 40_000);
      const ps = await until('task ps to list the exec', async () => {
        const out = (await cd.ctr(['task', 'ps', id])).stdout;
        return /sleeper/.test(out) ? out : undefined;
      });
      assert.match(ps, new RegExp(`^${row.pid}\\s+-$`, 'm'), ps);
      bg.kill();
      const m = await cd.ctr(['task', 'metrics', id]);
      assert.is(m.code, 0, describe(m));
      assert.match(m.stdout, new RegExp(`memory.limit_in_bytes\\s+${96 << 20}`));
      assert.match(m.stdout, /cpuacct.usage\s+[1-9]\d*/);
    } finally { await remove(id); }
  });

  test('Update (containerd\'s UpdateTaskRequest, as CRI sends it): the new memory limit is in the cgroup', async () => {
    const id = newId('update');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever'], ['--memory-limit', String(64 << 20)]);
    const shim = await taskClient(cd, id);
    try {
      await shim.call('Update', shim.T.UpdateTaskRequest, shim.T.StartResponse, {
        id, resources: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', value: Buffer.from(JSON.stringify({ memory: { limit: 128 << 20 } })) },
      });
      assert.is(Number(fs.readFileSync(cgroupFile(row.pid, 'memory', 'memory.limit_in_bytes'), 'utf8')), 128 << 20);
    } finally { shim.close(); await remove(id); }
  });

  test('bad requests get ttrpc error codes, never a crash: unknown task 5, bad spec 3, duplicate exec 6, checkpoint 12', async () => {
    const id = newId('bad');
    await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    const shim = await taskClient(cd, id);
    const code = (p: Promise<unknown>) => p.then(() => 0, (e: unknown) => (e instanceof RpcError ? e.grpcCode : -1));
    try {
      assert.is(await code(shim.call('State', shim.T.StateRequest, shim.T.StateResponse, { id: 'no-such-task' })), 5);
      const spec = (v: string) => ({ typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(v) });
      assert.is(await code(shim.call('Exec', shim.T.ExecProcessRequest, shim.T.StartResponse, { id, execId: 'x', spec: spec('{not json') })), 3);
      assert.is(await code(shim.call('Exec', shim.T.ExecProcessRequest, shim.T.StartResponse, { id, execId: 'x', spec: spec('{"args":["/bin/true"],"cwd":"/"}') })), 0);
      assert.is(await code(shim.call('Exec', shim.T.ExecProcessRequest, shim.T.StartResponse, { id, execId: 'x', spec: spec('{"args":["/bin/true"],"cwd":"/"}') })), 6);
      assert.is(await code(shim.call('Kill', shim.T.KillRequest, shim.T.StartResponse, { id, execId: 'x', signal: 9 })), 9, 'an exec not started yet');
      assert.is(await code(shim.call('Delete', shim.T.DeleteRequest, shim.T.DeleteResponse, { id, execId: 'x' })), 0);
      assert.is(await code(shim.call('Delete', shim.T.DeleteRequest, shim.T.DeleteResponse, { id })), 9, 'delete of a running task');
      assert.is(await code(shim.call('Checkpoint', shim.T.CheckpointTaskRequest, shim.T.StartResponse, { id, path: '/tmp/x' })), 12);
      const garbage = await shim.client.call('containerd.task.v2.Task', 'State', Buffer.from([0x0a, 0x7f])).then(() => 0, (e: RpcError) => e.grpcCode);
      assert.is(garbage, 3, 'a request that does not decode');
      const cp = await cd.ctr(['task', 'checkpoint', id]);
      assert.ok(cp.code !== 0 && /checkpoint is not supported by capsa.*not implemented/.test(cp.stderr), describe(cp));
      // still serving after all that
      assert.is((await taskRow(id))?.status, 'RUNNING');
      const ok = await cd.ctr(['task', 'exec', '--exec-id', 'after', id, '/bin/testinit', 'echo', 'alive']);
      assert.is(ok.stdout, 'alive\n', describe(ok));
    } finally { shim.close(); await remove(id); }
  });

  test('OOM kill: exit 137 and a decodable /tasks/oom event before the exit', async () => {
    const id = newId('oom');
    const events = spawnCollect('ctr', ['-a', cd.address, 'events'], 60_000);
    try {
      await sleep(300);
      const r = await ctrRun(['--rm', '--memory-limit', String(32 << 20)], id, ['/bin/testinit', 'hog', '256']);
      assert.is(r.code, 137, describe(r));
      await until('the /tasks/oom event', () => (events.out().includes(`/tasks/oom {"container_id":"${id}"}`) ? true : undefined), 5000)
        .catch(() => assert.unreachable(`no /tasks/oom event:\n${events.out()}`));
      const lines = events.out().split('\n').filter((l) => l.includes(`"${id}"`));
      const at = (topic: string) => lines.findIndex((l) => l.includes(` ${topic} `));
      assert.ok(at('/tasks/oom') >= 0 && at('/tasks/oom') < at('/tasks/exit'), `oom before exit:\n${lines.join('\n')}`);
    } finally { events.kill(); }
  });

  test('events: create, start, exec-added, exec-started, exit (exec, then init), delete, paused, resumed — decoded by ctr, in order', async () => {
    const id = newId('events');
    const events = spawnCollect('ctr', ['-a', cd.address, 'events'], 60_000);
    try {
      await sleep(300);
      await detached(id, ['/bin/testinit', 'sleep', 'forever']);
      await cd.ctr(['task', 'exec', '--exec-id', 'ex', id, '/bin/testinit', 'true']);
      await cd.ctr(['task', 'pause', id]);
      await cd.ctr(['task', 'resume', id]);
      await remove(id);
      const want = ['/tasks/create', '/tasks/start', '/tasks/exec-added', '/tasks/exec-started', '/tasks/exit', '/tasks/paused', '/tasks/resumed', '/tasks/exit', '/tasks/delete'];
      const seen = await until('all events', () => {
        const topics = events.out().split('\n').filter((l) => l.includes(`"${id}"`) && l.includes('/tasks/')).map((l) => / (\/tasks\/[a-z-]+) /.exec(l)?.[1]);
        return topics.length >= want.length ? topics : undefined;
      }, 5000).catch(() => assert.unreachable(`events:\n${events.out()}`));
      assert.equal(seen, want, events.out());
      assert.match(events.out(), new RegExp(`/tasks/exit \\{"container_id":"${id}","id":"ex","pid":\\d+,"exited_at":"[^"]+"\\}`));
      assert.not.match(events.out(), /cannot unmarshal/);
    } finally { events.kill(); }
  });

  test('--log-uri file:// and binary://: output lands in the file and reaches the logger', async () => {
    const file = path.join(ctx.configDir, 'log-file.txt');
    const r = await ctrRun(['--rm', '--log-uri', `file://${file}`], newId('logfile'), ['/bin/sh', '-c', 'echo to-stdout; echo to-stderr >&2']);
    expectOk(r, 'ctr run --log-uri file://');
    assert.is(fs.readFileSync(file, 'utf8').split('\n').sort().join(' ').trim(), 'to-stderr to-stdout');
    // A logger that copies fds 3 and 4 to a file, after saying it is ready on fd 5.
    const logger = path.join(ctx.configDir, 'logger.sh');
    const out = path.join(ctx.configDir, 'logger-out.txt');
    fs.writeFileSync(logger, `#!/bin/sh\necho "env=$CONTAINER_ID/$CONTAINER_NAMESPACE" > "$2"\nexec 5>&-\ncat <&3 >> "$2" &\ncat <&4 >> "$2"\nwait\n`, { mode: 0o755 });
    const id = newId('logbin');
    const b = await ctrRun(['--rm', '--log-uri', `binary://${logger}?out=${encodeURIComponent(out)}`], id, ['/bin/sh', '-c', 'echo via-logger']);
    expectOk(b, 'ctr run --log-uri binary://');
    const text = await until('the logger\'s output', () => {
      const t = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
      return t.includes('via-logger') ? t : undefined;
    });
    assert.ok(text.startsWith(`env=${id}/${cd.namespace}\n`), text);
  });

  test('grouping: tasks with one group annotation share one shim, which exits with the last one', async () => {
    const ids = [newId('grp'), newId('grp'), newId('grp')];
    try {
      for (const id of ids) await detached(id, ['/bin/testinit', 'sleep', 'forever'], ['--annotation', 'io.containerd.capsa.v2.group=grp-a']);
      const shims = shimPids(cd);
      assert.is(shims.length, 1, `one shim for the group: ${shims}`);
      for (const id of ids) assert.is(readProcStat((await taskRow(id))!.pid)?.ppid, shims[0]);
      await remove(ids[0]!);
      await remove(ids[1]!);
      assert.ok(alive(shims[0]!), 'the shim stays while a task remains');
      await remove(ids[2]!);
      await until('the shim to exit', () => (alive(shims[0]!) ? undefined : true), 5000);
    } finally { for (const id of ids) await remove(id); }
  });

  test('shared mode (mode = "shared" in the config file): one shim for every task of the namespace', async () => {
    const config = path.join(ctx.configDir, 'shared.toml');
    fs.writeFileSync(config, '# capsa shim config\nmode = "shared"\n');
    const ids = [newId('shared'), newId('shared')];
    try {
      for (const id of ids) await detached(id, ['/bin/testinit', 'sleep', 'forever'], ['--runtime-config-path', config]);
      assert.is(shimPids(cd).length, 1);
      assert.is(readProcStat((await taskRow(ids[0]!))!.pid)?.ppid, readProcStat((await taskRow(ids[1]!))!.pid)?.ppid);
    } finally { for (const id of ids) await remove(id); }
  });

  test('containerd restarted under running tasks: they stay manageable (exec, kill, delete)', async () => {
    const id = newId('restart');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    try {
      const restarted = await cd.restart();
      assert.ok(restarted, 'containerd restarted');
      assert.equal(await taskRow(id), { pid: row.pid, status: 'RUNNING' });
      const e = await cd.ctr(['task', 'exec', '--exec-id', 'after', id, '/bin/testinit', 'echo', 'still here']);
      assert.is(e.stdout, 'still here\n', describe(e));
    } finally { await remove(id); }
  });

  test('the shim SIGKILLed: containerd runs its delete action, the task is gone with its state and cgroup', async () => {
    const id = newId('killed');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    const shim = shimPids(cd)[0]!;
    process.kill(shim, 'SIGKILL');
    await until('the task to be gone', () => (alive(row.pid) ? undefined : true), 10_000);
    // Orphaned by the shim, the killed init is the host's PID 1's to reap.
    await until('the host\'s init to reap the container\'s init', () => (fs.existsSync(`/proc/${row.pid}`) ? undefined : true), 60_000);
    await until('containerd to drop the task', async () => ((await taskRow(id)) ? undefined : true), 10_000);
    assert.not.ok(fs.existsSync(path.join(shimRoot(cd.namespace), id)), 'capsa state removed by the delete action');
    assert.equal(cgroupsContaining(`/${cd.namespace}/${id}`), []);
    assert.not.ok(fs.existsSync(path.join(bundleOf(cd, id), 'rootfs', 'bin')), 'rootfs unmounted');
    assert.equal(leftoverSockets(cd, [id]), [], 'the dead shim\'s socket removed');
    await cd.ctr(['containers', 'rm', id]);
  });

  test('the shim reaps orphans: in the host\'s pid namespace, a process orphaned in the container is re-parented to the shim and reaped when it dies', async () => {
    const id = newId('orphan');
    // The subshell exits at once: its sleeper is orphaned, and the shim (a child subreaper) adopts it.
    await detached(id, ['/bin/sh', '-c', '(/bin/testinit sleep 1000 &); exec /bin/testinit sleep forever'], ['--with-ns', `pid:/proc/${process.pid}/ns/pid`]);
    try {
      const shim = shimPids(cd)[0]!;
      const orphan = await until('the orphan to be the shim\'s child', () => {
        for (const p of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number)) {
          const st = readProcStat(p);
          if (st?.ppid === shim && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === '/bin/testinit\0sleep\x001000\0') return p;
        }
        return undefined;
      });
      process.kill(orphan, 'SIGKILL');
      await until('the shim to reap it (no zombie left)', () => (fs.existsSync(`/proc/${orphan}`) ? undefined : true), 5000);
      assert.ok(alive(shim), 'the shim lives on');
    } finally { await remove(id); }
  });

  test('--null-io: the task runs with no stdio at all and its exit status still reaches ctr', async () => {
    const r = await ctrRun(['--rm', '--null-io'], newId('nullio'), ['/bin/sh', '-c', 'echo lost; echo lost >&2; exit 3']);
    assert.is(r.code, 3, describe(r));
    assert.is(r.stdout, '');
    assert.not.match(r.stderr, /lost/);
  });

  test('kill --all: the signal reaches every process of the task, not only the init (Kill with all)', async () => {
    const id = newId('killall');
    // The init (its pid namespace's PID 1, no handler) ignores SIGTERM; the
    // exec'd `testinit signals` exits 100+signal when it gets one.
    await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    const bg = spawnCollect('ctr', cd.ctrArgs(['task', 'exec', '--exec-id', 'sleeper', id, '/bin/testinit', 'signals']), 60_000);
    try {
      await until('the exec to run', async () => (/sleeper/.test((await cd.ctr(['task', 'ps', id])).stdout) ? true : undefined));
      const k = await cd.ctr(['task', 'kill', '--all', '-s', 'SIGTERM', id]);
      assert.is(k.code, 0, describe(k));
      const e = await bg.done;
      assert.is(e.code, 115, `the exec got the SIGTERM: ${describe(e)}`);
      assert.is((await taskRow(id))?.status, 'RUNNING', 'the init ignored it');
    } finally { bg.kill(); await remove(id); }
  });

  test('a task that fails to start is that request\'s error; the shim serving its group lives on and serves the others', async () => {
    const group = ['--annotation', 'io.containerd.capsa.v2.group=grp-fail'];
    const ok = newId('fail-ok');
    const bad = newId('fail-bad');
    await detached(ok, ['/bin/testinit', 'sleep', 'forever'], group);
    const shims = shimPids(cd);
    try {
      const r = await ctrRun(['--rm', ...group], bad, ['/no/such/binary']);
      assert.ok(r.code !== 0, describe(r));
      assert.match(r.stderr, /no\/such\/binary/, 'the error names what failed');
      assert.equal(shimPids(cd), shims, 'the same shim, still running');
      assert.is((await taskRow(ok))?.status, 'RUNNING');
      const e = await cd.ctr(['task', 'exec', '--exec-id', 'after', ok, '/bin/testinit', 'echo', 'served']);
      assert.is(e.stdout, 'served\n', describe(e));
    } finally { await remove(bad); await remove(ok); }
  });

  test('SIGTERM to the shim: it logs its shutdown through the log FIFO into containerd\'s log and exits; containerd\'s delete action cleans up', async () => {
    const id = newId('sigterm');
    const row = await detached(id, ['/bin/testinit', 'sleep', 'forever']);
    const shim = shimPids(cd)[0]!;
    process.kill(shim, 'SIGTERM');
    await until('the shim to exit', () => (alive(shim) ? undefined : true), 10_000);
    await until('containerd to log the shim\'s line', () => (fs.readFileSync(cd.log, 'utf8').includes('msg="SIGTERM: shutting down with 1 task(s)" runtime=io.containerd.capsa.v2') ? true : undefined), 10_000)
      .catch(() => assert.unreachable(`no shutdown line from the shim in containerd's log:\n${tail()}`));
    await until('the task to be gone', () => (alive(row.pid) ? undefined : true), 10_000);
    // Orphaned by the shim, the killed init is the host's PID 1's to reap.
    await until('the host\'s init to reap the container\'s init', () => (fs.existsSync(`/proc/${row.pid}`) ? undefined : true), 60_000);
    await until('containerd to drop the task', async () => ((await taskRow(id)) ? undefined : true), 10_000);
    assert.not.ok(fs.existsSync(path.join(shimRoot(cd.namespace), id)), 'capsa state removed by the delete action');
    assert.equal(leftoverSockets(cd, [id]), [], 'its socket removed');
    await cd.ctr(['containers', 'rm', id]);
  });

  test('bad flags: one line on stderr, exit status 1', async () => {
    const { run } = await import('../helpers/engines/common');
    const r = await run(SHIM_DIST, ['-no-such-flag', 'start']);
    assert.is(r.code, 1);
    assert.is(r.stderr, 'containerd-shim-capsa-v2: flag provided but not defined: -no-such-flag\n');
    const v = await run(SHIM_DIST, ['-v']);
    assert.match(v.stdout, /containerd-shim-capsa-v2:\n {2}Version: /);
  });
});
