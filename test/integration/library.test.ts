// capsa as a library, as root with real containers: the entry points, the
// spec builder's settings as seen from inside the container and in cgroupfs,
// runtime.run / runOnce (captured output, stdin, exit status, timeout,
// cleanup on every path), exec with streams, stats, and misuse raising CapsaError while the
// runtime state stays consistent.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';

import { spec, type SpecBuilder } from '../../src/builder';
import { CapsaError } from '../../src/errors';
import { Runtime, type Container } from '../../src/runtime/runtime';
import { runOnce, type RunResult, type RunTimeoutError } from '../../src/runtime/oneshot';
import { makeBundle } from '../helpers/bundle';
import { capsaSuite } from '../helpers/capsa';
import { REPO_ROOT, removeTestDir, sharedTestRootfs } from '../helpers/rootfs';
import { ContainerCgroup, V2 } from '../helpers/cgroupfs';

const { test, root, capsaOk } = capsaSuite('library');
const runtime = new Runtime({ root });
const rootfs = sharedTestRootfs();

const newId = () => `capsa-test-lib-${randomBytes(4).toString('hex')}`;
const base = (): SpecBuilder => spec();
const text = (b: Buffer) => b.toString('utf8');

/** Runs testinit with `args` in a container made from `b` (default: plain spec()). */
async function testinit(args: string[], b: SpecBuilder = base(), input?: string): Promise<RunResult> {
  return runtime.run(newId(), { spec: b.withArgs('/bin/testinit', ...args).build(), rootfs }, input === undefined ? {} : { input });
}

async function expectCapsaError(p: Promise<unknown> | (() => unknown), code: string, ...parts: string[]): Promise<CapsaError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.instance(e, CapsaError, String(e));
    const err = e as CapsaError;
    assert.is(err.code, code, err.message);
    for (const part of parts) assert.ok(err.message.includes(part), `"${err.message}" should contain "${part}"`);
    return err;
  }
  throw new assert.Assertion({ message: `expected CapsaError ${code}`, operator: 'throws', expects: code, actual: 'no error' });
}

const tempBundles = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('capsa-bundle-')).sort();
const alive = (pid: number) => { try { return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return false; } };
const ids = () => runtime.list().map((s) => s.id);

// Node opens a /dev/null fd the first time it spawns with 'ignore' stdio and
// keeps it; open it before the leak check's first snapshot.
test.before(() => new Promise<void>((resolve) => { spawn('true', [], { stdio: ['ignore', 'pipe', 'pipe'] }).on('close', () => resolve()); }));

// ---- entry points ----

test('dist/index.cjs and dist/index.mjs export the API and load nothing native on import', () => {
  const script = `
    const cjs = require(${JSON.stringify(path.join(REPO_ROOT, 'dist/index.cjs'))});
    const native = Object.keys(require.cache).filter((k) => k.endsWith('.node'));
    import(${JSON.stringify(path.join(REPO_ROOT, 'dist/index.mjs'))}).then((esm) => {
      console.log(JSON.stringify({ cjs: Object.keys(cjs).sort(), esm: Object.keys(esm).sort(), native, handles: process._getActiveHandles().length }));
    });`;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { cjs: string[]; esm: string[]; native: string[]; handles: number };
  for (const name of ['Runtime', 'Container', 'CapsaError', 'spec', 'SpecBuilder', 'runOnce', 'defaultSpec']) {
    assert.ok(out.cjs.includes(name), `cjs exports ${name}`);
    assert.ok(out.esm.includes(name), `esm exports ${name}`);
  }
  assert.equal(out.native, [], 'no addon loaded at import');
  assert.is(out.handles, 0, 'no handles (timers, sockets) opened at import');
});

// ---- runOnce ----

test('runOnce {spec, rootfs}: exit status and stdout; the temporary bundle and the container are gone', async () => {
  const bundlesBefore = tempBundles();
  const id = newId();
  const r = await runOnce(runtime, id, { spec: spec().withArgs('/bin/testinit', 'echo', 'hello', 'library').build(), rootfs });
  assert.is(r.exitCode, 0);
  assert.is(r.signal, null);
  assert.is(text(r.stdout), 'hello library\n');
  assert.is(text(r.stderr), '');
  assert.ok(Buffer.isBuffer(r.stdout) && Buffer.isBuffer(r.stderr));
  assert.not.ok(ids().includes(id));
  assert.not.ok(fs.existsSync(path.join(root, id)));
  assert.equal(tempBundles(), bundlesBefore);
});

test('runOnce feeds input to stdin and captures stderr and a non-zero exit code', async () => {
  const echoed = await testinit(['stdin'], base(), 'line one\nline two\n');
  assert.is(text(echoed.stdout), 'line one\nline two\n');
  const big = 'x'.repeat(300_000) + '\n';
  assert.is(text((await testinit(['stdin'], base(), big)).stdout), big, 'more than a socket buffer of input');
  const noInput = await testinit(['stdin']);
  assert.is(noInput.exitCode, 0, 'stdin is at EOF without input');
  assert.is(text(noInput.stdout), '');
  const failed = await testinit(['cat', '/no/such/file']);
  assert.is(failed.exitCode, 1);
  assert.match(text(failed.stderr), /\/no\/such\/file: ENOENT/);
  assert.is(text(failed.stdout), '');
  assert.is((await testinit(['exit', '42'])).exitCode, 42);
});

