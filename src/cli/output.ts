// Writing command output straight to fd 1: creating process.stdout costs
// several ms of startup that a one-line `state` does not need.
import * as fs from 'node:fs';

export function out(text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off);
    } catch (e) {
      // A non-blocking pipe that is full: wait for room (rare; output is small).
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}
