// runc's --pidfd-socket (≥ 1.2): a pidfd of the container's init (create/run)
// or of the exec'd process is sent over a unix socket with SCM_RIGHTS, so the
// engine can wait for and signal exactly that process without pid reuse races.
import * as path from 'node:path';
import { fromSystemError } from '../errors';
import { addon } from '../sys/addon';

/** Connects early (as runc does), so a bad socket fails before anything is made. */
export function connectPidfdSocket(socketPath: string): number {
  try {
    return addon().connectUnix(path.resolve(socketPath));
  } catch (e) {
    throw fromSystemError(e, `pidfd socket ${socketPath}`, 'INVALID_ARGUMENT');
  }
}

/**
 * Sends a pidfd of `pid` on the connected socket. The process is our child and
 * not yet reaped, so the pid still names it when pidfd_open runs.
 */
export function sendPidfd(sock: number, pid: number, socketPath: string): void {
  let pidfd: number;
  try {
    pidfd = addon().pidfdOpen(pid);
  } catch (e) {
    throw fromSystemError(e, `pidfd socket ${socketPath}: pidfd_open ${pid}`);
  }
  try {
    addon().sendFd(sock, pidfd, 'pidfd');
  } catch (e) {
    throw fromSystemError(e, `pidfd socket ${socketPath}: send`);
  } finally {
    addon().closeFd(pidfd);
  }
}
