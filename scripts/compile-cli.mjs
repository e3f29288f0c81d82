#!/usr/bin/env node
// Makes dist/capsa, the command engines and people run, from the CLI bundles
// scripts/bundle.mjs wrote. Chosen here, once, at build or install time — not
// at each start:
// - a compiled executable (`bun build --compile --bytecode` of
//   dist/capsa-compiled.js) where a Bun binary for this machine is installed:
//   the optional npm dependency @oven/bun-linux-<arch>. It starts in a few
//   milliseconds and needs no Node; its native files (capsa_addon.node,
//   capsa-init) stay files in build/Release, found from the executable's real
//   path (see src/sys/paths.ts).
// - otherwise Node's launcher (dist/capsa-node, with its V8 code cache).
// CAPSA_CLI=node forces the launcher. Run with no bundle yet (the first
// `npm install` of a checkout) it does nothing: scripts/bundle.mjs calls it.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The Bun binary of the optional dependency for this machine, if it is installed and runs here. */
export function findBun() {
  const arch = { x64: 'x64', arm64: 'aarch64' }[process.arch];
  if (!arch || process.platform !== 'linux') return undefined;
  const bin = join(repo, 'node_modules', '@oven', `bun-linux-${arch}`, 'bin', 'bun');
  if (!existsSync(bin)) return undefined;
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
    return bin;
  } catch {
    return undefined; // e.g. a CPU without the instructions this build needs
  }
}

/** Writes dist/capsa; returns which kind it is ('compiled' or 'node'). */
export function makeCli({ quiet = false } = {}) {
  const dist = join(repo, 'dist');
  const source = join(dist, 'capsa-compiled.js');
  const out = join(dist, 'capsa');
  const bun = process.env.CAPSA_CLI === 'node' ? undefined : findBun();
  if (bun && existsSync(source)) {
    const tmp = `${out}.tmp-${process.pid}`;
    try {
      execFileSync(bun, [
        'build', '--compile', '--bytecode', '--minify-syntax', '--target=bun', '--format=cjs',
        // An engine runs the runtime in the bundle's dir: read no .env or bunfig.toml from there.
        '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig',
        // A small heap: ~20 % less CPU per call here (fewer page faults and
        // helper threads at start), for ~7 MB more peak RSS.
        '--compile-exec-argv=--smol',
        // JavaScriptCore's tier-up thresholds ×100: a CLI call runs each
        // function a few times, so compiling it (on a JIT thread) costs more
        // than it saves — `run` 33 → 27 ms of CPU, `state` −0.8 ms here. Long
        // or heavy work (the image verbs, a relayed terminal) turns the JIT
        // back on: see fullJit in src/cli/jit.ts.
        '--compile-jit-policy=100',
        '--no-compile-autoload-tsconfig', '--no-compile-autoload-package-json',
        source, '--outfile', tmp,
      ], { stdio: ['ignore', 'ignore', 'inherit'], cwd: repo });
      renameSync(tmp, out);
      if (!quiet) process.stderr.write(`dist/capsa: compiled with Bun ${execFileSync(bun, ['--version'], { encoding: 'utf8' }).trim()}\n`);
      return 'compiled';
    } catch (e) {
      rmSync(tmp, { force: true });
      process.stderr.write(`dist/capsa: bun build --compile failed (${e.message.split('\n')[0]}); using the Node launcher\n`);
    }
  }
  if (!existsSync(join(dist, 'capsa-node'))) return undefined;
  copyFileSync(join(dist, 'capsa-node'), `${out}.tmp-${process.pid}`);
  chmodSync(`${out}.tmp-${process.pid}`, 0o755);
  renameSync(`${out}.tmp-${process.pid}`, out);
  if (!quiet) process.stderr.write(`dist/capsa: the Node launcher${bun ? '' : ' (no Bun binary for this machine)'}\n`);
  return 'node';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) makeCli();
