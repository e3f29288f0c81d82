#!/usr/bin/env node
// capsa's speed against runc and crun, in one run, on this host: prints ONE
// table. Called through scripts/bench; see there for usage.
//
// What is measured (medians unless said otherwise; a /bin/true-like container
// = the static testinit binary running `true`, same config.json for everyone).
// The CLIs (capsa as built, capsa on Node, runc, crun) run interleaved: every
// iteration does one round per runtime, in a rotating order, so this VM's
// drift hits them alike. They run with this process's environment, as an
// engine would call them (NODE_EXTRA_CA_CERTS included where it is set).
//   run              `<rt> run` to exit (CLI) / runtime.run() in a warm process (library)
//   create, state, start, exec, kill, delete
//                    one lifecycle of a `sleep forever` container, each call timed
//                    alone (exec: `/bin/testinit true`; kill: KILL; the wait for
//                    the exit between kill and delete is not timed)
//   waiting-init RSS VmRSS of the container's init between create and start
//   CLI peak RSS     of one `state` (missing container) and one `run` call (GNU time)
//   50 concurrent    50 × create+start+wait+delete at once (`run` ×50 for CLIs), wall time
// Under the table: the start floors (node -e 0, --version of each CLI), the
// executable's size, its first run from a cold page cache, and the caches it writes.
// All state lives under /tmp/capsa-bench-<pid>-*/ and container ids are
// capsa-bench-*; everything is removed at the end, on error and on ^C.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchCgroups, cleanupOnExit, removeCgroupTrees } from './bench-cleanup.mjs';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const runsArg = argv.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(argv[runsArg + 1]) : quick ? 2 : 21;
const CONCURRENT = 50;
const CONCURRENT_REPS = quick ? 2 : 3;
const WARMUP = quick ? 0 : 2;

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const CAPSA = path.join(repo, 'dist', 'capsa');
const CAPSA_NODE = path.join(repo, 'dist', 'capsa-node');
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
const SLEEPER = path.join(WORK, 'sleeper');
const roots = {};

