// Output capture for runtime.run(): a pipe whose write end the container gets
// as a plain fd and whose read end we drain from the event loop through the
// addon: no net or stream modules to load, and no 'data' events to buffer.
import { addon } from '../sys/addon';

export interface Capture {
  /** The write end, for the container's stdio slot; close it with closeWriteEnd once handed over. */
  readonly writeFd: number;
  closeWriteEnd(): void;
  /** Resolves at EOF (every writer gone) or after close(); never rejects. */
  readonly done: Promise<void>;
  /** Everything read so far. */
  buffer(): Buffer;
  /** Stops reading and closes both ends (idempotent). */
  close(): void;
}

export function capturePipe(): Capture {
  const [readFd, writeFd] = addon().pipe();
  const chunks: Buffer[] = [];
  let writeOpen = true;
  let readOpen = true;
  let watchId: number | undefined;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => { finish = resolve; });

  const closeRead = () => {
    if (watchId !== undefined) addon().unwatchPidfd(watchId);
    watchId = undefined;
    if (readOpen) addon().closeFd(readFd);
    readOpen = false;
    finish();
  };
  const onReadable = () => {
    watchId = undefined;
    if (!readOpen) return;
    for (;;) {
      let chunk: Buffer | null;
      try {
        chunk = addon().readSome(readFd);
      } catch {
        chunk = Buffer.alloc(0); // a read error ends the capture like EOF
      }
      if (chunk === null) break;
      if (chunk.length === 0) return closeRead();
      chunks.push(chunk);
    }
    watchId = addon().watchReadable(readFd, onReadable);
  };
  watchId = addon().watchReadable(readFd, onReadable);

  return {
    writeFd,
    closeWriteEnd() {
      if (writeOpen) addon().closeFd(writeFd);
      writeOpen = false;
    },
    done,
    buffer: () => Buffer.concat(chunks),
    close() {
      this.closeWriteEnd();
      closeRead();
    },
  };
}
