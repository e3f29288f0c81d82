// Helpers for the tests of containerd-shim-capsa-v2 under a real containerd:
// where the shim is, its processes and sockets, and a ttrpc client that talks
// to a task's shim the way containerd does (for the calls ctr cannot make).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { socketPath, SHARED_GROUP } from '../../../src/shim/address';
import { decode, encode, type Schema } from '../../../src/shim/proto/codec';
import { spareBase, sparePid } from '../../../src/shim/spare';
import { task as T } from '../../../src/shim/proto/messages';
import { TtrpcClient } from '../../../src/shim/ttrpc/client';
import { REPO_ROOT } from '../rootfs';
import { alive, pidsMatching, stopPid } from './common';
import type { Containerd } from './containerd';

export const SHIM_DIST = path.join(REPO_ROOT, 'dist', 'containerd-shim-capsa-v2');
/** capsa's state root the shim uses by default, per namespace. */
export const shimRoot = (namespace: string) => path.join('/run/containerd/capsa', namespace);

export function shimBuilt(): string {
  return fs.existsSync(SHIM_DIST) ? '' : `${SHIM_DIST} is missing: build capsa first (npm run build)`;
}

const commOf = (pid: number) => { try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; } };

/** Live (non-zombie) shim daemons serving this containerd (not the launcher's sh, which names the socket too). */
export function shimPids(cd: Containerd): number[] {
  return pidsMatching('containerd-shim-capsa-v2', cd.address).filter((pid) => alive(pid) && commOf(pid) === 'containerd-shim');
}

/** The task's bundle dir in containerd's state. */
export const bundleOf = (cd: Containerd, id: string, namespace = cd.namespace) =>
  path.join(cd.dir, 'state', 'io.containerd.runtime.v2.task', namespace, id);

/** Shim sockets left in /run/containerd/s for these groups (ids, sandbox ids, the shared group). */
export function leftoverSockets(cd: Containerd, groups: Iterable<string>, namespace = cd.namespace): string[] {
  const out: string[] = [];
  for (const g of [...groups, SHARED_GROUP]) {
    const p = socketPath(cd.address, namespace, g);
    if (fs.existsSync(p)) out.push(`${p} (group ${g})`);
  }
  return out;
}

/** Removes the sockets leftoverSockets found. */
export function removeSockets(found: string[]): void {
  for (const f of found) fs.rmSync(f.split(' ')[0]!, { force: true });
}

/** A ttrpc connection to a running task's shim (its bundle's address file), speaking the Task API. */
export async function taskClient(cd: Containerd, id: string, namespace = cd.namespace) {
  const address = fs.readFileSync(path.join(bundleOf(cd, id, namespace), 'address'), 'utf8').trim();
  const c = await TtrpcClient.connect(address);
  const call = async <R = Record<string, unknown>>(method: string, req: Schema, res: Schema, msg: Record<string, unknown>): Promise<R> =>
    decode<R>(res, await c.call('containerd.task.v2.Task', method, encode(req, msg), { timeoutMs: 20_000, metadata: { 'containerd-namespace-ttrpc': namespace } }));
  return { client: c, call, T, close: () => c.close() };
}

/** The spare shim of this build (src/shim/spare.ts), if one waits. */
export function shimSparePid(): number | undefined {
  return sparePid(spareBase(fs.realpathSync(path.dirname(SHIM_DIST)), process.execPath));
}

/**
 * The spare's pid and request files (removed by stopSpare), and the reply
 * FIFOs of `start` launchers among killed (a launcher waiting on the spare).
 */
export function spareFiles(killed: readonly number[] = []): string[] {
  const base = spareBase(fs.realpathSync(path.dirname(SHIM_DIST)), process.execPath);
  return [`${base}.pid`, `${base}.req`, ...killed.map((pid) => path.join(path.dirname(base), `capsa-reply-${pid}`))];
}

/**
 * Stops the spare shims of this build (tests and benchmarks end with it):
 * the one waiting and any still booting (not yet in the pid file).
 */
export async function stopSpare(): Promise<void> {
  const launcher = path.join(path.dirname(SHIM_DIST), 'containerd-shim-capsa-v2.cjs');
  // A spare that has taken its title but is not announced yet (booting or
  // warming up) is found by that title.
  const pids = new Set([...pidsMatching(launcher, '-spare'), ...pidsMatching('containerd-shim-capsa-v2 spare'), ...[shimSparePid()].filter((p): p is number => p !== undefined)].filter(alive));
  await Promise.all([...pids].map((pid) => stopPid(pid, 3000)));
  const base = spareBase(fs.realpathSync(path.dirname(SHIM_DIST)), process.execPath);
  for (const f of [`${base}.pid`, `${base}.req`]) fs.rmSync(f, { force: true });
}
