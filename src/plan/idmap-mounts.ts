// Idmapped mounts (runtime-spec 1.2: mounts[].uidMappings/gidMappings and the
// idmap/ridmap options), as runc ≥ 1.2 reads them:
// - a mount is idmapped when it has the idmap or ridmap option, or mappings;
// - mappings on the mount are host-relative (hostID is the id on the
//   filesystem side, containerID the id the mount shows), not relative to
//   the container's user namespace;
// - idmap/ridmap without mappings use the container's user namespace: its
//   mappings, or the namespace itself when it is joined by path; without one
//   that is an error;
// - ridmap idmaps every mount of an rbind tree, idmap only its top;
// - both uid and gid mappings are needed.
// The form podman sends for `-v src:dst:idmap=uids=...;gids=...` (crun's) is
// read too: "idmap=uids=0-100000-65536#...;gids=..." gives the mount's
// mappings as containerID-hostID-size triplets; a triplet starting with "@"
// names its hostID as an id of the container's user namespace
// (linux.uidMappings/gidMappings translate it); uids= and gids= are both
// needed (crun leaves a missing one unwritten, which the kernel refuses).
// capsa also idmaps a new filesystem (tmpfs, say) where the kernel allows it.
import * as path from 'node:path';
import { CapsaError } from '../errors';
import type { IdMapping, Mount, NamespaceType, Spec } from '../spec/types';
import type { ParsedMountOptions } from './mount-options';
import { CREATE, IDMAP_TREE, MOUNT_KIND, RECURSIVE, type Op } from './schema';

function invalid(configPath: string, msg: string): never {
  throw new CapsaError('INVALID_CONFIG', `config.${configPath}: ${msg}`, { configPath });
}

const MAX_U32 = 0xffffffff;
const MAX_MAP_LINES = 340; // the kernel's limit per uid_map/gid_map

function mapLines(maps: unknown, p: string): string {
  if (!Array.isArray(maps)) invalid(p, 'expected an array of {containerID, hostID, size}');
  if (maps.length > MAX_MAP_LINES) invalid(p, `${maps.length} mappings; the kernel takes at most ${MAX_MAP_LINES}`);
  return maps.map((m: unknown, i) => {
    const o = m as Partial<IdMapping> | null;
    const int = (v: unknown, f: string, min: number) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_U32) invalid(`${p}[${i}].${f}`, `expected an integer in [${min}, ${MAX_U32}], got ${JSON.stringify(v)}`);
      return v;
    };
    if (typeof o !== 'object' || o === null) invalid(`${p}[${i}]`, 'expected an object');
    return `${int(o.containerID, 'containerID', 0)} ${int(o.hostID, 'hostID', 0)} ${int(o.size, 'size', 1)}\n`;
  }).join('');
}

export interface Namespaces {
  fresh: Set<NamespaceType>;
  joined: Map<NamespaceType, string>;
}

export function isIdmapped(m: Mount, opts: ParsedMountOptions): boolean {
  return opts.idmap !== undefined || m.uidMappings !== undefined || m.gidMappings !== undefined;
}

/** uid_map / gid_map lines from the "idmap=uids=...;gids=..." option form. */
function optionMaps(text: string, spec: Spec, p: string, m: Mount): { uidMap: string; gidMap: string } {
  const opt = `${p}.options`;
  if (m.uidMappings !== undefined || m.gidMappings !== undefined) invalid(opt, `"idmap=${text}" and uidMappings/gidMappings on the same mount: give the mappings once`);
  const lines: Record<'uids' | 'gids', string | undefined> = { uids: undefined, gids: undefined };
  for (const part of text.split(';')) {
    const kv = /^(uids|gids)=(.+)$/s.exec(part);
    if (!kv) invalid(opt, `"idmap=${text}": expected uids=<container>-<host>-<size>[#...] and/or gids=..., separated by ';'`);
    const kind = kv[1] as 'uids' | 'gids';
    if (lines[kind] !== undefined) invalid(opt, `"idmap=${text}": ${kind}= given twice`);
    const ns = kind === 'uids' ? spec.linux?.uidMappings : spec.linux?.gidMappings;
    const field = kind === 'uids' ? 'linux.uidMappings' : 'linux.gidMappings';
    const triplets = kv[2]!.split('#');
    if (triplets.length > MAX_MAP_LINES) invalid(opt, `"idmap=${text}": ${triplets.length} ${kind} ranges; the kernel takes at most ${MAX_MAP_LINES}`);
    lines[kind] = triplets.map((t) => {
      const tm = /^(@?)(\d+)-(\d+)-(\d+)$/.exec(t);
      if (!tm) invalid(opt, `"idmap=${text}": "${t}" is not <container>-<host>-<size>`);
      const inside = Number(tm[2]);
      const size = Number(tm[4]);
      let host = Number(tm[3]);
      if (inside > MAX_U32 || host > MAX_U32 || size < 1 || size > MAX_U32) invalid(opt, `"idmap=${text}": "${t}" is out of range`);
      if (tm[1]) {
        // Relative: host names an id of the container's user namespace.
        const range = (ns ?? []).find((r) => host >= r.containerID && host + size <= r.containerID + r.size);
        if (!range) invalid(opt, `"idmap=${text}": "${t}" is relative (@), but no range of ${field} holds container ids ${host}-${host + size - 1}`);
        host += range.hostID - range.containerID;
      }
      return `${inside} ${host} ${size}\n`;
    }).join('');
  }
  // crun writes only the maps given; this kernel refuses (EINVAL) to idmap
  // with a user namespace that lacks one, so say so before anything is made.
  for (const kind of ['uids', 'gids'] as const) {
    if (lines[kind] === undefined) invalid(opt, `"idmap=${text}": ${kind}= is missing; an idmapped mount needs both uids= and gids=`);
  }
  return { uidMap: lines.uids!, gidMap: lines.gids! };
}

