// A process's stdio as containerd asks for it (pkg/process/io.go createIO),
// chosen by the URL scheme of stdout:
// - none or fifo: paths of FIFOs the client made. The container gets the FIFO
//   itself (no copy through the shim); the shim keeps a reader on each output
//   FIFO (no EPIPE when the client goes away, as runc's shim) and a writer on
//   stdin, closed by CloseIO so the process sees EOF only then. For an exec
//   it also holds a writer on each output FIFO until the client has read the
//   output (outputTaken), so a late reader still finds it.
// - file:///path: stdout and stderr appended to one file.
// - binary:///path?k=v: a logger started with fds 3 (stdout), 4 (stderr),
//   5 (ready: Create waits for a byte or EOF), env CONTAINER_ID/NAMESPACE only.
// - all empty: /dev/null.
// - terminal: the pty master is relayed to the stdout FIFO and fed from stdin.
// FIFOs are never opened in a way that can block: every blocking open is made
// while our own non-blocking end guarantees the other side exists.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tty from 'node:tty';
import { CapsaError } from '../errors';
import { addon } from '../sys/addon';
import { withinMs } from '../runtime/within';

const { O_RDONLY, O_WRONLY, O_NONBLOCK, O_APPEND, O_CREAT } = fs.constants;

export interface IoRequest {
  stdin?: string;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
}

export interface IoContext {
  id: string;
  namespace: string;
  /** A private dir for the pipes of a binary logger (the task's bundle). */
  workDir: string;
  /** Told about children the shim starts (loggers), so the orphan reaper leaves them to libuv. */
  onChild?: (pid: number) => void;
  /** Keep a writer on each output FIFO until outputTaken() (see there): for execs. */
  holdOutput?: boolean;
  log?: (msg: string) => void;
}

type Slot = number | 'ignore';

function closeQuietly(fd: number | undefined): void {
  if (fd === undefined) return;
  try { fs.closeSync(fd); } catch { /* already closed */ }
}

function ensureFifo(p: string): void {
  if (fs.existsSync(p)) return;
  try { addon().mkfifo(p, 0o700); } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new CapsaError('INVALID_ARGUMENT', `stdio fifo ${p}: ${(e as Error).message}`);
  }
}

/** Our reader (kept) and a blocking writer for the process. */
function fifoForOutput(p: string): { keeper: number; writer: number } {
  ensureFifo(p);
  const keeper = fs.openSync(p, O_RDONLY | O_NONBLOCK);
  try {
    return { keeper, writer: fs.openSync(p, O_WRONLY) };
  } catch (e) {
    closeQuietly(keeper);
    throw e;
  }
}

/** A blocking reader for the process and our writer (kept until CloseIO); plus a non-blocking reader when asked. */
function fifoForInput(p: string, keepNonBlockingReader: boolean): { reader: number; keeper: number } {
  ensureFifo(p);
  const probe = fs.openSync(p, O_RDONLY | O_NONBLOCK);
  let keeper: number | undefined;
  try {
    keeper = fs.openSync(p, O_WRONLY | O_NONBLOCK);
    if (keepNonBlockingReader) return { reader: probe, keeper };
    const reader = fs.openSync(p, O_RDONLY);
    closeQuietly(probe);
    return { reader, keeper };
  } catch (e) {
    closeQuietly(probe);
    closeQuietly(keeper);
    throw e;
  }
}

/** A pipe (through a FIFO: Node has no pipe(2)) with both ends blocking. */
function makePipe(dir: string, name: string): { r: number; w: number } {
  const p = path.join(dir, `.capsa-${name}-${process.pid}-${Date.now()}`);
  addon().mkfifo(p, 0o600);
  try {
    const probe = fs.openSync(p, O_RDONLY | O_NONBLOCK);
    const w = fs.openSync(p, O_WRONLY);
    const r = fs.openSync(p, O_RDONLY);
    closeQuietly(probe);
    return { r, w };
  } finally {
    fs.rmSync(p, { force: true });
  }
}

function parse(uri: string): { scheme: string; path: string; query: URLSearchParams } {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(uri)) return { scheme: '', path: uri, query: new URLSearchParams() };
  let u: URL;
  try { u = new URL(uri); } catch { throw new CapsaError('INVALID_ARGUMENT', `stdio ${JSON.stringify(uri)}: not a valid URL`); }
  return { scheme: u.protocol.slice(0, -1), path: decodeURIComponent(u.pathname), query: u.searchParams };
}

