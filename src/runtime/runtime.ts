// The library API: the same calls the CLI makes, one per verb.
import { CapsaError } from '../errors';
import type { Process, Resources, State } from '../spec/types';
import type { ExecOptions } from './exec';
import { DEFAULT_ROOT, StateStore } from '../state/store';
import type { CreateOptions } from './create';
import { deleteContainer, killContainer, readState, startContainer } from './lifecycle';
import { ChildExit, exitCodeOf, signalProcess } from './process-exit';
import type { ExitStatus } from '../sys/addon';
import type { CgroupStats } from '../cgroups/manager';
import type { OomEvidence, OomKillWatch } from '../cgroups/oom-watch';
import type { ContainerEvent } from './cgroup-operations';
import type { InitPark } from './init-park';

/** cgroup statistics of a container (cpu, memory, pids, blkio, hugetlb). */
export type ContainerStats = CgroupStats;

export interface RuntimeOptions {
  root?: string;
  systemdCgroup?: boolean;
  /**
   * Reap the inits and exec'd processes this Runtime starts as soon as they
   * exit, keeping their status for wait() (default true). The CLI turns it
   * off: like runc, it leaves a detached process to the subreaper that
   * adopts it (an engine's shim), which must be the one to collect its status.
   */
  reapChildren?: boolean;
  /**
   * Keep one capsa-init started ahead for the next exec (default false), so
   * an exec skips its spawn: worth it in a long-lived process that execs
   * again and again (a shim, a suite's probes). It waits in the host, in
   * this process's cgroup, until an exec takes it; the next one is parked
   * 50 ms after that exec. close() ends it, and it dies with this process.
   */
  parkInit?: boolean;
  onWarning?: (msg: string) => void;
  onDebug?: (msg: string) => void;
}

export interface WaitResult {
  /** Exit code, or 128+signal; null when capsa is not the container's parent. */
  exitCode: number | null;
  signal: number | null;
}

export interface ContainerIo {
  /** Streams for stdio the caller asked to capture ('pipe'), else null. */
  stdio: (import('node:stream').Duplex | null)[];
  /** The pty master when a foreground terminal was requested. */
  ptyMaster?: number;
}

function waitResult(status: ExitStatus | null): WaitResult {
  if (!status) return { exitCode: null, signal: null };
  return { exitCode: exitCodeOf(status), signal: status.signal };
}

export class Container {
  constructor(
    readonly runtime: Runtime,
    readonly id: string,
    private readonly init: { pid: number; startTime: number },
    readonly io: ContainerIo = { stdio: [] },
    /** Watching from the start: set when this process created the container (see RuntimeOptions.reapChildren). */
    private initExit?: ChildExit,
  ) {}

  get pid(): number { return this.init.pid; }
  handle(): { pid: number; startTime: number } { return { ...this.init }; }

  start(): Promise<void> { return this.runtime.start(this.id); }
  kill(signal: number | string = 'SIGTERM', opts: { all?: boolean } = {}): Promise<void> { return this.runtime.kill(this.id, signal, opts); }
  state(): State { return this.runtime.state(this.id); }
  delete(opts: { force?: boolean } = {}): Promise<void> { return this.runtime.delete(this.id, opts); }
  /** cgroup statistics (cpu, memory, pids, blkio, hugetlb) of the running container. */
  stats(): Promise<ContainerStats> { return this.runtime.stats(this.id); }
  /** runc events: an OOM event as it happens, stats every intervalMs, until the container stops or signal aborts. */
  events(intervalMs: number, emit: (e: ContainerEvent) => void, opts: { signal?: AbortSignal } = {}): Promise<void> {
    return this.runtime.events(this.id, intervalMs, emit, opts);
  }
  /** Runs a process inside this running container. */
  exec(proc: Process, opts: ExecOptions = {}): Promise<ExecProcess> { return this.runtime.exec(this.id, proc, opts); }
  /** exec up to its execve now, the execve on start() (see Runtime.prepareExec). */
  prepareExec(proc: Process, opts: ExecOptions = {}): Promise<PreparedExec> { return this.runtime.prepareExec(this.id, proc, opts); }
  /** Freezes every process of the container (runc pause). */
  pause(): Promise<void> { return this.runtime.pause(this.id); }
  resume(): Promise<void> { return this.runtime.resume(this.id); }
  /** Host pids of every process in the container's cgroup (none once stopped). */
  pids(): Promise<number[]> { return this.runtime.pids(this.id); }
  /** Applies a partial resources update to the running container; returns warnings. */
  update(resources: Resources): Promise<string[]> { return this.runtime.update(this.id, resources); }
  /** OOM kills in the container's cgroup so far. */
  oomKillCount(): number { return this.runtime.oomKillCount(this.id); }
  /** cgroup v2: the memory.events file to watch for OOM kills; undefined on v1. */
  memoryEventsFile(): string | undefined { return this.runtime.memoryEventsFile(this.id); }
  /** Calls onOom for each OOM kill in the container's cgroup from now on; finish() once the container has stopped, stop() when done. */
  watchOom(onOom: (seen: OomEvidence) => void, opts: { pollMs?: number } = {}): OomKillWatch { return this.runtime.watchOom(this.id, onOom, opts); }
  /** The process the container's config gives (what exec's flags start from). */
  process(): Process { return this.runtime.process(this.id); }

