// The `start` action (runtime/v2/runc/manager Start, runtime/v2/binary.go):
// containerd runs it in the bundle dir with runtime options on stdin and
// reads everything it prints as the address, waiting for stdout and stderr to
// close. So it prints the address and nothing else, and the daemon it starts
// inherits neither. Tasks of one group (a pod) share a shim: when the group's
// socket answers, its address is returned and no new daemon is started.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CapsaError } from '../errors';
import { groupOf, SOCKET_ROOT, socketPath, toAddress } from './address';
import { CONFIG_ENV, configFromOptions, type ShimConfig } from './config';
import type { ShimFlags } from './flags';
import { decode } from './proto/codec';
import { Any, type AnyMsg } from './proto/messages';

/** The settings `start` chose, handed to the daemon it spawns. */

/** Runtime options as containerd writes them on `start`'s stdin (a marshalled Any; empty when none). */
export function parseOptions(data: Buffer): AnyMsg | undefined {
  if (!data.length) return undefined;
  try { return decode<AnyMsg>(Any, data); } catch (e) {
    throw new CapsaError('INVALID_ARGUMENT', `runtime options on stdin: ${(e as Error).message}`);
  }
}

function readStdin(): Buffer {
  try { return fs.readFileSync(0); } catch { return Buffer.alloc(0); }
}

function annotations(bundle: string): Record<string, string> | undefined {
  try {
    return (JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { annotations?: Record<string, string> }).annotations;
  } catch (e) {
    throw new CapsaError('INVALID_CONFIG', `${path.join(bundle, 'config.json')}: ${(e as Error).message}`);
  }
}

function listen(sock: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(sock, () => resolve(server));
  });
}

/** Whether a shim answers on the socket (100 ms, as runc's manager probes). */
function answers(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(sock);
    const done = (ok: boolean) => { clearTimeout(timer); c.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), 100);
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
  });
}

export function writeAddressFile(bundle: string, address: string): void {
  const tmp = path.join(bundle, '.address');
  fs.writeFileSync(tmp, address, { mode: 0o644 });
  fs.renameSync(tmp, path.join(bundle, 'address'));
}

/** The kernel should prefer the shim over containerd when memory runs out (containerd's score + 1). */
export function adjustOomScore(pid: number, containerdPid = process.ppid): void {
  try {
    const parent = Number(fs.readFileSync(`/proc/${containerdPid}/oom_score_adj`, 'utf8').trim());
    fs.writeFileSync(`/proc/${pid}/oom_score_adj`, String(Math.min(1000, parent + 1)));
  } catch { /* not allowed here: keep the inherited score */ }
}

export type Claim =
  | { kind: 'joined'; address: string }
  | { kind: 'new'; address: string; socket: string; server: net.Server; config: ShimConfig };

/**
 * The group's socket for this task: the running shim's (the task joins it),
 * or a new listening socket (stale ones replaced). Writes the address file.
 */
export async function claimGroup(flags: ShimFlags, bundle: string, options: AnyMsg | undefined): Promise<Claim> {
  const config = configFromOptions(options);
  const group = groupOf(flags.id, annotations(bundle), config.mode);
  const sock = socketPath(flags.address, flags.namespace, group);
  const address = toAddress(sock);
  fs.mkdirSync(SOCKET_ROOT, { recursive: true, mode: 0o711 });
  let server: net.Server;
  try {
    server = await listen(sock);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw new CapsaError('SYSCALL', `listen on ${sock}: ${(e as Error).message}`);
    if (await answers(sock)) {
      writeAddressFile(bundle, address);
      return { kind: 'joined', address };
    }
    fs.rmSync(sock, { force: true });
    server = await listen(sock);
  }
  fs.chmodSync(sock, 0o600);
  writeAddressFile(bundle, address);
  return { kind: 'new', address, socket: sock, server, config };
}

/** The pod's shim address; newDaemon when this call started the daemon that serves it. */
export async function start(flags: ShimFlags): Promise<{ address: string; newDaemon: boolean }> {
  const bundle = path.resolve(flags.bundle || process.cwd());
  const claim = await claimGroup(flags, bundle, parseOptions(readStdin()));
  if (claim.kind === 'joined') return { address: claim.address, newDaemon: false };
  const fd = (claim.server as unknown as { _handle: { fd: number } })._handle.fd;
  const args = [process.argv[1]!, '-namespace', flags.namespace, '-id', flags.id, '-address', flags.address, ...(flags.debug ? ['-debug'] : [])];
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    cwd: bundle,
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', fd],
    env: { ...process.env, [CONFIG_ENV]: JSON.stringify(claim.config) },
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(new CapsaError('SYSCALL', `start the shim daemon: ${e.message}`)));
  });
  adjustOomScore(child.pid!);
  child.unref();
  // Not server.close(): that would unlink the socket the daemon now serves.
  return { address: claim.address, newDaemon: true };
}
