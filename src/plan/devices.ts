// The /dev a container gets: runc's default device set, symlinks, and how each
// device is made (mknod, or a bind mount of the host's node inside a user
// namespace, where mknod is not allowed).
import * as path from 'node:path';
import type { Device, Spec } from '../spec/types';
import { CREATE, MOUNT_KIND, RECURSIVE, type Op } from './schema';

export const DEFAULT_DEVICES: readonly Device[] = [
  { type: 'c', path: '/dev/null', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/zero', major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/full', major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/random', major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/urandom', major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/tty', major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

const S_IF: Record<string, number> = { c: 0o020000, u: 0o020000, b: 0o060000, p: 0o010000 };

/** runc sets up /dev unless the config bind-mounts the host's /dev. */
export function needsDevSetup(spec: Spec): boolean {
  return !(spec.mounts ?? []).some((m) => m.destination === '/dev' && (m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind')));
}

export function deviceOps(spec: Spec, inUserNamespace: boolean): Op[] {
  const ops: Op[] = [];
  // /dev/ptmx is always the symlink to the container's own devpts (runtime-spec
  // default devices; runc skips a configured one too): a node of 5:2 would
  // allocate from the host's devpts (podman --privileged lists the host's).
  const configured = (spec.linux?.devices ?? []).filter((d) => path.posix.normalize(d.path) !== '/dev/ptmx');
  const paths = new Set(configured.map((d) => d.path));
  const all: { dev: Device; configPath: string }[] = [
    ...DEFAULT_DEVICES.filter((d) => !paths.has(d.path)).map((dev) => ({ dev, configPath: 'linux.devices (default)' })),
    ...configured.map((dev) => ({ dev, configPath: `linux.devices[${spec.linux!.devices!.indexOf(dev)}]` })),
  ];
  for (const { dev, configPath } of all) {
    const what = `device ${dev.path}`;
    if (inUserNamespace) {
      ops.push({
        op: 'mount', kind: MOUNT_KIND.BIND, source: dev.path, destination: dev.path, fstype: '',
        attrSet: 0n, attrClear: 0n, propagation: 0, create: CREATE.FILE, recursive: RECURSIVE.BIND,
        data: [], fallbackBindSource: '', copyUp: 0, slot: 0, noSymlinks: 0, configPath, what: `bind ${what}`,
      });
      continue;
    }
    ops.push({
      op: 'mknod', path: dev.path, mode: S_IF[dev.type]! | ((dev.fileMode ?? 0o666) & 0o7777),
      major: dev.major ?? 0, minor: dev.minor ?? 0, uid: dev.uid ?? 0, gid: dev.gid ?? 0, configPath, what,
    });
  }
  return ops;
}

export function devSymlinkOps(): Op[] {
  const links: [string, string][] = [
    ['/proc/self/fd', '/dev/fd'],
    ['/proc/self/fd/0', '/dev/stdin'],
    ['/proc/self/fd/1', '/dev/stdout'],
    ['/proc/self/fd/2', '/dev/stderr'],
  ];
  // As runc does, whether or not the config mounts a devpts there.
  links.push(['pts/ptmx', '/dev/ptmx']);
  return links.map(([target, path]) => ({ op: 'symlink', target, path, what: `symlink ${path}` }) as Op);
}