  /** Resolves when the container's init exits (every call, with the same result). */
  async wait(): Promise<WaitResult> {
    this.initExit ??= new ChildExit(this.init);
    return waitResult(await this.initExit.wait());
  }
}

/** A process started by exec (our child: reaped when it exits, see RuntimeOptions.reapChildren). */
export class ExecProcess {
  private exit?: ChildExit;

  constructor(readonly pid: number, private readonly startTime: number, readonly io: ContainerIo, reapNow = true) {
    if (reapNow) this.exit = new ChildExit({ pid, startTime });
  }

  /** Resolves when the process exits (every call, with the same result). */
  async wait(): Promise<WaitResult> {
    this.exit ??= new ChildExit({ pid: this.pid, startTime: this.startTime });
    return waitResult(await this.exit.wait());
  }

  handle(): { pid: number; startTime: number } {
    return { pid: this.pid, startTime: this.startTime };
  }

  /** Signals the process (through a pidfd: a reused pid is never hit); false when it has exited. */
  kill(signal: number | string = 'SIGTERM'): boolean {
    const n = typeof signal === 'number' ? signal : (require('./signals') as typeof import('./signals')).parseSignal(signal);
    return signalProcess({ pid: this.pid, startTime: this.startTime }, n);
  }
}

/**
 * An exec made up to its last step before execve: the process is in the
 * container with its credentials, filter and label, waiting. start() lets it
 * execve; cancel() makes it exit without running anything. Until then it
 * counts in the container's cgroup (pids.max, `ps`).
 */
export class PreparedExec {
  constructor(private readonly prepared: import('./exec').PreparedExecResult, private readonly reap: boolean) {}

  /** Its host pid while it waits (and after, when started). */
  get pid(): number { return this.prepared.pid; }

  async start(): Promise<ExecProcess> {
    const r = await this.prepared.start();
    return new ExecProcess(r.pid, r.startTime, { stdio: r.stdio, ptyMaster: r.ptyMaster }, this.reap);
  }

  cancel(): Promise<void> { return this.prepared.cancel(); }
}

const verbs = () => require('./cgroup-operations') as typeof import('./cgroup-operations');

export class Runtime {
  readonly store: StateStore;
  private readonly opts: RuntimeOptions;

  private readonly park?: InitPark;

  constructor(opts: RuntimeOptions = {}) {
    this.opts = opts;
    this.store = new StateStore(opts.root ?? DEFAULT_ROOT);
    if (opts.parkInit) {
      const { InitPark: Park } = require('./init-park') as typeof import('./init-park');
      this.park = new Park();
    }
  }

  /** Ends what this Runtime keeps ahead (a parked capsa-init); its containers are not touched. */
  close(): void {
    this.park?.close();
  }

  private warn = (m: string) => this.opts.onWarning?.(m);

  async create(id: string, opts: CreateOptions): Promise<Container> {
    // create and exec pull in the Plan compiler and init driver: loaded on
    // first use, so state/kill/delete/list start faster.
    const { createContainer } = require('./create') as typeof import('./create');
    const created = await createContainer(this.store, id, { systemdCgroup: this.opts.systemdCgroup, onWarning: this.warn, onDebug: this.opts.onDebug, ...opts });
    const init = { pid: created.record.pid, startTime: created.record.initStartTime };
    const reap = this.opts.reapChildren !== false;
    return new Container(this, id, init, { stdio: created.stdio, ptyMaster: created.ptyMaster }, reap ? new ChildExit(init) : undefined);
  }

