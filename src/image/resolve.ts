// Finds the one image to unpack in a source: by ref name and platform,
// following nested indexes, and verifies every small blob on the way
// (index → manifest → config). Handles OCI layouts (including docker save ≥ 25,
// which embeds one) and the older docker save layout (manifest.json).
import { CapsaError } from '../errors';
import { digestOf, parseDigest, shortDigest, verifyBuffer } from './digest';
import { DOCKER_CONFIG, checkLayerMediaType, isConfigType, isIndexType, isManifestType, LAYER_TAR } from './mediatypes';
import { formatPlatform, type Platform, platformMatches } from './platform';
import type { BlobSource } from './source';

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  author?: string;
  created?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, unknown>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, unknown>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs?: { type?: string; diff_ids?: string[] };
}

export interface LayerRef {
  diffID: string;
  /** Path of the blob inside the source. */
  blobPath: string;
  /** Compressed digest and size from the manifest; absent for old docker save layers. */
  digest?: string;
  size?: number;
  mediaType: string;
}

export interface ResolvedImage {
  /** Manifest digest (for an old docker save: the config digest, docker's image ID). */
  id: string;
  refNames: string[];
  configDigest: string;
  config: ImageConfig;
  layers: LayerRef[];
}

export interface ResolveOptions {
  ref?: string;
  platform: Platform;
}

const MAX_JSON = 8 << 20;
const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';

export function blobPath(digest: string, what: string): string {
  const d = parseDigest(digest, what);
  return `blobs/${d.algorithm}/${d.hex}`;
}

function parseJson<T>(data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (e) {
    // Where, never what: V8's message quotes the bytes around the error, and
    // a hostile source would have us print a file's content.
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new CapsaError('IMAGE', `${what}: invalid JSON${at ? ` at byte ${at}` : ''}`);
  }
}

async function readFileJson<T>(source: BlobSource, rel: string): Promise<T> {
  const data = await source.readSmall(rel, MAX_JSON);
  if (!data) throw new CapsaError('IMAGE', `${source.location}: ${rel} is missing`);
  return parseJson<T>(data, `${source.location}: ${rel}`);
}

/** Reads a blob named by a descriptor, checking its size and digest before parsing. */
export async function readBlobJson<T>(source: BlobSource, desc: Descriptor, what: string): Promise<T> {
  const rel = blobPath(desc.digest, what);
  if (typeof desc.size !== 'number' || desc.size < 0 || desc.size > MAX_JSON) {
    throw new CapsaError('IMAGE', `${what} ${shortDigest(desc.digest)}: invalid size ${JSON.stringify(desc.size)}`);
  }
  const data = await source.readSmall(rel, MAX_JSON);
  if (!data) throw new CapsaError('IMAGE', `${what} ${desc.digest} is missing from ${source.location}`);
  verifyBuffer(data, desc.digest, desc.size, `${what} ${desc.digest}`);
  return parseJson<T>(data, `${what} ${desc.digest}`);
}

