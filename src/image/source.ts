// Where image files come from: an image layout directory, or a tar archive of
// one (oci-archive, docker save). Archives are indexed by reading only their
// headers, then each member is read in place by offset — nothing is copied,
// so opening a 1 GB archive costs a few hundred small reads.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { Header, Pax, type HeaderData } from 'tar';

import { CapsaError, fromSystemError } from '../errors';

export interface BlobSource {
  /** What the user named, for messages. */
  readonly location: string;
  exists(relPath: string): boolean;
  /** Size in bytes, or undefined when absent. */
  size(relPath: string): number | undefined;
  /** Reads a small file whole (index.json, a manifest); undefined when absent. */
  readSmall(relPath: string, maxBytes: number): Promise<Buffer | undefined>;
  openStream(relPath: string): Readable;
  close(): Promise<void>;
}

/** Normalizes a member path: no leading "./" or "/", no "." or ".." parts. */
export function memberPath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) throw new CapsaError('IMAGE', `archive path ${JSON.stringify(p)} escapes the image`);
  return parts.join('/');
}

class DirectorySource implements BlobSource {
  constructor(
    readonly location: string,
    private readonly root: string,
  ) {}

  private realRoot?: string;

  private full(rel: string): string {
    return path.join(this.root, memberPath(rel));
  }

  /**
   * A member must be a regular file inside the layout, reached without
   * symlinks: a hostile layout must not make us read (and echo, in an error)
   * a host file such as /etc/shadow.
   */
  private checked(rel: string): string | undefined {
    const p = this.full(rel);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) return undefined;
    this.realRoot ??= fs.realpathSync(this.root);
    if (st.isSymbolicLink() || fs.realpathSync(p) !== path.join(this.realRoot, memberPath(rel))) {
      throw new CapsaError('IMAGE', `${rel} in ${this.location} is a symlink or reached through one; refusing to read it`);
    }
    return st.isFile() ? p : undefined;
  }

  exists(rel: string): boolean {
    return this.size(rel) !== undefined;
  }

  size(rel: string): number | undefined {
    const p = this.checked(rel);
    return p === undefined ? undefined : fs.statSync(p).size;
  }

  async readSmall(rel: string, maxBytes: number): Promise<Buffer | undefined> {
    const size = this.size(rel);
    if (size === undefined) return undefined;
    if (size > maxBytes) throw new CapsaError('IMAGE', `${rel} in ${this.location} is too large (${size} bytes)`);
    return fs.promises.readFile(this.full(rel));
  }

  openStream(rel: string): Readable {
    if (!this.exists(rel)) throw new CapsaError('NOT_FOUND', `${rel} is missing from ${this.location}`);
    return fs.createReadStream(this.full(rel), { highWaterMark: 1 << 20 });
  }

  async close(): Promise<void> {}
}

interface Member {
  offset: number;
  size: number;
}

class ArchiveSource implements BlobSource {
  constructor(
    readonly location: string,
    private readonly file: string,
    private readonly members: Map<string, Member>,
    private readonly cleanup?: string,
  ) {}

  private member(rel: string): Member | undefined {
    return this.members.get(memberPath(rel));
  }

  exists(rel: string): boolean {
    return this.member(rel) !== undefined;
  }

  size(rel: string): number | undefined {
    return this.member(rel)?.size;
  }

  async readSmall(rel: string, maxBytes: number): Promise<Buffer | undefined> {
    const m = this.member(rel);
    if (!m) return undefined;
    if (m.size > maxBytes) throw new CapsaError('IMAGE', `${rel} in ${this.location} is too large (${m.size} bytes)`);
    const buf = Buffer.alloc(m.size);
    const fh = await fs.promises.open(this.file, 'r');
    try {
      const { bytesRead } = await fh.read(buf, 0, m.size, m.offset);
      if (bytesRead !== m.size) throw new CapsaError('IMAGE', `${this.location} is truncated at ${rel}`);
    } finally {
      await fh.close();
    }
    return buf;
  }

  openStream(rel: string): Readable {
    const m = this.member(rel);
    if (!m) throw new CapsaError('NOT_FOUND', `${rel} is missing from ${this.location}`);
    if (m.size === 0) return fs.createReadStream('/dev/null');
    return fs.createReadStream(this.file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 });
  }

  async close(): Promise<void> {
    if (this.cleanup) await fs.promises.rm(this.cleanup, { recursive: true, force: true });
  }
}

const BLOCK = 512;

function readAt(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** Maps each regular file of a tar archive to its data offset and size. */
export function indexTarFile(file: string, location: string): Map<string, Member> {
  const members = new Map<string, Member>();
  const fd = fs.openSync(file, 'r');
  try {
    const total = fs.fstatSync(fd).size;
    let offset = 0;
    let extended: HeaderData | undefined;
    let global: HeaderData | undefined;
    let longPath: string | undefined;
    while (offset + BLOCK <= total) {
      const block = readAt(fd, BLOCK, offset);
      const header = new Header(block, 0, extended, global);
      if (header.nullBlock) break;
      if (!header.cksumValid) throw new CapsaError('IMAGE', `${location}: not a tar archive (bad header at byte ${offset})`);
      const size = header.size ?? 0;
      const dataOffset = offset + BLOCK;
      const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (next > total) throw new CapsaError('IMAGE', `${location}: truncated tar archive`);
      switch (header.type) {
        case 'ExtendedHeader':
        case 'OldExtendedHeader':
          extended = Pax.parse(readAt(fd, size, dataOffset).toString(), extended, false);
          break;
        case 'GlobalExtendedHeader':
          global = Pax.parse(readAt(fd, size, dataOffset).toString(), global, true);
          break;
        case 'NextFileHasLongPath':
        case 'OldGnuLongPath':
          longPath = readAt(fd, size, dataOffset).toString().replace(/\0.*$/s, '');
          break;
        default: {
          const name = longPath ?? header.path ?? '';
          if (header.type === 'File' || header.type === 'OldFile' || header.type === 'ContiguousFile') {
            members.set(memberPath(name), { offset: dataOffset, size });
          }
          extended = undefined;
          longPath = undefined;
        }
      }
      offset = next;
    }
  } finally {
    fs.closeSync(fd);
  }
  return members;
}

function startsWith(file: string, magic: number[]): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = readAt(fd, magic.length, 0);
    return magic.every((b, i) => head[i] === b);
  } finally {
    fs.closeSync(fd);
  }
}

/** Opens SOURCE: an image layout directory or an (optionally gzipped) archive. */
export async function openSource(location: string): Promise<BlobSource> {
  const abs = path.resolve(location);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    throw fromSystemError(e, `image source ${location}`, 'NOT_FOUND');
  }
  if (st.isDirectory()) return new DirectorySource(location, abs);
  if (!st.isFile()) throw new CapsaError('INVALID_ARGUMENT', `image source ${location} is neither a directory nor a file`);
  if (!startsWith(abs, [0x1f, 0x8b])) return new ArchiveSource(location, abs, indexTarFile(abs, location));
  // `docker save | gzip`: archives must be seekable, so inflate into a temp file.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-archive-'));
  const plain = path.join(tmp, 'archive.tar');
  try {
    await pipeline(fs.createReadStream(abs), zlib.createGunzip(), fs.createWriteStream(plain));
    return new ArchiveSource(location, plain, indexTarFile(plain, location), tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e instanceof CapsaError ? e : new CapsaError('IMAGE', `${location}: cannot decompress: ${(e as Error).message}`);
  }
}
