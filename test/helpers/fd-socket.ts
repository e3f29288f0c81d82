// A unix socket served by the test that receives one fd per connection with
// SCM_RIGHTS (what an engine does for runc's --pidfd-socket). Node cannot
// recvmsg: the accepted connection stays paused and the addon's recvFd reads it.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { testAddon } from './console-socket';
import { tick } from './wait';

export interface FdSocket {
  path: string;
  /** The fd sent on the next connection (the caller closes it). */
  receive(timeoutMs?: number): Promise<number>;
  close(): Promise<void>;
}

export async function serveFdSocket(tag: string): Promise<FdSocket> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `capsa-test-${tag}-`));
  const sockPath = path.join(dir, 'fd.sock');
  const pending: net.Socket[] = [];
  const all: net.Socket[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (conn) => { pending.push(conn); all.push(conn); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, () => resolve());
  });
  return {
    path: sockPath,
    async receive(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (pending.length === 0) {
        if (Date.now() > deadline) throw new Error(`${sockPath}: no connection within ${timeoutMs} ms`);
        await tick(10);
      }
      const conn = pending.shift()!;
      const fd = (conn as unknown as { _handle: { fd: number } })._handle.fd;
      try {
        for (;;) {
          try {
            return testAddon().recvFd(fd);
          } catch (e) {
            if (!/EAGAIN|Resource temporarily unavailable/.test(String(e))) throw e;
          }
          if (Date.now() > deadline) throw new Error(`${sockPath}: no fd within ${timeoutMs} ms`);
          await tick(10);
        }
      } finally {
        conn.destroy();
      }
    },
    async close() {
      for (const c of all) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The pid a pidfd refers to, from the kernel's fdinfo ("Pid:" line); undefined if it is no pidfd. */
export function pidOfPidfd(fd: number): number | undefined {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const m = /^Pid:\s+(-?\d+)$/m.exec(info);
  return m ? Number(m[1]) : undefined;
}
