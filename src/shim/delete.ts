// The `delete` action: containerd runs it when a shim died (its connection
// closed) or cannot be reached after a restart. It removes the task's
// container — processes, cgroups, capsa state — and the rootfs mount, and
// prints only a DeleteResponse (exit status 137, as runc's shim) on stdout;
// warnings go to stderr, which containerd logs.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CapsaError } from '../errors';
import { Runtime } from '../runtime/runtime';
import { fromAddress, SOCKET_ROOT } from './address';
import { DEFAULT_ROOT } from './config';
import type { ShimFlags } from './flags';
import { encode } from './proto/codec';
import { task } from './proto/messages';
import { unmountRootfs } from './rootfs';
import { BUNDLE_RECORD } from './service';
import { now } from './task';

/** The socket of the shim that served this task, when nothing answers on it any more (a grouped shim may live on). */
async function removeDeadSocket(bundle: string): Promise<void> {
  let socket: string;
  try { socket = fromAddress(fs.readFileSync(path.join(bundle, 'address'), 'utf8').trim()); } catch { return; }
  if (!socket.startsWith(`${SOCKET_ROOT}/`)) return;
  const answers = await new Promise<boolean>((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
  if (!answers) fs.rmSync(socket, { force: true });
}

export async function deleteAction(flags: ShimFlags): Promise<Buffer> {
  const bundle = path.resolve(flags.bundle || process.cwd());
  let record: { root?: string; systemdCgroup?: boolean } = {};
  try { record = JSON.parse(fs.readFileSync(path.join(bundle, BUNDLE_RECORD), 'utf8')); } catch { /* never created: defaults */ }
  const root = record.root ?? path.join(DEFAULT_ROOT, flags.namespace);
  const runtime = new Runtime({ root, systemdCgroup: record.systemdCgroup, onWarning: (m) => process.stderr.write(`${m}\n`) });
  let pid = 0;
  try {
    pid = runtime.state(flags.id).pid ?? 0;
  } catch (e) {
    if (!(e instanceof CapsaError && e.code === 'NOT_FOUND')) process.stderr.write(`state of ${flags.id}: ${(e as Error).message}\n`);
  }
  try {
    await runtime.delete(flags.id, { force: true });
  } catch (e) {
    process.stderr.write(`delete ${flags.id}: ${(e as Error).message}\n`);
  }
  await unmountRootfs(path.join(bundle, 'rootfs')).catch((e) => process.stderr.write(`${(e as Error).message}\n`));
  await removeDeadSocket(bundle);
  return encode(task.DeleteResponse, { pid, exitStatus: 137, exitedAt: now() });
}
