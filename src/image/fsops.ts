// The few file-system calls Node lacks (mknod, xattrs, flock), in one place.
// They come from the native addon when it is built; without it we fall back
// to the coreutils/attr commands so image tests can run on a half-built tree.
// Nothing here mounts or touches namespaces or credentials.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

import { CapsaError } from '../errors';
import { addon, type Addon, LOCK_EX, LOCK_SH, LOCK_UN } from '../sys/addon';

let native: Addon | null | undefined;

function nativeAddon(): Addon | null {
  if (native === undefined) {
    try {
      native = addon();
    } catch {
      native = null;
    }
  }
  return native;
}

/** Linux's makedev(): 12 bits of major, 20 of minor, split as glibc does. */
export function makedev(major: number, minor: number): number {
  return (minor & 0xff) + (major & 0xfff) * 0x100 + Math.floor(minor / 0x100) * 0x100000 + Math.floor(major / 0x1000) * 2 ** 44;
}

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

function runTool(cmd: string, args: string[], what: string): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new CapsaError('SYSCALL', `${what}: ${stderr || String(e)}`, { cause: e });
  }
}

/** mknod(2): `mode` carries the file type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
export function mknod(path: string, mode: number, major: number, minor: number): void {
  const a = nativeAddon();
  if (a) {
    a.mknod(path, mode, makedev(major, minor));
    return;
  }
  const perm = (mode & 0o7777).toString(8);
  const type = mode & 0o170000;
  if (type === S_IFIFO) runTool('mkfifo', ['-m', perm, path], `mkfifo ${path}`);
  else runTool('mknod', ['-m', perm, path, type === S_IFBLK ? 'b' : 'c', String(major), String(minor)], `mknod ${path}`);
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  const a = nativeAddon();
  if (a) {
    a.lsetxattr(path, name, value);
    return;
  }
  runTool('setfattr', ['-h', '-n', name, '-v', `0x${value.toString('hex')}`, '--', path], `lsetxattr ${name} on ${path}`);
}

/** The xattr's value, or null when the file does not have it. */
export function lgetxattr(path: string, name: string): Buffer | null {
  const a = nativeAddon();
  if (a) return a.lgetxattr(path, name);
  try {
    const out = execFileSync('getfattr', ['-h', '--absolute-names', '-e', 'hex', '-n', name, '--', path], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    const m = /=0x([0-9a-f]*)/.exec(out);
    return m ? Buffer.from(m[1]!, 'hex') : Buffer.alloc(0);
  } catch {
    return null;
  }
}

/**
 * Takes a flock on `path` (created if needed) and returns its release. Without
 * the addon there is no lock: concurrent `image gc` and `unpack` are then unsafe.
 */
export function lockFile(path: string, exclusive: boolean): () => void {
  const a = nativeAddon();
  if (!a) return () => {};
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    a.flock(fd, exclusive ? LOCK_EX : LOCK_SH);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return () => {
    try {
      a.flock(fd, LOCK_UN);
    } finally {
      fs.closeSync(fd);
    }
  };
}
