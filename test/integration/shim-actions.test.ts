// The shim binary's actions as containerd runs them, with this test playing
// containerd (no containerd, no containers): `start` in a bundle dir with
// runtime options on stdin and TTRPC_ADDRESS naming a fake Events server;
// its output is only the address, the address file is written, the daemon
// serves the Task API on that socket; a second `start` of the same group
// returns the same address without a second daemon; Shutdown with no tasks
// ends the daemon and removes its socket; `delete` prints a DeleteResponse.
// Needs root (sockets in /run/containerd/s, as containerd's shims).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { decode, encode } from '../../src/shim/proto/codec';
import { Any, RuntimeOptions, task as T } from '../../src/shim/proto/messages';
import { TtrpcClient } from '../../src/shim/ttrpc/client';
import { RpcError } from '../../src/shim/ttrpc/frame';
import { TtrpcServer } from '../../src/shim/ttrpc/server';
import { WARMUP_PREFIX, warmupNames } from '../../src/shim/warmup';
import { SHIM_DIST, shimSparePid, stopSpare } from '../helpers/engines/shim';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-shim-actions-'));
const containerdSock = path.join(root, 'containerd.sock');
const eventsSock = `${containerdSock}.ttrpc`;
const daemons = new Set<number>();

// The fake containerd's Events service: counts forwarded events.
const forwarded: string[] = [];
const events = new TtrpcServer();
events.register('containerd.services.events.ttrpc.v1.Events', { Forward: (p) => { forwarded.push(p.toString('hex')); return Buffer.alloc(0); } });
const eventsListener = net.createServer((s) => events.serve(s));

interface Ran { code: number | null; stdout: Buffer; stderr: string }
/**
 * Runs the shim as containerd does: cwd = bundle, the options through a pipe
 * on stdin (Go's exec makes a pipe for a byte reader), stdout and stderr
 * captured until both close.
 */
function shim(args: string[], opts: { cwd: string; input?: Buffer }): Promise<Ran> {
  const optionsFile = path.join(root, `options-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(optionsFile, opts.input ?? Buffer.alloc(0));
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', 'cat "$0" | exec "$@"', optionsFile, SHIM_DIST, ...args], {
      cwd: opts.cwd, env: { ...process.env, TTRPC_ADDRESS: eventsSock }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

function bundle(name: string, annotations: Record<string, string> = {}): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations }));
  return dir;
}

const alive = (pid: number) => {
  try { return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z'; } catch { return false; }
};
const shell = fs.realpathSync('/bin/sh');
const cmdlineOf = (pid: number) => { try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { return ''; } };
/** Live shim daemons serving our fake containerd (their title names its socket). */
const daemonOn = (_address: string) => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
  try {
    // comm: a shim's title makes it containerd-shim. So does the launcher
    // script's name for the launcher's sh and its watchdog subshell, which
    // also name the socket in their arguments and may outlive `start`'s
    // answer for a moment: a Node shim's executable is not the shell.
    return pid !== process.pid && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'containerd-shim'
      && fs.readlinkSync(`/proc/${pid}/exe`) !== shell
      && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(containerdSock) && alive(pid);
  } catch { return false; }
});

test.before(async () => { await new Promise<void>((r) => eventsListener.listen(eventsSock, r)); });
// Each test starts from no daemon: what one leaves running is stopped before the next.
test.after.each(async () => {
  const left = daemonOn('');
  for (const pid of left) { daemons.add(pid); process.kill(pid, 'SIGTERM'); }
  const end = Date.now() + 5000;
  while (left.some(alive) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
});
test.after(async () => {
  await stopSpare();
  for (const pid of daemons) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  events.closeAll();
  eventsListener.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const startArgs = (id: string) => ['-namespace', 'capsa-test-ns', '-address', containerdSock, '-publish-binary', '/bin/false', '-id', id, 'start'];

test('start: prints only unix://<socket>, writes the address file, exits 0; the daemon answers Connect; a second start of the group reuses it', async () => {
  const b1 = bundle('t1', { 'io.kubernetes.cri.sandbox-id': 'pod-a' });
  const r1 = await shim(startArgs('t1'), { cwd: b1 });
  assert.is(r1.code, 0, r1.stderr);
  assert.is(r1.stderr, '');
  const address = r1.stdout.toString();
  assert.match(address, /^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/);
  assert.is(fs.readFileSync(path.join(b1, 'address'), 'utf8'), address);
  const pids = await until('the daemon to take its title', () => { const p = daemonOn(address); return p.length ? p : undefined; });
  pids.forEach((p) => daemons.add(p));
  assert.is(pids.length, 1, `one daemon: ${pids}`);
  assert.is((fs.statSync(address.slice(7)).mode & 0o777), 0o600, 'socket mode 0600');

  const b2 = bundle('t2', { 'io.kubernetes.cri.sandbox-id': 'pod-a' });
  const r2 = await shim(startArgs('t2'), { cwd: b2 });
  assert.is(r2.stdout.toString(), address, 'same pod, same shim');
  assert.equal(daemonOn(address), pids, 'no second daemon');

  const c = await TtrpcClient.connect(address);
  try {
    const res = decode<{ shimPid?: number; taskPid?: number }>(T.ConnectResponse, await c.call('containerd.task.v2.Task', 'Connect', encode(T.ConnectRequest, { id: 't1' })));
    assert.equal(res, { shimPid: pids[0] });
    const e = await c.call('containerd.task.v2.Task', 'State', encode(T.StateRequest, { id: 't1' })).catch((err) => err as RpcError);
    assert.ok(e instanceof RpcError && e.grpcCode === 5, 'no task yet: NotFound');
    const ce = await c.call('containerd.task.v2.Task', 'Create', encode(T.CreateTaskRequest, { id: 't1', bundle: path.join(root, 'missing') })).catch((err) => err as RpcError);
    assert.ok(ce instanceof RpcError && ce.grpcCode !== 0 && /missing/.test(ce.message), `a failing Create is that request's error: ${ce}`);
    // Shutdown with no tasks: the daemon removes its socket and exits.
    await c.call('containerd.task.v2.Task', 'Shutdown', encode(T.ShutdownRequest, { id: 't1' }));
  } finally { c.close(); }
  const end = Date.now() + 5000;
  while (alive(pids[0]!) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.not.ok(alive(pids[0]!), 'the daemon exited');
  assert.not.ok(fs.existsSync(address.slice(7)), 'its socket is gone');
});