/**
 * The P-side op that makes and idmaps the tree, and the C-side op that
 * attaches it. `type` is the mount's filesystem type ('' for a bind).
 */
export function idmappedMountOps(
  m: Mount, i: number, opts: ParsedMountOptions, type: string, spec: Spec, ns: Namespaces,
  bundle: string, isDirectory: (p: string) => boolean,
): { tree: Op; mount: Op } {
  const p = `mounts[${i}]`;
  const explicit = (m.uidMappings?.length ?? 0) > 0 || (m.gidMappings?.length ?? 0) > 0;
  let uidMap = '';
  let gidMap = '';
  let usernsPath = '';
  if (opts.idmapMappings !== undefined) {
    ({ uidMap, gidMap } = optionMaps(opts.idmapMappings, spec, p, m));
  } else if (explicit || (opts.idmap === undefined && (m.uidMappings !== undefined || m.gidMappings !== undefined))) {
    if (!m.uidMappings?.length) invalid(`${p}.uidMappings`, 'an idmapped mount needs both uidMappings and gidMappings');
    if (!m.gidMappings?.length) invalid(`${p}.gidMappings`, 'an idmapped mount needs both uidMappings and gidMappings');
    uidMap = mapLines(m.uidMappings, `${p}.uidMappings`);
    gidMap = mapLines(m.gidMappings, `${p}.gidMappings`);
  } else if (ns.fresh.has('user')) {
    uidMap = mapLines(spec.linux?.uidMappings ?? [], 'linux.uidMappings');
    gidMap = mapLines(spec.linux?.gidMappings ?? [], 'linux.gidMappings');
    if (!uidMap || !gidMap) invalid(`${p}.options`, `"${opts.idmap}" uses the container's user namespace mappings, but linux.${uidMap ? 'gid' : 'uid'}Mappings is empty`);
  } else if (ns.joined.has('user')) {
    usernsPath = ns.joined.get('user')!;
  } else {
    invalid(`${p}.options`, `"${opts.idmap}" needs uidMappings/gidMappings on the mount, or a user namespace in linux.namespaces`);
  }
  if (type === 'cgroup' || type === 'cgroup2') invalid(`${p}.type`, 'cgroup filesystems cannot be idmapped');
  const recursiveIdmap = opts.idmap === 'ridmap' ? 1 : 0;
  // The mount's flags are set on the tree by P already, so the container
  // process never holds a version of it without them (C sets them again).
  const treeAttrs = { attrSet: opts.attrSet, attrClear: opts.attrClear, recursiveAttr: opts.recursive & RECURSIVE.ATTR ? 1 : 0 };
  const what = `idmapped ${opts.bind ? 'bind ' : ''}mount "${m.source ?? type}" on "${m.destination}"`;
  const base = {
    attrSet: opts.attrSet, attrClear: opts.attrClear, propagation: opts.propagation, data: [] as string[], fallbackBindSource: '',
    slot: 0, noSymlinks: 0, configPath: p, what,
  };
  if (opts.bind) {
    if (!m.source) invalid(`${p}.source`, 'a bind mount needs a source');
    const source = path.resolve(bundle, m.source);
    return {
      tree: {
        op: 'idmapTree', kind: IDMAP_TREE.BIND, source, fstype: '', data: [], recursiveBind: opts.recursive & RECURSIVE.BIND ? 1 : 0,
        recursiveIdmap, uidMap, gidMap, usernsPath, ...treeAttrs, configPath: p, what: `make ${what}`,
      },
      mount: {
        ...base, op: 'mount', kind: MOUNT_KIND.IDMAPPED, source, destination: m.destination, fstype: '',
        create: isDirectory(source) ? CREATE.DIR : CREATE.FILE, recursive: opts.recursive, copyUp: 0,
      },
    };
  }
  if (!type) invalid(`${p}.type`, 'a mount needs a type (or a bind/rbind option)');
  const source = m.source ?? type;
  return {
    tree: {
      op: 'idmapTree', kind: IDMAP_TREE.FS, source, fstype: type, data: opts.data, recursiveBind: 0, recursiveIdmap,
      uidMap, gidMap, usernsPath, ...treeAttrs, configPath: p, what: `make ${what}`,
    },
    mount: {
      ...base, op: 'mount', kind: MOUNT_KIND.IDMAPPED, source, destination: m.destination, fstype: type,
      create: CREATE.DIR, recursive: opts.recursive, copyUp: opts.copyUp ? 1 : 0,
    },
  };
}
