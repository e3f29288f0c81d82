#!/usr/bin/env node
// Wall time of whole container runs through real engines, runtimes side by
// side in the same run, and the memory of the shims that serve them:
//   ctr     `ctr run --rm IMAGE ID /bin/true`: capsa's shim (containerd-shim-capsa-v2),
//           containerd's runc shim + runc, and the runc shim + the capsa CLI;
//   exec    `ctr task exec` of /bin/true into a running task (an exec probe's cost):
//           capsa's shim vs the runc shim + runc (+ runc shim + capsa CLI); and the
//           shims' own part of it: Exec, Start, Wait, Delete sent straight to each
//           shim over ttrpc (no ctr, no containerd, no stdio);
// "runc" is the host's runc as containerd runs it by default; "runc-logged" and
// "capsa-cli" go through the logging wrapper (a bash script, several ms a call)
// that splits the time by runtime call in the last table. Ratios are to "runc".
//   cri     a CRI pod sandbox + one container started, then stopped and removed
//           (runtime handler capsa = io.containerd.capsa.v2 vs runc);
//   podman  `podman run --rm IMAGE true`: capsa CLI vs runc;
//   memory  RSS / PSS / private memory of one shim serving 1 and 10 tasks, and of
//           all shims serving 20 pods (one shim per pod vs capsa's shared mode);
//           the Go runc shim measured the same way.
// Runs alternate between runtimes after warm-up runs; prints median, min and
// p90 and how many runs failed (a failed run is not counted in the times).
// Every run starts once no spare shim is booting (see settled()); the spares'
// CPU is printed on its own line.
//
// Usage (as root, after `npm run build`):
//   node scripts/bench-engines.mjs [--runs N] [--warmup N] [--engines ctr,exec,cri,podman,memory]
// Uses the engine test helpers (build/test/helpers/engines): private
// containerds and podman storage under /tmp/capsa-test-engines-<pid>,
// removed at the end.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { cleanupOnExit, interrupted, removeCgroupTrees } from './bench-cleanup.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const helpers = (name) => require(path.join(repo, 'build', 'test', 'helpers', 'engines', `${name}.js`));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('runs', '15'));
const WARMUP = Number(opt('warmup', '2'));
const ENGINES = opt('engines', 'ctr,exec,cri,podman,memory').split(',');
if (!(RUNS >= 10)) {
  console.error('bench-engines: --runs must be at least 10');
  process.exit(2);
}

const common = helpers('common');
const { startContainerd, importImage } = helpers('containerd');
const { makePodman, loadImage, resetPodman } = helpers('podman');
const { buildTestImage, CTR_IMAGE, PODMAN_IMAGE } = helpers('image');
const { SHIM_DIST, shimBuilt, shimPids, shimRoot, shimSparePid, stopSpare, taskClient } = helpers('shim');
const cri = helpers('cri');

const why = common.capsaBuilt() || shimBuilt() || (await common.ensureEngines());
if (why) {
  console.error(`bench-engines: ${why}`);
  process.exit(1);
}

const sb = common.sandbox();
// The logging wrappers (a bash script in front of each runtime binary, a few
// ms for both alike) let the table below split the time by runtime call.
let cd;
let criCd;
let criClient;
const podmen = {};
let seq = 0;

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
  return s.length ? { median: at(0.5), min: s[0], p90: at(0.9) } : undefined;
}

async function cleanupAll() {
  criClient?.close();
  for (const c of [cd, criCd]) {
    if (!c) continue;
    await c.stop();
    try { fs.rmdirSync(c.runtimeRoot); } catch { /* absent */ }
    try { fs.rmdirSync(shimRoot(c.namespace)); } catch { /* absent */ }
  }
  for (const p of Object.values(podmen)) await resetPodman(p).catch(() => {});
  await stopSpare();
  // Whatever a stopped containerd left: a task's processes and cgroups.
  const left = removeCgroupTrees(common.cgroupsContaining(sb.mark));
  if (left.length) console.error(`bench-engines: cgroups that would not go: ${left.join(', ')}`);
  common.removeTree(sb.dir);
}
/** cleanupAll() once: at the end, or on SIGINT/SIGTERM/SIGHUP (then exits 128+signal). */
const cleanupOnce = cleanupOnExit(cleanupAll);

/**
 * After a signal the cleanup (async: containerd's clients) runs beside the
 * bench's own flow: from then on that flow may not start anything, so every
 * ctr call through cd fails at once and timeRuns stops.
 */
