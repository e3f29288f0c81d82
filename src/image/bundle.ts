// Bundles made from images: the marker file that describes them, remounting
// after a reboot, and releasing them.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { CapsaError, fromSystemError } from '../errors';
import { isMountPoint, mountOverlay, mountsUnder, unmount } from './overlay';
import { LayerStore, writeJsonAtomic } from './store';

import { BUNDLE_MARKER } from './marker';

export { BUNDLE_MARKER };

export interface BundleMarker {
  version: 1;
  mode: 'overlay' | 'flat';
  image: string;
  refNames: string[];
  /** Overlay mode: the store holding the layers. */
  store?: string;
  /** Diff IDs, bottom layer first. */
  layers: string[];
}

export function bundlePaths(bundle: string): { rootfs: string; upper: string; work: string; marker: string } {
  return {
    rootfs: path.join(bundle, 'rootfs'),
    upper: path.join(bundle, 'overlay', 'upper'),
    work: path.join(bundle, 'overlay', 'work'),
    marker: path.join(bundle, BUNDLE_MARKER),
  };
}

export function writeMarker(bundle: string, marker: BundleMarker): void {
  writeJsonAtomic(bundlePaths(bundle).marker, marker);
}

export function readMarker(bundle: string): BundleMarker {
  const file = bundlePaths(bundle).marker;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CapsaError('NOT_FOUND', `${bundle} is not a bundle made by capsa image unpack (no ${BUNDLE_MARKER})`);
    }
    throw fromSystemError(e, `read ${file}`);
  }
  const m = JSON.parse(text) as BundleMarker;
  if (m.version !== 1 || (m.mode !== 'overlay' && m.mode !== 'flat') || !Array.isArray(m.layers)) {
    throw new CapsaError('INVALID_ARGUMENT', `${file}: unknown bundle marker format`);
  }
  return m;
}

/**
 * Lower dirs for overlayfs, topmost first, relative to the store. A layer
 * listed twice is kept at its topmost place only (overlayfs refuses the same
 * lower twice, and the lower copy is entirely covered by the upper one).
 */
export function lowerDirs(store: LayerStore, layers: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = layers.length - 1; i >= 0; i--) {
    const d = layers[i]!;
    if (seen.has(d)) continue;
    seen.add(d);
    out.push(`l/${store.linkName(d)}`);
  }
  return out.length > 0 ? out : ['empty'];
}

export async function mountBundleRootfs(bundle: string, store: LayerStore, layers: string[]): Promise<void> {
  const p = bundlePaths(bundle);
  await mountOverlay({ cwd: store.dir, lowers: lowerDirs(store, layers), upper: p.upper, work: p.work, target: p.rootfs });
}

export type MountOutcome = 'mounted' | 'already-mounted' | 'flat';

/** Remounts a bundle's overlay rootfs (after a reboot); a no-op when mounted or flat. */
export async function mountBundle(bundleDir: string): Promise<MountOutcome> {
  const bundle = realBundlePath(bundleDir);
  const marker = readMarker(bundle);
  if (marker.mode === 'flat') return 'flat';
  const { rootfs } = bundlePaths(bundle);
  if (isMountPoint(rootfs)) return 'already-mounted';
  const store = new LayerStore(marker.store);
  for (const d of marker.layers) {
    if (!store.hasLayer(d)) {
      throw new CapsaError('NOT_FOUND', `layer ${d} of ${bundle} is no longer in the store ${store.dir}; unpack the image again`);
    }
  }
  store.addRef({ bundle, image: marker.image, layers: marker.layers });
  await mountBundleRootfs(bundle, store, marker.layers);
  return 'mounted';
}

/** Unmounts a bundle's rootfs, drops its layer references and deletes the bundle directory. */
export async function removeBundle(bundleDir: string): Promise<void> {
  const bundle = realBundlePath(bundleDir);
  const marker = readMarker(bundle);
  const { rootfs } = bundlePaths(bundle);
  if (marker.mode === 'overlay' && isMountPoint(rootfs)) await unmount(rootfs);
  const left = mountsUnder(bundle);
  if (left.length > 0) {
    throw new CapsaError('BAD_STATE', `${bundle} still has mounts (${left.join(', ')}); is a container running from it?`);
  }
  if (marker.mode === 'overlay') new LayerStore(marker.store).removeRef(bundle);
  fs.rmSync(bundle, { recursive: true, force: true });
}

export function realBundlePath(bundleDir: string): string {
  try {
    return fs.realpathSync(bundleDir);
  } catch (e) {
    throw fromSystemError(e, `bundle ${bundleDir}`, 'NOT_FOUND');
  }
}
