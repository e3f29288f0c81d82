// Drives capsa-init through the protocol in native/init/protocol.h: sends the
// Plan, answers sync points, and returns once the container is created.
// Every wait has a timeout, and EOF from the child is an error, never a hang.
import type { StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Duplex } from 'node:stream';
import { CapsaError, describeErrno } from '../errors';
import { encodePlan } from '../plan/encode';
import { ERR, MSG, MSG_DETAIL_LEN, MSG_SIZE, SYNC, type Op } from '../plan/schema';
import { addon } from '../sys/addon';
import { initBinaryPath } from '../sys/paths';
import { ChildExit } from './process-exit';

/** How many fds after the sync socket a parked capsa-init takes (PARKED_MAX_EXTRA_FDS, protocol.h). */
export const PARKED_MAX_EXTRA_FDS = 4;

export interface InitHandlers {
  /** P is running in the host namespaces: put it in the container's cgroups. */
  onReady(pid: number): void | Promise<void>;
  /** P made its user namespace: write its uid/gid maps. */
  onMaps(pid: number): void | Promise<void>;
  /** The container's mount namespace is ready, before pivot_root: run hooks. */
  onHooks(pid: number): void | Promise<void>;
  /** The container's first process exists (its host pid). */
  onChild(pid: number): void;
  /** It loaded a filter with a notify listener: hand it to the seccomp agent. */
  onSeccomp?(pid: number): void | Promise<void>;
  /** The container process is in its network namespace: move linux.netDevices in. */
  onNetDevices?(pid: number): void | Promise<void>;
  /**
   * A prepared exec waits to be started (SYNC.START): resolve to let it
   * execve, reject to make it exit. No step timeout runs meanwhile.
   */
  onStartGate?(pid: number): Promise<void>;
}

