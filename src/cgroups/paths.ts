// Where a container's cgroup lives, relative to each hierarchy root.
//
// capsa's rules:
//   no linux.cgroupsPath        → /<id>, as crun does (runc: <its own cgroup>/<id>,
//                                 which on a host shell is /<id> too)
//   absolute "/foo/bar"         → /foo/bar in every hierarchy
//   relative "foo/bar"          → /capsa/foo/bar (a fixed parent rather than
//                                 runc's "under whoever started me")
// The default has no shared parent on purpose: making and removing one in
// every v1 hierarchy for each container doubled the cgroup mkdir/rmdir work.
// ".." components are refused (they could escape the parent), and so is the
// systemd "slice:prefix:name" form unless the systemd driver was asked for.
import * as path from 'node:path';
import { CapsaError } from '../errors';

/** The parent of relative cgroupsPaths. */
export const DEFAULT_CGROUP_PARENT = '/capsa';
const FIELD = 'linux.cgroupsPath';

/** "system.slice:docker:abc" — the form runc's --systemd-cgroup expects. */
export function looksLikeSystemdPath(p: string): boolean {
  return /^[^/:]*:[^/:]*:[^/:]+$/.test(p);
}

export function resolveCgroupPath(id: string, cgroupsPath: string | undefined): string {
  if (cgroupsPath === undefined || cgroupsPath === '') return '/' + checkComponent(id, 'container id');
  if (looksLikeSystemdPath(cgroupsPath)) {
    throw new CapsaError('INVALID_CONFIG', `${FIELD}: "${cgroupsPath}" is a systemd slice:prefix:name path, which needs --systemd-cgroup`, { configPath: FIELD });
  }
  const parts = cgroupsPath.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) {
    throw new CapsaError('INVALID_CONFIG', `${FIELD}: "${cgroupsPath}" must not contain ".." components`, { configPath: FIELD });
  }
  if (parts.some((c) => c.includes('\0'))) {
    throw new CapsaError('INVALID_CONFIG', `${FIELD}: contains a NUL byte`, { configPath: FIELD });
  }
  if (parts.length === 0) {
    throw new CapsaError('INVALID_CONFIG', `${FIELD}: "${cgroupsPath}" names the root cgroup; a container needs its own`, { configPath: FIELD });
  }
  const base = cgroupsPath.startsWith('/') ? '/' : DEFAULT_CGROUP_PARENT;
  return path.posix.join(base, ...parts);
}

function checkComponent(name: string, what: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new CapsaError('INVALID_ARGUMENT', `${what} "${name}" cannot be used as a cgroup name`);
  }
  return name;
}

/** The dirs from the top of `cgroupPath` down to it: "/a/b" → ["/a", "/a/b"]. */
export function pathChain(cgroupPath: string): string[] {
  const parts = cgroupPath.split('/').filter(Boolean);
  return parts.map((_, i) => '/' + parts.slice(0, i + 1).join('/'));
}
