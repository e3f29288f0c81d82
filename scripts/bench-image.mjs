#!/usr/bin/env node
// Times `image unpack`: a cold unpack (empty store), a warm second bundle of
// the same image (layers already in the store: should be one mount), a cold
// --flat unpack, and `umoci unpack` of the same image in the same run.
//
//   node scripts/bench-image.mjs [--quick] [--runs N] [--dir PARENT] [--keep]
//
// The image has 3 gzip layers, ≥ 200 MB unpacked (--quick: ~12 MB): random
// (incompressible) files, many small compressible files, and a layer that
// whiteouts and overwrites. Needs root (chown, mknod, mount).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { build } from 'esbuild';
import { cleanupOnExit } from './bench-cleanup.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const keep = args.includes('--keep');
const runsArg = args.indexOf('--runs');
const runs = runsArg >= 0 ? Number(args[runsArg + 1]) : quick ? 2 : 3;
const dirArg = args.indexOf('--dir');
const parent = dirArg >= 0 ? args[dirArg + 1] : '/tmp';
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

// The TypeScript library and test image builder, bundled once for this run.
const work = fs.mkdtempSync(path.join(parent, 'capsa-bench-image-'));
let lib;
// Once, at the end or on SIGINT/SIGTERM/SIGHUP: the work dir and any overlay mounted under it.
const cleanupWork = cleanupOnExit(() => { if (!keep) cleanup(work); });
await build({
  stdin: {
    contents: `export * from './src/image/index'; export { writeOciLayout } from './test/helpers/images'; export { mountsUnder } from './src/image/overlay';`,
    resolveDir: repo,
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  outfile: path.join(work, 'lib.cjs'),
  external: ['*.node'],
  logLevel: 'warning',
});
lib = createRequire(import.meta.url)(path.join(work, 'lib.cjs'));

function cleanup(dir) {
  for (const m of (lib?.mountsUnder(dir) ?? []).reverse()) spawnSync('umount', ['-l', m]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Text that gzip shrinks ~4x, unlike random bytes. */
function compressible(n, seed) {
  const words = ['container', 'layer', 'overlay', 'digest', 'bundle', 'runtime', 'mount', 'image', String(seed)];
  let s = '';
  let i = seed;
  while (s.length < n) {
    i = (i * 1103515245 + 12345) & 0x7fffffff;
    s += `${words[i % words.length]}${i % 1000} `;
  }
  return s.slice(0, n);
}

function imageSpec() {
  const scale = quick ? 0.06 : 1;
  const bigFiles = Math.round(64 * scale);
  const smallFiles = Math.round(4000 * scale);
  const base = [{ path: 'usr/', type: 'directory' }, { path: 'usr/lib/', type: 'directory' }, { path: 'usr/share/', type: 'directory' }];
  for (let i = 0; i < bigFiles; i++) base.push({ path: `usr/lib/blob${i}.so`, content: randomBytes(2 << 20), mode: 0o755 });
  const docs = [{ path: 'usr/share/doc/', type: 'directory' }];
  for (let i = 0; i < smallFiles; i++) {
    if (i % 100 === 0) docs.push({ path: `usr/share/doc/pkg${i / 100}/`, type: 'directory' });
    docs.push({ path: `usr/share/doc/pkg${Math.floor(i / 100)}/file${i}.txt`, content: compressible(16 << 10, i) });
  }
  const app = [{ path: 'usr/lib/.wh.blob0.so' }, { path: 'app/', type: 'directory' }, { path: 'etc/', type: 'directory' }, { path: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' }];
  for (let i = 0; i < Math.round(20 * scale) + 1; i++) app.push({ path: `app/data${i}.bin`, content: Buffer.concat([randomBytes(1 << 20), Buffer.from(compressible(1 << 20, i))]) });
  return { layers: [{ entries: base }, { entries: docs }, { entries: app }], config: { Cmd: ['/bin/sh'] }, refName: 'bench' };
}

function du(dir) {
  return Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);
}

async function time(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  const layout = path.join(work, 'layout');
  process.stderr.write(`building ${quick ? 'a small' : 'a ≥ 200 MB'} image in ${layout}…\n`);
  await lib.writeOciLayout(layout, imageSpec());
  const blobBytes = du(path.join(layout, 'blobs'));

  const results = { cold: [], warm: [], flat: [], umoci: [] };
  let unpackedBytes = 0;
  for (let r = 0; r < runs; r++) {
    const run = path.join(work, `run${r}`);
    fs.mkdirSync(run);
    const store = path.join(run, 'store');
    results.cold.push(await time(() => lib.unpackImage({ source: layout, bundle: path.join(run, 'cold'), store })));
    results.warm.push(await time(() => lib.unpackImage({ source: layout, bundle: path.join(run, 'warm'), store })));
    results.flat.push(await time(() => lib.unpackImage({ source: layout, bundle: path.join(run, 'flat'), flat: true })));
    unpackedBytes = du(path.join(run, 'flat/rootfs'));
    if (spawnSync('umoci', ['--version']).status === 0) {
      results.umoci.push(await time(async () => execFileSync('umoci', ['unpack', '--image', `${layout}:bench`, path.join(run, 'umoci')], { stdio: 'pipe' })));
    }
    cleanup(run);
  }

  const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
  process.stdout.write(`\nimage: 3 gzip layers, ${mb(blobBytes)} of blobs, ${mb(unpackedBytes)} unpacked; median of ${runs} runs\n\n`);
  const rows = [
    ['capsa unpack, cold (overlay store)', median(results.cold)],
    ['capsa unpack, warm second bundle', median(results.warm)],
    ['capsa unpack --flat', median(results.flat)],
  ];
  if (results.umoci.length) rows.push(['umoci unpack', median(results.umoci)]);
  for (const [name, ms] of rows) process.stdout.write(`  ${name.padEnd(38)} ${ms.toFixed(1).padStart(9)} ms\n`);
  process.stdout.write('\n');
  if (results.umoci.length) {
    const u = median(results.umoci);
    process.stdout.write(`  cold / umoci   = ${(median(results.cold) / u).toFixed(2)}  (target ≤ 1)\n`);
    process.stdout.write(`  flat / umoci   = ${(median(results.flat) / u).toFixed(2)}\n`);
  } else {
    process.stdout.write('  umoci not installed: no ratio (apt-get install umoci)\n');
  }
  process.stdout.write(`  warm           = ${median(results.warm).toFixed(1)} ms  (target < 50 ms)\n`);
} finally {
  await cleanupWork();
}
