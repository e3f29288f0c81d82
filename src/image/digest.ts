// Content digests: parsing, and a pass-through stream that hashes and counts
// what flows through it so a blob is verified in the same pass that uses it.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

import { CapsaError } from '../errors';

const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;
const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: 'sha256' | 'sha512';
  hex: string;
}

/** Validates a digest string; the hex part is then safe to use as a file name. */
export function parseDigest(digest: unknown, what: string): ParsedDigest {
  const m = typeof digest === 'string' ? DIGEST_RE.exec(digest) : null;
  if (!m || m[2]!.length !== HEX_LENGTH[m[1]!]) {
    throw new CapsaError('IMAGE', `${what}: invalid digest ${JSON.stringify(digest)}`);
  }
  return { algorithm: m[1] as ParsedDigest['algorithm'], hex: m[2]! };
}

export function digestOf(data: Buffer, algorithm: ParsedDigest['algorithm'] = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** `sha256:0123456789ab` — for messages. */
export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return digest.slice(0, i + 13);
}

export function mismatchError(what: string, expected: string, got: string, kind = 'digest'): CapsaError {
  return new CapsaError('IMAGE', `${what}: ${kind} mismatch (expected ${expected}, got ${got})`);
}

/** Checks an in-memory blob against its descriptor's digest and size. */
export function verifyBuffer(data: Buffer, digest: string, size: number | undefined, what: string): void {
  const { algorithm } = parseDigest(digest, what);
  if (size !== undefined && data.length !== size) throw mismatchError(what, `${size} bytes`, `${data.length} bytes`, 'size');
  const got = digestOf(data, algorithm);
  if (got !== digest) throw mismatchError(what, digest, got);
}

/**
 * Hashes and counts the bytes passing through. With `maxSize` it fails as soon
 * as more arrive than the descriptor announced, so a hostile blob cannot make
 * us read (or decompress) without bound.
 */
export class DigestingStream extends Transform {
  private readonly hash: Hash;
  bytes = 0;

  constructor(
    private readonly algorithm: ParsedDigest['algorithm'],
    private readonly maxSize: number | undefined,
    private readonly what: string,
    private readonly onBytes?: (n: number) => void,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.maxSize !== undefined && this.bytes > this.maxSize) {
      done(mismatchError(this.what, `${this.maxSize} bytes`, `more than ${this.maxSize} bytes`, 'size'));
      return;
    }
    this.hash.update(chunk);
    this.onBytes?.(chunk.length);
    done(null, chunk);
  }

  /** The digest of everything seen; call once, after the stream ended. */
  digest(): string {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}
