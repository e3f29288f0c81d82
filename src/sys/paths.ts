// Where capsa's own files are: found by walking up from this module to the
// package root, so tsc output, the esbuild bundle and an installed package
// all resolve the same native binaries.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError } from '../errors';

let cachedRoot: string | undefined;

export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'binding.gyp'))) return (cachedRoot = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new CapsaError('INTERNAL', `cannot find capsa's package root above ${__dirname}`);
    dir = up;
  }
}

export function nativePath(name: string): string {
  return path.join(packageRoot(), 'build', 'Release', name);
}

export function initBinaryPath(): string {
  return process.env.CAPSA_INIT ?? nativePath('capsa-init');
}
