// Foreground terminals: capsa relays between its own terminal and the
// container's pty, in raw mode, forwarding window size changes, and always
// restores the terminal on the way out.
import * as fs from 'node:fs';
import * as tty from 'node:tty';
import { addon } from '../sys/addon';
import { fullJit } from './jit';

export interface Relay {
  /** Resolves once the pty reports the other side closed (all output read). */
  drained: Promise<void>;
  /** Stop relaying and restore the terminal. */
  close(): void;
}

export function relayTerminal(master: number): Relay {
  // A session may relay for hours: let the compiled CLI's JIT work again.
  fullJit();
  const input = process.stdin;
  const wasRaw = input.isTTY ? input.isRaw : false;
  if (input.isTTY) input.setRawMode(true);
  const resize = () => {
    if (process.stdout.isTTY) {
      try { addon().setWinsize(master, process.stdout.rows, process.stdout.columns); } catch { /* pty gone */ }
    }
  };
  resize();
  process.on('SIGWINCH', resize);
  const writeFd = addon().dup(master);
  const fromPty = new tty.ReadStream(master);
  fromPty.on('data', (d: Buffer) => process.stdout.write(d));
  // EIO on the master means the last slave holder exited: the session ended.
  const drained = new Promise<void>((resolve) => {
    fromPty.on('error', () => resolve());
    fromPty.on('end', () => resolve());
    fromPty.on('close', () => resolve());
  });
  const toPty = (d: Buffer) => {
    try { fs.writeSync(writeFd, d); } catch { /* container side closed */ }
  };
  input.on('data', toPty);
  input.resume();
  let closed = false;
  return {
    drained,
    close() {
      if (closed) return;
      closed = true;
      process.off('SIGWINCH', resize);
      input.off('data', toPty);
      input.pause();
      if (input.isTTY) input.setRawMode(wasRaw);
      fromPty.destroy();
      try { fs.closeSync(writeFd); } catch { /* already closed */ }
    },
  };
}