function writeBundle() {
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp']) fs.mkdirSync(path.join(ROOTFS, d), { recursive: true });
  fs.copyFileSync(TESTINIT, path.join(ROOTFS, 'bin', 'testinit'));
  fs.chmodSync(path.join(ROOTFS, 'bin', 'testinit'), 0o755);
  fs.writeFileSync(path.join(BUNDLE, 'config.json'), JSON.stringify(benchSpec(['/bin/testinit', 'true'])));
  // A second bundle for exec's long-running container.
  fs.mkdirSync(SLEEPER);
  fs.writeFileSync(path.join(SLEEPER, 'config.json'), JSON.stringify(benchSpec(['/bin/testinit', 'sleep', 'forever'])));
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

/** dist/capsa: compiled (an ELF file) or a copy of the Node launcher (scripts/compile-cli.mjs). */
const capsaKind = fs.readFileSync(CAPSA).subarray(0, 4).toString('latin1') === '\x7fELF' ? 'compiled' : 'node';
const CLIS = {
  capsa: { bin: CAPSA, label: 'capsa CLI' },
  'capsa-node': { bin: CAPSA_NODE, label: 'capsa CLI on Node' },
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

/** One round of every CLI verb for rt: `run` of the bench container, then one lifecycle of a sleeper. */
async function cliRound(rt) {
  const r = {};
  const cpu0 = childrenCpuMs();
  r.run = timeCli(rt, ['run', '--bundle', BUNDLE, newId(rt)]);
  r.runCpu = childrenCpuMs() - cpu0;
  const id = newId(rt);
  r.create = timeCli(rt, ['create', '--bundle', SLEEPER, id]);
  r.state = timeCli(rt, ['state', id]);
  const pid = JSON.parse(cliOk(rt, ['state', id]).stdout).pid;
  r.rss = rssKb(pid);
  r.start = timeCli(rt, ['start', id]);
  r.exec = timeCli(rt, ['exec', id, '/bin/testinit', 'true']);
  r.kill = timeCli(rt, ['kill', id, 'KILL']);
  await untilExited(pid);
  r.delete = timeCli(rt, ['delete', id]);
  return r;
}

/** 50 `run`s of the bench container at once; wall ms. */
async function concurrentRound(rt) {
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
}

/**
 * Every CLI, interleaved: each iteration runs one round per runtime, in an
 * order that rotates, so this VM's drift (±15 % between minutes) hits all alike.
 */
async function benchClis(rts) {
  const rounds = Object.fromEntries(rts.map((rt) => [rt, []]));
  const rotate = (i) => rts.map((_, k) => rts[(k + i) % rts.length]);
  for (let i = 0; i < RUNS + WARMUP; i++) {
    for (const rt of rotate(i)) rounds[rt].push(...await repeatOnce(() => cliRound(rt)));
  }
  const conc = Object.fromEntries(rts.map((rt) => [rt, []]));
  for (let i = 0; i < CONCURRENT_REPS; i++) {
    for (const rt of rotate(i)) conc[rt].push(...await repeatOnce(() => concurrentRound(rt)));
  }
  const res = {};
  for (const rt of rts) {
    const kept = rounds[rt].slice(WARMUP);
    res[rt] = { concurrent: median(conc[rt]), runCpu: kept.reduce((a, r) => a + r.runCpu, 0) / kept.length };
    for (const k of ['run', 'create', 'state', 'start', 'exec', 'kill', 'delete', 'rss']) res[rt][k] = median(kept.map((r) => r[k]));
    res[rt].maxRss = cliMaxRssKb(rt);
  }
  return res;
}

/** fn's result in a one-element array; a failure is logged, cleaned up and retried (bounded). */
async function repeatOnce(fn) {
  for (let failed = 0; ; failed++) {
    try {
      return [await fn()];
    } catch (e) {
      failures.push(String(e instanceof Error ? e.message : e).split('\n').slice(0, 2).join(' ').replace(/\s+/g, ' ').slice(0, 300));
      if (failed >= MAX_FAILURES) throw e;
      await cleanupContainers();
    }
  }
}

/** Peak RSS (kB) of one CLI call (`state` of a missing container, then `run`), from GNU time; undefined without it. */
function cliMaxRssKb(rt) {
  if (!fs.existsSync('/usr/bin/time')) return undefined;
  const peak = (args) => {
    const f = path.join(WORK, `time.${process.pid}`);
    spawnSync('/usr/bin/time', ['-o', f, '-f', '%M', CLIS[rt].bin, '--root', roots[rt], ...args], { stdio: 'ignore' });
    return Number(fs.readFileSync(f, 'utf8').trim().split('\n').pop());
  };
  const id = newId(rt);
  const run = peak(['run', '--bundle', BUNDLE, id]);
  cli(rt, ['delete', '--force', id]);
  return { state: peak(['state', 'capsa-bench-missing']), run };
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
  {
    const id = newId('lib');
    const c = await runtime.create(id, { bundle: BUNDLE, spec, stdio });
    try { res.state = median(await repeat(RUNS, () => time(async () => runtime.state(id)), async () => {})); } finally { await c.delete({ force: true }); }
  }
  {
    const id = newId('lib');
    const c = await runtime.create(id, { bundle: SLEEPER, spec: benchSpec(['/bin/testinit', 'sleep', 'forever']), stdio });
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

/** Start floors, wall and CPU: each CLI's --version, node -e 0 (as called and without NODE_EXTRA_CA_CERTS). */
function floors(available) {
  const n = Math.max(RUNS, 3);
  const t = (cmd, args, env = process.env) => {
    const kids0 = childrenCpuMs();
    const wall = median(Array.from({ length: n }, () => {
      const s = process.hrtime.bigint();
      spawnSync(cmd, args, { stdio: 'ignore', env });
      return Number(process.hrtime.bigint() - s) / 1e6;
    }));
    return { wall, cpu: (childrenCpuMs() - kids0) / n };
  };
  const noCa = { ...process.env };
  delete noCa.NODE_EXTRA_CA_CERTS;
  const out = { 'node -e 0': t(process.execPath, ['-e', '0']) };
  if (process.env.NODE_EXTRA_CA_CERTS) out['node -e 0 (no NODE_EXTRA_CA_CERTS)'] = t(process.execPath, ['-e', '0'], noCa);
  for (const rt of available) out[`${rt} --version`] = t(CLIS[rt].bin, ['--version']);
  return out;
}

/** dist/capsa's size, its first run with the file out of the page cache (dd iflag=nocache), and the caches it writes. */
function firstRun() {
  const size = fs.statSync(CAPSA).size;
  const cacheDir = path.join(repo, 'dist', '.cache');
  const cacheBytes = () => (fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).reduce((a, f) => a + fs.statSync(path.join(cacheDir, f)).size, 0) : 0);
  const before = cacheBytes();
  const time = () => { const s = process.hrtime.bigint(); spawnSync(CAPSA, ['--version'], { stdio: 'ignore' }); return Number(process.hrtime.bigint() - s) / 1e6; };
  const cold = median(Array.from({ length: quick ? 1 : 5 }, () => {
    spawnSync('dd', [`if=${CAPSA}`, 'iflag=nocache', 'count=0', 'status=none']);
    return time();
  }));
  return { size, cold, warm: time(), cacheBytes: capsaKind === 'node' ? before : 0 };
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

/**
 * Force-deletes every bench container of every runtime. Synchronous (the
 * library's containers too, through the CLI on the same state root): run
 * from a signal handler, nothing of the bench resumes until it is done.
 */
function cleanupContainers() {
  for (const rt of Object.keys(CLIS)) {
    if (!roots[rt] || !fs.existsSync(roots[rt]) || !which(CLIS[rt].bin)) continue;
    for (const id of fs.readdirSync(roots[rt]).filter((n) => n.startsWith('capsa-bench-'))) cli(rt, ['delete', '--force', id]);
  }
  if (roots.lib && fs.existsSync(roots.lib)) {
    for (const id of fs.readdirSync(roots.lib).filter((n) => n.startsWith('capsa-bench-'))) {
      spawnSync(CAPSA, ['--root', roots.lib, 'delete', '--force', id], { stdio: 'ignore' });
    }
  }
}

function cleanup() {
  try {
    cleanupContainers();
  } finally {
    // What `delete --force` could not find: a runtime interrupted mid-create
    // leaves a cgroup (and its init) without a state dir. Also an earlier,
    // killed bench run's (its pid is dead).
    const left = removeCgroupTrees(benchCgroups('capsa-bench-'));
    if (left.length) process.stderr.write(`bench: cgroups that would not go: ${left.slice(0, 5).join(', ')}${left.length > 5 ? ` and ${left.length - 5} more` : ''}\n`);
    fs.rmSync(WORK, { recursive: true, force: true });
  }
}

/** Runs cleanup() once: at the end, or on SIGINT/SIGTERM/SIGHUP (then exits 128+signal). */
const cleanupOnce = cleanupOnExit(cleanup);

// ---------- table ----------

const fmt = (v, digits = 1) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));

function table(results, unavailable, floor, first) {
  const cols = [['capsa', `capsa CLI (${capsaKind})`], ['capsa-node', 'capsa CLI on Node'], ['lib', 'capsa library'], ['runc', 'runc'], ['crun', 'crun']];
  const rows = [
    ['run (ms)', 'run', 1],
    ['run, CPU user+sys (ms, mean)', 'runCpu', 1],
    ['create (ms)', 'create', 1],
    ['state (ms)', 'state', 1],
    ['start (ms)', 'start', 1],
    ['exec (ms)', 'exec', 1],
    ['kill (ms)', 'kill', 1],
    ['delete (ms)', 'delete', 1],
    ['waiting-init RSS (MB)', 'rss', 2],
    ['CLI peak RSS, state (MB)', 'maxRssState', 1],
    ['CLI peak RSS, run (MB)', 'maxRssRun', 1],
    [`${CONCURRENT} concurrent run, wall (ms)`, 'concurrent', 0],
  ];
  const value = (col, key) => {
    const r = results[col];
    if (!r) return undefined;
    if (key === 'maxRssState') return r.maxRss?.state;
    if (key === 'maxRssRun') return r.maxRss?.run;
    return r[key];
  };
  const cell = (col, key, d) => {
    if (unavailable[col]) return 'unavailable';
    const v = value(col, key);
    return ['rss', 'maxRssState', 'maxRssRun'].includes(key) ? fmt(v / 1024, d) : fmt(v, d);
  };
  const ratio = (a, b, key) => {
    const x = value(a, key);
    const y = value(b, key);
    return unavailable[a] || unavailable[b] || !x || !y ? '–' : (x / y).toFixed(2);
  };
  const lines = [];
  const head = ['', ...cols.map((c) => c[1]), 'capsa/runc', 'capsa/crun', 'library/crun'];
  lines.push(head);
  for (const [label, key, d] of rows) {
    lines.push([label, ...cols.map(([col]) => cell(col, key, d)), ratio('capsa', 'runc', key), ratio('capsa', 'crun', key), ratio('lib', 'crun', key)]);
  }
  const widths = head.map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
  const render = (l) => l.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  const out = [];
  out.push(`capsa bench — ${quick ? 'QUICK (2 runs, numbers not meaningful)' : `medians of ${RUNS} runs (${WARMUP} warm-up)`}, CLIs interleaved; /bin/true-like container (static testinit true)`);
  out.push(`host: ${os.release()} ${os.cpus().length} cpu, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, node ${process.version}; environment: NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set (as engines here call the CLIs; the Node launcher unsets it itself)' : 'not set'}`);
  if (process.env.CAPSA_BENCH_V1_VIEW) out.push(`cgroups: v1 only for every runtime — this hybrid host's cgroup2 mount (${process.env.CAPSA_BENCH_V1_VIEW}) is hidden in a private mount namespace so crun runs`);
  out.push(render(lines[0]));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines.slice(1)) out.push(render(l));
  out.push(`floors (ms, wall / CPU): ${Object.entries(floor).map(([k, v]) => `${k} ${fmt(v.wall)} / ${fmt(v.cpu)}`).join('; ')}`);
  out.push(`dist/capsa (${capsaKind}): ${fmt(first.size / 1048576)} MB; --version from a cold page cache ${fmt(first.cold)} ms, then ${fmt(first.warm)} ms; caches written: ${capsaKind === 'compiled' ? 'none' : `V8 code caches in dist/.cache (${fmt(first.cacheBytes / 1024, 0)} KB, one per verb, on its first run)`}`);
  for (const [col, why] of Object.entries(unavailable)) if (why) out.push(`${CLIS[col]?.label ?? col} unavailable: ${why}`);
  if (failures.length) out.push(`${failures.length} failed iteration(s), retried (not in the medians):\n  ${[...new Set(failures)].slice(0, 8).join('\n  ')}`);
  out.push('ratios < 1 mean capsa is faster (smaller, for RSS); CLI times include spawning the CLI from this process.');
  return out.join('\n');
}

// ---------- main ----------

let exitCode = 0;
try {
  writeBundle();
  for (const rt of ['capsa', 'capsa-node', 'runc', 'crun', 'lib']) roots[rt] = path.join(WORK, `root-${rt}`);
  const unavailable = {};
  for (const rt of ['capsa', 'capsa-node', 'runc', 'crun']) unavailable[rt] = probe(rt);
  if (capsaKind === 'node') unavailable['capsa-node'] = 'dist/capsa is the Node launcher itself';
  const hidden = cgroup2BesideV1();
  if (unavailable.crun && /hybrid mode/.test(unavailable.crun) && hidden && !process.env.CAPSA_BENCH_V1_VIEW && !argv.includes('--hybrid')) {
    // crun 1.8 will not run on a hybrid host. Re-run the whole bench, every
    // runtime alike, in a private mount namespace without the cgroup2 mount:
    // there the host looks like plain cgroup v1 and crun runs.
    process.stderr.write(`bench: crun refuses this hybrid host; re-running every runtime in a private mount namespace without ${hidden} (v1 only; --hybrid skips this)\n`);
    await cleanupOnce();
    // The re-run cleans up after itself; a signal sent to this process is
    // passed on to it, and this one waits for it to finish.
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'umount "$0" && exec "$@"', hidden, process.execPath, new URL(import.meta.url).pathname, ...argv],
      { stdio: 'inherit', env: { ...process.env, CAPSA_BENCH_V1_VIEW: hidden } });
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
      process.removeAllListeners(sig);
      process.on(sig, () => { try { child.kill(sig); } catch { /* gone */ } });
    }
    const status = await new Promise((resolve) => {
      child.on('error', () => resolve(1));
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + os.constants.signals[signal] : 1)));
    });
    process.exit(status);
  }
  if (unavailable.capsa) throw new Error(`capsa itself cannot run the bench container: ${unavailable.capsa}`);
  const clis = ['capsa', 'capsa-node', 'runc', 'crun'].filter((rt) => !unavailable[rt]);
  process.stderr.write(`bench: ${clis.map((rt) => CLIS[rt].label).join(', ')}, interleaved…\n`);
  const results = await benchClis(clis);
  process.stderr.write('bench: capsa library…\n');
  results.lib = await benchLib();
  const floor = floors(clis);
  const first = firstRun();
  process.stdout.write(table(results, unavailable, floor, first) + '\n');
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? e.stack : e}\n`);
  exitCode = 1;
} finally {
  await cleanupOnce();
}
process.exitCode = exitCode;
