// Writing command output straight to fd 1 (and messages to fd 2): creating
// process.stdout costs several ms of startup that a one-line `state` does
// not need, and process.stderr ~8 ms of the compiled CLI's (Bun's streams).
import * as fs from 'node:fs';

function writeAll(fd: number, text: string): void {
  // The string first, as it is: the compiled CLI's first Buffer.from costs
  // ~0.1 ms. Only a short write (a full non-blocking pipe) needs the bytes.
  let off = 0;
  try {
    off = fs.writeSync(fd, text);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
  }
  if (off >= Buffer.byteLength(text)) return;
  const buf = Buffer.from(text);
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off);
    } catch (e) {
      // A non-blocking pipe that is full: wait for room (rare; output is small).
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

export function out(text: string): void {
  writeAll(1, text);
}

/** A message on stderr; best effort (a closed stderr loses it, as with process.stderr). */
export function err(text: string): void {
  try { writeAll(2, text); } catch { /* nowhere to report it */ }
}
