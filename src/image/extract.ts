// Writes one layer tar into a directory, safely. Every path is resolved one
// component at a time with lstat, so nothing is ever written through a
// symlink, and `..` is refused outright: a hostile layer cannot reach outside
// the directory it is unpacked into.
//
// Two whiteout modes:
//  - overlay: the directory is one overlayfs lower layer; `.wh.NAME` becomes a
//    0/0 character device and `.wh..wh..opq` the trusted.overlay.opaque xattr.
//  - flat: the directory is the merged rootfs; whiteouts delete what lower
//    layers put there (never what this layer itself wrote).
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { extract as tarExtract, type Header } from 'tar-stream';

import { CapsaError } from '../errors';
import { lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from './fsops';
import { captureRawXattrs, type HeaderWithXattrs, xattrsFromDecodedPax } from './paxraw';

export type WhiteoutMode = 'overlay' | 'flat';

export interface ExtractOptions {
  /** An existing directory to write into. */
  root: string;
  mode: WhiteoutMode;
  /** "layer sha256:…", for messages. */
  what: string;
  /**
   * Overlay mode: the lower layers' directories, top first. A directory this
   * layer needs but does not list takes its owner/mode/times from there, so
   * it does not mask the lower one's metadata (containerd does the same).
   */
  lowerRoots?: string[];
}

export interface ExtractStats {
  entries: number;
  /** Bytes of regular-file content written. */
  bytes: number;
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const OPEN_NEW_FILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

interface Times {
  atime: number;
  mtime: number;
}

type EntryHeader = Header & HeaderWithXattrs & { pax?: Record<string, string> | null };

function lstatOrNull(p: string): fs.Stats | undefined {
  return fs.lstatSync(p, { throwIfNoEntry: false });
}

/** lstat of root/rel that follows no symlink on the way; undefined if any part is not a real directory. */
function lstatInside(root: string, rel: string): fs.Stats | undefined {
  const parts = rel.split('/');
  let p = root;
  for (let i = 0; i < parts.length; i++) {
    p += `/${parts[i]}`;
    const st = lstatOrNull(p);
    if (!st) return undefined;
    if (i === parts.length - 1) return st;
    if (!st.isDirectory()) return undefined;
  }
  return undefined;
}


class LayerWriter {
  /** Paths this layer wrote; same-layer files are immune to its whiteouts. */
  private readonly created = new Set<string>();
  /** Paths checked to be real directories (cleared when any directory is removed). */
  private readonly knownDirs = new Set<string>();
  /** Directories this layer made opaque ('' for the root). */
  private readonly opaqueDirs = new Set<string>();
  /** Directory times are set last: writing their children changes them. */
  private readonly dirTimes = new Map<string, Times>();
  readonly stats: ExtractStats = { entries: 0, bytes: 0 };

  constructor(private readonly opts: ExtractOptions) {}

  private hostile(entry: string, why: string): CapsaError {
    return new CapsaError('IMAGE', `${this.opts.what}: entry ${JSON.stringify(entry)} ${why}`);
  }

  /** Splits an entry name into components; absolute names become relative, `..` is refused. */
  private components(name: string, entry: string): string[] {
    const parts = name.split('/').filter((s) => s !== '' && s !== '.');
    if (parts.includes('..')) throw this.hostile(entry, 'has a ".." component: refusing to write outside the layer');
    return parts;
  }

  private full(rel: string): string {
    return `${this.opts.root}/${rel}`;
  }

  private remove(rel: string, st: fs.Stats): void {
    const p = this.full(rel);
    if (st.isDirectory()) {
      fs.rmSync(p, { recursive: true, force: true });
      this.knownDirs.clear();
      for (const key of this.dirTimes.keys()) if (key === rel || key.startsWith(`${rel}/`)) this.dirTimes.delete(key);
    } else {
      fs.unlinkSync(p);
    }
  }

  /** Makes every component of `parts` a real directory, creating missing ones. */
  private ensureDirs(parts: string[], entry: string): void {
    let rel = '';
    for (const part of parts) {
      rel = rel ? `${rel}/${part}` : part;
      if (this.knownDirs.has(rel)) continue;
      const st = lstatOrNull(this.full(rel));
      if (st?.isDirectory()) {
        this.knownDirs.add(rel);
        continue;
      }
      if (st) {
        if (st.isSymbolicLink() && this.created.has(rel)) {
          throw this.hostile(entry, `lies under ${JSON.stringify(rel)}, a symlink of the same layer: refusing to write through it`);
        }
        // A lower layer's symlink or file in flat mode: overlayfs would show
        // this layer's directory instead, so do the same.
        this.remove(rel, st);
      }
      this.makeImplicitDir(rel);
      this.knownDirs.add(rel);
    }
  }

  /**
   * Checks (without creating) that every component of `parts` is a real
   * directory. A symlink on the way is hostile where something would be
   * reached through it (hard links); for a whiteout it just means nothing to hide.
   */
  private checkDirs(parts: string[], entry: string, symlinkIsHostile = true): boolean {
    let rel = '';
    for (const part of parts) {
      rel = rel ? `${rel}/${part}` : part;
      if (this.knownDirs.has(rel)) continue;
      const st = lstatOrNull(this.full(rel));
      if (!st) return false;
      if (st.isSymbolicLink()) {
        if (symlinkIsHostile) throw this.hostile(entry, `refers through the symlink ${JSON.stringify(rel)}: refused`);
        return false;
      }
      if (!st.isDirectory()) return false;
      this.knownDirs.add(rel);
    }
    return true;
  }

  /** The topmost lower layer's directory at rel, if that is what the layers below show. */
  private lowerDir(rel: string): fs.Stats | undefined {
    for (const lower of this.opts.lowerRoots ?? []) {
      const st = lstatInside(lower, rel);
      if (!st) continue;
      return st.isDirectory() ? st : undefined; // a whiteout or non-directory hides anything further down
    }
    return undefined;
  }

  private lowerHasDir(rel: string): boolean {
    return this.lowerDir(rel) !== undefined;
  }

  private makeImplicitDir(rel: string): void {
    const p = this.full(rel);
    const model = this.lowerDir(rel);
    fs.mkdirSync(p, 0o755);
    if (model) {
      fs.lchownSync(p, model.uid, model.gid);
      fs.chmodSync(p, model.mode & 0o7777);
      this.dirTimes.set(rel, { atime: model.atimeMs / 1000, mtime: model.mtimeMs / 1000 });
    } else {
      fs.chmodSync(p, 0o755);
    }
    this.created.add(rel);
  }

  private applyXattrs(p: string, h: EntryHeader): void {
    const xattrs = h.xattrs ?? xattrsFromDecodedPax(h.pax);
    if (!xattrs) return;
    for (const [name, value] of xattrs) {
      // trusted.* is overlayfs's own namespace (opaque, redirect, metacopy): a
      // layer must not forge it. SELinux labels depend on the host policy.
      if (name.startsWith('trusted.') || name === 'security.selinux') continue;
      lsetxattr(p, name, value);
    }
  }

  private ownerAndTimes(h: EntryHeader): { uid: number; gid: number; times: Times } {
    const pax = h.pax ?? {};
    const uid = pax.uid !== undefined ? Number(pax.uid) : h.uid;
    const gid = pax.gid !== undefined ? Number(pax.gid) : h.gid;
    const mtime = pax.mtime !== undefined ? Number(pax.mtime) : (h.mtime?.getTime() ?? 0) / 1000;
    const atime = pax.atime !== undefined ? Number(pax.atime) : mtime;
    return { uid, gid, times: { atime: Number.isFinite(atime) ? atime : mtime, mtime: Number.isFinite(mtime) ? mtime : 0 } };
  }

  async entry(h: EntryHeader, data: Readable): Promise<void> {
    const name = h.name;
    const parts = this.components(name, name);
    this.stats.entries++;
    if (parts.length === 0) return; // the layer root itself: its metadata is the bundle's business
    const base = parts[parts.length - 1]!;
    const parentParts = parts.slice(0, -1);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      this.whiteout(parentParts, base, name);
      return;
    }
    this.ensureDirs(parentParts, name);
    const rel = parts.join('/');
    const p = this.full(rel);
    const existing = lstatOrNull(p);
    if (existing && !(h.type === 'directory' && existing.isDirectory())) this.remove(rel, existing);
    const { uid, gid, times } = this.ownerAndTimes(h);
    const mode = h.mode & 0o7777;

    switch (h.type) {
      case 'file':
      case 'contiguous-file': {
        const fd = fs.openSync(p, OPEN_NEW_FILE, 0o600);
        try {
          for await (const chunk of data as AsyncIterable<Buffer>) {
            let off = 0;
            while (off < chunk.length) off += fs.writeSync(fd, chunk, off);
            this.stats.bytes += chunk.length;
          }
          // chown clears setuid/setgid and capabilities: mode and xattrs come after.
          fs.fchownSync(fd, uid, gid);
          fs.fchmodSync(fd, mode);
          this.applyXattrs(p, h);
          fs.futimesSync(fd, times.atime, times.mtime);
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
      case 'directory':
        if (!existing?.isDirectory()) fs.mkdirSync(p, 0o700);
        fs.lchownSync(p, uid, gid);
        fs.chmodSync(p, mode);
        this.applyXattrs(p, h);
        this.dirTimes.set(rel, times);
        this.knownDirs.add(rel);
        break;
      case 'symlink':
        fs.symlinkSync(h.linkname ?? '', p);
        fs.lchownSync(p, uid, gid);
        this.applyXattrs(p, h);
        fs.lutimesSync(p, times.atime, times.mtime);
        break;
      case 'link':
        this.hardlink(h.linkname ?? '', rel, name);
        break;
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const type = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
        mknod(p, type | mode, h.devmajor ?? 0, h.devminor ?? 0);
        fs.lchownSync(p, uid, gid);
        fs.chmodSync(p, mode);
        this.applyXattrs(p, h);
        fs.lutimesSync(p, times.atime, times.mtime);
        break;
      }
      default:
        return; // unknown entry types carry nothing we can represent
    }
    this.created.add(rel);
  }

  private hardlink(linkname: string, rel: string, entry: string): void {
    const target = this.components(linkname, entry);
    const targetRel = target.join('/');
    if (target.length === 0) throw this.hostile(entry, 'is a hard link to the layer root');
    if (targetRel === rel) return;
    const st = this.checkDirs(target.slice(0, -1), entry) ? lstatOrNull(this.full(targetRel)) : undefined;
    if (!st) throw this.hostile(entry, `is a hard link to ${JSON.stringify(linkname)}, which is not in the layer`);
    if (st.isDirectory()) throw this.hostile(entry, `is a hard link to the directory ${JSON.stringify(linkname)}`);
    // link(2) does not follow a symlink in its last component, and the parents were checked.
    fs.linkSync(this.full(targetRel), this.full(rel));
  }

  private whiteout(parentParts: string[], base: string, entry: string): void {
    const dirRel = parentParts.join('/');
    if (base === OPAQUE_MARKER) {
      if (this.opts.mode === 'overlay') {
        this.ensureDirs(parentParts, entry);
        lsetxattr(dirRel ? this.full(dirRel) : this.opts.root, 'trusted.overlay.opaque', Buffer.from('y'));
        if (dirRel) this.created.add(dirRel);
        this.opaqueDirs.add(dirRel);
      } else if (this.checkDirs(parentParts, entry, false)) {
        const dir = dirRel ? this.full(dirRel) : this.opts.root;
        for (const child of fs.readdirSync(dir)) {
          const childRel = dirRel ? `${dirRel}/${child}` : child;
          if (this.created.has(childRel)) continue;
          const st = lstatOrNull(this.full(childRel));
          if (st) this.remove(childRel, st);
        }
      }
      return;
    }
    if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return; // aufs bookkeeping, meaningless here
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') throw this.hostile(entry, 'is a malformed whiteout');
    const targetRel = dirRel ? `${dirRel}/${name}` : name;
    if (this.created.has(targetRel)) return; // whiteouts hide lower layers only
    if (this.opts.mode === 'flat') {
      if (!this.checkDirs(parentParts, entry, false)) return;
      const st = lstatOrNull(this.full(targetRel));
      if (st) this.remove(targetRel, st);
      return;
    }
    // overlayfs lists whiteouts found in a directory it does not merge (one
    // that is opaque, or has no directory below it), so make none there.
    if (dirRel && (this.opaqueDirs.has(dirRel) || !this.lowerHasDir(dirRel))) return;
    this.ensureDirs(parentParts, entry);
    const p = this.full(targetRel);
    const st = lstatOrNull(p);
    if (st) this.remove(targetRel, st);
    mknod(p, S_IFCHR, 0, 0);
  }

  /** Sets the deferred directory times, deepest last is fine: utimes does not touch the parent. */
  finish(): void {
    for (const [rel, t] of this.dirTimes) {
      const st = lstatInside(this.opts.root, rel);
      if (st?.isDirectory()) fs.lutimesSync(this.full(rel), t.atime, t.mtime);
    }
  }
}

/**
 * Extracts the tar read from `input` into `opts.root`. Resolves once every
 * byte of `input` was consumed (so a digest computed upstream is complete).
 */
export function extractLayer(input: Readable, opts: ExtractOptions): Promise<ExtractStats> {
  const writer = new LayerWriter(opts);
  const extract = tarExtract();
  captureRawXattrs(extract);
  return new Promise<ExtractStats>((resolve, reject) => {
    let failed = false;
    const fail = (e: unknown): void => {
      if (failed) return;
      failed = true;
      input.destroy();
      extract.destroy();
      const err = e instanceof CapsaError ? e : new CapsaError('IMAGE', `${opts.what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
      reject(err);
    };
    extract.on('entry', (header, stream, next) => {
      writer
        .entry(header as EntryHeader, stream as unknown as Readable)
        .then(async () => {
          stream.resume();
          next();
        })
        .catch(fail);
    });
    extract.on('finish', () => {
      if (failed) return;
      try {
        writer.finish();
        resolve(writer.stats);
      } catch (e) {
        fail(e);
      }
    });
    extract.on('error', fail);
    input.on('error', fail);
    input.pipe(extract as unknown as NodeJS.WritableStream);
  });
}
