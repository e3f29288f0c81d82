// process.scheduler, process.ioPriority, process.execCPUAffinity and
// linux.memoryPolicy, for create and for exec (CLI --process, the config's
// process, and the library's exec). Every value is read back from inside the
// container by testinit (sched_getattr and /proc/self/stat, ioprio_get,
// Cpus_allowed_list, get_mempolicy); a value this host cannot apply must be a
// one-line error naming the field.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { Runtime } from '../../src/runtime/runtime';
import type { Process, Spec } from '../../src/spec/types';
import { makeBundle, type TestBundle } from '../helpers/bundle';
import { CAPSA_BIN, capsaSuite, capsaToFilesIn, oneLine } from '../helpers/capsa';
import { all, cmd, type Config } from '../helpers/config';
import { tempDir } from '../helpers/rootfs';
import { runnersFor } from '../helpers/run';
import { waitReaped } from '../helpers/wait';

const { test, root, capsa, capsaOk } = capsaSuite('process-attributes');
const { runIn, runOk } = runnersFor(capsa);
const capsaToFiles = capsaToFilesIn(root);

// ---- helpers ----

interface Sched { policy: number; nice: number; priority: number; flags: number; runtime: number; deadline: number; period: number; statPolicy: number; statNice: number; statRtPriority: number }

function parseSched(out: string): Sched {
  const m = /^policy=(\d+) nice=(-?\d+) priority=(\d+) flags=0x([0-9a-f]+) runtime=(\d+) deadline=(\d+) period=(\d+)\nstat policy=(\d+) nice=(-?\d+) rt_priority=(\d+)\n$/.exec(out);
  assert.ok(m, `testinit sched printed: ${out}`);
  const n = m!.slice(1).map((x, i) => (i === 3 ? parseInt(x, 16) : Number(x)));
  return { policy: n[0]!, nice: n[1]!, priority: n[2]!, flags: n[3]!, runtime: n[4]!, deadline: n[5]!, period: n[6]!, statPolicy: n[7]!, statNice: n[8]!, statRtPriority: n[9]! };
}

const POLICY = { OTHER: 0, FIFO: 1, RR: 2, BATCH: 3, IDLE: 5, DEADLINE: 6 };
const withSched = (scheduler: NonNullable<Process['scheduler']>): Config => (s) => { s.process!.scheduler = scheduler; };
// This host's kernel has RT group scheduling: a realtime task needs runtime in its cpu cgroup.
const RT_GROUP_SCHED = fs.existsSync('/sys/fs/cgroup/cpu/cpu.rt_runtime_us') || fs.existsSync('/sys/fs/cgroup/cpu.rt_runtime_us');
const rtBudget: Config = (s) => { s.linux!.resources = { ...s.linux!.resources, cpu: { ...s.linux!.resources?.cpu, realtimeRuntime: 20000, realtimePeriod: 1000000 } }; };

const onlineCpus = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
const TWO_CPUS = /^0-([1-9]\d*)$/.test(onlineCpus);
const hasNuma = fs.existsSync('/sys/devices/system/node/online');
const onlineNodes = hasNuma ? fs.readFileSync('/sys/devices/system/node/online', 'utf8').trim() : '';

const [kMajor, kMinor] = os.release().split('.').map(Number) as [number, number];
const KERNEL_KEEPS_USER_AFFINITY = kMajor > 6 || (kMajor === 6 && kMinor >= 2);
const cpusAllowed = (status: string) => /^Cpus_allowed_list:\s+(\S+)$/m.exec(status)?.[1];

/** A running container (`testinit sleep forever` unless config says otherwise), removed afterwards. */
async function withRunning(config: Config | undefined, fn: (b: TestBundle, dir: string) => Promise<void>, runArgs: string[] = []): Promise<void> {
  const b = makeBundle({ config: all(cmd('sleep', 'forever'), config) });
  const dir = tempDir('procattr');
  try {
    const r = await capsaToFiles([...runArgs, 'run', '-d', '--bundle', b.dir, b.id], dir);
    assert.is(r.code, 0, `run -d: ${r.stderr}`);
    await fn(b, dir);
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
    await waitReaped(b.id);
  }
}

