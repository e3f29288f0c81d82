// A console socket served by the test, the way conmon and containerd-shim
// serve one: a unix stream socket the runtime connects to and sends the pty
// master over with SCM_RIGHTS. Node cannot recvmsg, so the fd is received
// with the addon's recvFd on the accepted connection (kept paused so Node
// never reads — and drops — the message that carries the fd).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tty from 'node:tty';
import { REPO_ROOT } from './rootfs';

interface Addon {
  recvFd(sock: number): number;
  closeFd(fd: number): void;
  dup(fd: number): number;
  setWinsize(fd: number, rows: number, cols: number): void;
}

let loaded: Addon | undefined;
export function testAddon(): Addon {
  loaded ??= require(path.join(REPO_ROOT, 'build', 'Release', 'capsa_addon.node')) as Addon;
  return loaded;
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ConsoleSocket {
  /** The socket's path, for --console-socket. */
  path: string;
  /** How many connections the server accepted so far. */
  readonly connections: number;
  /**
   * The pty master sent on the next connection. Rejects when the peer closes
   * without sending one, or when nothing arrives within timeoutMs.
   */
  receive(timeoutMs?: number): Promise<PtyMaster>;
  /** Stops listening, closes accepted connections and removes the temp dir. */
  close(): Promise<void>;
}

export async function serveConsoleSocket(): Promise<ConsoleSocket> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-console-'));
  const sockPath = path.join(dir, 'console.sock');
  const pending: net.Socket[] = [];
  const all: net.Socket[] = [];
  let connections = 0;
  const server = net.createServer({ pauseOnConnect: true }, (conn) => {
    connections++;
    pending.push(conn);
    all.push(conn);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, () => resolve());
  });

  async function receive(timeoutMs = 10_000): Promise<PtyMaster> {
    const deadline = Date.now() + timeoutMs;
    while (pending.length === 0) {
      if (Date.now() > deadline) throw new Error(`console socket ${sockPath}: no connection within ${timeoutMs} ms`);
      await tick(10);
    }
    const conn = pending.shift()!;
    // libuv accepted it non-blocking: EAGAIN means "not sent yet".
    const fd = (conn as unknown as { _handle: { fd: number } })._handle.fd;
    try {
      for (;;) {
        try {
          return new PtyMaster(testAddon().recvFd(fd));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' && !/EAGAIN|Resource temporarily unavailable/.test(String(e))) throw e;
        }
        if (Date.now() > deadline) throw new Error(`console socket ${sockPath}: no fd within ${timeoutMs} ms`);
        await tick(10);
      }
    } finally {
      conn.destroy();
    }
  }

  return {
    path: sockPath,
    get connections() { return connections; },
    receive,
    async close() {
      for (const c of all) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The master side of a pty received from a runtime: write input, collect output. */
export class PtyMaster {
  private out = '';
  private readonly reader: tty.ReadStream;
  private readonly writeFd: number;
  private ended = false;
  private closed = false;
  private readonly waiters = new Set<() => void>();
  /** Resolves when the other side hung up (EIO: every slave fd closed). */
  readonly hangup: Promise<void>;

  constructor(readonly fd: number) {
    this.writeFd = testAddon().dup(fd);
    this.reader = new tty.ReadStream(fd);
    this.reader.on('data', (d: Buffer) => { this.out += d.toString('latin1'); this.wake(); });
    this.hangup = new Promise((resolve) => {
      const done = () => { this.ended = true; this.wake(); resolve(); };
      this.reader.on('error', done);
      this.reader.on('end', done);
      this.reader.on('close', done);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Everything read so far. */
  get output(): string {
    return this.out;
  }

  write(text: string): void {
    fs.writeSync(this.writeFd, text);
  }

  setSize(rows: number, cols: number): void {
    testAddon().setWinsize(this.writeFd, rows, cols);
  }

  /** Waits until the output (from `from` on) matches re; returns the match. */
  waitFor(re: RegExp, timeoutMs = 10_000, from = 0): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.out.slice(from).match(re);
        if (m) { finish(); resolve(m); return; }
        if (this.ended) { finish(); reject(new Error(`pty closed before ${re} appeared; output: ${JSON.stringify(this.out)}`)); }
      };
      const timer = setTimeout(() => { finish(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re}; output: ${JSON.stringify(this.out)}`)); }, timeoutMs);
      const finish = () => { clearTimeout(timer); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.destroy();
    try { fs.closeSync(this.writeFd); } catch { /* already closed */ }
  }
}