test('runOnce gives the container pipes for stdout and stderr, and captures more than a pipe buffer', async () => {
  for (const fd of ['1', '2']) {
    const r = await testinit(['readlink', `/proc/self/fd/${fd}`]);
    assert.is(r.exitCode, 0, text(r.stderr));
    assert.match(text(r.stdout), /^pipe:\[\d+\]\n$/, `fd ${fd}`);
  }
  const big = 'y'.repeat(1_000_000);
  const r = await testinit(['stdin'], base(), big);
  assert.is(r.stdout.length, big.length);
  assert.ok(text(r.stdout) === big, 'the captured bytes are the ones written');
});

test('runOnce {bundle} reads config.json from the bundle', async () => {
  const b = makeBundle({ config: (s) => { s.process!.args = ['/bin/testinit', 'hostname']; s.hostname = 'from-bundle'; } });
  try {
    const r = await runOnce(runtime, b.id, { bundle: b.dir });
    assert.is(r.exitCode, 0);
    assert.is(text(r.stdout), 'from-bundle\n');
    assert.ok(fs.existsSync(path.join(b.dir, 'config.json')), 'the caller\'s bundle is left alone');
    assert.not.ok(ids().includes(b.id));
  } finally {
    b.cleanup();
  }
});

test('runOnce reports a signal death as signal and 128+signal', async () => {
  // Without a pid namespace testinit is not a pid-1 init, so SIGKILL to itself works.
  const r = await testinit(['kill-self', 'KILL'], base().withoutNamespace('pid'));
  assert.is(r.signal, 9);
  assert.is(r.exitCode, 137);
});

test('runOnce timeout: rejects with TIMEOUT, the container is killed and deleted', async () => {
  const id = newId();
  const bundlesBefore = tempBundles();
  const err = await expectCapsaError(
    runOnce(runtime, id, { spec: spec().withArgs('/bin/testinit', 'sleep', 'forever').build(), rootfs }, { timeoutMs: 300 }),
    'TIMEOUT', id, '300 ms',
  ) as RunTimeoutError;
  assert.ok(Buffer.isBuffer(err.stdout) && Buffer.isBuffer(err.stderr));
  assert.not.ok(ids().includes(id));
  assert.equal(tempBundles(), bundlesBefore);
  // (the suite's leak check verifies no process or cgroup of it is left)
});

test('runOnce: an id in use is EXISTS and the container holding it is untouched', async () => {
  const id = newId();
  const b = makeBundle({ config: (s) => { s.process!.args = ['/bin/testinit', 'sleep', 'forever']; } });
  try {
    const held = await runtime.create(id, { bundle: b.dir, stdio: ['ignore', 'ignore', 'ignore'] });
    await expectCapsaError(runOnce(runtime, id, { spec: spec().withArgs('/bin/testinit', 'true').build(), rootfs }), 'EXISTS');
    assert.is(runtime.state(id).status, 'created');
    assert.ok(alive(held.pid));
    await held.delete({ force: true });
    assert.not.ok(alive(held.pid));
  } finally {
    b.cleanup();
  }
});

test('runOnce: a create failure leaves no container, bundle or process; bad sources are INVALID_ARGUMENT', async () => {
  const id = newId();
  const bundlesBefore = tempBundles();
  await expectCapsaError(runOnce(runtime, id, { spec: spec().withArgs('/bin/no-such-program').build(), rootfs }), 'INIT', 'no-such-program');
  assert.not.ok(ids().includes(id));
  assert.equal(tempBundles(), bundlesBefore);
  await expectCapsaError(runOnce(runtime, id, { spec: spec().withTerminal().build(), rootfs }), 'INVALID_ARGUMENT', 'process.terminal');
  await expectCapsaError(runOnce(runtime, id, {} as never), 'INVALID_ARGUMENT', '{ bundle } or { spec, rootfs }');
  await expectCapsaError(runOnce(runtime, id, { spec: spec().build(), rootfs: '/no/such/rootfs' }), 'INVALID_CONFIG', 'root.path');
  await expectCapsaError(runOnce(runtime, 'bad/id', { spec: spec().build(), rootfs }), 'INVALID_ARGUMENT');
  assert.equal(tempBundles(), bundlesBefore);
  assert.equal(ids(), []);
});

test('create when capsa-init cannot be spawned: INIT naming posix_spawn and its errno; no container or state dir is left', async () => {
  const id = newId();
  const saved = process.env.CAPSA_INIT;
  process.env.CAPSA_INIT = '/no/such/capsa-init';
  try {
    const err = await expectCapsaError(runtime.create(id, { spec: spec().withArgs('/bin/testinit', 'true').build(), rootfs }), 'INIT', 'cannot start capsa-init (/no/such/capsa-init)', 'posix_spawn /no/such/capsa-init');
    assert.match(err.message, /No such file or directory/);
  } finally {
    if (saved === undefined) delete process.env.CAPSA_INIT;
    else process.env.CAPSA_INIT = saved;
  }
  assert.not.ok(ids().includes(id));
  assert.not.ok(fs.existsSync(path.join(root, id)), 'state dir removed');
});

// ---- the builder's settings, read back from inside the container ----

