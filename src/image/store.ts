// The shared, content-addressed layer store.
//
// Layout (default /var/lib/capsa, or --store DIR):
//
//   layers/sha256/<diffID>/fs/     one extracted layer, an overlayfs lower dir
//   layers/sha256/<diffID>/meta.json  sizes, written before the dir is renamed in
//   l/<short id> -> ../layers/sha256/<diffID>/fs
//                                  short names, so a mount of many layers fits
//                                  overlay's one-page option limit (mount runs
//                                  with cwd = store and relative lowerdirs)
//   images/<alg>-<hex>.json        an unpacked image: id, ref names, layers
//   refs/<sha256(bundle path)>.json  a bundle using layers: {bundle, image, layers}
//   tmp/                           extraction in progress; renamed into layers/
//                                  only after every digest checked out
//   lock                           flock: unpack shared, gc exclusive
//
// A layer is extracted once, under its diff ID (the digest of its uncompressed
// tar, which the image config names and we verify), and shared by every
// bundle. `image gc` removes layers no image record and no bundle refers to.
//
// Bundles made from the store (see bundle.ts): BUNDLE/rootfs is an overlay
// mount of the layers (lower, read-only, shared) with BUNDLE/overlay/upper and
// BUNDLE/overlay/work (private, writable). BUNDLE/capsa-bundle.json records
// the store and layers. For other runtimes: `runc run -b BUNDLE` (crun,
// youki…) works as long as BUNDLE/rootfs is mounted — it is a plain rootfs to
// them. After a reboot the mount is gone; `capsa bundle mount BUNDLE`
// remounts it (the recovery command), and `capsa bundle rm BUNDLE` unmounts
// and releases it. `--flat` bundles are plain directories and need nothing.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { CapsaError } from '../errors';
import { parseDigest } from './digest';
import { lockFile } from './fsops';

export const DEFAULT_STORE = '/var/lib/capsa';

export interface LayerMeta {
  diffID: string;
  /** Bytes of file content. */
  bytes: number;
  entries: number;
  /** Compressed blob digest it was extracted from, when known. */
  blobDigest?: string;
  extractedAt: string;
}

export interface ImageRecord {
  id: string;
  refNames: string[];
  configDigest: string;
  layers: string[];
  source: string;
  created?: string;
  unpackedAt: string;
}

export interface BundleRef {
  bundle: string;
  image: string;
  layers: string[];
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Writes by rename, so readers never see half a file. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o644 });
  fs.renameSync(tmp, file);
}

export class LayerStore {
  readonly dir: string;

  constructor(dir: string = DEFAULT_STORE) {
    this.dir = path.resolve(dir);
  }

