// Where capsa's own files are: found by walking up from this module to the
// package root, so tsc output, the esbuild bundle and an installed package
// all resolve the same native binaries. The compiled CLI (dist/capsa built by
// `bun build --compile`) has its code inside the executable: it walks up from
// the executable's real path instead, or finds its native files right beside it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError } from '../errors';

declare const CAPSA_COMPILED: boolean;
const compiled = typeof CAPSA_COMPILED !== 'undefined' && CAPSA_COMPILED;

let cachedRoot: string | undefined;
let cachedNativeDir: string | undefined;

export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = compiled ? path.dirname(process.execPath) : __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'binding.gyp'))) return (cachedRoot = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new CapsaError('INTERNAL', `cannot find capsa's package root above ${__dirname}`);
    dir = up;
  }
}

function nativeDir(): string {
  if (cachedNativeDir) return cachedNativeDir;
  const beside = compiled ? path.dirname(process.execPath) : undefined;
  if (beside && fs.existsSync(path.join(beside, 'capsa_addon.node'))) return (cachedNativeDir = beside);
  return (cachedNativeDir = path.join(packageRoot(), 'build', 'Release'));
}

export function nativePath(name: string): string {
  return path.join(nativeDir(), name);
}

export function initBinaryPath(): string {
  return process.env.CAPSA_INIT ?? nativePath('capsa-init');
}