function guard(c) {
  const ctr = c.ctr;
  c.ctr = (...a) => (interrupted() ? Promise.reject(new Error('bench-engines: interrupted')) : ctr(...a));
}

const SHIM_LAUNCHER = path.join(path.dirname(SHIM_DIST), 'containerd-shim-capsa-v2.cjs');
/** Spare shims of this build still booting or warming up (src/shim/spare.ts), not yet announced. */
function sparesBooting() {
  const ready = shimSparePid();
  const pids = new Set([...common.pidsMatching(SHIM_LAUNCHER, '-spare'), ...common.pidsMatching('containerd-shim-capsa-v2 spare')]);
  return [...pids].filter((p) => p !== ready && common.alive(p));
}
/** CPU (user + system, ms) of each spare from its start to its announcement. */
const spareCpuMs = [];
const ticks = Number(process.env.CLK_TCK ?? 100);
function cpuMsOf(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').slice(0).split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / ticks;
}
/**
 * Waits until no spare shim is booting. A capsa shim run leaves the next
 * spare booting (at nice 19) behind it; without this, that boot would run
 * during the next measured run, usually another runtime's, and slow it:
 * every run starts on a settled machine. What the spares cost is reported
 * as their CPU time instead.
 */
async function settled() {
  const booting = sparesBooting();
  if (!booting.length) return;
  await common.until('the spare shim to finish booting', () => (sparesBooting().length ? undefined : true), 10_000).catch(() => {});
  const ready = shimSparePid();
  if (ready !== undefined && booting.includes(ready)) {
    try { spareCpuMs.push(cpuMsOf(ready)); } catch { /* taken meanwhile */ }
  }
}

/** Runs op(rt) RUNS times per runtime, alternating (the order rotates), after WARMUP rounds; each run starts settled(). */
async function timeRuns(engine, runtimes, op) {
  const times = Object.fromEntries(runtimes.map((rt) => [rt, []]));
  const failures = Object.fromEntries(runtimes.map((rt) => [rt, []]));
  for (let i = 0; i < WARMUP; i++) for (const rt of runtimes) { await settled(); await op(rt); }
  for (let i = 0; i < RUNS; i++) {
    const order = runtimes.map((_, k) => runtimes[(k + i) % runtimes.length]);
    for (const rt of order) {
      if (interrupted()) throw new Error('bench-engines: interrupted');
      await settled();
      const started = process.hrtime.bigint();
      const r = await op(rt);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (r.code === 0) times[rt].push(ms);
      else failures[rt].push((r.stderr || r.stdout || '').trim().split('\n').pop());
    }
    process.stderr.write('.');
  }
  return runtimes.map((rt) => ({ engine, runtime: rt, runs: RUNS, failed: failures[rt].length, firstFailure: failures[rt][0], ...stats(times[rt]) }));
}

/** smaps_rollup of a pid: RSS, PSS and private (clean + dirty), in kB. */
function memoryOf(pid) {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { rss: kb('Rss'), pss: kb('Pss'), priv: kb('Private_Clean') + kb('Private_Dirty') };
}
const sum = (list) => list.reduce((a, m) => ({ rss: a.rss + m.rss, pss: a.pss + m.pss, priv: a.priv + m.priv }), { rss: 0, pss: 0, priv: 0 });
const runcShimPids = (c) => common.pidsMatching('containerd-shim-runc-v2', c.address).filter(common.alive);

