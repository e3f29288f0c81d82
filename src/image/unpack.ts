// `image unpack`: OCI image → runtime bundle (config.json + rootfs).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { CapsaError, fromSystemError } from '../errors';
import type { Spec } from '../spec/types';
import { bundlePaths, mountBundleRootfs, writeMarker } from './bundle';
import { imageToSpec } from './config';
import { unpackLayer } from './layer';
import { isMountPoint, overlaySupported, unmount } from './overlay';
import { hostPlatform, parsePlatform, type Platform } from './platform';
import { type LayerRef, resolveImage, type ResolvedImage } from './resolve';
import { type BlobSource, openSource } from './source';
import { DEFAULT_STORE, LayerStore, writeJsonAtomic } from './store';

export interface UnpackProgress {
  phase: 'resolve' | 'layers' | 'mount' | 'config' | 'done';
  /** Layers to extract (those not already in the store, or all with --flat). */
  layersTotal: number;
  layersDone: number;
  layersCached: number;
  bytesTotal: number;
  bytesDone: number;
}

export interface UnpackOptions {
  source: string;
  bundle: string;
  ref?: string;
  /** "os/arch[/variant]" or a Platform; the host's by default. */
  platform?: string | Platform;
  flat?: boolean;
  store?: string;
  onProgress?: (p: UnpackProgress) => void;
  /** The spec to build config.json on; defaultSpec() by default. */
  baseSpec?: Spec;
  /** Largest uncompressed size of one layer, in bytes (64 GiB by default). */
  maxLayerBytes?: number;
}

export interface UnpackResult {
  bundle: string;
  mode: 'overlay' | 'flat';
  image: { id: string; refNames: string[]; configDigest: string };
  layers: { diffID: string; cached: boolean; bytes?: number }[];
}

/**
 * An empty or missing directory becomes the bundle; anything else is refused.
 * It is made 0700: the rootfs below holds the image's setuid binaries, file
 * capabilities and device nodes, which no other local user may reach.
 */
function claimBundleDir(bundle: string): boolean {
  const st = fs.statSync(bundle, { throwIfNoEntry: false });
  if (!st) {
    fs.mkdirSync(bundle, { recursive: true, mode: 0o700 });
    fs.chmodSync(bundle, 0o700);
    return true;
  }
  if (!st.isDirectory() || fs.readdirSync(bundle).length > 0) {
    throw new CapsaError('EXISTS', `bundle directory ${bundle} exists and is not empty`);
  }
  fs.chmodSync(bundle, 0o700);
  return false;
}

class Progress {
  readonly state: UnpackProgress = { phase: 'resolve', layersTotal: 0, layersDone: 0, layersCached: 0, bytesTotal: 0, bytesDone: 0 };

  constructor(private readonly report?: (p: UnpackProgress) => void) {}

  update(change: Partial<UnpackProgress>): void {
    Object.assign(this.state, change);
    this.report?.({ ...this.state });
  }

  bytes = (n: number): void => {
    this.state.bytesDone += n;
    this.report?.({ ...this.state });
  };
}

function blobSize(source: BlobSource, layer: LayerRef): number {
  return layer.size ?? source.size(layer.blobPath) ?? 0;
}

async function unpackFlat(source: BlobSource, image: ResolvedImage, bundle: string, progress: Progress, maxLayerBytes?: number): Promise<UnpackResult['layers']> {
  const { rootfs } = bundlePaths(bundle);
  fs.mkdirSync(rootfs, { mode: 0o755 });
  progress.update({ phase: 'layers', layersTotal: image.layers.length, bytesTotal: image.layers.reduce((n, l) => n + blobSize(source, l), 0) });
  const out: UnpackResult['layers'] = [];
  for (const layer of image.layers) {
    const r = await unpackLayer(source, layer, { root: rootfs, mode: 'flat' }, progress.bytes, maxLayerBytes);
    out.push({ diffID: layer.diffID, cached: false, bytes: r.bytes });
    progress.update({ layersDone: progress.state.layersDone + 1 });
  }
  writeMarker(bundle, { version: 1, mode: 'flat', image: image.id, refNames: image.refNames, layers: image.layers.map((l) => l.diffID) });
  return out;
}

