#!/usr/bin/env node
// Soak: N sequential create/start/wait/delete cycles through the library
// (one long-lived process, as an engine embedding capsa would be), printing
// at 0, N/2 and N: this process's RSS, heap and open fds, the host's mount
// count and cgroup dir count, and what is left of the soak's containers.
// "0" is taken after a 50-cycle warm-up (module loading, JIT and malloc
// arenas filling up are not leaks).
// Exits 1 when anything grows beyond a small slack.
//
// usage: node scripts/soak.mjs [N=1000]      (needs root and a built tree:
//        dist/index.cjs and build/Release/capsa-testinit)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

// Heap figures need a collection before each reading.
if (typeof globalThis.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { Runtime, defaultSpec } = require(path.join(REPO, 'dist', 'index.cjs'));

const N = Number(process.argv[2] ?? 1000);
if (!Number.isInteger(N) || N < 2) {
  process.stderr.write('usage: node scripts/soak.mjs [N>=2]\n');
  process.exit(2);
}
const WARMUP = 50;
// Allowed growth. RSS grows in steps for the first couple of hundred cycles
// (malloc arenas, V8 pages; measured here: +25-35 MB, then flat), so it is
// held to a loose bound overall and a tighter one over the second half, where
// a per-cycle leak shows as steady growth. The heap (after full GCs) and fds
// are exact measures and get little slack. Host-wide mount and cgroup counts
// get SOAK_HOST_SLACK (default 2): on a machine where others run containers
// at the same time they move on their own.
const SLACK = { rssMB: 48, rssSecondHalfMB: 16, heapMB: 4, fds: 2, host: Number(process.env.SOAK_HOST_SLACK ?? 2) };

const TAG = `capsa-test-soak-${process.pid}`;
const root = `/tmp/capsa-test-root-${TAG}`;
const work = fs.mkdtempSync(`/tmp/${TAG}-`);
const rootfs = path.join(work, 'rootfs');
const bundle = path.join(work, 'bundle');

function makeRootfs() {
  const testinit = path.join(REPO, 'build', 'Release', 'capsa-testinit');
  if (!fs.existsSync(testinit)) throw new Error(`${testinit} is missing: run npx node-gyp build`);
  for (const d of ['bin', 'dev', 'proc', 'sys', 'etc', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync(testinit, path.join(rootfs, 'bin', 'testinit'));
  fs.chmodSync(path.join(rootfs, 'bin', 'testinit'), 0o755);
  fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  fs.mkdirSync(bundle);
  const spec = defaultSpec();
  spec.root = { path: rootfs };
  spec.process = { ...spec.process, terminal: false, args: ['/bin/testinit', 'true'] };
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
}

function countCgroupDirs(match) {
  let n = 0;
  const walk = (dir, depth) => {
    if (depth > 5) return;
    let entries;
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      if (match(e.name)) n++;
      walk(path.join(dir, e.name), depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 1);
  return n;
}

function liveContainerProcesses() {
  let n = 0;
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'latin1');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if ((comm === 'capsa-init' || comm === 'testinit') && state !== 'Z' && fs.readFileSync(`/proc/${e}/cgroup`, 'utf8').includes(TAG)) n++;
    } catch { /* gone */ }
  }
  return n;
}

function measure(cycle) {
  globalThis.gc();
  globalThis.gc();
  const mem = process.memoryUsage();
  const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  return {
    cycle,
    rssMB: mem.rss / 1048576,
    heapMB: mem.heapUsed / 1048576,
    externalMB: (mem.external + mem.arrayBuffers) / 1048576,
    fds: fs.readdirSync('/proc/self/fd').length,
    mounts: mountinfo.length,
    soakMounts: mountinfo.filter((l) => l.includes(TAG)).length,
    cgroupDirs: countCgroupDirs(() => true),
    soakCgroups: countCgroupDirs((name) => name.includes(TAG)),
    stateDirs: fs.existsSync(root) ? fs.readdirSync(root).length : 0,
    procs: liveContainerProcesses(),
  };
}

function show(m) {
  process.stdout.write(
    `soak: cycle ${String(m.cycle).padStart(String(N).length)}/${N}: rss ${m.rssMB.toFixed(1)} MB, heap ${m.heapMB.toFixed(1)} MB, external ${m.externalMB.toFixed(1)} MB, fds ${m.fds}, ` +
    `mounts ${m.mounts} (soak ${m.soakMounts}), cgroup dirs ${m.cgroupDirs} (soak ${m.soakCgroups}), state dirs ${m.stateDirs}, container processes ${m.procs}\n`,
  );
}

const rt = new Runtime({ root });
let seq = 0;
async function cycle() {
  const id = `${TAG}-${seq++}`;
  const c = await rt.create(id, { bundle, stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    await c.start();
    const { exitCode } = await c.wait();
    if (exitCode !== null && exitCode !== 0) throw new Error(`${id} exited ${exitCode}`);
  } finally {
    await rt.delete(id, { force: true });
  }
}

// A failing cycle is counted and reported, and the soak goes on, so the
// figures are still printed.
const cycleErrors = [];
async function countedCycle(i) {
  try {
    await cycle();
  } catch (e) {
    cycleErrors.push(`cycle ${i}: ${e?.message ?? e}`);
  }
}

let failed = false;
const started = Date.now();
try {
  makeRootfs();
  for (let i = 0; i < WARMUP; i++) await countedCycle(i - WARMUP);
  const points = [];
  const checkpoints = new Set([0, Math.floor(N / 2), N]);
  for (let i = 0; ; i++) {
    if (checkpoints.has(i)) {
      const m = measure(i);
      points.push(m);
      show(m);
    }
    if (i === N) break;
    await countedCycle(i);
  }
  const [first, mid, last] = points;
  const problems = [];
  if (cycleErrors.length) problems.push(`${cycleErrors.length} of ${N + WARMUP} cycles failed:`, ...cycleErrors.slice(0, 10).map((e) => `  ${e}`));
  if (last.rssMB - first.rssMB > SLACK.rssMB) problems.push(`rss grew ${(last.rssMB - first.rssMB).toFixed(1)} MB (slack ${SLACK.rssMB} MB)`);
  if (last.rssMB - mid.rssMB > SLACK.rssSecondHalfMB) problems.push(`rss grew ${(last.rssMB - mid.rssMB).toFixed(1)} MB over the second half (slack ${SLACK.rssSecondHalfMB} MB)`);
  if (last.heapMB - first.heapMB > SLACK.heapMB) problems.push(`heap grew ${(last.heapMB - first.heapMB).toFixed(1)} MB (slack ${SLACK.heapMB} MB)`);
  if (last.fds - first.fds > SLACK.fds) problems.push(`fds grew from ${first.fds} to ${last.fds}`);
  for (const m of points) {
    if (m.soakMounts) problems.push(`cycle ${m.cycle}: ${m.soakMounts} mounts of the soak's containers`);
    if (m.soakCgroups) problems.push(`cycle ${m.cycle}: ${m.soakCgroups} cgroup dirs of the soak's containers`);
    if (m.stateDirs) problems.push(`cycle ${m.cycle}: ${m.stateDirs} state dirs left`);
    if (m.procs) problems.push(`cycle ${m.cycle}: ${m.procs} container processes alive`);
  }
  // Host-wide counts.
  if (last.mounts - first.mounts > SLACK.host) problems.push(`host mounts grew from ${first.mounts} to ${last.mounts}`);
  if (last.cgroupDirs - first.cgroupDirs > SLACK.host) problems.push(`host cgroup dirs grew from ${first.cgroupDirs} to ${last.cgroupDirs}`);
  const secs = (Date.now() - started) / 1000;
  process.stdout.write(`soak: ${N} cycles (+${WARMUP} warm-up) in ${secs.toFixed(1)} s, ${((secs * 1000) / (N + WARMUP)).toFixed(0)} ms per cycle\n`);
  if (problems.length) {
    failed = true;
    process.stdout.write(`soak: FAIL\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  } else {
    process.stdout.write('soak: OK\n');
  }
} catch (e) {
  failed = true;
  process.stdout.write(`soak: FAIL: ${e?.stack ?? e}\n`);
} finally {
  for (const id of fs.existsSync(root) ? fs.readdirSync(root) : []) await rt.delete(id, { force: true }).catch(() => {});
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
