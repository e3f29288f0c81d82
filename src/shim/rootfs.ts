// The task's root filesystem: CreateTaskRequest.rootfs mounts (the snapshot,
// usually one overlay) mounted on <bundle>/rootfs, and unmounted on Delete.
// capsa never calls mount(2) in the Node process (DESIGN.md): mount(8) and
// umount(8) run as children. Overlay options longer than a page are
// shortened the way containerd does: lowerdirs relative to their common parent,
// with mount(8) run from there.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { CapsaError } from '../errors';
import { rootfsMountOp, type RootfsMount } from '../plan/rootfs-mount';
import type { MountMsg } from './proto/messages';

const PAGE_LIMIT = 4095;

function run(cmd: string, args: string[], cwd?: string, onChild?: (pid: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { cwd, encoding: 'utf8', timeout: 30_000 }, (err, _out, stderr) => {
      if (!err) resolve();
      else reject(new CapsaError('SYSCALL', `${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
    });
    if (child.pid) onChild?.(child.pid);
  });
}

/**
 * The one snapshot mount capsa-init can make itself, in the container's mount
 * namespace (an overlay, or a bind of a directory, mounted on the rootfs dir
 * itself); undefined for anything else (several mounts, a sub-target, another
 * type), which goes through mount(8) on the host.
 */
export function rootfsInContainer(mounts: MountMsg[]): RootfsMount | undefined {
  if (mounts.length !== 1) return undefined;
  const m = mounts[0]!;
  const options = (m.options ?? []).filter((o) => o !== '');
  const bind = m.type === 'bind' || options.includes('bind') || options.includes('rbind');
  if (m.target || !m.source || (m.type !== 'overlay' && !bind)) return undefined;
  const mount: RootfsMount = { type: bind ? 'bind' : 'overlay', source: m.source, options };
  try {
    rootfsMountOp(mount, '/', 0, 0); // options fsconfig cannot take (a lowerdir too long for this kernel)
  } catch {
    return undefined;
  }
  return mount;
}

/** Options and the dir to run mount(8) from, shortening overlay lowerdirs when they exceed a page. */
export function mountArgs(m: MountMsg, target: string): { args: string[]; cwd?: string } {
  let options = [...(m.options ?? [])];
  let cwd: string | undefined;
  if (m.type === 'overlay' && Buffer.byteLength(options.join(',')) > PAGE_LIMIT) {
    const i = options.findIndex((o) => o.startsWith('lowerdir='));
    const lowers = i >= 0 ? options[i]!.slice('lowerdir='.length).split(':') : [];
    if (lowers.length > 1) {
      let common = path.dirname(lowers[0]!);
      while (!lowers.every((l) => l.startsWith(common + '/'))) common = path.dirname(common);
      // containerd's snapshots look like .../snapshots/N/fs: relative paths stay short.
      cwd = common;
      options[i] = `lowerdir=${lowers.map((l) => path.relative(common, l)).join(':')}`;
    }
  }
  options = options.filter((o) => o !== '');
  const args = m.type && m.type !== 'bind' ? ['-t', m.type] : [];
  if (options.length) args.push('-o', options.join(','));
  args.push(m.source || 'none', target);
  return { args, cwd };
}

export async function mountRootfs(mounts: MountMsg[], bundle: string, onChild?: (pid: number) => void): Promise<string | undefined> {
  if (!mounts.length) return undefined;
  const target = path.join(bundle, 'rootfs');
  const done: number[] = [];
  try {
    for (const m of mounts) {
      const { args, cwd } = mountArgs(m, m.target ? path.join(target, m.target) : target);
      await run('mount', args, cwd, onChild);
      done.push(1);
    }
  } catch (e) {
    if (done.length) await unmountRootfs(target, onChild).catch(() => {});
    throw e;
  }
  return target;
}

/** Unmounts everything on the rootfs dir (recursively); not mounted is fine. */
export async function unmountRootfs(target: string, onChild?: (pid: number) => void): Promise<void> {
  try {
    await run('umount', ['-R', target], undefined, onChild);
  } catch (e) {
    if (/not mounted|no mount point|no such file/i.test((e as Error).message)) return;
    throw e;
  }
}
