// Waiting for a container process to exit, through a pidfd watched by the
// event loop: no polling, and no reliance on libuv reaping a child it did not
// spawn. When we are the parent, the exit status is reaped too.
import { CapsaError } from '../errors';
import { addon, type ExitStatus } from '../sys/addon';
import { readProcStat } from '../sys/proc';

export interface ProcessHandle {
  pid: number;
  startTime: number;
}

/** Opens a pidfd for the process, or undefined when it is gone or was replaced. */
export function openPidfd(h: ProcessHandle): number | undefined {
  // No pid names no process (pidfd_open would fail with EINVAL).
  if (!(h.pid > 0)) return undefined;
  let fd: number;
  try {
    fd = addon().pidfdOpen(h.pid);
  } catch (e) {
    // EINVAL (Linux 6.1) or ENOENT (6.18) for a pid > 0: it names no
    // process but a thread of one (a pid reused since), or a process being
    // released: either way not ours.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ESRCH' || code === 'EINVAL' || code === 'ENOENT') return undefined;
    throw e;
  }
  // The pidfd pins the pid: checking the start time now closes the reuse race.
  const st = readProcStat(h.pid);
  if (!st || st.startTime !== h.startTime) {
    addon().closeFd(fd);
    return undefined;
  }
  return fd;
}

export interface ExitWait {
  exited: Promise<ExitStatus | null>;
  /** Stop waiting (frees the pidfd); `exited` then never settles. */
  cancel(): void;
}

/**
 * Waits for the process to exit; with the status when it is our child and
 * `reap` is set. Only the one caller who wants the status may reap.
 */
export function watchExit(h: ProcessHandle, reap = true): ExitWait {
  const fd = openPidfd(h);
  if (fd === undefined) return { exited: Promise.resolve(null), cancel: () => {} };
  let watchId = 0;
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    addon().closeFd(fd);
  };
  const exited = new Promise<ExitStatus | null>((resolve) => {
    watchId = addon().watchPidfd(fd, () => {
      let status: ExitStatus | null = null;
      try {
        if (reap) status = addon().reapPidfd(fd);
      } catch {
        /* ECHILD: not our child, someone else reaps it */
      }
      close();
      resolve(status);
    });
  });
  return {
    exited,
    cancel: () => {
      if (!open) return;
      addon().unwatchPidfd(watchId);
      close();
    },
  };
}

/**
 * The exit of a process we are the parent of (capsa-init, an init we created, a process
 * we exec'd), watched from the moment it exists: it is reaped as soon as it
 * exits, whether or not anyone waits, and its status kept for wait(). An
 * unreaped child in a container's pid namespace keeps that namespace's init
 * from exiting (and so `delete --force` from finishing), and each one left is
 * a zombie for as long as this process lives. The watch holds the event loop
 * open only once someone waits.
 */
export class ChildExit {
  private readonly exited: Promise<ExitStatus | null>;
  private watchId = 0;
  /** False from the moment it has exited and been reaped (and its pidfd closed). */
  running: boolean;

  /** `target`: the process, or an open pidfd of it (then ours to close once it has exited). */
  constructor(target: ProcessHandle | number) {
    const fd = typeof target === 'number' ? target : openPidfd(target);
    this.running = fd !== undefined;
    if (fd === undefined) {
      this.exited = Promise.resolve(null);
      return;
    }
    this.exited = new Promise((resolve) => {
      this.watchId = addon().watchPidfd(fd, () => {
        this.watchId = 0;
        let status: ExitStatus | null = null;
        try { status = addon().reapPidfd(fd); } catch { /* ECHILD: reaped by a waiter of its own */ }
        addon().closeFd(fd);
        this.running = false;
        resolve(status);
      });
    });
    addon().refWatch(this.watchId, false);
  }

  /**
   * The exit status (null when we could not reap it); the same for every
   * call. With hold false the watch does not keep the event loop open.
   */
  wait(hold = true): Promise<ExitStatus | null> {
    if (hold && this.watchId) addon().refWatch(this.watchId, true);
    return this.exited;
  }
}

/** Resolves when the process exits (see watchExit); rejects after timeoutMs. */
export async function waitForExit(h: ProcessHandle, timeoutMs?: number, reap = true): Promise<ExitStatus | null> {
  const w = watchExit(h, reap);
  if (timeoutMs === undefined) return w.exited;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      w.cancel();
      reject(new CapsaError('TIMEOUT', `process ${h.pid} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([w.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends a signal through a pidfd so a reused pid is never hit. False when gone. */
export function signalProcess(h: ProcessHandle, signal: number): boolean {
  const fd = openPidfd(h);
  if (fd === undefined) return false;
  try {
    addon().pidfdSendSignal(fd, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  } finally {
    addon().closeFd(fd);
  }
}

export function exitCodeOf(status: ExitStatus | null): number {
  if (!status) return 0;
  if (status.signal !== null) return 128 + status.signal;
  return status.code ?? 0;
}