test('builder: args, env, cwd, user, hostname, rlimit, no_new_privs as the process sees them', async () => {
  const b = () => base().withEnv('DB_URL', 'postgres://db/test').withCwd('/tmp').withUser(1000, 1000, [4242]).withHostname('db-test')
    .withRlimit('NOFILE', 123, 456).withNoNewPrivileges();
  const env = text((await testinit(['env'], b())).stdout).split('\n');
  assert.ok(env.includes('DB_URL=postgres://db/test'), env.join(' '));
  assert.is(text((await testinit(['cwd'], b())).stdout), '/tmp\n');
  assert.is(text((await testinit(['id'], b())).stdout), 'uid=1000 gid=1000 euid=1000 egid=1000 groups=4242\n');
  assert.is(text((await testinit(['hostname'], b())).stdout), 'db-test\n');
  assert.is(text((await testinit(['rlimit', 'NOFILE'], b())).stdout), '123 456\n');
  assert.is(text((await testinit(['nnp'], b())).stdout), 'NoNewPrivs:\t1\n');
  assert.is(text((await testinit(['nnp'], base().withNoNewPrivileges(false))).stdout), 'NoNewPrivs:\t0\n');
});

test('builder: capabilities as the kernel set them', async () => {
  const caps = (out: Buffer) => Object.fromEntries(text(out).trim().split('\n').map((l) => l.split(':\t') as [string, string]));
  // CAP_KILL = 5, CAP_NET_ADMIN = 12, CAP_SYS_ADMIN = 21
  const exact = caps((await testinit(['caps'], base().withCapabilities(['KILL', 'NET_ADMIN']))).stdout);
  assert.is(exact.CapBnd, (1n << 5n | 1n << 12n).toString(16).padStart(16, '0'));
  assert.is(exact.CapEff, exact.CapBnd);
  const changed = caps((await testinit(['caps'], base().addCapability('SYS_ADMIN').dropCapability('CAP_AUDIT_WRITE').dropCapability('NET_BIND_SERVICE'))).stdout);
  assert.is(changed.CapBnd, (1n << 5n | 1n << 21n).toString(16).padStart(16, '0'));
});

test('builder: resource limits in the container\'s cgroup files', async () => {
  const b = base().withMemoryLimit('48m').withPidsLimit(17).withCpuQuota(25_000, 50_000);
  // the container's own cgroup is mounted at /sys/fs/cgroup: one dir on cgroup v2, one per hierarchy on v1
  const files = V2 ? ['memory.max', 'pids.max', 'cpu.max'] : ['memory/memory.limit_in_bytes', 'pids/pids.max', 'cpu/cpu.cfs_quota_us', 'cpu/cpu.cfs_period_us'];
  const r = await testinit(['cat', ...files.map((f) => `/sys/fs/cgroup/${f}`)], b);
  assert.is(r.exitCode, 0, text(r.stderr));
  assert.is(text(r.stdout), V2 ? `${48 * 1024 * 1024}\n17\n25000 50000\n` : `${48 * 1024 * 1024}\n17\n25000\n50000\n`);
});

test('builder: bind mounts (read-only and read-write), tmpfs, read-only root, namespaces', async () => {
  const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-bind-'));
  try {
    fs.writeFileSync(path.join(hostDir, 'seed.sql'), 'CREATE TABLE t;\n');
    fs.mkdirSync(path.join(rootfs, 'data'), { recursive: true });
    fs.mkdirSync(path.join(rootfs, 'out'), { recursive: true });
    fs.mkdirSync(path.join(rootfs, 'scratch'), { recursive: true });
    const b = () => base().withBind(hostDir, '/data', { readonly: true }).withBind(hostDir, '/out').withTmpfs('/scratch', { size: '8m', mode: 0o750 });
    assert.is(text((await testinit(['cat', '/data/seed.sql'], b())).stdout), 'CREATE TABLE t;\n');
    const roWrite = await testinit(['write', '/data/x', 'nope'], b());
    assert.is(roWrite.exitCode, 1);
    assert.match(text(roWrite.stderr), /EROFS/);
    assert.is((await testinit(['write', '/out/written', 'from the container'], b())).exitCode, 0);
    assert.is(fs.readFileSync(path.join(hostDir, 'written'), 'utf8'), 'from the container');
    const mountinfo = text((await testinit(['mounts'], b())).stdout).split('\n');
    const scratch = mountinfo.find((l) => l.split(' ')[4] === '/scratch');
    assert.ok(scratch, mountinfo.join('\n'));
    assert.match(scratch!, / - tmpfs tmpfs .*size=8192k/);
    assert.match(scratch!, /mode=750/);
    // read-only root (the default) and a writable one
    assert.match(text((await testinit(['touch', '/rootfile'])).stderr), /EROFS/);
    const rw = await testinit(['touch', '/capsa-test-rw'], base().withReadonlyRoot(false));
    assert.is(rw.exitCode, 0, text(rw.stderr));
    assert.ok(fs.existsSync(path.join(rootfs, 'capsa-test-rw')));
    fs.rmSync(path.join(rootfs, 'capsa-test-rw'));
    // the host's network namespace vs a new one
    const hostNet = fs.readlinkSync('/proc/self/ns/net');
    assert.is(text((await testinit(['readlink', '/proc/self/ns/net'], base().withoutNamespace('network'))).stdout), `${hostNet}\n`);
    assert.is.not(text((await testinit(['readlink', '/proc/self/ns/net'])).stdout), `${hostNet}\n`);
  } finally {
    removeTestDir(hostDir);
  }
});

