// One layer from blob to directory: read → hash (blob digest, size) →
// decompress → hash (diff ID) → extract, in a single streaming pass. The
// caller commits the result only if verify() passes.
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { CapsaError } from '../errors';
import { DigestingStream, mismatchError, parseDigest, shortDigest } from './digest';
import { decompressor, detectCompression, peek } from './decompress';
import { extractLayer, type ExtractOptions, type ExtractStats } from './extract';
import type { LayerRef } from './resolve';
import type { BlobSource } from './source';

export interface LayerResult extends ExtractStats {
  blobDigest: string;
  blobBytes: number;
}

/** Throws the digest/size mismatch of a blob, if it has one. */
async function verifyWholeBlob(source: BlobSource, layer: LayerRef, what: string): Promise<void> {
  const tap = new DigestingStream(parseDigest(layer.digest, what).algorithm, undefined, what);
  try {
    await pipeline(source.openStream(layer.blobPath), tap, new Writable({ write: (_c, _e, cb) => cb() }));
  } catch {
    return;
  }
  if (layer.size !== undefined && tap.bytes !== layer.size) throw mismatchError(what, `${layer.size} bytes`, `${tap.bytes} bytes`, 'size');
  const got = tap.digest();
  if (got !== layer.digest) throw mismatchError(what, layer.digest!, got);
}

export function layerName(layer: LayerRef): string {
  return `layer ${shortDigest(layer.digest ?? layer.diffID)}`;
}

/**
 * Extracts `layer` into target.root and checks its blob digest and size
 * against the manifest and its content against the diff ID. On any mismatch
 * it throws after the extraction (whose directory the caller discards).
 */
/** Default cap on one layer's uncompressed size: a decompression bomb stops here. */
export const DEFAULT_MAX_LAYER_BYTES = 64 * 1024 ** 3;

export async function unpackLayer(
  source: BlobSource,
  layer: LayerRef,
  target: Omit<ExtractOptions, 'what'>,
  onBytes?: (n: number) => void,
  maxLayerBytes = DEFAULT_MAX_LAYER_BYTES,
): Promise<LayerResult> {
  const what = layerName(layer);
  const blobAlg = layer.digest ? parseDigest(layer.digest, what).algorithm : 'sha256';
  const diffAlg = parseDigest(layer.diffID, `${what} diff ID`).algorithm;
  const raw = source.openStream(layer.blobPath);
  const blobTap = new DigestingStream(blobAlg, layer.size, what, onBytes);
  let unpacked = 0;
  const diffTap: DigestingStream = new DigestingStream(diffAlg, undefined, what, (n) => {
    unpacked += n;
    if (unpacked > maxLayerBytes) {
      diffTap.destroy(new CapsaError('IMAGE', `${what}: more than ${maxLayerBytes} bytes once decompressed (the limit; raise it with --max-layer-size)`));
    }
  });
  raw.on('error', (e) => blobTap.destroy(e));
  raw.pipe(blobTap);
  let dec: ReturnType<typeof decompressor> = null;
  try {
    const head = await peek(blobTap, 4);
    if (head.length === 0) throw new CapsaError('IMAGE', `${what}: the blob is empty`);
    dec = decompressor(detectCompression(head));
    const tail = dec ?? blobTap;
    if (dec) {
      blobTap.on('error', (e) => dec!.destroy(e));
      blobTap.pipe(dec);
    }
    tail.on('error', (e) => diffTap.destroy(e));
    tail.pipe(diffTap);
    const stats = await extractLayer(diffTap, { ...target, what });
    if (layer.size !== undefined && blobTap.bytes !== layer.size) {
      throw mismatchError(what, `${layer.size} bytes`, `${blobTap.bytes} bytes`, 'size');
    }
    const blobDigest = blobTap.digest();
    if (layer.digest && blobDigest !== layer.digest) throw mismatchError(what, layer.digest, blobDigest);
    const diffID = diffTap.digest();
    if (diffID !== layer.diffID) throw mismatchError(`${what} content`, `diff ID ${layer.diffID}`, diffID);
    return { ...stats, blobDigest, blobBytes: blobTap.bytes };
  } catch (e) {
    raw.destroy();
    blobTap.destroy();
    dec?.destroy();
    diffTap.destroy();
    // Corrupt data usually breaks decompression first; name the real cause.
    if (layer.digest) await verifyWholeBlob(source, layer, what);
    if (e instanceof CapsaError) throw e;
    throw new CapsaError('IMAGE', `${what}: ${(e as Error).message}`, { cause: e });
  }
}
