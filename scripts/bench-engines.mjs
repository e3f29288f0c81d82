#!/usr/bin/env node
// Wall time of a whole container run through real engines, capsa vs runc in
// the same run: `podman run --rm IMAGE true` and `ctr run --rm IMAGE ID true`.
// Runs alternate between the two runtimes (so drift hits both alike) after
// warm-up runs; prints median, min and p90 per engine × runtime, and how many
// runs failed (a failed run is not counted in the times).
//
// Usage (as root, after `npm run build`):
//   node scripts/bench-engines.mjs [--runs N] [--warmup N] [--engines ctr,podman]
// Uses the engine test helpers (build/test/helpers/engines): a private
// containerd and podman storage under /tmp/capsa-test-engines-<pid>, removed
// at the end. podman runs with --network host (no CNI networks here) and the
// machine's ulimit workaround; both runtimes get the same flags.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

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
const ENGINES = opt('engines', 'podman,ctr').split(',');
if (!(RUNS >= 10)) {
  console.error('bench-engines: --runs must be at least 10');
  process.exit(2);
}

const common = helpers('common');
const { startContainerd, importImage } = helpers('containerd');
const { makePodman, loadImage, resetPodman } = helpers('podman');
const { buildTestImage, CTR_IMAGE, PODMAN_IMAGE } = helpers('image');

const why = common.capsaBuilt() || (await common.ensureEngines());
if (why) {
  console.error(`bench-engines: ${why}`);
  process.exit(1);
}

const sb = common.sandbox();
// The logging wrappers (a bash script in front of each binary, a few ms for
// both alike) let the table below split the time by runtime call.
const runtimes = { capsa: sb.capsa, runc: sb.runc };
let cd;
const podmen = {};
let seq = 0;

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
  return s.length ? { median: at(0.5), min: s[0], p90: at(0.9) } : undefined;
}

async function cleanupAll() {
  if (cd) {
    await cd.stop();
    try { (await import('node:fs')).rmdirSync(cd.runtimeRoot); } catch { /* absent */ }
  }
  for (const p of Object.values(podmen)) await resetPodman(p).catch(() => {});
  common.removeCgroups(common.cgroupsContaining(sb.mark));
  common.removeTree(sb.dir);
}
process.on('SIGINT', () => { void cleanupAll().finally(() => process.exit(130)); });

const results = [];
let allCalls = [];
try {
  const image = buildTestImage(sb.dir);
  const ops = {};
  if (ENGINES.includes('ctr')) {
    cd = await startContainerd(sb);
    await importImage(cd, image.archive);
    ops.ctr = async (rt) => cd.ctr(['run', '--rm', '--runc-binary', runtimes[rt], CTR_IMAGE, `bench-${rt}-${seq++}`, '/bin/true'], { timeoutMs: 60_000 });
  }
  if (ENGINES.includes('podman')) {
    for (const rt of Object.keys(runtimes)) podmen[rt] = makePodman(sb, { name: 'podman', runtime: runtimes[rt] });
    await loadImage(podmen.capsa, image.archive);
    ops.podman = async (rt) => {
      const p = podmen[rt];
      return p.podman(['run', ...p.runFlags, '--rm', '--network', 'host', '--cgroup-parent', p.cgroupParent, PODMAN_IMAGE, 'true'], { timeoutMs: 60_000 });
    };
  }
  for (const [engine, op] of Object.entries(ops)) {
    const times = { capsa: [], runc: [] };
    const failures = { capsa: [], runc: [] };
    for (let i = 0; i < WARMUP; i++) for (const rt of Object.keys(runtimes)) await op(rt);
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 ? ['runc', 'capsa'] : ['capsa', 'runc'];
      for (const rt of order) {
        const started = process.hrtime.bigint();
        const r = await op(rt);
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        if (r.code === 0) times[rt].push(ms);
        else failures[rt].push(r.stderr.trim().split('\n').pop());
      }
      process.stderr.write('.');
    }
    for (const rt of Object.keys(runtimes)) results.push({ engine, runtime: rt, runs: RUNS, failed: failures[rt].length, firstFailure: failures[rt][0], ...stats(times[rt]) });
  }
} finally {
  process.stderr.write('\n');
  allCalls = common.readCalls(sb);
  await cleanupAll();
}

const fmt = (v) => (v === undefined ? '-' : `${v.toFixed(0)} ms`);
const label = { ctr: 'ctr run --rm IMAGE ID /bin/true', podman: 'podman run --rm IMAGE true' };
console.log(`\nengine × runtime, ${RUNS} runs each after ${WARMUP} warm-up (alternating), wall time of the whole client command\n`);
console.log('| command | runtime | median | min | p90 | failed runs |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of results) console.log(`| \`${label[r.engine]}\` | ${r.runtime} | ${fmt(r.median)} | ${fmt(r.min)} | ${fmt(r.p90)} | ${r.failed}/${r.runs} |`);
for (const engine of new Set(results.map((r) => r.engine))) {
  const c = results.find((r) => r.engine === engine && r.runtime === 'capsa');
  const n = results.find((r) => r.engine === engine && r.runtime === 'runc');
  if (c?.median && n?.median) console.log(`\n${engine}: capsa − runc = ${(c.median - n.median).toFixed(0)} ms per run (median), ×${(c.median / n.median).toFixed(2)}`);
}
// Where the time goes: each runtime call the engines made, by verb.
const byVerb = new Map();
for (const c of allCalls) {
  if (c.ms === undefined) continue;
  const key = `${c.runtime} ${common.verbOf(c.args)}${c.args.includes('--force') ? ' --force' : ''}`;
  if (!byVerb.has(key)) byVerb.set(key, []);
  byVerb.get(key).push(c.ms);
}
console.log('\nruntime calls made by the engines (all runs, warm-up included): median wall time per call\n');
console.log('| call | capsa | runc | calls (capsa/runc) |');
console.log('| --- | --- | --- | --- |');
const verbs = [...new Set([...byVerb.keys()].map((k) => k.split(' ').slice(1).join(' ')))].sort();
for (const v of verbs) {
  const c = stats(byVerb.get(`capsa ${v}`) ?? []);
  const n = stats(byVerb.get(`runc ${v}`) ?? []);
  console.log(`| ${v} | ${fmt(c?.median)} | ${fmt(n?.median)} | ${(byVerb.get(`capsa ${v}`) ?? []).length}/${(byVerb.get(`runc ${v}`) ?? []).length} |`);
}
const failed = results.filter((r) => r.failed);
if (failed.length) {
  console.log('\nfailed runs (not in the times):');
  for (const r of failed) console.log(`  ${r.engine}/${r.runtime}: ${r.failed} — e.g. ${r.firstFailure}`);
}
