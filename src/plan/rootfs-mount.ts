// A container root given as a mount (what containerd's CreateTask carries: a
// snapshot's overlay, or a bind of a directory) instead of a directory on the
// host. capsa-init builds it before any user namespace and attaches it only
// in the container's own mount namespace, so nothing is mounted on the host
// and nothing needs unmounting there: it goes with the container.
import * as os from 'node:os';
import * as path from 'node:path';
import { CapsaError } from '../errors';
import { parseMountOptions } from './mount-options';
import type { OpOf } from './schema';

export interface RootfsMount {
  /** "overlay", "bind", or another filesystem type. */
  type: string;
  source: string;
  options?: string[];
}

/** fsconfig(2) takes values of at most 256 bytes (with the NUL). */
const FSCONFIG_VALUE_MAX = 255;

function invalid(msg: string): never {
  throw new CapsaError('INVALID_ARGUMENT', `rootfs mount: ${msg}`);
}

/** lowerdir=A:B:C with A, B, C made relative to their common parent, which becomes the cwd. */
function shortenLowerdirs(data: string[]): { data: string[]; cwd: string } {
  const i = data.findIndex((o) => o.startsWith('lowerdir='));
  const lowers = i >= 0 ? data[i]!.slice('lowerdir='.length).split(':') : [];
  if (lowers.length < 2 || !lowers.every((l) => path.isAbsolute(l))) return { data, cwd: '' };
  let common = path.dirname(lowers[0]!);
  while (!lowers.every((l) => l.startsWith(`${common}/`))) common = path.dirname(common);
  const out = [...data];
  out[i] = `lowerdir=${lowers.map((l) => path.relative(common, l)).join(':')}`;
  return { data: out, cwd: common };
}

/** Linux >= 6.5 takes overlay lower layers one fsconfig call each ("lowerdir+"). */
function appendsLowerdirs(): boolean {
  const [major = 0, minor = 0] = os.release().split('.').map((n) => Number.parseInt(n, 10));
  return major > 6 || (major === 6 && minor >= 5);
}

/** lowerdir=A:B:C as lowerdir+=A, lowerdir+=B, lowerdir+=C (top first, as the colon list). */
function oneLowerdirEach(data: string[]): string[] {
  return data.flatMap((o) => (o.startsWith('lowerdir=') ? o.slice('lowerdir='.length).split(':').map((l) => `lowerdir+=${l}`) : [o]));
}

/** The op that makes the root from `m`, to be attached at `attachDir` (an existing directory). */
export function rootfsMountOp(m: RootfsMount, attachDir: string, propagation: number, recursive: number): OpOf<'rootfsMount'> {
  if (!m.type) invalid('a mount needs a type');
  const opts = parseMountOptions(m.options ?? [], m.type, 'rootfs');
  const bind = opts.bind;
  if (!m.source && bind) invalid('a bind mount needs a source');
  let data = bind ? [] : opts.data;
  let cwd = '';
  if (data.some((o) => o.length > FSCONFIG_VALUE_MAX)) ({ data, cwd } = shortenLowerdirs(data));
  if (data.some((o) => o.length > FSCONFIG_VALUE_MAX) && appendsLowerdirs()) data = oneLowerdirEach(data);
  const long = data.find((o) => o.length > FSCONFIG_VALUE_MAX);
  if (long) invalid(`option ${long.slice(0, 40)}… is longer than the ${FSCONFIG_VALUE_MAX} bytes fsconfig takes`);
  return {
    op: 'rootfsMount', fstype: bind ? 'bind' : m.type, source: m.source, data, attrSet: opts.attrSet,
    propagation, recursive, cwd, path: attachDir, configPath: 'root.path', what: `mount the rootfs (${m.type} ${m.source})`,
  };
}

/**
 * Where to look for a file of the root before it exists anywhere (the HOME of
 * the process user): an overlay's upper dir, then its lower dirs, top first;
 * a bind's source. Paths are host paths.
 */
export function rootfsLayers(m: RootfsMount): string[] {
  if (parseMountOptions(m.options ?? [], m.type, 'rootfs').bind) return [m.source];
  const value = (key: string) => (m.options ?? []).find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
  const upper = value('upperdir');
  const lowers = value('lowerdir')?.split(':') ?? [];
  return [...(upper ? [upper] : []), ...lowers].filter((p) => path.isAbsolute(p));
}
