// What the shim knows of each task: its container (the library's handle),
// its init and exec'd processes with their stdio, exit status and waiters.
// An exit is recorded once and returned to every Wait, State and Delete.
import type { Container, ExecProcess, PreparedExec, WaitResult } from '../runtime/runtime';
import type { Process } from '../spec/types';
import type { ProcessIo, IoRequest } from './io';
import type { OomKillWatch } from '../cgroups/oom-watch';
import type { TimestampMsg } from './proto/messages';

export interface Exit {
  status: number;
  at: TimestampMsg;
}

export function now(): TimestampMsg {
  const ms = Date.now();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

/** Exit status as containerd reads it: the code, 128+signal, 255 when unknown. */
export function exitStatusOf(r: WaitResult): number {
  return r.exitCode ?? 255;
}

export class Proc {
  pid = 0;
  started = false;
  exit?: Exit;
  io?: ProcessIo;
  /** exec'd processes: the library's handle once started */
  handle?: ExecProcess;
  /**
   * exec'd processes: made ready to execve right after Exec, so Start only
   * lets it run; undefined when that failed (Start then execs from scratch).
   */
  prepared?: Promise<PreparedExec | undefined>;
  /** Start has been called (an exec is then no longer prepared behind its back). */
  startRequested = false;
  /**
   * Settles once Start has published its event (or failed): the exit event
   * waits for it, so TaskStart/TaskExecStarted always come before TaskExit.
   */
  startGate: Promise<void> = Promise.resolve();
  private readonly exited: Promise<Exit>;
  private resolveExit!: (e: Exit) => void;

  constructor(
    /** '' for the init */
    readonly execId: string,
    readonly ioRequest: IoRequest,
    /** exec'd processes: the OCI process to run */
    readonly spec?: Process,
  ) {
    this.exited = new Promise((r) => { this.resolveExit = r; });
  }

  setExited(status: number, at: TimestampMsg = now()): Exit {
    if (!this.exit) {
      this.exit = { status, at };
      this.resolveExit(this.exit);
    }
    return this.exit;
  }

  wait(): Promise<Exit> { return this.exited; }
}

export class Task {
  readonly execs = new Map<string, Proc>();
  oom?: OomKillWatch;
  /** Paused by this shim (Pause, until Resume). */
  paused = false;

  constructor(
    readonly id: string,
    readonly bundle: string,
    readonly container: Container,
    readonly init: Proc,
    /** <bundle>/rootfs when the shim mounted it */
    readonly rootfs: string | undefined,
    /** false: the container shares a pid namespace, so its init's exit kills the rest */
    readonly hasPrivatePidNs: boolean,
  ) {}

  process(execId: string): Proc | undefined {
    return execId ? this.execs.get(execId) : this.init;
  }
}