  private sub(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** Creates the store's directories (idempotent). */
  init(): void {
    // 0700 all the way (as containerd's and docker's stores): the layers hold
    // the images' setuid binaries, file capabilities and device nodes, which
    // no local user may reach. overlayfs reaches its lower dirs with the
    // mounter's (root's) credentials, and containers see them through the
    // overlay, so nothing else needs to traverse the store.
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(this.dir, 0o700);
    for (const d of ['layers/sha256', 'layers/sha512', 'l', 'tmp', 'images', 'refs', 'empty']) {
      fs.mkdirSync(this.sub(d), { recursive: true, mode: 0o700 });
    }
    fs.chmodSync(this.sub('layers'), 0o700);
  }

  exists(): boolean {
    return fs.existsSync(this.sub('layers'));
  }

  lock(exclusive: boolean): () => void {
    return lockFile(this.sub('lock'), exclusive);
  }

  layerDir(diffID: string): string {
    const d = parseDigest(diffID, 'diff ID');
    return this.sub('layers', d.algorithm, d.hex);
  }

  /** The extracted tree of a layer (an overlay lower dir). */
  layerRoot(diffID: string): string {
    return path.join(this.layerDir(diffID), 'fs');
  }

  /** A layer is present once its directory is (it is renamed in complete). */
  layerMeta(diffID: string): LayerMeta | undefined {
    return readJson<LayerMeta>(path.join(this.layerDir(diffID), 'meta.json'));
  }

  hasLayer(diffID: string): boolean {
    return this.layerMeta(diffID) !== undefined;
  }

  /** An empty directory for extraction; commit it with commitLayer or remove it. */
  makeTempDir(): string {
    const dir = this.sub('tmp', `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.mkdirSync(path.join(dir, 'fs'), { mode: 0o755 });
    return dir;
  }

  /** Moves a fully verified temp dir into place; if another unpack won the race, keeps theirs. */
  commitLayer(tempDir: string, meta: LayerMeta): void {
    writeJsonAtomic(path.join(tempDir, 'meta.json'), meta);
    const dest = this.layerDir(meta.diffID);
    try {
      fs.renameSync(tempDir, dest);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && this.hasLayer(meta.diffID)) {
        fs.rmSync(tempDir, { recursive: true, force: true });
        return;
      }
      throw e;
    }
  }

  /**
   * The layer's short name under l/, made if missing: the shortest hex prefix
   * (12 characters or more) not taken by another layer.
   */
  linkName(diffID: string): string {
    const { hex } = parseDigest(diffID, 'diff ID');
    const target = path.relative(this.sub('l'), this.layerRoot(diffID));
    for (let len = 12; len <= hex.length; len += 4) {
      const name = hex.slice(0, len);
      const link = this.sub('l', name);
      let current: string | undefined;
      try {
        current = fs.readlinkSync(link);
      } catch {
        try {
          fs.symlinkSync(target, link);
          return name;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          current = fs.readlinkSync(link);
        }
      }
      if (current === target) return name;
    }
    throw new CapsaError('INTERNAL', `no free short name for layer ${diffID}`);
  }

  listLayers(): LayerMeta[] {
    const out: LayerMeta[] = [];
    for (const alg of ['sha256', 'sha512']) {
      let names: string[] = [];
      try {
        names = fs.readdirSync(this.sub('layers', alg));
      } catch {
        continue;
      }
      for (const hex of names) {
        const meta = readJson<LayerMeta>(this.sub('layers', alg, hex, 'meta.json'));
        if (meta) out.push(meta);
      }
    }
    return out;
  }

  private imageFile(id: string): string {
    const d = parseDigest(id, 'image');
    return this.sub('images', `${d.algorithm}-${d.hex}.json`);
  }

  /** Records an unpacked image, merging ref names with an earlier record. */
  recordImage(rec: ImageRecord): void {
    const file = this.imageFile(rec.id);
    const old = readJson<ImageRecord>(file);
    const refNames = [...new Set([...(old?.refNames ?? []), ...rec.refNames])];
    writeJsonAtomic(file, { ...rec, refNames });
  }

  listImages(): ImageRecord[] {
    return this.listJson<ImageRecord>('images');
  }

  /** Drops image records matched by ref name or digest (prefix ≥ 6 hex); returns them. */
  removeImage(ref: string): ImageRecord[] {
    const hex = ref.replace(/^(sha256|sha512):/, '');
    const byDigest = /^[a-f0-9]{6,}$/.test(hex);
    const matches = this.listImages().filter(
      (img) =>
        img.refNames.includes(ref) ||
        img.refNames.some((n) => n.endsWith(`:${ref}`) || n === `${ref}:latest`) ||
        (byDigest && (img.id.startsWith(ref) || img.id.split(':')[1]!.startsWith(hex))),
    );
    for (const img of matches) fs.rmSync(this.imageFile(img.id), { force: true });
    return matches;
  }

  private refFile(bundle: string): string {
    return this.sub('refs', `${createHash('sha256').update(path.resolve(bundle)).digest('hex')}.json`);
  }

  addRef(ref: BundleRef): void {
    writeJsonAtomic(this.refFile(ref.bundle), ref);
  }

  removeRef(bundle: string): void {
    fs.rmSync(this.refFile(bundle), { force: true });
  }

  listRefs(): BundleRef[] {
    return this.listJson<BundleRef>('refs');
  }

  private listJson<T>(sub: string): T[] {
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.sub(sub));
    } catch {
      return [];
    }
    return names
      .filter((n) => n.endsWith('.json'))
      .map((n) => readJson<T>(this.sub(sub, n)))
      .filter((x): x is T => x !== undefined);
  }

  /**
   * Removes layers that no image record and no live bundle refers to, refs of
   * bundles that no longer exist, and leftovers of interrupted unpacks.
   */
  gc(): { layers: LayerMeta[]; staleRefs: string[] } {
    if (!this.exists()) return { layers: [], staleRefs: [] };
    const release = this.lock(true);
    try {
      const staleRefs: string[] = [];
      const keep = new Set<string>();
      for (const ref of this.listRefs()) {
        if (!fs.existsSync(path.join(ref.bundle, 'capsa-bundle.json'))) {
          staleRefs.push(ref.bundle);
          this.removeRef(ref.bundle);
          continue;
        }
        ref.layers.forEach((l) => keep.add(l));
      }
      for (const img of this.listImages()) img.layers.forEach((l) => keep.add(l));
      const removed: LayerMeta[] = [];
      for (const meta of this.listLayers()) {
        if (keep.has(meta.diffID)) continue;
        // Rename first: a half-deleted layer must never look present.
        const trash = this.sub('tmp', `gc-${randomBytes(6).toString('hex')}`);
        fs.renameSync(this.layerDir(meta.diffID), trash);
        removed.push(meta);
      }
      for (const name of fs.readdirSync(this.sub('tmp'))) fs.rmSync(this.sub('tmp', name), { recursive: true, force: true });
      for (const name of fs.readdirSync(this.sub('l'))) {
        const link = this.sub('l', name);
        if (!fs.existsSync(link)) fs.rmSync(link, { force: true });
      }
      return { layers: removed, staleRefs };
    } finally {
      release();
    }
  }
}