async function execWithProcess(b: TestBundle, dir: string, edit: (p: Process) => void, args: string[]): Promise<ReturnType<typeof capsa>> {
  const proc: Process = { terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/testinit', ...args], cwd: '/', env: ['PATH=/bin'] };
  edit(proc);
  const file = path.join(dir, `process-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(proc));
  return capsa(['exec', '--process', file, b.id]);
}

/** A one-line error naming `field`, exit `code`, and no container left. */
async function assertRefused(config: Config, field: string, re?: RegExp): Promise<void> {
  const r = await runIn(config);
  assert.is(r.code, 1, `expected a refusal naming ${field}, got exit ${r.code}: ${r.stdout}${r.stderr}`);
  const line = oneLine(r.stderr);
  assert.ok(line.includes(`config.${field}`), `"${line}" should name config.${field}`);
  if (re) assert.match(line, re);
}

// ---- process.scheduler ----

test('scheduler: SCHED_BATCH nice 7, SCHED_IDLE, SCHED_OTHER nice -5 — sched_getattr and /proc/self/stat inside agree', async () => {
  let s = parseSched(await runOk(all(withSched({ policy: 'SCHED_BATCH', nice: 7 }), cmd('sched'))));
  assert.equal([s.policy, s.nice, s.statPolicy, s.statNice], [POLICY.BATCH, 7, POLICY.BATCH, 7]);
  s = parseSched(await runOk(all(withSched({ policy: 'SCHED_IDLE' }), cmd('sched'))));
  assert.equal([s.policy, s.statPolicy], [POLICY.IDLE, POLICY.IDLE]);
  s = parseSched(await runOk(all(withSched({ policy: 'SCHED_OTHER', nice: -5 }), cmd('sched'))));
  assert.equal([s.policy, s.nice, s.statNice], [POLICY.OTHER, -5, -5]);
  s = parseSched(await runOk(cmd('sched')));
  assert.equal([s.policy, s.nice], [POLICY.OTHER, 0], 'without a scheduler nothing changes');
});

test('scheduler: SCHED_FIFO priority 10 and SCHED_RR priority 5 with SCHED_FLAG_RESET_ON_FORK (a realtime budget in the cgroup)', async () => {
  let s = parseSched(await runOk(all(rtBudget, withSched({ policy: 'SCHED_FIFO', priority: 10 }), cmd('sched'))));
  assert.equal([s.policy, s.priority, s.statPolicy, s.statRtPriority], [POLICY.FIFO, 10, POLICY.FIFO, 10]);
  s = parseSched(await runOk(all(rtBudget, withSched({ policy: 'SCHED_RR', priority: 5, flags: ['SCHED_FLAG_RESET_ON_FORK'] }), cmd('sched'))));
  assert.equal([s.policy, s.priority, s.flags & 1], [POLICY.RR, 5, 1]);
});

(RT_GROUP_SCHED ? test : test.skip)('scheduler: SCHED_FIFO where the cgroup has no realtime budget (RT group scheduling) is a one-line error naming the field', async () => {
  await assertRefused(all(withSched({ policy: 'SCHED_FIFO', priority: 10 }), cmd('sched')), 'process.scheduler', /SCHED_FIFO.*operation not permitted/);
});

test('scheduler: SCHED_DEADLINE runtime/deadline/period with SCHED_FLAG_RESET_ON_FORK', async () => {
  const s = parseSched(await runOk(all(withSched({ policy: 'SCHED_DEADLINE', runtime: 2_000_000, deadline: 10_000_000, period: 20_000_000, flags: ['SCHED_FLAG_RESET_ON_FORK'] }), cmd('sched'))));
  assert.equal([s.policy, s.runtime, s.deadline, s.period, s.statPolicy], [POLICY.DEADLINE, 2_000_000, 10_000_000, 20_000_000, POLICY.DEADLINE]);
  assert.is(s.flags & 1, 1);
});

test('scheduler: values capsa or the kernel refuse are one-line errors naming the field', async () => {
  await assertRefused(withSched({ policy: 'SCHED_WHATEVER' }), 'process.scheduler.policy', /unknown policy/);
  await assertRefused(withSched({ policy: 'SCHED_ISO' }), 'process.scheduler.policy', /not implemented/);
  await assertRefused(withSched({ policy: 'SCHED_OTHER', nice: 20 }), 'process.scheduler.nice');
  await assertRefused(withSched({ policy: 'SCHED_OTHER', priority: 3 }), 'process.scheduler.priority');
  await assertRefused(withSched({ policy: 'SCHED_FIFO', priority: 0 }), 'process.scheduler.priority');
  await assertRefused(withSched({ policy: 'SCHED_BATCH', runtime: 1000 }), 'process.scheduler', /SCHED_DEADLINE/);
  await assertRefused(withSched({ policy: 'SCHED_DEADLINE', runtime: 20_000_000, deadline: 10_000_000 }), 'process.scheduler.runtime');
  await assertRefused(withSched({ policy: 'SCHED_OTHER', flags: ['SCHED_FLAG_NOPE'] }), 'process.scheduler.flags[0]');
  await assertRefused(all(withSched({ policy: 'SCHED_DEADLINE', runtime: 1_000_000, deadline: 10_000_000 }), (s) => { s.hooks = { startContainer: [{ path: '/bin/testinit', args: ['testinit', 'true'] }] }; }), 'process.scheduler.flags', /RESET_ON_FORK/);
  // The kernel's own rule: a deadline runtime below 1024 ns is refused (EINVAL).
  await assertRefused(withSched({ policy: 'SCHED_DEADLINE', runtime: 500, deadline: 1_000_000, flags: ['SCHED_FLAG_RESET_ON_FORK'] }), 'process.scheduler', /SCHED_DEADLINE: invalid argument/);
});

test('scheduler for exec: from --process, from the container\'s process (capsa exec ID cmd), and through the library', async () => {
  await withRunning(withSched({ policy: 'SCHED_BATCH', nice: 4 }), async (b, dir) => {
    const fromConfig = parseSched((await capsaOk(['exec', b.id, '/bin/testinit', 'sched'])).stdout);
    assert.equal([fromConfig.policy, fromConfig.nice], [POLICY.BATCH, 4]);
    const r = await execWithProcess(b, dir, (p) => { p.scheduler = { policy: 'SCHED_IDLE' }; }, ['sched']);
    assert.is(r.code, 0, r.stderr);
    assert.is(parseSched(r.stdout).policy, POLICY.IDLE);
    const rt = new Runtime({ root });
    const p = await rt.exec(b.id, { terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/testinit', 'sched'], cwd: '/', env: ['PATH=/bin'], scheduler: { policy: 'SCHED_OTHER', nice: 11 } }, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const stdout = p.io.stdio[1]!;
    const drained = new Promise((resolve) => stdout.on('close', resolve));
    stdout.on('data', (d) => { out += d; });
    const res = await p.wait();
    await drained;
    assert.is(res.exitCode, 0);
    const s = parseSched(out);
    assert.equal([s.policy, s.nice], [POLICY.OTHER, 11]);
    const bad = await execWithProcess(b, dir, (p2) => { p2.scheduler = { policy: 'SCHED_RR', priority: 100 }; }, ['sched']);
    assert.is(bad.code, 255);
    assert.match(oneLine(bad.stderr), /config\.process\.scheduler\.priority/);
  });
});

// ---- process.ioPriority ----

test('ioPriority: BE 3, IDLE 0, RT 1 read back with ioprio_get inside; exec gets its own (BE 6 from --process)', async () => {
  const io = (cls: string, priority: number) => (s: Spec) => { s.process!.ioPriority = { class: cls, priority }; };
  assert.is(await runOk(all(io('IOPRIO_CLASS_BE', 3), cmd('ioprio'))), 'class=2 level=3\n');
  assert.is(await runOk(all(io('IOPRIO_CLASS_IDLE', 0), cmd('ioprio'))), 'class=3 level=0\n');
  assert.is(await runOk(all(io('IOPRIO_CLASS_RT', 1), cmd('ioprio'))), 'class=1 level=1\n');
  await withRunning(io('IOPRIO_CLASS_IDLE', 7), async (b, dir) => {
    assert.is((await capsaOk(['exec', b.id, '/bin/testinit', 'ioprio'])).stdout, 'class=3 level=7\n', 'the config\'s process for a plain exec');
    const r = await execWithProcess(b, dir, (p) => { p.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 }; }, ['ioprio']);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'class=2 level=6\n');
  });
  await assertRefused(io('IOPRIO_CLASS_NONE', 0), 'process.ioPriority.class');
  await assertRefused(io('IOPRIO_CLASS_BE', 8), 'process.ioPriority.priority');
});

// ---- process.execCPUAffinity ----

(TWO_CPUS ? test : test.skip)('execCPUAffinity: not for the init (it has every CPU); exec gets final, and capsa-init ran on initial until it joined the cgroup (--debug)', async () => {
  await withRunning((s) => { s.process!.execCPUAffinity = { initial: '1', final: '0' }; s.process!.args = ['/bin/testinit', 'sleep', 'forever']; }, async (b) => {
    const init = JSON.parse((await capsaOk(['state', b.id])).stdout).pid as number;
    assert.is(cpusAllowed(fs.readFileSync(`/proc/${init}/status`, 'utf8')), onlineCpus, 'the init keeps every CPU');
    const r = await capsa(['--debug', 'exec', b.id, '/bin/testinit', 'status']);
    assert.is(r.code, 0, r.stderr);
    assert.is(cpusAllowed(r.stdout), '0');
    assert.match(r.stderr, /capsa-init: affinity: 1\b/);
  });
});

(TWO_CPUS ? test : test.skip)('execCPUAffinity from exec --process: final only, initial only (the kernel decides what survives the cgroup move), both', async () => {
  await withRunning(undefined, async (b, dir) => {
    let r = await execWithProcess(b, dir, (p) => { p.execCPUAffinity = { final: '1' }; }, ['status']);
    assert.is(r.code, 0, r.stderr);
    assert.is(cpusAllowed(r.stdout), '1');
    // Without final the kernel decides: since 6.2 it keeps an affinity the
    // process asked for (initial) across the cpuset change; before, the cpuset reset it.
    r = await execWithProcess(b, dir, (p) => { p.execCPUAffinity = { initial: '1' }; }, ['status']);
    assert.is(r.code, 0, r.stderr);
    assert.is(cpusAllowed(r.stdout), KERNEL_KEEPS_USER_AFFINITY ? '1' : onlineCpus);
    r = await execWithProcess(b, dir, (p) => { p.execCPUAffinity = { initial: '0', final: '0-1' }; }, ['status']);
    assert.is(r.code, 0, r.stderr);
    assert.is(cpusAllowed(r.stdout), '0-1');
  });
});

(TWO_CPUS ? test : test.skip)('a runtime pinned with taskset -c 0 does not pin the container: run and exec get every CPU', async () => {
  const b = makeBundle({ config: cmd('sleep', 'forever') });
  const dir = tempDir('procattr');
  try {
    const run = spawn('taskset', ['-c', '0', CAPSA_BIN, '--root', root, 'run', '-d', '--bundle', b.dir, b.id], { stdio: 'ignore' });
    assert.is(await new Promise((resolve) => run.on('close', resolve)), 0);
    const init = JSON.parse((await capsaOk(['state', b.id])).stdout).pid as number;
    assert.is(cpusAllowed(fs.readFileSync(`/proc/${init}/status`, 'utf8')), onlineCpus);
    const out = await new Promise<string>((resolve) => {
      const ex = spawn('taskset', ['-c', '0', CAPSA_BIN, '--root', root, 'exec', b.id, '/bin/testinit', 'status'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let o = '';
      ex.stdout!.on('data', (d) => { o += d; });
      ex.on('close', () => resolve(o));
    });
    assert.is(cpusAllowed(out), onlineCpus);
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('execCPUAffinity naming a CPU this host does not have, or malformed: one-line errors naming the field (create 1, exec 255)', async () => {
  await assertRefused((s) => { s.process!.execCPUAffinity = { final: '4095' }; }, 'process.execCPUAffinity.final', /not online on this host/);
  await assertRefused((s) => { s.process!.execCPUAffinity = { initial: '0-' }; }, 'process.execCPUAffinity.initial');
  await assertRefused((s) => { s.process!.execCPUAffinity = { initial: '3-1' }; }, 'process.execCPUAffinity.initial', /backwards/);
  await withRunning(undefined, async (b, dir) => {
    const r = await execWithProcess(b, dir, (p) => { p.execCPUAffinity = { final: '4095' }; }, ['true']);
    assert.is(r.code, 255);
    assert.match(oneLine(r.stderr), /config\.process\.execCPUAffinity\.final: CPU 4095 is not online/);
  });
});

// ---- linux.memoryPolicy ----

const mpol = (mode: string, nodes?: string, flags?: string[]): Config => (s) => { s.linux!.memoryPolicy = { mode, ...(nodes !== undefined ? { nodes } : {}), ...(flags ? { flags } : {}) }; };
const firstNode = onlineNodes.split(/[-,]/)[0] ?? '0';

(hasNuma ? test : test.skip)('memoryPolicy: every mode on this host\'s node, read back with get_mempolicy in the init and in an exec', async () => {
  const cases: [string, string | undefined, number, string][] = [
    ['MPOL_DEFAULT', undefined, 0, ''], ['MPOL_PREFERRED', firstNode, 1, firstNode], ['MPOL_BIND', firstNode, 2, firstNode],
    ['MPOL_INTERLEAVE', firstNode, 3, firstNode], ['MPOL_LOCAL', undefined, 4, ''], ['MPOL_PREFERRED_MANY', firstNode, 5, firstNode],
    ['MPOL_WEIGHTED_INTERLEAVE', firstNode, 6, firstNode],
  ];
  for (const [mode, nodes, code, shown] of cases) {
    assert.is(await runOk(all(mpol(mode, nodes), cmd('mempolicy'))), `mode=${code} flags=0x0 nodes=${shown}\n`, mode);
  }
  await withRunning(mpol('MPOL_BIND', firstNode), async (b) => {
    assert.is((await capsaOk(['exec', b.id, '/bin/testinit', 'mempolicy'])).stdout, `mode=2 flags=0x0 nodes=${firstNode}\n`, 'exec gets the container\'s policy');
  });
});

(hasNuma ? test : test.skip)('memoryPolicy flags: MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING read back', async () => {
  assert.is(await runOk(all(mpol('MPOL_BIND', firstNode, ['MPOL_F_STATIC_NODES']), cmd('mempolicy'))), `mode=2 flags=0x8000 nodes=${firstNode}\n`);
  assert.is(await runOk(all(mpol('MPOL_INTERLEAVE', '0', ['MPOL_F_RELATIVE_NODES']), cmd('mempolicy'))), 'mode=3 flags=0x4000 nodes=0\n');
  assert.is(await runOk(all(mpol('MPOL_BIND', firstNode, ['MPOL_F_NUMA_BALANCING']), cmd('mempolicy'))), `mode=2 flags=0x2000 nodes=${firstNode}\n`);
});

test('memoryPolicy values capsa or the kernel refuse: one-line errors naming the field', async () => {
  await assertRefused(mpol('MPOL_NOPE'), 'linux.memoryPolicy.mode');
  await assertRefused(mpol('MPOL_BIND'), 'linux.memoryPolicy.nodes', /needs at least one node/);
  await assertRefused(mpol('MPOL_DEFAULT', '0'), 'linux.memoryPolicy.nodes', /takes no nodes/);
  await assertRefused(mpol('MPOL_BIND', '0', ['MPOL_F_STATIC_NODES', 'MPOL_F_RELATIVE_NODES']), 'linux.memoryPolicy.flags');
  await assertRefused(mpol('MPOL_BIND', '0', ['MPOL_F_SOMETHING']), 'linux.memoryPolicy.flags[0]');
  await assertRefused(mpol('MPOL_BIND', '1000'), 'linux.memoryPolicy.nodes', /not online on this host|no NUMA/);
  if (hasNuma) {
    // The kernel's rule: NUMA balancing goes with MPOL_BIND (or PREFERRED_MANY) only.
    await assertRefused(mpol('MPOL_INTERLEAVE', firstNode, ['MPOL_F_NUMA_BALANCING']), 'linux.memoryPolicy', /invalid argument/);
  }
});

test.run();
