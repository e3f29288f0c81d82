// Temporary OCI bundles for integration tests: config.json is capsa's default
// spec pointing at a rootfs by absolute path, so no rootfs copy is needed.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { defaultSpec } from '../../src/spec/defaults';
import type { Spec } from '../../src/spec/types';
import { removeTestDir, sharedTestRootfs } from './rootfs';

export interface BundleOptions {
  /** Root filesystem; defaults to the per-process shared test rootfs. */
  rootfs?: string;
  /** Adjust the spec before it is written. */
  config?: (spec: Spec) => void;
  /** Container ID prefix; defaults to "capsa-test". */
  idPrefix?: string;
}

export interface TestBundle {
  dir: string;
  id: string;
  cleanup(): void;
}

export function makeBundle(opts: BundleOptions = {}): TestBundle {
  const rootfs = path.resolve(opts.rootfs ?? sharedTestRootfs());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-bundle-'));
  const spec = defaultSpec();
  spec.root = { ...spec.root, path: rootfs };
  spec.process = { ...spec.process!, terminal: false, args: ['/bin/testinit', 'true'] };
  opts.config?.(spec);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2) + '\n');
  const id = `${opts.idPrefix ?? 'capsa-test'}-${randomBytes(4).toString('hex')}`;
  return { dir, id, cleanup: () => removeTestDir(dir) };
}