export class ProcessIo {
  /** What capsa's create/exec get as fds 0, 1, 2 (terminal: unused). */
  readonly stdio: [Slot, Slot, Slot] = ['ignore', 'ignore', 'ignore'];
  /** Ours until the process has them (closed by attach()). */
  private handedOver: number[] = [];
  /** Held for the process's life (output FIFO readers). */
  private keepers: number[] = [];
  /** Our own writers on the output FIFOs (IoContext.holdOutput), until outputTaken(). */
  private held: number[] = [];
  private stdinKeeper?: number;
  private stdinReaderForTty?: number;
  private stdoutWriterForTty?: number;
  /** Our copy of the pty master: input is written and the size set through it. */
  private masterWrite?: number;
  private relayDone: Promise<void> = Promise.resolve();
  private relayStop: (() => void)[] = [];
  private logger?: ChildProcess;
  private closed = false;

  private constructor(readonly req: IoRequest, private readonly ctx: IoContext) {}

  static async open(req: IoRequest, ctx: IoContext): Promise<ProcessIo> {
    const io = new ProcessIo(req, ctx);
    try {
      await io.setUp();
    } catch (e) {
      await io.close(0);
      throw e instanceof CapsaError ? e : new CapsaError('INVALID_ARGUMENT', `stdio: ${(e as Error).message}`);
    }
    return io;
  }

  private async setUp(): Promise<void> {
    const { stdin, stdout, stderr, terminal } = this.req;
    if (!stdin && !stdout && !stderr) return;
    const out = parse(stdout ?? '');
    switch (out.scheme) {
      case '': case 'fifo': break;
      case 'file': return this.toFile(out.path);
      case 'binary': return this.toLogger(out.path, out.query);
      default: throw new CapsaError('INVALID_ARGUMENT', `unknown STDIO scheme ${out.scheme}`);
    }
    const fifo = (p: string | undefined) => (p ? parse(p).path : '');
    if (terminal) {
      if (fifo(stdout)) {
        const o = fifoForOutput(fifo(stdout));
        this.keepers.push(o.keeper);
        this.hold(o.writer);
        this.stdoutWriterForTty = o.writer;
      }
      if (fifo(stdin)) {
        const i = fifoForInput(fifo(stdin), true);
        this.stdinKeeper = i.keeper;
        this.stdinReaderForTty = i.reader;
      }
      return;
    }
    if (fifo(stdin)) {
      const i = fifoForInput(fifo(stdin), false);
      this.stdinKeeper = i.keeper;
      this.give(0, i.reader);
    }
    for (const [slot, p] of [[1, fifo(stdout)], [2, fifo(stderr)]] as const) {
      if (!p) continue;
      const o = fifoForOutput(p);
      this.keepers.push(o.keeper);
      this.hold(o.writer);
      this.give(slot, o.writer);
    }
  }

  private hold(writer: number): void {
    if (this.ctx.holdOutput) this.held.push(addon().dup(writer));
  }

  private give(slot: 0 | 1 | 2, fd: number): void {
    this.stdio[slot] = fd;
    this.handedOver.push(fd);
  }