/** Docker-style names compare without their default registry and namespace. */
function shortName(name: string): string {
  return name.replace(/^docker\.io\//, '').replace(/^library\//, '');
}

/** Does `ref` (a tag, name:tag, or full name) designate an image known by `names`? */
export function refMatches(names: string[], ref: string): boolean {
  const want = shortName(ref);
  return names.some((n) => {
    const have = shortName(n);
    if (have === want || have === `${want}:latest`) return true;
    const tag = have.slice(have.lastIndexOf(':') + 1);
    return !want.includes(':') && !want.includes('/') && have.includes(':') && tag === want;
  });
}

function namesOf(desc: Descriptor): string[] {
  const a = desc.annotations ?? {};
  return [a[REF_NAME], a[CONTAINERD_NAME]].filter((s): s is string => typeof s === 'string' && s !== '');
}

interface Candidate {
  manifest: Descriptor;
  top: Descriptor;
}

async function expand(source: BlobSource, desc: Descriptor, top: Descriptor, want: Platform, out: Candidate[], seen: Platform[], depth: number): Promise<void> {
  let mediaType = desc.mediaType;
  let index: { manifests?: Descriptor[] } | undefined;
  if (!isIndexType(mediaType) && !isManifestType(mediaType)) {
    // Untyped descriptor: the blob itself says what it is.
    const blob = await readBlobJson<{ mediaType?: string; manifests?: Descriptor[] }>(source, desc, 'manifest');
    mediaType = blob.mediaType ?? (Array.isArray(blob.manifests) ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json');
    if (isIndexType(mediaType)) index = blob;
  }
  if (isIndexType(mediaType)) {
    if (depth > 4) throw new CapsaError('IMAGE', `${source.location}: image indexes nested too deeply`);
    index ??= await readBlobJson<{ manifests?: Descriptor[] }>(source, desc, 'image index');
    for (const child of index.manifests ?? []) {
      if (!platformMatches(want, child.platform)) {
        if (child.platform) seen.push(child.platform);
        continue;
      }
      await expand(source, child, top, want, out, seen, depth + 1);
    }
    return;
  }
  if (!isManifestType(mediaType)) return; // artifacts and the like
  if (platformMatches(want, desc.platform)) out.push({ manifest: desc, top });
  else if (desc.platform) seen.push(desc.platform);
}

async function resolveLayout(source: BlobSource, opts: ResolveOptions): Promise<ResolvedImage> {
  const index = await readFileJson<{ manifests?: Descriptor[] }>(source, 'index.json');
  let tops = index.manifests ?? [];
  const allNames = [...new Set(tops.flatMap(namesOf))];
  if (opts.ref !== undefined) {
    tops = tops.filter((d) => refMatches(namesOf(d), opts.ref!));
    if (tops.length === 0) {
      throw new CapsaError('NOT_FOUND', `no image named ${JSON.stringify(opts.ref)} in ${source.location} (it has: ${allNames.join(', ') || 'no ref names'})`);
    }
  }
  const found: Candidate[] = [];
  const seen: Platform[] = [];
  for (const top of tops) await expand(source, top, top, opts.platform, found, seen, 0);
  if (found.length === 0) {
    const others = [...new Set(seen.map(formatPlatform))].join(', ');
    throw new CapsaError('NOT_FOUND', `no image for platform ${formatPlatform(opts.platform)} in ${source.location}${others ? ` (it has: ${others})` : ''}`);
  }
  const distinctTops = new Set(found.map((c) => c.top.digest));
  if (distinctTops.size > 1 && opts.ref === undefined) {
    throw new CapsaError('INVALID_ARGUMENT', `${source.location} holds several images; choose one with --ref (${allNames.join(', ') || 'no ref names'})`);
  }
  const chosen = found[0]!;
  const manifest = await readBlobJson<{ config?: Descriptor; layers?: Descriptor[] }>(source, chosen.manifest, 'manifest');
  if (!manifest.config || !isConfigType(manifest.config.mediaType ?? DOCKER_CONFIG)) {
    throw new CapsaError('IMAGE', `manifest ${chosen.manifest.digest} is not a container image (config media type ${JSON.stringify(manifest.config?.mediaType)})`);
  }
  const config = await readBlobJson<ImageConfig>(source, manifest.config, 'image config');
  const descs = manifest.layers ?? [];
  const diffIDs = config.rootfs?.diff_ids ?? [];
  if (diffIDs.length !== descs.length) {
    throw new CapsaError('IMAGE', `image config ${shortDigest(manifest.config.digest)} lists ${diffIDs.length} diff IDs for ${descs.length} layers`);
  }
  const layers = descs.map((d, i): LayerRef => {
    checkLayerMediaType(d.mediaType, d.digest);
    parseDigest(diffIDs[i], 'diff ID');
    if (typeof d.size !== 'number' || d.size < 0) throw new CapsaError('IMAGE', `layer ${d.digest}: invalid size`);
    return { diffID: diffIDs[i]!, blobPath: blobPath(d.digest, 'layer'), digest: d.digest, size: d.size, mediaType: d.mediaType! };
  });
  const refNames = [...new Set([...namesOf(chosen.top), ...namesOf(chosen.manifest)])];
  return { id: chosen.manifest.digest, refNames, configDigest: manifest.config.digest, config, layers };
}

interface DockerSaveEntry {
  Config?: string;
  RepoTags?: string[] | null;
  Layers?: string[];
}

async function resolveDockerSave(source: BlobSource, opts: ResolveOptions): Promise<ResolvedImage> {
  let entries = await readFileJson<DockerSaveEntry[]>(source, 'manifest.json');
  if (!Array.isArray(entries) || entries.length === 0) throw new CapsaError('IMAGE', `${source.location}: manifest.json lists no image`);
  const allNames = entries.flatMap((e) => e.RepoTags ?? []);
  if (opts.ref !== undefined) {
    entries = entries.filter((e) => refMatches(e.RepoTags ?? [], opts.ref!));
    if (entries.length === 0) throw new CapsaError('NOT_FOUND', `no image named ${JSON.stringify(opts.ref)} in ${source.location} (it has: ${allNames.join(', ') || 'no tags'})`);
  } else if (entries.length > 1) {
    throw new CapsaError('INVALID_ARGUMENT', `${source.location} holds several images; choose one with --ref (${allNames.join(', ')})`);
  }
  const entry = entries[0]!;
  if (typeof entry.Config !== 'string') throw new CapsaError('IMAGE', `${source.location}: manifest.json entry has no Config`);
  const data = await source.readSmall(entry.Config, MAX_JSON);
  if (!data) throw new CapsaError('IMAGE', `${source.location}: ${entry.Config} is missing`);
  const configDigest = digestOf(data);
  // The config's file name is its digest: check it when it has that form.
  const named = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(entry.Config);
  if (named && `sha256:${named[1]}` !== configDigest) {
    throw new CapsaError('IMAGE', `image config ${entry.Config}: digest mismatch (expected sha256:${named[1]}, got ${configDigest})`);
  }
  const config = parseJson<ImageConfig>(data, `image config ${entry.Config}`);
  const paths = entry.Layers ?? [];
  const diffIDs = config.rootfs?.diff_ids ?? [];
  if (diffIDs.length !== paths.length) {
    throw new CapsaError('IMAGE', `image config ${shortDigest(configDigest)} lists ${diffIDs.length} diff IDs for ${paths.length} layers`);
  }
  const layers = paths.map((p, i): LayerRef => {
    parseDigest(diffIDs[i], 'diff ID');
    // Uncompressed tars: the diff ID is the whole check (done after reading).
    return { diffID: diffIDs[i]!, blobPath: p, mediaType: LAYER_TAR };
  });
  return { id: configDigest, refNames: entry.RepoTags ?? [], configDigest, config, layers };
}

/** Picks and verifies the image's manifest and config; reads no layer. */
export async function resolveImage(source: BlobSource, opts: ResolveOptions): Promise<ResolvedImage> {
  if (source.exists('index.json')) return resolveLayout(source, opts);
  if (source.exists('manifest.json')) return resolveDockerSave(source, opts);
  throw new CapsaError('IMAGE', `${source.location} is neither an OCI image layout (no index.json) nor a docker save archive (no manifest.json)`);
}