test('builder: a seccomp profile is enforced', async () => {
  const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
  const r = await testinit(['mkdir', '/tmp/denied'], base().withSeccomp(profile));
  assert.is(r.exitCode, 1);
  assert.match(text(r.stderr), /EPERM/);
  assert.is((await testinit(['mkdir', '/tmp/allowed'], base().withReadonlyRoot(false))).exitCode, 0);
  fs.rmSync(path.join(rootfs, 'tmp', 'allowed'), { recursive: true, force: true });
});

// ---- long-running containers: exec, stats, misuse ----

/** Force-deletes the containers and removes dir, all of them even when one fails; then rethrows the first failure. */
async function cleanUp(dir: string, ...containers: { delete(opts: { force: boolean }): Promise<void> }[]): Promise<void> {
  const failures: unknown[] = [];
  for (const c of containers) await c.delete({ force: true }).catch((e: unknown) => failures.push(e));
  removeTestDir(dir);
  if (failures.length > 0) throw failures[0];
}

async function sleeper(b: SpecBuilder = base()): Promise<{ id: string; c: Awaited<ReturnType<Runtime['create']>>; dir: string }> {
  const id = newId();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-bundle-'));
  const c = await runtime.create(id, { bundle: dir, spec: b.withRootfs(rootfs).withArgs('/bin/testinit', 'sleep', 'forever').build(), stdio: ['ignore', 'ignore', 'ignore'] });
  return { id, c, dir };
}

async function readAll(stream: NodeJS.ReadableStream | null | undefined): Promise<string> {
  if (!stream) return '';
  let s = '';
  for await (const chunk of stream) s += chunk;
  return s;
}

test('delete --force of a container still being created by a live creator (no init pid recorded yet): its processes are found through the cgroup and killed, nothing is left', async () => {
  const { id, c, dir } = await sleeper();
  const initPid = c.state().pid;
  try {
    // What the state dir holds while create is between making the cgroup and
    // the init reporting its pid, with this process as the creator.
    const file = path.join(root, id, 'state.json');
    const rec = JSON.parse(fs.readFileSync(file, 'utf8'));
    const myStart = Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[19]);
    fs.writeFileSync(file, JSON.stringify({ ...rec, phase: 'creating', pid: 0, initStartTime: 0, creator: { pid: process.pid, startTime: myStart } }));
    assert.is(runtime.list().find((s) => s.id === id)?.status, 'creating');
    await runtime.delete(id, { force: true });
    assert.not.ok(ids().includes(id));
    assert.not.ok(alive(initPid), 'the container init is dead');
    assert.not.ok(fs.existsSync(path.join(root, id)));
  } finally {
    await cleanUp(dir, ...(ids().includes(id) ? [c] : []));
  }
});

test('exec with streams into a running container', async () => {
  const { id, c, dir } = await sleeper(base().withEnv('ROLE', 'db'));
  try {
    await c.start();
    const proc = { args: ['/bin/testinit', 'echo', 'from', 'exec'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] };
    const p = await c.exec(proc, { stdio: ['ignore', 'pipe', 'pipe'] });
    const [out, err, status] = await Promise.all([readAll(p.io.stdio[1]), readAll(p.io.stdio[2]), p.wait()]);
    assert.is(out, 'from exec\n');
    assert.is(err, '');
    assert.equal(status, { exitCode: 0, signal: null });
    const q = await runtime.exec(id, { ...proc, args: ['/bin/testinit', 'exit', '3'] }, { stdio: ['ignore', 'ignore', 'ignore'] });
    assert.equal(await q.wait(), { exitCode: 3, signal: null });
    // the exec'd process ran in the container's pid namespace
    const r = await runtime.exec(id, { ...proc, args: ['/bin/testinit', 'readlink', '/proc/self/ns/pid'] }, { stdio: ['ignore', 'pipe', 'ignore'] });
    const [ns] = await Promise.all([readAll(r.io.stdio[1]), r.wait()]);
    assert.is(ns, `${fs.readlinkSync(`/proc/${c.pid}/ns/pid`)}\n`);
  } finally {
    await cleanUp(dir, c);
  }
});

// ---- prepareExec: everything but the execve now, the execve on start() ----

const statusOf = (pid: number) => fs.readFileSync(`/proc/${pid}/status`, 'utf8');
const statusField = (pid: number, field: string) => new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(statusOf(pid))?.[1]?.trim();

