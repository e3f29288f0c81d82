// Typed access to the native addon, loaded on first use.
import { nativePath } from './paths';

export interface ExitStatus {
  code: number | null;
  signal: number | null;
}

export interface Addon {
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  reapPidfd(pidfd: number): ExitStatus | null;
  /** Calls onExit once when the process exits; returns an id for unwatchPidfd. */
  watchPidfd(pidfd: number, onExit: (status: number) => void): number;
  unwatchPidfd(watchId: number): void;
  /** ref false: the watch alone does not keep the event loop alive (true again to undo). */
  refWatch(watchId: number, ref: boolean): void;
  mkfifo(path: string, mode: number): void;
  mknod(path: string, mode: number, dev: number): void;
  /** renameat2(RENAME_EXCHANGE); false when `to` is missing or the filesystem cannot exchange. */
  renameExchange(from: string, to: string): boolean;
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattr(path: string, name: string): Buffer | null;
  flock(fd: number, op: number): boolean;
  sendFd(sock: number, fd: number, name?: string): void;
  /** A small message with fds attached (SCM_RIGHTS), sent whole. */
  sendFds(sock: number, data: Buffer, fds: number[]): void;
  recvFd(sock: number): number;
  connectUnix(path: string): number;
  closeFd(fd: number): void;
  socketPair(): [number, number];
  /** pipe2(O_CLOEXEC): [read end, non-blocking; write end]. */
  pipe(): [number, number];
  dup(fd: number): number;
  /** Bytes waiting to be read in a pipe or FIFO (FIONREAD). */
  pendingBytes(fd: number): number;
  setWinsize(fd: number, rows: number, cols: number): void;
  setChildSubreaper(on: boolean): void;
  /** posix_spawn, on a pool thread, with child fd i = fds[i]; signals reset. The fds must stay open until it settles. */
  spawnFds(path: string, argv: string[], fds: number[]): Promise<[number, number]>;
  /** A sealed, close-on-exec memfd copy of the file. */
  sealedCopy(path: string): number;
  /** Non-blocking read: data, an empty Buffer at EOF, or null when nothing is ready. */
  readSome(fd: number): Buffer | null;
  /** Blocking send of the whole buffer. */
  writeAll(fd: number, data: Buffer): void;
  /** Calls back once when fd is readable; returns an id for unwatchPidfd. */
  watchReadable(fd: number, onReadable: (status: number) => void): number;
  /** One rtnetlink request (NLM_F_ACK or NLM_F_DUMP) in this network namespace: its replies; a failure throws its errno. */
  netlinkRoute(request: Buffer, what?: string): Buffer[];
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

let loaded: Addon | undefined;

export function addon(): Addon {
  if (!loaded) {
    // process.dlopen rather than require(): the same in Node, and in the
    // compiled CLI (Bun) it skips the module loader, ~0.4 ms of its start.
    const mod = { exports: {} as Addon };
    process.dlopen(mod, nativePath('capsa_addon.node'));
    loaded = mod.exports;
  }
  return loaded;
}