async function unpackOverlay(
  source: BlobSource,
  image: ResolvedImage,
  bundle: string,
  store: LayerStore,
  progress: Progress,
  maxLayerBytes?: number,
): Promise<UnpackResult['layers']> {
  const diffIDs = image.layers.map((l) => l.diffID);
  store.init();
  const release = store.lock(false);
  const out: UnpackResult['layers'] = [];
  try {
    // The reference comes first, so a gc running later keeps what we extract.
    store.addRef({ bundle, image: image.id, layers: diffIDs });
    const missing = image.layers.filter((l, i) => !store.hasLayer(l.diffID) && diffIDs.indexOf(l.diffID) === i);
    progress.update({
      phase: 'layers',
      layersTotal: missing.length,
      layersCached: image.layers.length - missing.length,
      bytesTotal: missing.reduce((n, l) => n + blobSize(source, l), 0),
    });
    const lowerRoots: string[] = []; // top first
    for (const layer of image.layers) {
      if (store.hasLayer(layer.diffID)) {
        out.push({ diffID: layer.diffID, cached: true, bytes: store.layerMeta(layer.diffID)?.bytes });
      } else {
        const tmp = store.makeTempDir();
        try {
          const r = await unpackLayer(source, layer, { root: path.join(tmp, 'fs'), mode: 'overlay', lowerRoots }, progress.bytes, maxLayerBytes);
          store.commitLayer(tmp, { diffID: layer.diffID, bytes: r.bytes, entries: r.entries, blobDigest: layer.digest, extractedAt: new Date().toISOString() });
        } catch (e) {
          fs.rmSync(tmp, { recursive: true, force: true });
          throw e;
        }
        out.push({ diffID: layer.diffID, cached: false, bytes: store.layerMeta(layer.diffID)?.bytes });
        progress.update({ layersDone: progress.state.layersDone + 1 });
      }
      lowerRoots.unshift(store.layerRoot(layer.diffID));
    }
    store.recordImage({
      id: image.id,
      refNames: image.refNames,
      configDigest: image.configDigest,
      layers: diffIDs,
      source: path.resolve(source.location),
      created: image.config.created,
      unpackedAt: new Date().toISOString(),
    });
    const p = bundlePaths(bundle);
    for (const d of [p.rootfs, p.upper, p.work]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
    writeMarker(bundle, { version: 1, mode: 'overlay', image: image.id, refNames: image.refNames, store: store.dir, layers: diffIDs });
  } finally {
    release();
  }
  progress.update({ phase: 'mount' });
  await mountBundleRootfs(bundle, store, diffIDs);
  return out;
}

/** Removes what a failed unpack made: mount, reference, bundle contents. */
async function undoBundle(bundle: string, createdDir: boolean, store: LayerStore | undefined): Promise<void> {
  const { rootfs } = bundlePaths(bundle);
  try {
    if (isMountPoint(rootfs)) await unmount(rootfs);
  } catch {
    return; // still mounted: deleting would reach into the layers' merged view
  }
  store?.removeRef(bundle);
  if (createdDir) fs.rmSync(bundle, { recursive: true, force: true });
  else for (const name of fs.readdirSync(bundle)) fs.rmSync(path.join(bundle, name), { recursive: true, force: true });
}

export async function unpackImage(opts: UnpackOptions): Promise<UnpackResult> {
  const platform = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : (opts.platform ?? hostPlatform());
  const mode = opts.flat ? 'flat' : 'overlay';
  if (mode === 'overlay' && !overlaySupported()) {
    throw new CapsaError('UNSUPPORTED', 'overlayfs is not available on this kernel; use --flat for a plain rootfs directory');
  }
  const progress = new Progress(opts.onProgress);
  const source = await openSource(opts.source);
  try {
    const image = await resolveImage(source, { ref: opts.ref, platform });
    let createdDir: boolean;
    let bundle: string;
    try {
      createdDir = claimBundleDir(path.resolve(opts.bundle));
      bundle = fs.realpathSync(opts.bundle);
    } catch (e) {
      throw fromSystemError(e, `bundle ${opts.bundle}`);
    }
    const store = mode === 'overlay' ? new LayerStore(opts.store ?? DEFAULT_STORE) : undefined;
    try {
      const layers = store
        ? await unpackOverlay(source, image, bundle, store, progress, opts.maxLayerBytes)
        : await unpackFlat(source, image, bundle, progress, opts.maxLayerBytes);
      progress.update({ phase: 'config' });
      const spec = imageToSpec(image.config, bundlePaths(bundle).rootfs, opts.baseSpec);
      writeJsonAtomic(path.join(bundle, 'config.json'), spec);
      progress.update({ phase: 'done' });
      return { bundle, mode, image: { id: image.id, refNames: image.refNames, configDigest: image.configDigest }, layers };
    } catch (e) {
      await undoBundle(bundle, createdDir, store);
      throw e;
    }
  } finally {
    await source.close();
  }
}