  /** Starts a new process in a running container; wait() on the result for its exit. */
  async exec(id: string, proc: Process, opts: ExecOptions = {}): Promise<ExecProcess> {
    const { execProcess } = require('./exec') as typeof import('./exec');
    const r = await execProcess(this.store, id, proc, { onDebug: this.opts.onDebug, ...opts }, { reapFailed: this.opts.reapChildren !== false, park: this.park });
    return new ExecProcess(r.pid, r.startTime, { stdio: r.stdio, ptyMaster: r.ptyMaster }, this.opts.reapChildren !== false);
  }

  /**
   * Does all of exec but the execve: joining the container, credentials,
   * seccomp, finding the command. A failure there rejects here; start() on
   * the result then costs only the execve (what a shim's Exec/Start pair or
   * a prepared probe wants). The container is not locked while it waits.
   */
  async prepareExec(id: string, proc: Process, opts: ExecOptions = {}): Promise<PreparedExec> {
    const { prepareExecProcess } = require('./exec') as typeof import('./exec');
    const reap = this.opts.reapChildren !== false;
    return new PreparedExec(await prepareExecProcess(this.store, id, proc, { onDebug: this.opts.onDebug, ...opts }, { reapFailed: reap, park: this.park }), reap);
  }

  start(id: string): Promise<void> {
    return startContainer(this.store, id, { onWarning: this.warn });
  }

  pause(id: string): Promise<void> { return verbs().pauseContainer(this.store, id); }
  resume(id: string): Promise<void> { return verbs().resumeContainer(this.store, id); }
  pids(id: string): Promise<number[]> { return verbs().containerPids(this.store, id); }
  update(id: string, resources: Resources): Promise<string[]> { return verbs().updateContainer(this.store, id, resources); }
  /** cgroup statistics of a running container (runc events --stats). */
  stats(id: string): Promise<ContainerStats> { return verbs().containerStats(this.store, id); }
  /** runc events: OOM events as they happen, stats every intervalMs, until the container stops or signal aborts. */
  events(id: string, intervalMs: number, emit: (e: ContainerEvent) => void, opts: { signal?: AbortSignal } = {}): Promise<void> {
    return verbs().watchEvents(this.store, id, intervalMs, emit, opts);
  }
  /** OOM kills in the container's cgroup so far (0 when it has none or is gone). */
  oomKillCount(id: string): number { return verbs().containerOomKills(this.store, id); }
  /** cgroup v2: the memory.events file to watch for OOM kills; undefined on v1. */
  memoryEventsFile(id: string): string | undefined { return verbs().memoryEventsFile(this.store, id); }
  watchOom(id: string, onOom: (seen: OomEvidence) => void, opts: { pollMs?: number } = {}): OomKillWatch { return verbs().watchContainerOom(this.store, id, onOom, opts); }

  /** The process the container's config gives (what exec's flags start from). */
  process(id: string): Process {
    const rec = this.store.open(id).read();
    if (!rec?.process) throw new CapsaError('NOT_FOUND', 'container does not exist');
    return rec.process;
  }

  state(id: string): State {
    return readState(this.store, id);
  }

  async kill(id: string, signal: number | string, opts: { all?: boolean } = {}): Promise<void> {
    const { parseSignal } = require('./signals') as typeof import('./signals');
    const n = typeof signal === 'number' ? signal : parseSignal(signal);
    return killContainer(this.store, id, n, !!opts.all);
  }

  delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    return deleteContainer(this.store, id, { force: opts.force, onWarning: this.warn });
  }

  list(): State[] {
    const out: State[] = [];
    for (const id of this.store.ids()) {
      try {
        out.push(readState(this.store, id));
      } catch (e) {
        // A dir vanishing under us (concurrent delete) is not an error for list.
        if (!(e instanceof CapsaError && e.code === 'NOT_FOUND')) throw e;
      }
    }
    return out;
  }

  /** create + start + wait + delete, capturing stdout and stderr (see oneshot.ts). */
  run(id: string, source: import('./oneshot').RunSource, opts?: import('./oneshot').RunOnceOptions): Promise<import('./oneshot').RunResult> {
    return (require('./oneshot') as typeof import('./oneshot')).runOnce(this, id, source, opts);
  }

  /** Handle to an existing container (for wait/kill from another process). */
  get(id: string): Container {
    const dir = this.store.open(id);
    const rec = dir.read();
    if (!rec) throw new CapsaError('NOT_FOUND', 'container does not exist');
    return new Container(this, id, { pid: rec.pid, startTime: rec.initStartTime });
  }
}