  private toFile(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    const fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT, 0o644);
    this.stdio[1] = fd;
    this.stdio[2] = fd;
    this.handedOver.push(fd);
  }

  private async toLogger(binary: string, query: URLSearchParams): Promise<void> {
    const args: string[] = [];
    for (const [k, v] of query) args.push(k, ...(v ? [v] : []));
    const out = makePipe(this.ctx.workDir, 'out');
    const err = makePipe(this.ctx.workDir, 'err');
    const ready = makePipe(this.ctx.workDir, 'ready');
    this.give(1, out.w);
    this.give(2, err.w);
    try {
      const child = spawn(binary, args, {
        stdio: ['ignore', 'ignore', 'ignore', out.r, err.r, ready.w],
        env: { CONTAINER_ID: this.ctx.id, CONTAINER_NAMESPACE: this.ctx.namespace },
      });
      this.logger = child;
      const started = new Promise<void>((resolve, reject) => {
        child.once('spawn', () => resolve());
        child.once('error', (e) => reject(new CapsaError('INVALID_ARGUMENT', `binary logger ${binary}: ${e.message}`)));
      });
      await started;
      if (child.pid) this.ctx.onChild?.(child.pid);
    } finally {
      closeQuietly(out.r);
      closeQuietly(err.r);
      closeQuietly(ready.w);
    }
    // The logger says it is ready by writing a byte or closing fd 5.
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { addon().unwatchPidfd(watch); reject(new CapsaError('TIMEOUT', `binary logger ${binary} did not signal ready within 10 s`)); }, 10_000);
        const watch = addon().watchReadable(ready.r, () => { clearTimeout(timer); resolve(); });
      });
    } finally {
      closeQuietly(ready.r);
    }
  }

  /** The process has its fds (create/exec returned): drop ours; with a terminal, start relaying. */
  attach(ptyMaster?: number): void {
    for (const fd of this.handedOver) closeQuietly(fd);
    this.handedOver = [];
    if (ptyMaster === undefined) return;
    this.masterWrite = addon().dup(ptyMaster);
    const fromPty = new tty.ReadStream(ptyMaster);
    const toClient = this.stdoutWriterForTty === undefined ? undefined : new net.Socket({ fd: this.stdoutWriterForTty, readable: false, writable: true });
    this.stdoutWriterForTty = undefined;
    toClient?.on('error', () => {});
    this.relayDone = new Promise<void>((resolve) => {
      // EIO on the master: the last holder of the pty's other side is gone.
      const end = () => { toClient?.end(); resolve(); };
      fromPty.on('error', end);
      fromPty.on('end', end);
      fromPty.on('close', end);
    });
    fromPty.on('data', (d: Buffer) => { toClient?.write(d); });
    this.relayStop.push(() => fromPty.destroy(), () => toClient?.destroy());
    if (this.stdinReaderForTty !== undefined) {
      const fromClient = new net.Socket({ fd: this.stdinReaderForTty, readable: true, writable: false });
      this.stdinReaderForTty = undefined;
      fromClient.on('error', () => {});
      let chain = Promise.resolve();
      fromClient.on('data', (d: Buffer) => {
        const fd = this.masterWrite;
        if (fd === undefined) return;
        chain = chain.then(() => new Promise<void>((r) => fs.write(fd, d, () => r())));
      });
      this.relayStop.push(() => fromClient.destroy());
    }
  }

  /** CloseIO(stdin): the process sees EOF once the client has closed its end too. */
  closeStdin(): void {
    closeQuietly(this.stdinKeeper);
    this.stdinKeeper = undefined;
  }

  /** TIOCSWINSZ through our own copy of the master (the relay's closes at EOF); a finished process is no error, as with runc. */
  resize(width: number, height: number): void {
    if (this.masterWrite === undefined) return;
    try { addon().setWinsize(this.masterWrite, height, width); } catch { /* the pty is gone */ }
  }

  /**
   * The process has exited: resolves once the client has read what it left
   * in the output FIFOs (a terminal's relay first passing it on), or after
   * limitMs; then lets go of the writers held for it, so the client sees EOF.
   * containerd's client opens its FIFO readers in the background, and drops
   * one whose open(2) has not returned when it sees the exit. A reader that
   * enters open(2) after every writer has gone waits for the next one, so
   * an exec that prints and exits within a few ms of its start would
   * otherwise lose its output (ctr task exec: nothing printed, exit 0).
   */
  async outputTaken(limitMs: number): Promise<void> {
    const deadline = performance.now() + limitMs;
    if (this.relayStop.length) await withinMs(this.relayDone, limitMs);
    const unread = () => this.keepers.some((fd) => { try { return addon().pendingBytes(fd) > 0; } catch { return false; } });
    while (unread() && performance.now() < deadline) await new Promise<void>((r) => { setTimeout(r, 1); });
    for (const fd of this.held) closeQuietly(fd);
    this.held = [];
  }

  /** Lets the output relay finish (at most waitMs), then closes everything we hold. */
  async close(waitMs = 2000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (waitMs > 0) await withinMs(this.relayDone, waitMs);
    for (const stop of this.relayStop) stop();
    for (const fd of [...this.handedOver, ...this.keepers, ...this.held, this.stdinKeeper, this.stdinReaderForTty, this.stdoutWriterForTty, this.masterWrite]) closeQuietly(fd);
    this.handedOver = [];
    this.keepers = [];
    this.held = [];
    this.stdinKeeper = this.stdinReaderForTty = this.stdoutWriterForTty = this.masterWrite = undefined;
    const logger = this.logger;
    if (logger && logger.exitCode === null && logger.signalCode === null) {
      // runc's shim: SIGTERM, then SIGKILL after 12 s.
      logger.kill('SIGTERM');
      const timer = setTimeout(() => logger.kill('SIGKILL'), 12_000);
      timer.unref();
      logger.once('exit', () => clearTimeout(timer));
    }
  }
}