test('prepareExec: the process waits in the container as the process it will be (uid, no_new_privs, seccomp filter, pid namespace), still capsa-init; start() lets it run the command', async () => {
  const { id, c, dir } = await sleeper(base().withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
  try {
    await c.start();
    const proc = { args: ['/bin/testinit', 'echo', 'ran'], cwd: '/', user: { uid: 1000, gid: 1000 }, env: ['PATH=/bin'], noNewPrivileges: true };
    const prepared = await c.prepareExec(proc, { stdio: ['ignore', 'pipe', 'ignore'] });
    assert.is(fs.readFileSync(`/proc/${prepared.pid}/comm`, 'utf8').trim(), 'capsa-init', 'not exec\'d yet');
    assert.is(statusField(prepared.pid, 'Uid'), '1000\t1000\t1000\t1000');
    assert.is(statusField(prepared.pid, 'NoNewPrivs'), '1');
    assert.is(statusField(prepared.pid, 'Seccomp'), '2', 'its filter is loaded');
    assert.is(statusField(prepared.pid, 'CapEff'), '0000000000000000', 'no capabilities left (uid 1000)');
    assert.is(fs.readlinkSync(`/proc/${prepared.pid}/ns/pid`), fs.readlinkSync(`/proc/${c.pid}/ns/pid`));
    assert.ok((await c.pids()).includes(prepared.pid), 'in the container\'s cgroup');
    const p = await prepared.start();
    assert.is(p.pid, prepared.pid);
    const [out, status] = await Promise.all([readAll(p.io.stdio[1]), p.wait()]);
    assert.is(out, 'ran\n');
    assert.equal(status, { exitCode: 0, signal: null });
    assert.ok(runtime.list().some((st) => st.id === id && st.status === 'running'));
  } finally {
    await cleanUp(dir, c);
  }
});

/** Starts the container and prepares an exec that would print if it ever ran. */
async function startedWithPreparedEcho(c: Container) {
  await c.start();
  return c.prepareExec({ args: ['/bin/testinit', 'echo', 'should not print'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }, { stdio: ['ignore', 'pipe', 'ignore'] });
}

test('prepareExec: the container is not locked while the exec waits (pause and resume go through); cancel() makes the process leave without running anything', async () => {
  const { c, dir } = await sleeper();
  try {
    const prepared = await startedWithPreparedEcho(c);
    await c.pause();
    await c.resume();
    assert.ok((await c.pids()).includes(prepared.pid));
    await prepared.cancel();
    await untilTrue(() => !alive(prepared.pid), 'the waiting process exited');
    assert.not.ok((await c.pids()).includes(prepared.pid), 'and left the cgroup');
    await expectCapsaError(prepared.start(), 'BAD_STATE', 'canceled');
  } finally {
    await cleanUp(dir, c);
  }
});

test('exec and prepareExec of a command that does not exist: INIT errors; the failed processes are reaped (no zombie keeps the cgroup populated), so delete goes through', async () => {
  const { c, dir } = await sleeper();
  const zombies = () => ourChildren().filter((pid) => { try { return /^State:\s+Z/m.test(statusOf(pid)); } catch { return false; } });
  try {
    await c.start();
    const missing = { args: ['/no-such-command'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] };
    await expectCapsaError(c.exec(missing, { stdio: 'ignore' }), 'INIT', '/no-such-command');
    await expectCapsaError(c.prepareExec(missing, { stdio: 'ignore' }), 'INIT', '/no-such-command');
    assert.equal(await c.pids(), [c.pid], 'nothing left waiting in the container');
    assert.equal(zombies(), []);
  } finally {
    await cleanUp(dir, c);
  }
});

test('prepareExec: the container paused when start() comes: start() rejects as an exec into a paused container does (BAD_STATE), and the waiting process leaves without running anything', async () => {
  const { c, dir } = await sleeper();
  try {
    const prepared = await startedWithPreparedEcho(c);
    await c.pause();
    await expectCapsaError(prepared.start(), 'BAD_STATE', 'paused');
    await c.resume();
    // Frozen, it could only leave once thawed; it is reaped then, not left a
    // zombie in the container's pid namespace (which kept a later delete
    // waiting for the init for 30 s).
    await untilTrue(() => !ourChildren().includes(prepared.pid), 'the waiting process exited and was reaped');
    assert.not.ok((await c.pids()).includes(prepared.pid), 'and left the cgroup');
    assert.is(c.state().status, 'running', 'the container itself runs on');
  } finally {
    await cleanUp(dir, c);
  }
});

test('prepareExec: the container stops while the exec waits: the waiting process dies with its pid namespace, still capsa-init, and start() rejects', async () => {
  const { c, dir } = await sleeper();
  try {
    await c.start();
    const prepared = await c.prepareExec({ args: ['/bin/testinit', 'echo', 'late'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }, { stdio: ['ignore', 'pipe', 'ignore'] });
    assert.is(fs.readFileSync(`/proc/${prepared.pid}/comm`, 'utf8').trim(), 'capsa-init');
    await c.kill('SIGKILL');
    await c.wait();
    await untilTrue(() => !alive(prepared.pid), 'the waiting process died with the pid namespace');
    try {
      await prepared.start();
      assert.unreachable('start() after the container stopped');
    } catch (e) {
      assert.instance(e, CapsaError, String(e));
    }
  } finally {
    await cleanUp(dir, c);
  }
});

test('exec output printed before anyone reads it is kept until it is read', async () => {
  const { c, dir } = await sleeper(base());
  try {
    await c.start();
    const proc = { args: ['/bin/testinit', 'echo', 'printed', 'early'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] };
    const p = await c.exec(proc, { stdio: ['ignore', 'pipe', 'pipe'] });
    // The process has printed and exited (and capsa-init, its starter, long before) when we start reading.
    assert.equal(await p.wait(), { exitCode: 0, signal: null });
    const [out, err] = await Promise.all([readAll(p.io.stdio[1]), readAll(p.io.stdio[2])]);
    assert.is(out, 'printed early\n');
    assert.is(err, '');
  } finally {
    await cleanUp(dir, c);
  }
});

/** This process's direct children (zombies included). */
function ourChildren(): number[] {
  return fs.readdirSync('/proc/self/task').flatMap((t) => fs.readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)).map(Number);
}

/** This process's children whose argv[0] is capsa-init (none once every init has exited and been reaped). */
function ourCapsaInits(): number[] {
  return ourChildren().filter((pid) => {
    try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === 'capsa-init'; } catch { return false; }
  });
}

test('exec with a piped stdin: input written after capsa-init has exited reaches the process, and end() is its EOF', async () => {
  const { c, dir } = await sleeper(base());
  try {
    await c.start();
    const proc = { args: ['/bin/testinit', 'stdin'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] };
    const p = await c.exec(proc, { stdio: ['pipe', 'pipe', 'pipe'] });
    // The exec's capsa-init exits once the process exists; write only after it is gone and reaped.
    while (ourCapsaInits().length > 0) await new Promise((r) => setImmediate(r));
    const stdin = p.io.stdio[0]!;
    assert.ok(!stdin.destroyed && stdin.writable, 'stdin is still open after capsa-init exited');
    const out = readAll(p.io.stdio[1]);
    stdin.write('first line\n');
    stdin.end('second line\n');
    // testinit stdin echoes until EOF, then exits 0: it exits only if end() reached it.
    assert.equal(await p.wait(), { exitCode: 0, signal: null });
    assert.is(await out, 'first line\nsecond line\n');
    assert.is(await readAll(p.io.stdio[2]), '');
  } finally {
    await cleanUp(dir, c);
  }
});

/** Turns of the event loop until cond holds; fails after `turns` of them (each lets pidfd callbacks run). */
async function untilTrue(cond: () => boolean, what: string, turns = 10_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.ok(cond(), what);
}

test('delete --force with an exec\'d process nobody waited for: it finishes, nothing is left (the process is reaped, so the pid namespace can end)', async () => {
  const { id, c, dir } = await sleeper(base());
  try {
    await c.start();
    const proc = { args: ['/bin/testinit', 'sleep', 'forever'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] };
    const p = await c.exec(proc, { stdio: ['ignore', 'ignore', 'ignore'] });
    assert.ok(ourChildren().includes(p.pid), 'the exec\'d process is our child');
    const cgroupDir = `/sys/fs/cgroup/pids/${id}`;
    assert.ok(fs.existsSync(cgroupDir) || fs.existsSync(`/sys/fs/cgroup/${id}`), 'the container has its cgroup');
    await c.delete({ force: true });
    assert.not.ok(ourChildren().includes(c.pid), 'init is gone');
    assert.not.ok(fs.existsSync(cgroupDir) || fs.existsSync(`/sys/fs/cgroup/${id}`), 'cgroup removed');
    assert.not.ok(ids().includes(id));
    await untilTrue(() => !ourChildren().includes(p.pid), 'the exec\'d process is reaped');
    assert.equal(await p.wait(), { exitCode: 137, signal: 9 }, 'its status was kept for a late wait()');
  } finally {
    await cleanUp(dir, c);
  }
});

test('containers and exec\'d processes nobody waits for are reaped when they exit (no zombies), and wait() afterwards still gives their status', async () => {
  const { c, dir } = await sleeper(base());
  const quick = await runtime.create(newId(), { spec: base().withArgs('/bin/testinit', 'exit', '7').build(), rootfs, stdio: 'ignore' });
  try {
    await c.start();
    const proc = { args: ['/bin/testinit', 'exit', '5'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] };
    const execs = await Promise.all([1, 2, 3].map(() => c.exec(proc, { stdio: ['ignore', 'ignore', 'ignore'] })));
    await quick.start();
    const pids = [quick.pid, ...execs.map((p) => p.pid)];
    await untilTrue(() => pids.every((pid) => !ourChildren().includes(pid)), `no zombie left among ${pids.join(' ')}`);
    for (const p of execs) {
      assert.equal(await p.wait(), { exitCode: 5, signal: null });
      assert.equal(await p.wait(), { exitCode: 5, signal: null }, 'a second wait() gives the same');
    }
    assert.equal(await quick.wait(), { exitCode: 7, signal: null });
    assert.is(quick.state().status, 'stopped');
  } finally {
    await cleanUp(dir, quick, c);
  }
});

// ---- parkInit: a capsa-init started ahead for the next exec ----

/** Our children that are parked capsa-inits: capsa-init, alive, in our own pid namespace (an exec's is in the container's). */
function parkedInits(): number[] {
  return ourCapsaInits().filter((pid) => alive(pid) && fs.readlinkSync(`/proc/${pid}/ns/pid`) === fs.readlinkSync('/proc/self/ns/pid'));
}

/** The fds a process sees, as `testinit fds` lists them, with socket and pipe inode numbers left out. */
async function execFds(rt: Runtime, id: string): Promise<string> {
  const p = await rt.exec(id, { args: ['/bin/testinit', 'fds'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }, { stdio: ['ignore', 'pipe', 'ignore'] });
  const [out, status] = await Promise.all([readAll(p.io.stdio[1]), p.wait()]);
  assert.equal(status, { exitCode: 0, signal: null });
  return out.replace(/:\[\d+\]/g, ':[]');
}

test('parkInit: after an exec a capsa-init waits parked in the host on /dev/null; the next exec takes it (it does the exec and leaves) and its process sees the same fds as a spawned one; another is parked; close() ends it and it is reaped', async () => {
  const parking = new Runtime({ root, parkInit: true });
  const { id, c, dir } = await sleeper();
  try {
    await c.start();
    assert.equal(parkedInits(), [], 'none before the first exec');
    const spawned = await execFds(parking, id);
    assert.match(spawned, /^0 -> \/dev\/null\n1 -> socket:\[\]\n2 -> \/dev\/null\n$/, spawned);
    await untilTrue(() => parkedInits().length === 1, 'one capsa-init parked after the first exec');
    const [parked] = parkedInits() as [number];
    assert.not.ok((await c.pids()).includes(parked), 'not in the container\'s cgroup');
    for (const fd of [0, 1, 2]) assert.is(fs.readlinkSync(`/proc/${parked}/fd/${fd}`), '/dev/null', `parked fd ${fd}`);
    assert.is(statusField(parked, 'Seccomp'), '0');
    assert.is(await execFds(parking, id), spawned, 'the parked capsa-init gave the process the exec\'s own stdio, and nothing more');
    // A parked capsa-init that was not taken would wait on: only doing an exec ends it.
    await untilTrue(() => !alive(parked), 'the parked capsa-init did the exec, and left');
    await untilTrue(() => parkedInits().length === 1 && parkedInits()[0] !== parked, 'another one parked');
    const next = parkedInits()[0]!;
    parking.close();
    await untilTrue(() => !ourChildren().includes(next), 'close() ended it, and it was reaped');
    assert.is(await execFds(parking, id), spawned, 'a closed Runtime still execs (spawning)');
    assert.equal(parkedInits(), [], 'and parks no more');
  } finally {
    parking.close();
    await cleanUp(dir, c);
  }
});

test('parkInit: a prepared exec takes the parked capsa-init too; one killed while parked is replaced, and the exec after it spawns its own', async () => {
  const parking = new Runtime({ root, parkInit: true });
  const { id, c, dir } = await sleeper();
  try {
    await c.start();
    await execFds(parking, id);
    await untilTrue(() => parkedInits().length === 1, 'one capsa-init parked');
    const parked = parkedInits()[0]!;
    const prepared = await parking.prepareExec(id, { args: ['/bin/testinit', 'echo', 'prepared'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }, { stdio: ['ignore', 'pipe', 'ignore'] });
    await untilTrue(() => !alive(parked), 'the prepared exec was made by the parked capsa-init, which left');
    const p = await prepared.start();
    const [out, status] = await Promise.all([readAll(p.io.stdio[1]), p.wait()]);
    assert.is(out, 'prepared\n');
    assert.equal(status, { exitCode: 0, signal: null });
    await untilTrue(() => parkedInits().length === 1, 'another one parked');
    const victim = parkedInits()[0]!;
    process.kill(victim, 'SIGKILL');
    await untilTrue(() => !ourChildren().includes(victim), 'the killed one reaped');
    const q = await parking.exec(id, { args: ['/bin/testinit', 'exit', '4'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }, { stdio: 'ignore' });
    assert.equal(await q.wait(), { exitCode: 4, signal: null });
    await untilTrue(() => parkedInits().length === 1, 'parked again after that exec');
  } finally {
    parking.close();
    await cleanUp(dir, c);
  }
});

test('reapChildren: false (the CLI\'s setting): an exec\'d process that exits stays a zombie for its adopter to reap, until wait() is called', async () => {
  const cliLike = new Runtime({ root, reapChildren: false });
  const id = newId();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-bundle-'));
  const c = await cliLike.create(id, { bundle: dir, spec: base().withRootfs(rootfs).withArgs('/bin/testinit', 'sleep', 'forever').build(), stdio: 'ignore' });
  try {
    await c.start();
    const p = await c.exec({ args: ['/bin/testinit', 'exit', '3'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }, { stdio: 'ignore' });
    const zombie = () => { try { return /^State:\s+Z/m.test(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8')); } catch { return false; } };
    await untilTrue(zombie, 'the exec\'d process exited');
    // Turns of the event loop in which an eager watch would have reaped it.
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
    assert.ok(zombie(), 'still a zombie: nobody in this process reaped it');
    assert.equal(await p.wait(), { exitCode: 3, signal: null }, 'wait() reaps it and gives its status');
    assert.not.ok(ourChildren().includes(p.pid));
  } finally {
    await cleanUp(dir, c);
  }
});

test('stdio: one word for all three fds (\'ignore\' is /dev/null, \'pipe\' is a socket we read), or a Stream with an fd', async () => {
  const ignored = await runtime.create(newId(), { spec: base().withArgs('/bin/testinit', 'sleep', 'forever').build(), rootfs, stdio: 'ignore' });
  try {
    for (const fd of [0, 1, 2]) assert.is(fs.readlinkSync(`/proc/${ignored.pid}/fd/${fd}`), '/dev/null', `fd ${fd}`);
  } finally {
    await ignored.delete({ force: true });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-lib-stdio-'));
  const id = newId();
  const c = await runtime.create(id, { spec: base().withArgs('/bin/testinit', 'echo', 'piped').build(), rootfs, stdio: 'pipe' });
  try {
    assert.match(fs.readlinkSync(`/proc/${c.pid}/fd/1`), /^socket:/);
    const out = readAll(c.io.stdio[1]);
    c.io.stdio[0]!.end();
    await c.start();
    assert.equal(await c.wait(), { exitCode: 0, signal: null });
    assert.is(await out, 'piped\n');
    // A stream with an fd: the container writes into our file.
    const file = path.join(dir, 'out');
    const stream = fs.createWriteStream(file);
    await new Promise((r) => stream.once('open', r));
    const d = await runtime.create(newId(), { spec: base().withArgs('/bin/testinit', 'echo', 'to-file').build(), rootfs, stdio: ['ignore', stream as never, 'ignore'] });
    try {
      await d.start();
      await d.wait();
    } finally {
      await d.delete({ force: true });
    }
    await new Promise((r) => stream.close(r));
    assert.is(fs.readFileSync(file, 'utf8'), 'to-file\n');
    await expectCapsaError(() => runtime.create(newId(), { spec: base().build(), rootfs, stdio: ['ignore', { bogus: true } as never, 'ignore'] }), 'INVALID_ARGUMENT', 'stdio[1]');
    assert.not.ok(ids().some((x) => x !== id && x.startsWith('capsa-test-lib-')), 'a refused create leaves no container');
  } finally {
    await cleanUp(dir, c);
  }
});

test('runtime.stats reads the container\'s cgroup: matches the files in cgroupfs; a deleted one is NOT_FOUND', async () => {
  const { id, c, dir } = await sleeper(base().withMemoryLimit('64m').withPidsLimit(33));
  try {
    await c.start();
    const stats = await runtime.stats(id);
    assert.equal((await c.stats()).pids, stats.pids, 'container.stats() reads the same cgroup');
    const cg = (file: string) => new ContainerCgroup(`/${id}`).read(file);
    assert.is(stats.pids.current, Number(cg('pids.current')));
    assert.is(stats.pids.current, 1, 'just the init');
    assert.is(stats.pids.limit, 33);
    assert.is(stats.memory.usage.limit, 64 * 1024 * 1024);
    assert.is(String(stats.memory.usage.limit), cg(V2 ? 'memory.max' : 'memory.limit_in_bytes'));
    assert.ok(stats.memory.usage.usage > 0);
    assert.ok(stats.cpu.usage.total > 0, 'the init has used some cpu');
  } finally {
    await cleanUp(dir, c);
  }
  await expectCapsaError(() => runtime.stats(id), 'NOT_FOUND', 'container does not exist');
});

test('a library-made container is visible to the CLI, which can exec into it and delete it', async () => {
  const { id, c, dir } = await sleeper();
  try {
    const created = JSON.parse((await capsaOk(['state', id])).stdout) as { status: string; pid: number };
    assert.equal([created.status, created.pid], ['created', c.pid]);
    await c.start();
    const listed = (await capsaOk(['list', '--format', 'json'])).stdout;
    assert.ok((JSON.parse(listed) as { id: string; status: string }[]).some((s) => s.id === id && s.status === 'running'), listed);
    assert.is((await capsaOk(['exec', id, '/bin/testinit', 'echo', 'via', 'cli'])).stdout, 'via cli\n');
    const exited = c.wait(); // we are the init's parent: reap it when the CLI kills it
    await capsaOk(['delete', '--force', id]);
    assert.equal(await exited, { exitCode: 137, signal: 9 });
    assert.not.ok(ids().includes(id));
  } finally {
    await cleanUp(dir, c);
  }
});

test('misuse raises CapsaError and leaves the state consistent', async () => {
  const { id, c, dir } = await sleeper();
  try {
    await c.start();
    await expectCapsaError(c.start(), 'BAD_STATE', 'already running');
    assert.is(c.state().status, 'running');
    await expectCapsaError(c.delete(), 'BAD_STATE', 'not stopped');
    assert.is(c.state().status, 'running');
    assert.ok(alive(c.pid));
    await expectCapsaError(runtime.create(id, { bundle: dir, spec: spec().withRootfs(rootfs).build(), stdio: ['ignore', 'ignore', 'ignore'] }), 'EXISTS');
    assert.is(c.state().status, 'running', 'a second create of the id did not disturb the first');
    await c.kill('SIGKILL');
    assert.equal(await c.wait(), { exitCode: 137, signal: 9 });
    assert.is(c.state().status, 'stopped');
    await expectCapsaError(c.start(), 'BAD_STATE', 'stopped');
    await expectCapsaError(c.kill('SIGTERM'), 'BAD_STATE', 'container not running');
    await expectCapsaError(runtime.exec(id, { args: ['/bin/testinit', 'true'], cwd: '/', user: { uid: 0, gid: 0 } }, { stdio: ['ignore', 'ignore', 'ignore'] }), 'BAD_STATE', 'stopped');
    assert.is(c.state().status, 'stopped');
    await c.delete();
    assert.not.ok(ids().includes(id));
    await expectCapsaError(() => runtime.get(id), 'NOT_FOUND', 'container does not exist');
    await expectCapsaError(() => runtime.state(id), 'NOT_FOUND');
    await expectCapsaError(c.delete(), 'NOT_FOUND');
    await c.delete({ force: true }); // force on a missing container is not an error
  } finally {
    await cleanUp(dir, { delete: (o) => runtime.delete(id, o) });
  }
});

test.run();
