#!/usr/bin/env node
// capsa's speed against runc and crun, in one run, on this host: prints ONE
// table. Called through scripts/bench; see there for usage.
//
// What is measured (medians unless said otherwise; a /bin/true-like container
// = the static testinit binary running `true`, same config.json for everyone):
//   run              `<rt> run` to exit (CLI) / runtime.run() in a warm process (library)
//   create/start/delete   each verb alone; start→exit wait and state polls are not timed
//   exec             `<rt> exec <id> /bin/testinit true` into a running container
//   waiting-init RSS VmRSS of the container's init between create and start
//   50 concurrent    50 × create+start+wait+delete at once (`run` ×50 for CLIs), wall time
// All state lives under /tmp/capsa-bench-<pid>-*/ and container ids are
// capsa-bench-*; everything is removed at the end, on error and on ^C.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const runsArg = argv.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(argv[runsArg + 1]) : quick ? 2 : 21;
const CONCURRENT = 50;
const CONCURRENT_REPS = quick ? 2 : 3;
const WARMUP = quick ? 0 : 2;

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const CAPSA = path.join(repo, 'dist', 'capsa');
const LIB = path.join(repo, 'dist', 'index.cjs');
const TESTINIT = path.join(repo, 'build', 'Release', 'capsa-testinit');
for (const f of [CAPSA, LIB, TESTINIT]) {
  if (!fs.existsSync(f)) {
    process.stderr.write(`bench: ${f} is missing; build first (npx node-gyp build && npx tsc -p tsconfig.json && node scripts/bundle.mjs)\n`);
    process.exit(2);
  }
}
const lib = createRequire(import.meta.url)(LIB);

// ---------- setup: one bundle, one state root per runtime ----------

const WORK = fs.mkdtempSync(path.join('/tmp', `capsa-bench-${process.pid}-`));
const BUNDLE = path.join(WORK, 'bundle');
const ROOTFS = path.join(BUNDLE, 'rootfs');
const roots = {};

function writeBundle() {
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp']) fs.mkdirSync(path.join(ROOTFS, d), { recursive: true });
  fs.copyFileSync(TESTINIT, path.join(ROOTFS, 'bin', 'testinit'));
  fs.chmodSync(path.join(ROOTFS, 'bin', 'testinit'), 0o755);
  fs.writeFileSync(path.join(BUNDLE, 'config.json'), JSON.stringify(benchSpec(['/bin/testinit', 'true'])));
  // A second bundle for exec's long-running container.
  const sleeper = path.join(WORK, 'sleeper');
  fs.mkdirSync(sleeper);
  fs.writeFileSync(path.join(sleeper, 'config.json'), JSON.stringify(benchSpec(['/bin/testinit', 'sleep', 'forever'])));
}

/** capsa's default spec (= runc spec), terminal off, rootfs by absolute path. */
function benchSpec(args) {
  const s = lib.defaultSpec();
  // 1.0.2: the newest runtime-spec version all three runtimes accept.
  s.ociVersion = '1.0.2';
  s.process.terminal = false;
  s.process.args = args;
  s.root = { path: ROOTFS, readonly: true };
  return s;
}

// ---------- runtimes ----------

const CLIS = {
  capsa: { bin: CAPSA, label: 'capsa CLI' },
  runc: { bin: 'runc', label: 'runc' },
  crun: { bin: 'crun', label: 'crun' },
};

function which(bin) {
  if (bin.includes('/')) return fs.existsSync(bin) ? bin : undefined;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, bin);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return undefined;
}

let seq = 0;
const newId = (rt) => `capsa-bench-${rt}-${process.pid}-${seq++}`;

/**
 * Runs a CLI call to completion. Output goes through files, not pipes: a
 * container made by `create` or `run -d` inherits them and would keep a pipe
 * open (and spawnSync waiting) for as long as it lives.
 */
