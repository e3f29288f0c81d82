// SCMP_ACT_NOTIFY: hand the filter's notify fd to the seccomp agent at
// linux.seccomp.listenerPath, as runtime-spec (runtime.md, "Container process
// state") and runc do. One connection per process; on it one message: the
// JSON container process state, with the fd in SCM_RIGHTS, named "seccompFd"
// in its `fds`. capsa-init passes the listener to us on a socket of its own
// (OP_SECCOMP's notifySocket) and waits until the agent has it.

import { CapsaError, fromSystemError, type ErrorCode } from '../errors';
import { addon } from '../sys/addon';

export interface ProcessStateOf {
  id: string;
  bundle: string;
  annotations?: Record<string, string>;
  /** 'creating' for the container's init, 'running' for an exec'd process. */
  status: 'creating' | 'running';
  /** The container init's host pid (0: the process being made is the init). */
  initPid: number;
}

export interface SeccompAgentLink {
  /** capsa-init's end of the socket the listener comes on (give it in extraFds, then close it). */
  initEnd: number;
  /** Called at SYNC_SECCOMP with the host pid of the process that loaded the filter. */
  deliver(pid: number): void;
  close(): void;
}

const OCI_VERSION = '1.0.2';

export function linkSeccompAgent(listenerPath: string, metadata: string | undefined, of: ProcessStateOf): SeccompAgentLink {
  const [ours, initEnd] = addon().socketPair();
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    addon().closeFd(ours);
  };
  return {
    initEnd,
    close,
    deliver(pid: number): void {
      const listener = addon().recvFd(ours);
      let agent: number | undefined;
      try {
        try {
          agent = addon().connectUnix(listenerPath);
        } catch (e) {
          throw agentError(e, `cannot reach the seccomp agent at ${listenerPath}`, 'INVALID_CONFIG');
        }
        const state = {
          ociVersion: OCI_VERSION,
          fds: ['seccompFd'],
          pid,
          ...(metadata ? { metadata } : {}),
          state: {
            ociVersion: OCI_VERSION, id: of.id, status: of.status, pid: of.initPid || pid, bundle: of.bundle,
            ...(of.annotations && Object.keys(of.annotations).length ? { annotations: of.annotations } : {}),
          },
        };
        try {
          addon().sendFd(agent, listener, JSON.stringify(state));
        } catch (e) {
          throw agentError(e, `cannot send the seccomp fd to ${listenerPath}`, 'INIT');
        }
      } finally {
        if (agent !== undefined) addon().closeFd(agent);
        addon().closeFd(listener);
        close();
      }
    },
  };
}

function agentError(e: unknown, what: string, code: ErrorCode): CapsaError {
  const sys = fromSystemError(e, `config.linux.seccomp.listenerPath: ${what}`, code);
  return new CapsaError(code, sys.message, { errno: sys.errno, cause: e, configPath: 'linux.seccomp.listenerPath' });
}

/** A compiled filter as create/exec hold it. */
export interface FilterToLoad {
  program: Buffer;
  flags: number;
  /** Set when a rule notifies: where the agent listens. */
  listener?: { path: string; metadata?: string };
}

/**
 * The filter for the plan, plus, when it notifies, the socket capsa-init gets
 * as its next extra fd (number `nextInitFd` in capsa-init) and the handler
 * for SYNC_SECCOMP. `close()` after startInit, whatever happened.
 */
export function prepareSeccomp(filter: FilterToLoad | undefined, nextInitFd: number, of: ProcessStateOf) {
  if (!filter?.listener) {
    return { seccomp: filter && { program: filter.program, flags: filter.flags }, extraFds: [] as number[], onSeccomp: undefined, close: () => {} };
  }
  const link = linkSeccompAgent(filter.listener.path, filter.listener.metadata, of);
  return {
    seccomp: { program: filter.program, flags: filter.flags, notifySocket: nextInitFd },
    extraFds: [link.initEnd],
    onSeccomp: (pid: number) => link.deliver(pid),
    close: () => {
      addon().closeFd(link.initEnd);
      link.close();
    },
  };
}
