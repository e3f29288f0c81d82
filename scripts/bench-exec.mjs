#!/usr/bin/env node
// Time of `exec /bin/testinit true` into a running container: capsa beside
// runc, same rootfs, same config, same machine, interleaved runs.
// Usage (root, after the build): node scripts/bench-exec.mjs [N=20]
// Prints the median (and p10/p90, min) wall time of N runs each, after 3
// warm-up runs, and `capsa --version` as the Node start-up floor.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchCgroups, cleanupOnExit, removeCgroupTrees } from './bench-cleanup.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { makeTestRootfs } = require(join(repo, 'build/test/helpers/rootfs.js'));
const { defaultSpec } = require(join(repo, 'build/src/spec/defaults.js'));

const N = Number(process.argv[2] ?? 20);
const CAPSA = join(repo, 'dist/capsa');
const RUNC = spawnSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).stdout.trim();

// stderr goes to a file: a detached container inherits it, and a pipe would
// keep spawnSync waiting for the container to exit.
let errFile;
function run(cmd, args, what) {
  const fd = openSync(errFile, 'w');
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', fd] });
  closeSync(fd);
  if (r.status !== 0) throw new Error(`${what}: ${cmd} ${args.join(' ')} exited ${r.status}: ${readFileSync(errFile, 'utf8')}`);
}

function timeOnce(cmd, args) {
  const t0 = process.hrtime.bigint();
  run(cmd, args, 'timed run');
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2, p10: q(0.1), p90: q(0.9), min: s[0] };
}

const dir = mkdtempSync(join(tmpdir(), 'capsa-bench-exec-'));
errFile = join(dir, 'stderr');
const ids = { capsa: `capsa-bench-exec-capsa-${process.pid}-0`, runc: `capsa-bench-exec-runc-${process.pid}-0` };
const roots = { capsa: join(dir, 'capsa-root'), runc: join(dir, 'runc-root') };
// Once, on exit or SIGINT/SIGTERM/SIGHUP. Deletes even a container whose
// `run -d` was interrupted, then sweeps cgroups no state dir names.
const cleanup = cleanupOnExit(() => {
  spawnSync(CAPSA, ['--root', roots.capsa, 'delete', '--force', ids.capsa], { stdio: 'ignore' });
  if (RUNC) spawnSync(RUNC, ['--root', roots.runc, 'delete', '--force', ids.runc], { stdio: 'ignore' });
  const left = removeCgroupTrees(benchCgroups('capsa-bench-exec-'));
  if (left.length) process.stderr.write(`bench-exec: cgroups that would not go: ${left.join(', ')}\n`);
  rmSync(dir, { recursive: true, force: true });
});
try {
  makeTestRootfs(join(dir, 'rootfs'));
  const spec = defaultSpec();
  spec.root = { path: join(dir, 'rootfs'), readonly: true };
  spec.process = { ...spec.process, terminal: false, args: ['/bin/testinit', 'sleep', 'forever'] };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec, null, 2));

  run(CAPSA, ['--root', roots.capsa, 'run', '-d', '--bundle', dir, ids.capsa], 'capsa run -d');
  if (RUNC) run(RUNC, ['--root', roots.runc, 'run', '-d', '--bundle', dir, ids.runc], 'runc run -d');
  const cmds = {
    capsa: [CAPSA, ['--root', roots.capsa, 'exec', ids.capsa, '/bin/testinit', 'true']],
    ...(RUNC ? { runc: [RUNC, ['--root', roots.runc, 'exec', ids.runc, '/bin/testinit', 'true']] } : {}),
    'capsa --version': [CAPSA, ['--version']],
  };
  const times = Object.fromEntries(Object.keys(cmds).map((k) => [k, []]));
  for (let i = 0; i < 3; i++) for (const [cmd, args] of Object.values(cmds)) timeOnce(cmd, args);
  for (let i = 0; i < N; i++) for (const [k, [cmd, args]] of Object.entries(cmds)) times[k].push(timeOnce(cmd, args));

  const runcVersion = RUNC ? spawnSync(RUNC, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] : 'runc not installed';
  console.log(`exec /bin/testinit true into a running container, ${N} runs each (after 3 warm-up), ${runcVersion}, node ${process.version}`);
  for (const [k, ms] of Object.entries(times)) {
    const s = stats(ms);
    console.log(`  ${k.padEnd(16)} median ${s.median.toFixed(1)} ms   p10 ${s.p10.toFixed(1)}   p90 ${s.p90.toFixed(1)}   min ${s.min.toFixed(1)}`);
  }
} catch (e) {
  // ^C reaches the timed command too (exit 130): one line, after the cleanup below.
  process.stderr.write(`bench-exec: ${e instanceof Error ? e.message.trim() : e}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
