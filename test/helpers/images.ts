// Builds test images from in-memory file trees: layer tars (tar-stream),
// gzip/zstd compression, OCI image layouts, oci-archive tarballs and
// docker-save tarballs (old and OCI-inside layouts). Also snapshots a directory
// tree so tests can compare an unpacked rootfs file by file.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Header as TarHeader } from 'tar';
import { pack as tarPack } from 'tar-stream';

export type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

export interface TreeEntry {
  path: string;
  type?: EntryType;
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch. */
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Written as SCHILY.xattr.* PAX records with their exact bytes. */
  xattrs?: Record<string, Buffer>;
}

export type Compression = 'none' | 'gzip' | 'zstd';

export const DEFAULT_MTIME = 1_600_000_000;

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A raw PAX header record block ("LEN KEY=VALUE\n"), binary-safe. */
function paxRecords(records: [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    parts.push(Buffer.concat([Buffer.from(String(len)), body]));
  }
  return Buffer.concat(parts);
}

/** An uncompressed layer tar. */
export async function layerTar(entries: TreeEntry[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', () => resolve());
    p.on('error', reject);
  });
  const add = (header: Record<string, unknown>, body?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (body) p.entry(header as never, body, cb);
      else p.entry(header as never, cb); // a body-less entry finishes by itself
    });
  for (const e of entries) {
    const type = e.type ?? (e.content !== undefined || path.basename(e.path).startsWith('.wh.') ? 'file' : 'directory');
    if (e.xattrs) {
      // tar-stream would write PAX values as UTF-8 text: emit the raw header ourselves.
      const pax = paxRecords(Object.entries(e.xattrs).map(([k, v]) => [`SCHILY.xattr.${k}`, v]));
      const block = Buffer.alloc(512);
      new TarHeader({ path: `PaxHeaders/${path.basename(e.path)}`, type: 'ExtendedHeader', size: pax.length, mode: 0o644, uid: 0, gid: 0, mtime: new Date(0) }).encode(block, 0);
      const padded = Buffer.alloc(Math.ceil(pax.length / 512) * 512);
      pax.copy(padded);
      (p as unknown as { push(b: Buffer): void }).push(Buffer.concat([block, padded]));
    }
    const body = type === 'file' ? Buffer.from(e.content ?? '') : undefined;
    await add(
      {
        name: e.path,
        type,
        mode: e.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        mtime: new Date((e.mtime ?? DEFAULT_MTIME) * 1000),
        linkname: e.linkname,
        devmajor: e.devmajor ?? 0,
        devminor: e.devminor ?? 0,
        size: body?.length ?? 0,
      },
      body,
    );
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function compress(data: Buffer, kind: Compression): Buffer {
  if (kind === 'gzip') return zlib.gzipSync(data);
  if (kind === 'zstd') return execFileSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 1 << 30 });
  return data;
}

const LAYER_MEDIA: Record<Compression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

export interface LayerSpec {
  entries: TreeEntry[];
  compression?: Compression;
  /** Overrides the descriptor's media type (e.g. a non-distributable one). */
  mediaType?: string;
}

export interface ImageSpec {
  layers: LayerSpec[];
  config?: Record<string, unknown>;
  os?: string;
  architecture?: string;
  variant?: string;
  /** org.opencontainers.image.ref.name of the index entry. */
  refName?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string };
}

export interface BuiltImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  diffIDs: string[];
  /** Uncompressed layer tars, for docker save. */
  tars: Buffer[];
}

export function blobFile(layoutDir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return path.join(layoutDir, 'blobs', alg!, hex!);
}

