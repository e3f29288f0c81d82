// Reading a file of the image rootfs as the container would see it: symlinks
// are followed, but resolved against the rootfs, never the host — an image's
// /etc/passwd -> /etc/shadow (or -> /dev/zero) reads its own shadow, or fails.
import * as fs from 'node:fs';
import * as path from 'node:path';

const MAX_LINKS = 40;

/** Host path of `inner` (absolute, container view) inside `root`, or undefined if it does not exist. */
export function resolveInRoot(root: string, inner: string): string | undefined {
  const pending = inner.split('/').filter((s) => s !== '' && s !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop(); // ".." at the root stays at the root, as in the kernel
      continue;
    }
    const hostPath = path.join(root, ...resolved, part);
    const st = fs.lstatSync(hostPath, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return undefined;
      const target = fs.readlinkSync(hostPath);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}

/** A regular file's text from inside the rootfs, at most maxBytes; undefined when absent. */
export function readFileInRoot(root: string, inner: string, maxBytes = 4 << 20): string | undefined {
  const p = resolveInRoot(root, inner);
  if (!p) return undefined;
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (!st?.isFile() || st.size > maxBytes) return undefined;
  return fs.readFileSync(p, 'utf8');
}