test('start: runtime options on stdin naming a config file with mode = "shared" put different pods on one shim', async () => {
  const cfg = path.join(root, 'shim.toml');
  fs.writeFileSync(cfg, 'mode = "shared"\n');
  const options = encode(Any, { typeUrl: RuntimeOptions.name, value: encode(RuntimeOptions, { configPath: cfg }) });
  const a = await shim(startArgs('s1'), { cwd: bundle('s1', { 'io.kubernetes.cri.sandbox-id': 'pod-1' }), input: options });
  const b = await shim(startArgs('s2'), { cwd: bundle('s2', { 'io.kubernetes.cri.sandbox-id': 'pod-2' }), input: options });
  assert.is(a.code, 0, a.stderr);
  assert.is(b.stdout.toString(), a.stdout.toString());
  const pids = await until('the daemon to take its title', () => { const p = daemonOn(a.stdout.toString()); return p.length ? p : undefined; });
  pids.forEach((p) => daemons.add(p));
  assert.is(pids.length, 1);
  process.kill(pids[0]!, 'SIGTERM');
  const end = Date.now() + 5000;
  while (alive(pids[0]!) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.not.ok(alive(pids[0]!), 'SIGTERM: the daemon shuts down');
  assert.not.ok(fs.existsSync(a.stdout.toString().slice(7)), 'and removes its socket');
});

test('start with a bad config file fails with one line and exit 1, starting nothing', async () => {
  const cfg = path.join(root, 'bad.toml');
  fs.writeFileSync(cfg, 'mode = "everywhere"\n');
  const r = await shim(startArgs('bad'), { cwd: bundle('bad'), input: encode(Any, { typeUrl: RuntimeOptions.name, value: encode(RuntimeOptions, { configPath: cfg }) }) });
  assert.is(r.code, 1);
  assert.is(r.stdout.length, 0);
  assert.match(r.stderr, /^containerd-shim-capsa-v2: .*bad.toml: mode must be "pod" or "shared", not "everywhere"\n$/);
});

async function until<T>(what: string, check: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a waiting spare shim becomes the next new pod\'s shim (no Node start for it), and another spare follows; without one, start still works', async () => {
  const spare = await until('a spare shim (started by the first start)', () => shimSparePid());
  const r = await shim(startArgs('sp1'), { cwd: bundle('sp1', { 'io.kubernetes.cri.sandbox-id': 'pod-spare-1' }) });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
  const address = r.stdout.toString();
  assert.match(address, /^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/);
  assert.ok(daemonOn(address).includes(spare), 'the spare process is a shim of this containerd now');
  daemons.add(spare);
  const title = fs.readFileSync(`/proc/${spare}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  assert.ok(title.startsWith(`containerd-shim-capsa-v2 -namespace capsa-test-ns -id sp1 -address ${containerdSock}`), title);
  assert.is(fs.readlinkSync(`/proc/${spare}/cwd`), path.join(root, 'sp1'), 'it works in the task\'s bundle');
  const c = await TtrpcClient.connect(address);
  try {
    const res = decode<{ shimPid?: number }>(T.ConnectResponse, await c.call('containerd.task.v2.Task', 'Connect', encode(T.ConnectRequest, { id: 'sp1' })));
    assert.is(res.shimPid, spare);
  } finally { c.close(); }
  const next = await until('the next spare', () => { const p = shimSparePid(); return p !== undefined && p !== spare ? p : undefined; });
  assert.ok(next > 0);
  // A task of the same pod: the spare answers with the pod's shim and stays a spare.
  const joined = await shim(startArgs('sp1b'), { cwd: bundle('sp1b', { 'io.kubernetes.cri.sandbox-id': 'pod-spare-1' }) });
  assert.is(joined.stdout.toString(), address);
  assert.is(shimSparePid(), next, 'still the spare');
  await stopSpare();
  const fallback = await shim(startArgs('sp2'), { cwd: bundle('sp2', { 'io.kubernetes.cri.sandbox-id': 'pod-spare-2' }) });
  assert.is(fallback.code, 0, fallback.stderr);
  assert.is(fallback.stderr, '');
  // The fallback's daemon boots Node after `start` answered: only once it has
  // its title can it be found (and stopped) by it.
  await until('the fallback start\'s daemon to take its title', () => (daemonOn('').some((p) => cmdlineOf(p).includes(' -id sp2 ')) ? true : undefined));
  daemonOn('').forEach((p) => { daemons.add(p); process.kill(p, 'SIGTERM'); });
});

/** The nice value of every thread of pid. */
const threadNices = (pid: number) => fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
  try { return Number(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]); } catch { return undefined; }
}).filter((n): n is number => n !== undefined);
/** Live processes whose parent is pid. */
const childrenOf = (pid: number) => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((p) => {
  try { return Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid && alive(p); } catch { return false; }
});
/** Where the warm-up's cgroup appears: a v1 hierarchy's root (hybrid) or the v2 root. */
const cgroupRoot = fs.existsSync('/sys/fs/cgroup/pids/cgroup.procs') ? '/sys/fs/cgroup/pids' : '/sys/fs/cgroup';
/** Directories named name in any cgroup hierarchy (depth ≤ 2). */
const cgroupDirsNamed = (name: string) => {
  const found: string[] = [];
  for (const h of fs.readdirSync('/sys/fs/cgroup')) {
    for (const dir of [path.join('/sys/fs/cgroup', h), '/sys/fs/cgroup']) {
      if (fs.existsSync(path.join(dir, name))) found.push(path.join(dir, name));
    }
  }
  return [...new Set(found)];
};
const niceOf = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);

test('a spare boots at nice 19 and warms up with a throwaway task (its dir in /run and its cgroup seen made) that leaves nothing behind; serving a pod, every thread of it is back at nice 0', async () => {
  await stopSpare();
  const made = new Set<string>();
  const watchers = [
    fs.watch('/run', (_e, f) => { if (f?.startsWith(WARMUP_PREFIX)) made.add(`run/${f}`); }),
    fs.watch(cgroupRoot, (_e, f) => { if (f?.startsWith(WARMUP_PREFIX)) made.add(`cgroup/${f}`); }),
  ];
  try {
    // No spare: the ordinary start, which starts one.
    const first = await shim(startArgs('wu1'), { cwd: bundle('wu1', { 'io.kubernetes.cri.sandbox-id': 'pod-wu-1' }) });
    assert.is(first.code, 0, first.stderr);
    const spare = await until('the spare to be announced', () => shimSparePid());
    const { dir, cgroupsPath } = warmupNames(spare);
    assert.ok(made.has(`run/${path.basename(dir)}`), `the warm-up made its dir ${dir} (seen: ${[...made].join(', ') || 'nothing'})`);
    assert.ok(made.has(`cgroup/${cgroupsPath.slice(1)}`), `the warm-up task had its cgroup ${cgroupsPath} in ${cgroupRoot}`);
    assert.not.ok(fs.existsSync(dir), `${dir} is removed`);
    assert.equal(cgroupDirsNamed(cgroupsPath.slice(1)), [], 'its cgroup is removed in every hierarchy');
    assert.equal(childrenOf(spare), [], 'no process of the warm-up task (capsa-init, its container) is left');
    const waiting = threadNices(spare);
    assert.ok(waiting.length > 1 && waiting.every((n) => n === 19), `every thread of the waiting spare is at nice 19: ${waiting.join(' ')}`);
    const r = await shim(startArgs('wu2'), { cwd: bundle('wu2', { 'io.kubernetes.cri.sandbox-id': 'pod-wu-2' }) });
    assert.is(r.code, 0, r.stderr);
    assert.ok(daemonOn('').includes(spare), `the spare serves the new pod (spare ${spare}: ${cmdlineOf(spare).slice(0, 60)}; daemons ${daemonOn('').join(' ')}; answer ${r.stdout.toString()})`);
    daemons.add(spare);
    const serving = threadNices(spare);
    assert.ok(serving.length > 1 && serving.every((n) => n === 0), `every thread of the pod's shim is at nice 0: ${serving.join(' ')}`);
  } finally {
    watchers.forEach((w) => w.close());
  }
});

test('a spare stopped (SIGTERM) in the middle of its warm-up removes the warm-up task, its dir and its cgroup before it exits, and is never announced', async () => {
  await stopSpare();
  let stopped: number | undefined;
  const name = new RegExp(`^${WARMUP_PREFIX}(\\d+)$`);
  // Frozen the moment the warm-up task's cgroup is made: its create is under way.
  const w = fs.watch(cgroupRoot, (_e, f) => {
    const m = f ? name.exec(f) : null;
    if (m && stopped === undefined) { stopped = Number(m[1]); process.kill(stopped, 'SIGSTOP'); }
  });
  try {
    const first = await shim(startArgs('wu3'), { cwd: bundle('wu3', { 'io.kubernetes.cri.sandbox-id': 'pod-wu-3' }) });
    assert.is(first.code, 0, first.stderr);
    const spare = await until('the spare\'s warm-up cgroup', () => stopped);
    daemons.add(spare);
    await until('the spare to be stopped', () => (fs.readFileSync(`/proc/${spare}/stat`, 'utf8').split(') ')[1]![0] === 'T' ? true : undefined));
    const { dir, cgroupsPath } = warmupNames(spare);
    assert.ok(fs.existsSync(dir), 'stopped during the warm-up (its dir is there)');
    assert.is(niceOf(spare), 19, 'it warms up at nice 19');
    process.kill(spare, 'SIGTERM');
    process.kill(spare, 'SIGCONT');
    await until('the spare to exit', () => (alive(spare) ? undefined : true), 20_000);
    const orphans = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => cmdlineOf(Number(p)).startsWith('capsa-init')).length;
    assert.not.ok(fs.existsSync(dir), `${dir} is removed`);
    assert.equal(cgroupDirsNamed(cgroupsPath.slice(1)), [], 'its cgroup is removed in every hierarchy');
    assert.is(orphans, 0, 'no capsa-init is left');
    assert.is(shimSparePid(), undefined, 'it was never announced');
  } finally {
    w.close();
  }
});

test('delete: a DeleteResponse on stdout (exit status 137, exited_at now) for a task capsa never had', async () => {
  const b = bundle('gone');
  const r = await shim(['-namespace', 'capsa-test-ns', '-address', containerdSock, '-id', 'capsa-test-gone', '-bundle', b, 'delete'], { cwd: b });
  assert.is(r.code, 0, r.stderr);
  const res = decode<{ pid?: number; exitStatus?: number; exitedAt?: { seconds: number } }>(T.DeleteResponse, r.stdout);
  assert.is(res.exitStatus, 137);
  assert.ok(Math.abs(res.exitedAt!.seconds - Date.now() / 1000) < 60, JSON.stringify(res));
});

test.run();