function cli(rt, args) {
  const out = path.join(WORK, `out.${process.pid}`);
  const err = path.join(WORK, `err.${process.pid}`);
  const fds = [fs.openSync(out, 'w'), fs.openSync(err, 'w')];
  let r;
  try {
    r = spawnSync(CLIS[rt].bin, ['--root', roots[rt], ...args], { stdio: ['ignore', fds[0], fds[1]] });
  } finally {
    fds.forEach((fd) => fs.closeSync(fd));
  }
  return { status: r.status, signal: r.signal, error: r.error, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
}

function cliOk(rt, args) {
  const r = cli(rt, args);
  if (r.status !== 0) throw new Error(`${rt} ${args.join(' ')}: exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').trim()}`);
  return r;
}

/** Times one CLI call (spawn to exit), in ms; throws with its stderr if it failed. */
function timeCli(rt, args) {
  const errFile = path.join(WORK, `timed-err.${process.pid}`);
  const errFd = fs.openSync(errFile, 'w');
  const t = process.hrtime.bigint();
  const r = spawnSync(CLIS[rt].bin, ['--root', roots[rt], ...args], { stdio: ['ignore', 'ignore', errFd] });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  fs.closeSync(errFd);
  if (r.status !== 0) throw new Error(`${rt} ${args.join(' ')}: exit ${r.status ?? r.signal}: ${fs.readFileSync(errFile, 'utf8').trim()}`);
  return ms;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * CPU time (user+sys, ms) of this process's reaped children so far, from
 * /proc/self/stat (clock ticks, so only meaningful summed over many runs).
 * On a busy host CPU time moves much less than wall time.
 */
function childrenCpuMs() {
  const st = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * 10; // cutime + cstime; CLK_TCK is 100 on Linux
}

/** Runs fn and returns its result plus the CPU ms used by this process and its reaped children. */
async function withCpu(fn) {
  const self0 = process.cpuUsage();
  const kids0 = childrenCpuMs();
  const value = await fn();
  const self = process.cpuUsage(self0);
  return { value, cpu: (self.user + self.system) / 1000 + childrenCpuMs() - kids0 };
}

/** Polls /proc until pid has exited (zombie or gone); not timed. */
async function untilExited(pid) {
  for (let i = 0; i < 5000; i++) {
    let st;
    try { st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return; }
    const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return;
    await sleep(1);
  }
  throw new Error(`pid ${pid} did not exit`);
}

function rssKb(pid) {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** A runtime is usable when a plain `run` of the bundle works; else the reason. */
function probe(rt) {
  if (!which(CLIS[rt].bin)) return 'not installed';
  const id = newId(rt);
  const r = cli(rt, ['run', '--bundle', BUNDLE, id]);
  cli(rt, ['delete', '--force', id]);
  if (r.status === 0) return undefined;
  const msg = (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').filter(Boolean).pop();
  return msg.replace(/^.*?level=error msg="?/, '').replace(/"$/, '');
}

// ---------- measurements ----------

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

/** Failures seen (and retried) during measurement: reported under the table. */
const failures = [];
const MAX_FAILURES = 5;

/** Runs fn WARMUP + n times, keeping the last n results; a failed iteration is logged, cleaned up and retried. */
async function repeat(n, fn, onFail = cleanupContainers) {
  const out = [];
  let failed = 0;
  while (out.length < n + WARMUP) {
    try {
      out.push(await fn());
    } catch (e) {
      failures.push(String(e instanceof Error ? e.message : e).split('\n').slice(0, 2).join(' ').replace(/\s+/g, ' ').slice(0, 300));
      if (++failed > MAX_FAILURES) throw e;
      await onFail();
    }
  }
  return out.slice(WARMUP);
}

async function benchCli(rt) {
  const res = {};
  const runs = await withCpu(() => repeat(RUNS, async () => timeCli(rt, ['run', '--bundle', BUNDLE, newId(rt)])));
  res.run = median(runs.value);
  res.runCpu = runs.cpu / (RUNS + WARMUP);
  const phases = await repeat(RUNS, async () => {
    const id = newId(rt);
    const create = timeCli(rt, ['create', '--bundle', BUNDLE, id]);
    const pid = JSON.parse(cliOk(rt, ['state', id]).stdout).pid;
    const rss = rssKb(pid);
    const start = timeCli(rt, ['start', id]);
    await untilExited(pid);
    const del = timeCli(rt, ['delete', id]);
    return { create, start, delete: del, rss };
  });
  for (const k of ['create', 'start', 'delete', 'rss']) res[k] = median(phases.map((p) => p[k]));
  res.csd = median(phases.map((p) => p.create + p.start + p.delete));
  res.state = median(await (async () => {
    const id = newId(rt);
    cliOk(rt, ['create', '--bundle', BUNDLE, id]);
    try { return await repeat(RUNS, async () => timeCli(rt, ['state', id]), async () => {}); } finally { cli(rt, ['delete', '--force', id]); }
  })());
  // exec into a running long-lived container
  const id = newId(rt);
  cliOk(rt, ['run', '--detach', '--bundle', path.join(WORK, 'sleeper'), id]);
  try {
    res.exec = median(await repeat(RUNS, async () => timeCli(rt, ['exec', id, '/bin/testinit', 'true']), async () => {}));
  } finally {
    cli(rt, ['delete', '--force', id]);
  }
  res.concurrent = median(await repeat(CONCURRENT_REPS, async () => {
    const ids = Array.from({ length: CONCURRENT }, () => newId(rt));
    const t = process.hrtime.bigint();
    const errFiles = ids.map((cid) => path.join(WORK, `err.${cid}`));
    const errFds = errFiles.map((f) => fs.openSync(f, 'w'));
    const codes = await Promise.all(ids.map((cid, i) => new Promise((resolve) => {
      const c = spawn(CLIS[rt].bin, ['--root', roots[rt], 'run', '--bundle', BUNDLE, cid], { stdio: ['ignore', 'ignore', errFds[i]] });
      c.on('exit', (code) => resolve(code));
      c.on('error', () => resolve(-1));
    })));
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    errFds.forEach((fd) => fs.closeSync(fd));
    const bad = codes.map((c, i) => (c === 0 ? undefined : `${ids[i]}: exit ${c}: ${fs.readFileSync(errFiles[i], 'utf8').trim()}`)).filter(Boolean);
    errFiles.forEach((f) => fs.rmSync(f, { force: true }));
    if (bad.length) throw new Error(`${rt}: ${bad.length} of ${CONCURRENT} concurrent runs failed:\n  ${bad.slice(0, 5).join('\n  ')}`);
    return ms;
  }));
  return res;
}

async function benchLib() {
  const runtime = new lib.Runtime({ root: roots.lib });
  const spec = benchSpec(['/bin/testinit', 'true']);
  const stdio = ['ignore', 'ignore', 'ignore'];
  const res = {};
  const time = async (fn) => { const t = process.hrtime.bigint(); await fn(); return Number(process.hrtime.bigint() - t) / 1e6; };
  // runtime.run(): the one-shot API (piped, captured stdio), as a test suite calls it
  const runs = await withCpu(() => repeat(RUNS, () => time(async () => {
    const r = await runtime.run(newId('lib'), { bundle: BUNDLE, spec });
    if (r.exitCode !== 0) throw new Error(`library run exited ${r.exitCode}: ${r.stderr}`);
  })));
  res.run = median(runs.value);
  res.runCpu = runs.cpu / (RUNS + WARMUP);
  const phases = await repeat(RUNS, async () => {
    const id = newId('lib');
    let c;
    const create = await time(async () => { c = await runtime.create(id, { bundle: BUNDLE, spec, stdio }); });
    const rss = rssKb(c.pid);
    const exited = c.wait();
    exited.catch(() => {}); // awaited below; a failed start must not leave it unhandled
    const start = await time(() => c.start());
    await exited;
    const del = await time(() => c.delete());
    return { create, start, delete: del, rss };
  });
  for (const k of ['create', 'start', 'delete', 'rss']) res[k] = median(phases.map((p) => p[k]));
  res.csd = median(phases.map((p) => p.create + p.start + p.delete));
  {
    const id = newId('lib');
    const c = await runtime.create(id, { bundle: BUNDLE, spec, stdio });
    try { res.state = median(await repeat(RUNS, () => time(async () => runtime.state(id)), async () => {})); } finally { await c.delete({ force: true }); }
  }
  {
    const id = newId('lib');
    const c = await runtime.create(id, { bundle: path.join(WORK, 'sleeper'), spec: benchSpec(['/bin/testinit', 'sleep', 'forever']), stdio });
    const proc = { args: ['/bin/testinit', 'true'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] };
    try {
      await c.start();
      res.exec = median(await repeat(RUNS, () => time(async () => {
        const p = await runtime.exec(id, proc, { stdio });
        const s = await p.wait();
        if (s.exitCode !== 0) throw new Error(`library exec exited ${s.exitCode}`);
      }), async () => {}));
    } finally {
      await c.delete({ force: true });
    }
  }
  res.concurrent = median(await repeat(CONCURRENT_REPS, () => time(async () => {
    const settled = await Promise.allSettled(Array.from({ length: CONCURRENT }, async () => {
      const c = await runtime.create(newId('lib'), { bundle: BUNDLE, spec, stdio });
      const exited = c.wait();
      exited.catch(() => {}); // awaited below; a failed start must not leave it unhandled
      await c.start();
      await exited;
      await c.delete();
    }));
    const bad = settled.filter((r) => r.status === 'rejected');
    if (bad.length) throw new Error(`library: ${bad.length} of ${CONCURRENT} concurrent runs failed: ${bad[0].reason?.message ?? bad[0].reason}`);
  })));
  return res;
}

function nodeFloor() {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const n = Math.max(RUNS, 3);
  const t = (cmd, args, e = env) => {
    const kids0 = childrenCpuMs();
    const wall = median(Array.from({ length: n }, () => {
      const s = process.hrtime.bigint();
      spawnSync(cmd, args, { stdio: 'ignore', env: e });
      return Number(process.hrtime.bigint() - s) / 1e6;
    }));
    return { wall, cpu: (childrenCpuMs() - kids0) / n };
  };
  return { node: t(process.execPath, ['-e', '0']), version: t(CAPSA, ['--version']) };
}

/** The mount point of a cgroup2 mount next to v1 hierarchies (a hybrid host), if any. */
function cgroup2BesideV1() {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => {
    const [pre, post = ''] = l.split(' - ');
    return { at: (pre.split(' ')[4] ?? '').replace(/\\040/g, ' '), type: post.split(' ')[0] };
  });
  if (!mounts.some((m) => m.type === 'cgroup')) return undefined;
  return mounts.find((m) => m.type === 'cgroup2')?.at;
}

// ---------- cleanup ----------

/** Force-deletes every bench container of every runtime. */
async function cleanupContainers() {
  for (const rt of Object.keys(CLIS)) {
    if (!roots[rt] || !fs.existsSync(roots[rt]) || !which(CLIS[rt].bin)) continue;
    for (const id of fs.readdirSync(roots[rt]).filter((n) => n.startsWith('capsa-bench-'))) cli(rt, ['delete', '--force', id]);
  }
  if (roots.lib && fs.existsSync(roots.lib)) {
    const runtime = new lib.Runtime({ root: roots.lib });
    await Promise.all(runtime.list().map((s) => runtime.delete(s.id, { force: true }).catch(() => {})));
  }
}

async function cleanup() {
  try {
    await cleanupContainers();
  } finally {
    fs.rmSync(WORK, { recursive: true, force: true });
  }
}

let cleaning;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cleaning ??= cleanup().finally(() => process.exit(130));
  });
}

