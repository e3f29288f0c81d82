// Drives capsa-init through the protocol in native/init/protocol.h: sends the
// Plan, answers sync points, and returns once the container is created.
// Every wait has a timeout, and EOF from the child is an error, never a hang.
import { spawn, type StdioOptions } from 'node:child_process';
import * as os from 'node:os';
import type { Duplex } from 'node:stream';
import { CapsaError, describeErrno } from '../errors';
import { encodePlan } from '../plan/encode';
import { MSG, MSG_DETAIL_LEN, MSG_SIZE, SYNC, type Op } from '../plan/schema';
import { initBinaryPath } from '../sys/paths';

export interface InitHandlers {
  /** P is running in the host namespaces: put it in the container's cgroups. */
  onReady(pid: number): void | Promise<void>;
  /** P made its user namespace: write its uid/gid maps. */
  onMaps(pid: number): void | Promise<void>;
  /** The container's mount namespace is ready, before pivot_root: run hooks. */
  onHooks(pid: number): void | Promise<void>;
  /** The container's first process exists (its host pid). */
  onChild(pid: number): void;
}

export interface InitOptions {
  preserveFds: number;
  stdio: [StdioOptions | number, StdioOptions | number, StdioOptions | number] | 'inherit';
  stepTimeoutMs: number;
  /** Host fds handed to capsa-init right after the sync socket (fd 4+N, ...). */
  extraFds?: number[];
}

export interface InitResult {
  pid: number;
  warnings: string[];
  /** Pipes for stdio the caller asked to capture (library use). */
  stdio: (Duplex | null)[];
}

const ERRNO_NAME: Record<number, string> = Object.fromEntries(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));

interface InitMessage {
  type: number;
  op: number;
  err: number;
  val: number;
  detail: string;
}

function decode(buf: Buffer): InitMessage {
  const raw = buf.subarray(16, 16 + MSG_DETAIL_LEN);
  const nul = raw.indexOf(0);
  return {
    type: buf.readUInt32LE(0), op: buf.readInt32LE(4), err: buf.readInt32LE(8), val: buf.readInt32LE(12),
    detail: raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8'),
  };
}

function ack(sock: Duplex, type: number = MSG.ACK): void {
  const b = Buffer.alloc(MSG_SIZE);
  b.writeUInt32LE(type, 0);
  b.writeInt32LE(-1, 4);
  sock.write(b);
}

/** Turns an init failure into a one-line message naming the config field. */
export function initFailure(ops: readonly Op[], m: InitMessage): CapsaError {
  const op = m.op >= 0 ? ops[m.op] : undefined;
  const errno = ERRNO_NAME[m.err];
  const reason = errno ? describeErrno(errno) : `error ${m.err}`;
  if (op && (op.op === 'resolveExec' || op.op === 'exec') && m.detail.startsWith('exec:')) {
    return new CapsaError('INIT', m.detail, { errno, configPath: op.configPath });
  }
  // Custom details (no errno behind them) are the message themselves.
  const tail = m.err === 0 || errno === 'EPROTO' || /refusing|outside|not procfs|not the null/.test(m.detail) ? m.detail : reason;
  const where = op?.configPath ? `config.${op.configPath}: ` : '';
  const what = op?.what ?? m.detail;
  const err = new CapsaError('INIT', `${where}${what}: ${tail}`, { errno, configPath: op?.configPath });
  (err as CapsaError & { detail?: string }).detail = m.detail;
  return err;
}

export async function startInit(ops: readonly Op[], opts: InitOptions, handlers: InitHandlers): Promise<InitResult> {
  const syncIndex = 3 + opts.preserveFds;
  const base: (StdioOptions | number)[] = opts.stdio === 'inherit' ? ['inherit', 'inherit', 'inherit'] : [...opts.stdio];
  const stdio: (StdioOptions | number)[] = [...base];
  for (let fd = 3; fd < syncIndex; fd++) stdio.push(fd);
  stdio.push('pipe');
  for (const fd of opts.extraFds ?? []) stdio.push(fd);
  const child = spawn(initBinaryPath(), [String(syncIndex)], { stdio: stdio as StdioOptions, argv0: 'capsa-init' });
  const sock = child.stdio[syncIndex] as Duplex;
  const warnings: string[] = [];
  const plan = encodePlan(ops);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(plan.length);
  sock.write(Buffer.concat([head, plan]));

  let childPid = 0;
  let pending = Buffer.alloc(0);
  let spawnError: Error | undefined;
  child.once('error', (e) => { spawnError = e; });

  return new Promise<InitResult>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let busy = Promise.resolve();
    let done = false;
    let createdEarly = false;
    const armTimer = (what: string) => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => finish(new CapsaError('TIMEOUT', `container init did not ${what} within ${opts.stepTimeoutMs} ms`)), opts.stepTimeoutMs);
    };
    const finish = (err?: Error, result?: InitResult) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      sock.removeAllListeners('data');
      if (err) {
        sock.destroy();
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        reject(err);
      } else {
        // Keep the socket out of the event loop's way; init stops using it at exec.
        sock.destroy();
        resolve(result!);
      }
    };
    const handle = async (m: InitMessage) => {
      switch (m.type) {
        case MSG.SYNC:
          if (m.val === SYNC.READY) await handlers.onReady(child.pid!);
          else if (m.val === SYNC.MAPS) await handlers.onMaps(child.pid!);
          else if (m.val === SYNC.HOOKS) await handlers.onHooks(childPid);
          ack(sock);
          armTimer('continue after a sync point');
          return;
        case MSG.CHILD:
          childPid = m.val;
          handlers.onChild(childPid);
          armTimer('finish setting up the container');
          // P and C share the socket: C's CREATED can overtake P's CHILD.
          if (createdEarly) finish(undefined, { pid: childPid, warnings, stdio: base.map((_, i) => (child.stdio[i] as Duplex | null) ?? null) });
          return;
        case MSG.WARN:
          warnings.push(m.detail);
          return;
        case MSG.CREATED:
          if (childPid === 0) {
            createdEarly = true;
            return;
          }
          finish(undefined, { pid: childPid, warnings, stdio: base.map((_, i) => (child.stdio[i] as Duplex | null) ?? null) });
          return;
        case MSG.ERROR:
          finish(initFailure(ops, m));
          return;
        default:
          finish(new CapsaError('INTERNAL', `unexpected message ${m.type} from container init`));
      }
    };
    sock.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= MSG_SIZE) {
        const m = decode(pending.subarray(0, MSG_SIZE));
        pending = pending.subarray(MSG_SIZE);
        busy = busy.then(() => (done ? undefined : handle(m))).catch((e) => {
          if (!done) ack(sock, MSG.ABORT);
          finish(e as Error);
        });
      }
    });
    const onGone = () => {
      // Let queued messages (an ERROR just before EOF) be handled first.
      busy = busy.then(() => finish(spawnError
        ? new CapsaError('INIT', `cannot start capsa-init (${initBinaryPath()}): ${spawnError.message}`)
        : new CapsaError('INIT', 'container init exited before the container was created')));
    };
    sock.once('end', onGone);
    sock.once('error', onGone);
    sock.once('close', onGone);
    armTimer('start');
  });
}
