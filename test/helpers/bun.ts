// Where the Bun binary that builds the compiled CLI is (the optional npm
// dependency @oven/bun-linux-<arch>), or undefined on an architecture without one.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { REPO_ROOT } from './rootfs';

export function bunBinary(): string | undefined {
  const arch = process.arch === 'arm64' ? 'aarch64' : process.arch;
  const bin = path.join(REPO_ROOT, 'node_modules', '@oven', `bun-linux-${arch}`, 'bin', 'bun');
  return fs.existsSync(bin) ? bin : undefined;
}