function writeBlob(layoutDir: string, data: Buffer, mediaType: string): Descriptor {
  const digest = sha256(data);
  fs.mkdirSync(path.join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(blobFile(layoutDir, digest), data);
  return { mediaType, digest, size: data.length };
}

export function writeJsonBlob(layoutDir: string, value: unknown, mediaType: string): Descriptor {
  return writeBlob(layoutDir, Buffer.from(JSON.stringify(value)), mediaType);
}

/** Writes an image's blobs (layers, config, manifest) into a layout dir. */
export async function writeImageBlobs(layoutDir: string, spec: ImageSpec): Promise<BuiltImage> {
  const layers: Descriptor[] = [];
  const diffIDs: string[] = [];
  const tars: Buffer[] = [];
  for (const l of spec.layers) {
    const tar = await layerTar(l.entries);
    tars.push(tar);
    diffIDs.push(sha256(tar));
    const kind = l.compression ?? 'gzip';
    layers.push(writeBlob(layoutDir, compress(tar, kind), l.mediaType ?? LAYER_MEDIA[kind]));
  }
  const os_ = spec.os ?? 'linux';
  const architecture = spec.architecture ?? hostArch();
  const configJson = {
    created: '2024-01-02T03:04:05Z',
    architecture,
    os: os_,
    ...(spec.variant ? { variant: spec.variant } : {}),
    config: spec.config ?? { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIDs },
    history: [],
  };
  const config = writeJsonBlob(layoutDir, configJson, 'application/vnd.oci.image.config.v1+json');
  const manifestJson = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers };
  const manifest = writeJsonBlob(layoutDir, manifestJson, 'application/vnd.oci.image.manifest.v1+json');
  manifest.platform = { os: os_, architecture, ...(spec.variant ? { variant: spec.variant } : {}) };
  if (spec.refName) manifest.annotations = { 'org.opencontainers.image.ref.name': spec.refName };
  return { manifest, config, layers, diffIDs, tars };
}