// ---------- table ----------

const fmt = (v, digits = 1) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));

function table(results, unavailable, floor) {
  const cols = [['capsa', 'capsa CLI'], ['lib', 'capsa library'], ['runc', 'runc'], ['crun', 'crun']];
  const rows = [
    ['run (ms)', 'run', 1],
    ['run, CPU user+sys (ms, mean)', 'runCpu', 1],
    ['create (ms)', 'create', 1],
    ['start (ms)', 'start', 1],
    ['delete (ms)', 'delete', 1],
    ['create+start+delete (ms)', 'csd', 1],
    ['exec (ms)', 'exec', 1],
    ['state (ms)', 'state', 1],
    ['waiting-init RSS (MB)', 'rss', 2],
    [`${CONCURRENT} concurrent run, wall (ms)`, 'concurrent', 0],
  ];
  const cell = (col, key, d) => {
    if (unavailable[col]) return 'unavailable';
    const v = results[col]?.[key];
    return key === 'rss' ? fmt(v / 1024, d) : fmt(v, d);
  };
  const ref = results.crun && !unavailable.crun ? 'crun' : 'runc';
  const ratio = (a, b, key) => {
    const x = results[a]?.[key];
    const y = results[b]?.[key];
    return unavailable[a] || unavailable[b] || !x || !y ? '–' : (x / y).toFixed(2);
  };
  const lines = [];
  const head = ['', ...cols.map((c) => c[1]), 'capsa CLI/runc', `capsa lib/${ref}`];
  lines.push(head);
  for (const [label, key, d] of rows) {
    lines.push([label, ...cols.map(([col]) => cell(col, key, d)), ratio('capsa', 'runc', key), ratio('lib', ref, key)]);
  }
  const widths = head.map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
  const render = (l) => l.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  const out = [];
  out.push(`capsa bench — ${quick ? 'QUICK (2 runs, numbers not meaningful)' : `medians of ${RUNS} runs (${WARMUP} warm-up)`}; /bin/true-like container (static testinit true)`);
  out.push(`host: ${os.release()} ${os.cpus().length} cpu, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, node ${process.version}; floor: node -e 0 = ${fmt(floor.node.wall)} ms (CPU ${fmt(floor.node.cpu)}), capsa --version = ${fmt(floor.version.wall)} ms (CPU ${fmt(floor.version.cpu)})${process.env.NODE_EXTRA_CA_CERTS ? ' (NODE_EXTRA_CA_CERTS is set; dist/capsa unsets it)' : ''}`);
  if (process.env.CAPSA_BENCH_V1_VIEW) out.push(`cgroups: v1 only for every runtime — this hybrid host's cgroup2 mount (${process.env.CAPSA_BENCH_V1_VIEW}) is hidden in a private mount namespace so crun runs`);
  out.push(render(lines[0]));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines.slice(1)) out.push(render(l));
  for (const [col, why] of Object.entries(unavailable)) if (why) out.push(`${CLIS[col]?.label ?? col} unavailable: ${why}`);
  if (failures.length) out.push(`${failures.length} failed iteration(s), retried (not in the medians):\n  ${[...new Set(failures)].slice(0, 8).join('\n  ')}`);
  out.push('ratios < 1 mean capsa is faster (smaller, for RSS); CLI times include spawning the CLI from this process.');
  return out.join('\n');
}