const results = [];
const memRows = [];
let allCalls = [];
try {
  const image = buildTestImage(sb.dir);
  const needCtr = ENGINES.some((e) => ['ctr', 'exec', 'memory'].includes(e));
  if (needCtr) {
    cd = await startContainerd(sb, { name: 'containerd-bench' });
    guard(cd);
    await importImage(cd, image.archive);
  }
  const runtimeFlags = { 'capsa-shim': ['--runtime', SHIM_DIST], runc: [], 'runc-logged': ['--runc-binary', sb.runc], 'capsa-cli': ['--runc-binary', sb.capsa] };
  const label = {
    ctr: 'ctr run --rm IMAGE ID /bin/true', exec: 'ctr task exec ID /bin/true (running task)',
    'exec-shim': 'the shim\'s own part of an exec: ttrpc Exec + Start + Wait + Delete (no stdio)', cri: 'CRI: RunPodSandbox + Create/StartContainer, then Stop/Remove both',
    podman: 'podman run --rm IMAGE true',
  };

  if (ENGINES.includes('ctr')) {
    results.push(...await timeRuns('ctr', ['capsa-shim', 'runc', 'runc-logged', 'capsa-cli'], (rt) =>
      cd.ctr(['run', '--rm', ...runtimeFlags[rt], CTR_IMAGE, `bench-${rt}-${seq++}`, '/bin/true'], { timeoutMs: 60_000 })));
  }

  if (ENGINES.includes('exec')) {
    const rts = ['capsa-shim', 'runc', 'runc-logged', 'capsa-cli'];
    for (const rt of rts) {
      const r = await cd.ctr(['run', '-d', ...runtimeFlags[rt], CTR_IMAGE, `bench-exec-${rt}`, '/bin/testinit', 'sleep', 'forever'], { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`exec bench: cannot start the ${rt} task: ${common.describe(r)}`);
    }
    results.push(...await timeRuns('exec', rts, (rt) => cd.ctr(['task', 'exec', '--exec-id', `x${seq++}`, `bench-exec-${rt}`, '/bin/true'], { timeoutMs: 60_000 })));
    // The shims alone: what containerd asks of a shim for one exec, sent straight to it.
    const shims = {};
    try {
      for (const rt of ['capsa-shim', 'runc']) shims[rt] = await taskClient(cd, `bench-exec-${rt}`);
      const spec = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify({ args: ['/bin/true'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } })) };
      results.push(...await timeRuns('exec-shim', ['capsa-shim', 'runc'], async (rt) => {
        const s = shims[rt];
        const id = `bench-exec-${rt}`;
        const execId = `d${seq++}`;
        try {
          await s.call('Exec', s.T.ExecProcessRequest, s.T.StartResponse, { id, execId, spec });
          const waited = s.call('Wait', s.T.WaitRequest, s.T.WaitResponse, { id, execId });
          await s.call('Start', s.T.StartRequest, s.T.StartResponse, { id, execId });
          const w = await waited;
          await s.call('Delete', s.T.DeleteRequest, s.T.DeleteResponse, { id, execId });
          return { code: w.exitStatus ? 1 : 0, stderr: `exit status ${w.exitStatus}` };
        } catch (e) {
          return { code: 1, stderr: String(e.message ?? e) };
        }
      }));
    } finally {
      for (const s of Object.values(shims)) s.close();
    }
    for (const rt of rts) {
      await cd.ctr(['task', 'kill', '-s', 'SIGKILL', `bench-exec-${rt}`]);
      await common.sleep(300);
      await cd.ctr(['task', 'delete', '--force', `bench-exec-${rt}`]);
      await cd.ctr(['containers', 'rm', `bench-exec-${rt}`]);
    }
  }

  if (ENGINES.includes('memory')) {
    const start = async (id, rt, extra = []) => {
      const r = await cd.ctr(['run', '-d', ...runtimeFlags[rt], ...extra, CTR_IMAGE, id, '/bin/testinit', 'sleep', 'forever'], { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`memory bench: ${common.describe(r)}`);
    };
    const removeAll = async (ids) => {
      for (const id of ids) await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
      await common.sleep(500);
      for (const id of ids) { await cd.ctr(['task', 'delete', '--force', id]); await cd.ctr(['containers', 'rm', id]); }
      await common.until('shims to exit', () => (shimPids(cd).length + runcShimPids(cd).length ? undefined : true), 10_000).catch(() => {});
    };
    const settle = () => common.sleep(1500);
    const sharedConfig = path.join(sb.dir, 'shim-shared.toml');
    fs.writeFileSync(sharedConfig, 'mode = "shared"\n');
    // one shim with 1, then 10 tasks (one group)
    for (const [rt, pidsOf, group] of [['capsa-shim', () => shimPids(cd), 'io.containerd.capsa.v2.group'], ['runc', () => runcShimPids(cd), 'io.containerd.runc.v2.group']]) {
      const ids = [];
      for (let n = 1; n <= 10; n++) {
        const id = `bench-mem-${rt}-${n}`;
        ids.push(id);
        await start(id, rt, ['--annotation', `${group}=bench-one`]);
        if (n === 1 || n === 10) {
          await settle();
          const pids = pidsOf();
          memRows.push({ what: `one shim, ${n} task${n > 1 ? 's' : ''}`, runtime: rt, shims: pids.length, ...sum(pids.map(memoryOf)) });
        }
      }
      await removeAll(ids);
    }
    // 20 pods: one shim per pod (capsa, runc), and capsa's shared mode
    for (const [rt, mode, pidsOf, group] of [
      ['capsa-shim', 'per pod', () => shimPids(cd), 'io.containerd.capsa.v2.group'],
      ['capsa-shim', 'shared', () => shimPids(cd), 'io.containerd.capsa.v2.group'],
      ['runc', 'per pod', () => runcShimPids(cd), 'io.containerd.runc.v2.group'],
    ]) {
      const ids = [];
      for (let n = 0; n < 20; n++) {
        const id = `bench-pod-${rt}-${mode.replace(' ', '')}-${n}`;
        ids.push(id);
        await start(id, rt, ['--annotation', `${group}=pod-${n}`, ...(mode === 'shared' ? ['--runtime-config-path', sharedConfig] : [])]);
      }
      await settle();
      const pids = pidsOf();
      memRows.push({ what: `20 pods, ${mode}`, runtime: rt, shims: pids.length, ...sum(pids.map(memoryOf)) });
      const spare = rt === 'capsa-shim' ? shimSparePid() : undefined;
      if (spare !== undefined && mode === 'per pod') memRows.push({ what: 'the waiting spare shim (one per install)', runtime: rt, shims: 1, ...memoryOf(spare) });
      await removeAll(ids);
    }
  }

  if (ENGINES.includes('cri')) {
    const dir = path.join(sb.dir, 'containerd-bench-cri');
    fs.mkdirSync(path.join(dir, 'cni', 'bin'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'cni', 'net.d'), { recursive: true });
    const p = 'plugins."io.containerd.grpc.v1.cri"';
    // containerd 1.6's CRI finds the shim by name on its PATH (runtime_path came with 1.7).
    fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
    fs.symlinkSync(SHIM_DIST, path.join(dir, 'bin', 'containerd-shim-capsa-v2'));
    criCd = await startContainerd(sb, {
      pathPrefix: [path.join(dir, 'bin')],
      name: 'containerd-bench-cri', namespace: 'k8s.io', cri: true, extraConfig: [
        `[${p}]`, `  sandbox_image = "${CTR_IMAGE}"`, '  enable_selinux = false', '  disable_apparmor = true', '  restrict_oom_score_adj = true',
        '  stream_server_address = "127.0.0.1"', '  stream_server_port = "0"',
        `[${p}.containerd]`, '  snapshotter = "overlayfs"', '  default_runtime_name = "runc"',
        `[${p}.containerd.runtimes.runc]`, '  runtime_type = "io.containerd.runc.v2"',
        `[${p}.containerd.runtimes.capsa]`, '  runtime_type = "io.containerd.capsa.v2"',
        `[${p}.cni]`, `  bin_dir = "${dir}/cni/bin"`, `  conf_dir = "${dir}/cni/net.d"`,
      ].join('\n'),
    });
    await importImage(criCd, image.archive, 'k8s.io');
    criClient = new cri.CriClient(criCd.address);
    const logDir = path.join(sb.dir, 'bench-pod-logs');
    fs.mkdirSync(logDir, { recursive: true });
    const handler = { 'capsa-shim': 'capsa', runc: 'runc' };
    results.push(...await timeRuns('cri', ['capsa-shim', 'runc'], async (rt) => {
      const n = seq++;
      const podSpec = { name: `bench-${n}`, uid: `uid-${process.pid}-${n}`, namespace: 'default', logDirectory: path.join(logDir, String(n)), cgroupParent: `/${sb.mark}-bench` };
      fs.mkdirSync(podSpec.logDirectory, { recursive: true });
      const config = cri.podSandboxConfig(podSpec);
      try {
        const podId = cri.getStr(await criClient.runtime('RunPodSandbox', cri.msg(cri.sub(1, config), cri.str(2, handler[rt])), 120_000), 1);
        const c = cri.containerConfig({ name: 'main', image: CTR_IMAGE, command: ['/bin/testinit'], args: ['sleep', 'forever'], logPath: 'main.log' });
        const id = cri.getStr(await criClient.runtime('CreateContainer', cri.msg(cri.str(1, podId), cri.sub(2, c), cri.sub(3, config)), 120_000), 1);
        await criClient.runtime('StartContainer', cri.msg(cri.str(1, id)), 120_000);
        await criClient.runtime('StopContainer', cri.msg(cri.str(1, id), cri.int(2, 0)), 60_000);
        await criClient.runtime('RemoveContainer', cri.msg(cri.str(1, id)), 60_000);
        await criClient.runtime('StopPodSandbox', cri.msg(cri.str(1, podId)), 60_000);
        await criClient.runtime('RemovePodSandbox', cri.msg(cri.str(1, podId)), 60_000);
        return { code: 0 };
      } catch (e) {
        return { code: 1, stderr: String(e.message ?? e) };
      }
    }));
  }

  if (ENGINES.includes('podman')) {
    for (const rt of ['capsa', 'runc']) podmen[rt] = makePodman(sb, { name: 'podman', runtime: sb[rt] });
    await loadImage(podmen.capsa, image.archive);
    results.push(...await timeRuns('podman', ['capsa', 'runc'], (rt) => {
      const p = podmen[rt];
      return p.podman(['run', ...p.runFlags, '--rm', '--network', 'host', '--cgroup-parent', p.cgroupParent, PODMAN_IMAGE, 'true'], { timeoutMs: 60_000 });
    }));
  }

  process.stderr.write('\n');
  const fmt = (v) => (v === undefined ? '-' : `${v.toFixed(0)} ms`);
  console.log(`\nengine × runtime, ${RUNS} runs each after ${WARMUP} warm-up (alternating), wall time of the whole client command\n`);
  console.log('| command | runtime | median | min | p90 | failed runs |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of results) console.log(`| \`${label[r.engine]}\` | ${r.runtime} | ${fmt(r.median)} | ${fmt(r.min)} | ${fmt(r.p90)} | ${r.failed}/${r.runs} |`);
  for (const engine of new Set(results.map((r) => r.engine))) {
    const base = results.find((r) => r.engine === engine && r.runtime === 'runc');
    for (const r of results.filter((x) => x.engine === engine && x.runtime !== 'runc')) {
      if (r.median && base?.median) console.log(`\n${engine}: ${r.runtime} / runc = ×${(r.median / base.median).toFixed(2)} (median ${fmt(r.median)} vs ${fmt(base.median)})`);
    }
  }
  if (spareCpuMs.length) {
    const c = stats(spareCpuMs);
    console.log(`\nspare shims (boot + warm-up at nice 19, off the measured runs): CPU per spare median ${fmt(c.median)}, min ${fmt(c.min)}, p90 ${fmt(c.p90)} (${spareCpuMs.length} spares)`);
  }
  if (memRows.length) {
    const mb = (kb) => `${(kb / 1024).toFixed(1)} MB`;
    console.log('\nshim memory (smaps_rollup, summed over the shim processes)\n');
    console.log('| shims serving | runtime | shim processes | RSS | PSS | private | private per shim |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const m of memRows) console.log(`| ${m.what} | ${m.runtime} | ${m.shims} | ${mb(m.rss)} | ${mb(m.pss)} | ${mb(m.priv)} | ${m.shims ? mb(m.priv / m.shims) : '-'} |`);
  }
} finally {
  allCalls = common.readCalls(sb);
  await cleanupOnce();
}

// Where the time goes for the CLI paths: each runtime call the engines made, by verb.
const byVerb = new Map();
for (const c of allCalls) {
  if (c.ms === undefined) continue;
  const key = `${c.runtime} ${common.verbOf(c.args)}${c.args.includes('--force') ? ' --force' : ''}`;
  if (!byVerb.has(key)) byVerb.set(key, []);
  byVerb.get(key).push(c.ms);
}
if (byVerb.size) {
  const fmt = (v) => (v === undefined ? '-' : `${v.toFixed(0)} ms`);
  console.log('\nruntime CLI calls made through the runc shim and podman (all runs, warm-up included): median wall time per call\n');
  console.log('| call | capsa | runc | calls (capsa/runc) |');
  console.log('| --- | --- | --- | --- |');
  const verbs = [...new Set([...byVerb.keys()].map((k) => k.split(' ').slice(1).join(' ')))].sort();
  for (const v of verbs) {
    const c = stats(byVerb.get(`capsa ${v}`) ?? []);
    const n = stats(byVerb.get(`runc ${v}`) ?? []);
    console.log(`| ${v} | ${fmt(c?.median)} | ${fmt(n?.median)} | ${(byVerb.get(`capsa ${v}`) ?? []).length}/${(byVerb.get(`runc ${v}`) ?? []).length} |`);
  }
}
const failed = results.filter((r) => r.failed);
if (failed.length) {
  console.log('\nfailed runs (not in the times):');
  for (const r of failed) console.log(`  ${r.engine}/${r.runtime}: ${r.failed} — e.g. ${r.firstFailure}`);
}