export interface InitOptions {
  preserveFds: number;
  /** One setting for all three, or one per fd. */
  stdio: [StdioOptions | number, StdioOptions | number, StdioOptions | number] | 'inherit' | 'ignore' | 'pipe';
  stepTimeoutMs: number;
  /**
   * A parked capsa-init to use instead of spawning one (taken from an
   * InitPark; ours from here on). Used only without preserveFds.
   */
  parked?: InitProcess;
  /** Host fds handed to capsa-init right after the sync socket (fd 4+N, ...). */
  extraFds?: number[];
  /** Details capsa-init reports for a --debug log (MSG_DEBUG). */
  onDebug?: (msg: string) => void;
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

/** Turns an init failure into a one-line message naming the config field. */
export function initFailure(ops: readonly Op[], m: InitMessage): CapsaError {
  const op = m.op >= 0 ? ops[m.op] : undefined;
  const errno = ERRNO_NAME[m.err];
  const reason = errno ? describeErrno(errno) : `error ${m.err}`;
  if (op && (op.op === 'resolveExec' || op.op === 'exec') && m.detail.startsWith('exec:')) {
    return new CapsaError('INIT', m.detail, { errno, configPath: op.configPath });
  }
  // Custom details (no errno behind them) are the message themselves.
  const tail = m.err === 0 || errno === 'EPROTO' || m.val === ERR.REFUSED ? m.detail : reason;
  const where = op?.configPath ? `config.${op.configPath}: ` : '';
  const what = op?.what ?? m.detail;
  const err = new CapsaError('INIT', `${where}${what}: ${tail}`, { errno, configPath: op?.configPath });
  (err as CapsaError & { detail?: string }).detail = m.detail;
  return err;
}

type StdioSetting = StdioOptions | number;

/**
 * The fd capsa-init gets for one stdio slot. A 'pipe' slot is a socket pair
 * (what libuv's pipes are too): capsa-init gets one end, we keep the other in
 * `ours[i]` and wrap it in a net.Socket once capsa-init is running.
 */
function stdioFd(setting: unknown, i: number, opened: number[], ours: (number | undefined)[], theirs: number[]): number {
  if (setting === 'inherit') return i;
  if (typeof setting === 'number') return setting;
  if (setting === 'pipe') {
    const [mine, init] = addon().socketPair();
    ours[i] = mine;
    theirs.push(init);
    return init;
  }
  if (setting === 'ignore') {
    // Opened and closed through fs (not the addon): worker threads track the
    // fds fs opens and close any left at exit, whatever they have become.
    const fd = fs.openSync('/dev/null', i === 0 ? 'r' : 'w');
    opened.push(fd);
    return fd;
  }
  const fd = (setting as { fd?: unknown } | null)?.fd;
  if (typeof fd === 'number') return fd;
  throw new CapsaError('INVALID_ARGUMENT', `stdio[${i}]: expected 'inherit', 'ignore', 'pipe', an fd or a stream with an fd`);
}

/**
 * Our ends of the 'pipe' slots as streams: stdin writable, the outputs
 * readable. They are ours, not a child_process's, so nothing closes stdin or
 * resumes (and drops) unread output when capsa-init exits, which it does as
 * soon as the process exists. Each socket owns its fd from here on.
 */
function pipeStreams(ours: (number | undefined)[]): (Duplex | null)[] {
  if (ours.every((fd) => fd === undefined)) return [null, null, null];
  const net = require('node:net') as typeof import('node:net');
  return [0, 1, 2].map((i) => {
    const fd = ours[i];
    if (fd === undefined) return null;
    const sock = new net.Socket({ fd, readable: i !== 0, writable: i === 0 });
    // The process may exit without reading its stdin: EPIPE is not the caller's error.
    if (i === 0) sock.on('error', () => {});
    return sock;
  });
}

/**
 * This process's sealed copy of capsa-init (made once by the addon): spawning
 * from it spares every capsa-init its own copy and re-exec (CVE-2019-5736
 * protection, see native/init/selfclone.c). Undefined when it cannot be made:
 * capsa-init then starts from the file and seals itself.
 */
function sealedInitFd(): number | undefined {
  try { return addon().sealedCopy(initBinaryPath()); } catch { return undefined; }
}

/** capsa-init as this process started it: its pid, a pidfd, our end of its sync socket, its reaper. */
export interface InitProcess {
  pid: number;
  pidfd: number;
  /** Our end of its sync socket (-1 once a parked one is dismissed). */
  sock: number;
  exit: ChildExit;
}

/** Spawns capsa-init with child fd i = fds[i] for every i, its sync socket at fds[syncIndex]. */
async function spawnInit(fds: readonly number[], syncIndex: number): Promise<[number, number]> {
  const all = [...fds];
  const sealed = sealedInitFd();
  // argv: the sync fd, the sealed copy's fd (-1: none), and how many fds we
  // pass: capsa-init closes any above them (leaked to us by our caller).
  const argv = ['capsa-init', String(syncIndex), '-1'];
  let file = initBinaryPath();
  if (sealed !== undefined) {
    // Executed through the child's own fd table; capsa-init closes it first thing.
    argv[2] = String(all.length);
    file = `/proc/self/fd/${all.length}`;
    all.push(sealed);
  }
  argv.push(String(all.length));
  try {
    // posix_spawn from the addon: Node's child_process costs the CLI ~10 ms
    // to load, and its fork copies Node's page tables.
    return await addon().spawnFds(file, argv, all);
  } catch (e) {
    throw new CapsaError('INIT', `cannot start capsa-init (${initBinaryPath()}): ${(e as Error).message}`);
  }
}

/**
 * A capsa-init started ahead of its work (see InitPark): on /dev/null stdio,
 * waiting for a plan, which will come with its real fds (protocol.h, step 1).
 */
export async function parkInit(): Promise<InitProcess> {
  const nul = fs.openSync('/dev/null', 'r+');
  const [sock, theirSock] = addon().socketPair();
  try {
    const [pid, pidfd] = await spawnInit([nul, nul, nul, theirSock], 3);
    return { pid, pidfd, sock, exit: new ChildExit(pidfd) };
  } catch (e) {
    addon().closeFd(sock);
    throw e;
  } finally {
    addon().closeFd(theirSock);
    fs.closeSync(nul);
  }
}

/** A parked capsa-init that will not be used: at EOF it exits, and its ChildExit reaps it. Once only. */
export function dismissParked(p: InitProcess): void {
  if (p.sock < 0) return;
  addon().closeFd(p.sock);
  p.sock = -1;
}

/**
 * Hands a parked capsa-init the plan's length with the fds a spawn would
 * have given it (undefined: a layout it cannot take, with preserved fds).
 * False when it cannot take them, or is gone; it is dismissed then.
 */
function handOver(p: InitProcess, head: Buffer, fds: number[] | undefined): boolean {
  if (fds && p.exit.running && fds.length <= 3 + PARKED_MAX_EXTRA_FDS) {
    try {
      addon().sendFds(p.sock, head, fds);
      return true;
    } catch { /* it died: spawn one */ }
  }
  dismissParked(p);
  return false;
}

export async function startInit(ops: readonly Op[], opts: InitOptions, handlers: InitHandlers): Promise<InitResult> {
  const syncIndex = 3 + opts.preserveFds;
  const base: StdioSetting[] = typeof opts.stdio === 'string' ? [opts.stdio, opts.stdio, opts.stdio] : [...opts.stdio];
  const opened: number[] = []; // by fs.openSync
  const ours: (number | undefined)[] = []; // our ends of the 'pipe' slots
  const theirs: number[] = []; // capsa-init's ends, closed once it has them
  const plan = encodePlan(ops);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(plan.length);
  let init: InitProcess | undefined;
  try {
    const fds: number[] = base.map((setting, i) => stdioFd(setting, i, opened, ours, theirs));
    const extra = opts.extraFds ?? [];
    if (opts.parked && handOver(opts.parked, head, opts.preserveFds === 0 ? [...fds, ...extra] : undefined)) init = opts.parked;
    if (!init) {
      for (let fd = 3; fd < syncIndex; fd++) fds.push(fd);
      const [sock, theirSock] = addon().socketPair();
      theirs.push(theirSock);
      try {
        const [pid, pidfd] = await spawnInit([...fds, theirSock, ...extra], syncIndex);
        init = { pid, pidfd, sock, exit: new ChildExit(pidfd) };
      } catch (e) {
        addon().closeFd(sock);
        throw e;
      }
    }
  } catch (e) {
    for (const fd of ours) if (fd !== undefined) addon().closeFd(fd);
    if (opts.parked && init !== opts.parked) dismissParked(opts.parked);
    throw e;
  } finally {
    for (const fd of theirs) addon().closeFd(fd);
    for (const fd of opened) fs.closeSync(fd);
  }
  const { pid, pidfd, sock } = init;
  /** A parked capsa-init got the plan's length with its fds (handOver). */
  const headSent = init === opts.parked;
  const stdio = pipeStreams(ours);
  // Reaps P when it exits (right after it reports C, or on a failure).
  const pExit = init.exit;

  const warnings: string[] = [];
  let childPid = 0;
  let pending = Buffer.alloc(0);

  return new Promise<InitResult>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let busy = Promise.resolve();
    let done = false;
    let createdEarly = false;
    let watchId = 0;
    /** Waiting in onStartGate: messages queue behind it, so its death is reported at once. */
    let atGate = false;
    const armTimer = (what: string) => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => finish(new CapsaError('TIMEOUT', `container init did not ${what} within ${opts.stepTimeoutMs} ms`)), opts.stepTimeoutMs);
    };
    const finish = (err?: Error, result?: InitResult) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (watchId) addon().unwatchPidfd(watchId);
      // Init stops using the socket at exec; our end is done either way.
      addon().closeFd(sock);
      if (err) {
        if (pExit.running) { try { addon().pidfdSendSignal(pidfd, 9); } catch { /* exited meanwhile */ } }
        for (const st of stdio) st?.destroy();
        reject(err);
      } else {
        resolve(result!);
      }
    };
    const send = (data: Buffer) => {
      try {
        addon().writeAll(sock, data);
      } catch {
        /* init is gone: its EOF is reported by the reader */
      }
    };
    const ack = (type: number = MSG.ACK) => {
      const b = Buffer.alloc(MSG_SIZE);
      b.writeUInt32LE(type, 0);
      b.writeInt32LE(-1, 4);
      send(b);
    };
    const created = () => finish(undefined, { pid: childPid, warnings, stdio });
    const handle = async (m: InitMessage) => {
      switch (m.type) {
        case MSG.SYNC:
          if (m.val === SYNC.READY) await handlers.onReady(pid);
          else if (m.val === SYNC.MAPS) await handlers.onMaps(pid);
          else if (m.val === SYNC.HOOKS) await handlers.onHooks(childPid);
          else if (m.val === SYNC.SECCOMP) {
            if (!handlers.onSeccomp) throw new CapsaError('INTERNAL', 'container init passed a seccomp notify fd nobody asked for');
            await handlers.onSeccomp(childPid);
          }
          else if (m.val === SYNC.NETDEV) await handlers.onNetDevices?.(childPid);
          else if (m.val === SYNC.START) {
            if (!handlers.onStartGate) throw new CapsaError('INTERNAL', 'container init waits to be started but nobody will start it');
            if (timer) clearTimeout(timer);
            atGate = true;
            try { await handlers.onStartGate(childPid); } finally { atGate = false; }
            if (done) return;
          }
          ack();
          armTimer('continue after a sync point');
          return;
        case MSG.CHILD:
          childPid = m.val;
          handlers.onChild(childPid);
          armTimer('finish setting up the container');
          // P and C share the socket: C's CREATED can overtake P's CHILD.
          if (createdEarly) created();
          return;
        case MSG.WARN:
          warnings.push(m.detail);
          return;
        case MSG.DEBUG:
          opts.onDebug?.(m.detail);
          return;
        case MSG.CREATED:
          if (childPid === 0) {
            createdEarly = true;
            return;
          }
          created();
          return;
        case MSG.ERROR:
          finish(initFailure(ops, m));
          return;
        default:
          finish(new CapsaError('INTERNAL', `unexpected message ${m.type} from container init`));
      }
    };
    const onGone = () => {
      const gone = () => finish(new CapsaError('INIT', 'container init exited before the container was created'));
      if (atGate) return gone();
      // Let queued messages (an ERROR just before EOF) be handled first.
      busy = busy.then(gone);
    };
    const onReadable = () => {
      watchId = 0;
      if (done) return;
      let eof = false;
      for (;;) {
        let chunk: Buffer | null;
        try {
          chunk = addon().readSome(sock);
        } catch {
          chunk = Buffer.alloc(0);
        }
        if (chunk === null) break;
        if (chunk.length === 0) { eof = true; break; }
        pending = Buffer.concat([pending, chunk]);
      }
      // Messages that came with the EOF (CREATED, or an ERROR) count first.
      while (pending.length >= MSG_SIZE) {
        const m = decode(pending.subarray(0, MSG_SIZE));
        pending = pending.subarray(MSG_SIZE);
        busy = busy.then(() => (done ? undefined : handle(m))).catch((e) => {
          if (!done) ack(MSG.ABORT);
          finish(e as Error);
        });
      }
      if (eof) return onGone();
      watchId = addon().watchReadable(sock, onReadable);
    };
    send(headSent ? plan : Buffer.concat([head, plan]));
    watchId = addon().watchReadable(sock, onReadable);
    armTimer('start');
  });
}