export function hostArch(): string {
  return ({ x64: 'amd64', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
}

export function writeIndex(layoutDir: string, manifests: Descriptor[]): void {
  fs.writeFileSync(path.join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(layoutDir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
}

/** A one-image OCI layout in layoutDir. */
export async function writeOciLayout(layoutDir: string, spec: ImageSpec): Promise<BuiltImage> {
  const img = await writeImageBlobs(layoutDir, spec);
  writeIndex(layoutDir, [img.manifest]);
  return img;
}

/** Tars a layout dir into an oci-archive. */
export function ociArchive(layoutDir: string, out: string): void {
  execFileSync('tar', ['-C', layoutDir, '-cf', out, '.']);
}

async function writeTar(out: string, files: [string, Buffer][]): Promise<void> {
  const p = tarPack();
  const ws = fs.createWriteStream(out);
  const finished = new Promise<void>((resolve, reject) => {
    ws.on('finish', () => resolve());
    ws.on('error', reject);
  });
  p.pipe(ws);
  for (const [name, data] of files) p.entry({ name, size: data.length, mode: 0o644, mtime: new Date(DEFAULT_MTIME * 1000) }, data);
  p.finalize();
  await finished;
}

/**
 * A `docker save` tarball: the old layout (<id>/layer.tar, <config>.json,
 * manifest.json) or, with oci: true, docker ≥ 25's (an OCI layout with
 * uncompressed layers plus manifest.json).
 */
export async function writeDockerSave(out: string, spec: ImageSpec, repoTag: string, opts: { oci?: boolean } = {}): Promise<BuiltImage> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-image-dsave-'));
  try {
    const uncompressed: ImageSpec = { ...spec, layers: spec.layers.map((l) => ({ ...l, compression: 'none' as const })) };
    const img = await writeImageBlobs(tmp, uncompressed);
    const configData = fs.readFileSync(blobFile(tmp, img.config.digest));
    const files: [string, Buffer][] = [];
    const hex = (d: string): string => d.split(':')[1]!;
    if (opts.oci) {
      const walk = (d: string): string[] => fs.readdirSync(path.join(tmp, d)).flatMap((n) => (fs.statSync(path.join(tmp, d, n)).isDirectory() ? walk(`${d}/${n}`) : [`${d}/${n}`]));
      for (const f of walk('blobs')) files.push([f, fs.readFileSync(path.join(tmp, f))]);
      const desc = { ...img.manifest, annotations: { 'io.containerd.image.name': `docker.io/library/${repoTag}`, 'org.opencontainers.image.ref.name': repoTag.split(':')[1] ?? 'latest' } };
      delete (desc as Partial<Descriptor>).platform;
      files.push(['oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }))]);
      files.push(['index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [desc] }))]);
      const manifestJson = [{ Config: `blobs/sha256/${hex(img.config.digest)}`, RepoTags: [repoTag], Layers: img.layers.map((l) => `blobs/sha256/${hex(l.digest)}`) }];
      files.push(['manifest.json', Buffer.from(JSON.stringify(manifestJson))]);
    } else {
      const layerPaths: string[] = [];
      img.tars.forEach((tar, i) => {
        const id = createHash('sha256').update(`layer${i}${img.diffIDs[i]}`).digest('hex');
        files.push([`${id}/VERSION`, Buffer.from('1.0')]);
        files.push([`${id}/layer.tar`, tar]);
        layerPaths.push(`${id}/layer.tar`);
      });
      files.push([`${hex(img.config.digest)}.json`, configData]);
      files.push(['manifest.json', Buffer.from(JSON.stringify([{ Config: `${hex(img.config.digest)}.json`, RepoTags: [repoTag], Layers: layerPaths }]))]);
      files.push(['repositories', Buffer.from('{}')]);
    }
    await writeTar(out, files);
    return img;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join('/tmp', `capsa-test-image-${tag}-`));
}

// ---- Tree snapshots ----

export interface NodeInfo {
  type: EntryType | 'whiteout' | 'other';
  mode: number;
  uid: number;
  gid: number;
  mtime?: number;
  content?: string;
  linkname?: string;
  rdev?: [number, number];
  ino?: number;
}

function typeOf(st: fs.Stats): NodeInfo['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return st.rdev === 0 ? 'whiteout' : 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  return 'other';
}

/** Every node below dir (not following symlinks), keyed by its relative path. */
export function snapshotTree(dir: string): Map<string, NodeInfo> {
  const out = new Map<string, NodeInfo>();
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      const info: NodeInfo = { type: typeOf(st), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), ino: st.ino };
      if (st.isFile()) info.content = fs.readFileSync(p, 'latin1');
      if (st.isSymbolicLink()) info.linkname = fs.readlinkSync(p);
      if (st.isCharacterDevice() || st.isBlockDevice()) info.rdev = [Math.floor(st.rdev / 256) & 0xfff, (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)];
      out.set(r, info);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

export interface Expected {
  type: NodeInfo['type'];
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  content?: string;
  linkname?: string;
  rdev?: [number, number];
}

/** Differences between a snapshot and the expected tree (exact path set), as readable lines. */
export function diffTree(actual: Map<string, NodeInfo>, expected: Record<string, Expected>): string[] {
  const problems: string[] = [];
  for (const [p, want] of Object.entries(expected)) {
    const have = actual.get(p);
    if (!have) {
      problems.push(`missing ${p}`);
      continue;
    }
    for (const key of ['type', 'mode', 'uid', 'gid', 'mtime', 'content', 'linkname'] as const) {
      if (want[key] !== undefined && want[key] !== have[key]) problems.push(`${p}: ${key} is ${JSON.stringify(have[key])}, expected ${JSON.stringify(want[key])}`);
    }
    if (want.rdev && JSON.stringify(want.rdev) !== JSON.stringify(have.rdev)) problems.push(`${p}: rdev ${JSON.stringify(have.rdev)}, expected ${JSON.stringify(want.rdev)}`);
  }
  for (const p of actual.keys()) if (!(p in expected)) problems.push(`unexpected ${p}`);
  return problems;
}
