// Mounting a bundle's overlay. capsa never calls mount(2) from the Node
// process (see DESIGN.md): mount(8)/umount(8) run as child processes.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';

import { CapsaError } from '../errors';

/** Overlay mount data must fit in one page, NUL included. */
export const MOUNT_DATA_LIMIT = 4095;

export interface OverlaySpec {
  /** Directory the lower paths are relative to (the store): keeps mount data short. */
  cwd: string;
  /** Lower layer paths, relative to cwd, topmost first. */
  lowers: string[];
  upper: string;
  work: string;
  target: string;
}

function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) resolve();
      else reject(new CapsaError('SYSCALL', `${cmd} ${args[args.length - 1]}: ${stderr.trim() || err.message}`, { cause: err }));
    });
  });
}

export function overlaySupported(): boolean {
  try {
    return /\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

/** The comma/colon-separated option string; throws if it cannot be expressed or is too long. */
export function overlayMountData(spec: OverlaySpec): string {
  for (const p of [...spec.lowers, spec.upper, spec.work]) {
    if (/[,:\\\n]/.test(p)) throw new CapsaError('INVALID_ARGUMENT', `overlay path ${JSON.stringify(p)} contains , : or \\, which mount options cannot carry`);
  }
  const opts = [`lowerdir=${spec.lowers.join(':')}`, `upperdir=${spec.upper}`, `workdir=${spec.work}`];
  // With the inodes index on (a kernel default on some distributions), one
  // lower layer could not be shared by several mounted bundles.
  if (fs.existsSync('/sys/module/overlay/parameters/index')) opts.push('index=off');
  const data = opts.join(',');
  if (Buffer.byteLength(data) > MOUNT_DATA_LIMIT) {
    throw new CapsaError('UNSUPPORTED', `overlay mount options for ${spec.lowers.length} layers exceed one page (${Buffer.byteLength(data)} bytes); use --flat`);
  }
  return data;
}

export async function mountOverlay(spec: OverlaySpec): Promise<void> {
  const data = overlayMountData(spec);
  // nosuid,nodev: on the host the image's setuid files and device nodes are
  // inert; a container's root is a copy of this mount with both cleared.
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `nosuid,nodev,${data}`, spec.target], spec.cwd);
}

export async function unmount(target: string): Promise<void> {
  await run('umount', [target]);
}

/** Decodes the octal escapes (\040 for space…) of /proc/self/mountinfo fields. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Mount points of this mount namespace. */
export function mountPoints(): string[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length > 4) out.push(unescapeMountPath(fields[4]!));
  }
  return out;
}

export function isMountPoint(p: string): boolean {
  return mountPoints().includes(p);
}

/** Mount points at or below dir. */
export function mountsUnder(dir: string): string[] {
  return mountPoints().filter((m) => m === dir || m.startsWith(`${dir}/`));
}