// ---------- main ----------

let exitCode = 0;
try {
  writeBundle();
  for (const rt of ['capsa', 'runc', 'crun', 'lib']) roots[rt] = path.join(WORK, `root-${rt}`);
  const unavailable = {};
  for (const rt of ['capsa', 'runc', 'crun']) unavailable[rt] = probe(rt);
  const hidden = cgroup2BesideV1();
  if (unavailable.crun && /hybrid mode/.test(unavailable.crun) && hidden && !process.env.CAPSA_BENCH_V1_VIEW && !argv.includes('--hybrid')) {
    // crun 1.8 will not run on a hybrid host. Re-run the whole bench, every
    // runtime alike, in a private mount namespace without the cgroup2 mount:
    // there the host looks like plain cgroup v1 and crun runs.
    process.stderr.write(`bench: crun refuses this hybrid host; re-running every runtime in a private mount namespace without ${hidden} (v1 only; --hybrid skips this)\n`);
    await cleanup();
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'umount "$0" && exec "$@"', hidden, process.execPath, new URL(import.meta.url).pathname, ...argv],
      { stdio: 'inherit', env: { ...process.env, CAPSA_BENCH_V1_VIEW: hidden } });
    process.exit(r.status ?? 1);
  }
  if (unavailable.capsa) throw new Error(`capsa itself cannot run the bench container: ${unavailable.capsa}`);
  const results = {};
  for (const rt of ['runc', 'crun', 'capsa']) {
    if (unavailable[rt]) continue;
    process.stderr.write(`bench: ${CLIS[rt].label}…\n`);
    results[rt] = await benchCli(rt);
  }
  process.stderr.write('bench: capsa library…\n');
  results.lib = await benchLib();
  const floor = nodeFloor();
  process.stdout.write(table(results, unavailable, floor) + '\n');
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? e.stack : e}\n`);
  exitCode = 1;
} finally {
  await (cleaning ?? cleanup());
}
process.exitCode = exitCode;
