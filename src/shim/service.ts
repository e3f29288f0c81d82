// containerd.task.v2.Task over capsa's library, with the semantics of runc's
// shim (runtime/v2/runc/task/service.go, pkg/process): state rules, error
// codes, exit statuses and the order of events. Every handler's failure is
// that request's error status; nothing here may take the shim down.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError } from '../errors';
import type { ExecProcess, Runtime, WaitResult } from '../runtime/runtime';
import { loadBundleSpec } from '../spec/load';
import type { Process, Resources } from '../spec/types';
import type { ShimConfig } from './config';
import { configFromOptions } from './config';
import type { EventPublisher } from './events';
import { ProcessIo } from './io';
import { decode, encode, type Msg, type Schema } from './proto/codec';
import { Empty, ProcessDetails, task as T, TaskStatus, TYPE_URL, type AnyMsg, type MountMsg } from './proto/messages';
import { metricsAny, readV2Files } from './proto/metrics';
import { mountRootfs, rootfsInContainer, unmountRootfs } from './rootfs';
import { exitStatusOf, now, Proc, Task, type Exit } from './task';
import { Code, RpcError } from './ttrpc/frame';
import type { CallContext, Method } from './ttrpc/server';

export const TASK_SERVICE = 'containerd.task.v2.Task';
/** The shim's private record in the bundle, for the `delete` action after a crash. */
export const BUNDLE_RECORD = 'capsa-shim.json';
/** Written when the task is deleted: the DeleteResponse, octal-escaped for the launcher's printf. */
export const DELETED_RECORD = 'capsa-shim.deleted';

export interface ServiceOptions {
  namespace: string;
  publisher: EventPublisher;
  /** Settings from `start` (the config file, runtime options). */
  config: ShimConfig;
  runtimeFor(root: string, systemdCgroup: boolean): Runtime;
  /** cgroup v2 host (/sys/fs/cgroup is cgroup2): Stats answers v2 metrics. */
  unified: boolean;
  log(level: 'info' | 'warning' | 'error' | 'debug', msg: string): void;
  /** The last task is gone and containerd said Shutdown. */
  onShutdown(): void;
  /** Children the shim starts itself (mount, loggers), kept away from the orphan reaper. */
  trackChild(pid: number): void;
  /** Exits the shim owns the reaping of (inits, exec'd processes). */
  trackProcess(pid: number): void;
}

const notFound = (what: string) => new RpcError(Code.NotFound, what);
const precondition = (what: string) => new RpcError(Code.FailedPrecondition, what);
const SIGKILL = 9;
/** How long an exec's exit waits for its client to read the output it left (ProcessIo.outputTaken). */
const OUTPUT_TAKEN_LIMIT_MS = 500;

interface CreateRequest {
  id?: string; bundle?: string; rootfs?: MountMsg[]; terminal?: boolean; stdin?: string; stdout?: string; stderr?: string;
  checkpoint?: string; options?: AnyMsg;
}
interface IdRequest { id?: string; execId?: string }

/** systemd cgroups when linux.cgroupsPath has the "slice:prefix:name" shape (CRI with the systemd driver). */
const systemdPath = (p: string | undefined) => !!p && /^[^:/]*:[^:]*:[^:]+$/.test(p);

export class TaskService {
  readonly tasks = new Map<string, Task>();

  constructor(private readonly o: ServiceOptions) {}

  /** The ttrpc method table: decode the request, run the handler, encode the answer. */
  methods(): Record<string, Method> {
    const m = <Req extends Msg>(req: Schema, res: Schema, fn: (r: Req, ctx: CallContext) => Promise<Msg> | Msg): Method =>
      async (payload, ctx) => {
        let r: Req;
        try { r = decode<Req>(req, payload); } catch (e) { throw new RpcError(Code.InvalidArgument, `${req.name}: ${(e as Error).message}`); }
        return encode(res, await fn(r, ctx));
      };
    return {
      State: m(T.StateRequest, T.StateResponse, (r: IdRequest) => this.state(r)),
      Create: m(T.CreateTaskRequest, T.CreateTaskResponse, (r: CreateRequest) => this.create(r)),
      Start: m(T.StartRequest, T.StartResponse, (r: IdRequest) => this.start(r)),
      Delete: m(T.DeleteRequest, T.DeleteResponse, (r: IdRequest) => this.delete(r)),
      Pids: m(T.PidsRequest, T.PidsResponse, (r: IdRequest) => this.pids(r)),
      Pause: m(T.PauseRequest, Empty, (r: IdRequest) => this.pause(r, true)),
      Resume: m(T.ResumeRequest, Empty, (r: IdRequest) => this.pause(r, false)),
      Checkpoint: m(T.CheckpointTaskRequest, Empty, () => { throw new RpcError(Code.Unimplemented, 'checkpoint is not supported by capsa (no CRIU support)'); }),
      Kill: m(T.KillRequest, Empty, (r: IdRequest & { signal?: number; all?: boolean }) => this.kill(r)),
      Exec: m(T.ExecProcessRequest, Empty, (r) => this.exec(r as IdRequest & { terminal?: boolean; stdin?: string; stdout?: string; stderr?: string; spec?: AnyMsg })),
      ResizePty: m(T.ResizePtyRequest, Empty, (r: IdRequest & { width?: number; height?: number }) => {
        this.proc(r).io?.resize(r.width ?? 0, r.height ?? 0);
        return {};
      }),
      CloseIO: m(T.CloseIORequest, Empty, (r: IdRequest & { stdin?: boolean }) => {
        if (r.stdin) this.proc(r).io?.closeStdin();
        return {};
      }),
      Update: m(T.UpdateTaskRequest, Empty, (r: IdRequest & { resources?: AnyMsg }) => this.update(r)),
      Wait: m(T.WaitRequest, T.WaitResponse, (r: IdRequest, ctx) => this.wait(r, ctx)),
      Stats: m(T.StatsRequest, T.StatsResponse, (r: IdRequest) => this.stats(r)),
      Connect: m(T.ConnectRequest, T.ConnectResponse, (r: IdRequest) => ({ shimPid: process.pid, taskPid: this.tasks.get(r.id ?? '')?.init.pid ?? 0 })),
      Shutdown: m(T.ShutdownRequest, Empty, () => {
        if (this.tasks.size === 0) setImmediate(() => this.o.onShutdown());
        return {};
      }),
    };
  }

  private task(id: string | undefined): Task {
    const t = this.tasks.get(id ?? '');
    if (!t) throw notFound('container not created');
    return t;
  }

  private proc(r: IdRequest): Proc {
    const t = this.task(r.id);
    const p = t.process(r.execId ?? '');
    if (!p) throw notFound(`process ${r.execId} does not exist`);
    return p;
  }

  // ---- Create / Start / Delete ----

  private async create(r: CreateRequest): Promise<Msg> {
    const id = r.id ?? '';
    if (!id) throw new RpcError(Code.InvalidArgument, 'task id is empty');
    if (this.tasks.has(id)) throw new RpcError(Code.AlreadyExists, `task ${id}: already exists`);
    if (r.checkpoint) throw new RpcError(Code.Unimplemented, 'restoring from a checkpoint is not supported by capsa (no CRIU support)');
    const bundle = path.resolve(r.bundle || '.');
    const config = configFromOptions(r.options, this.o.config);
    const spec = loadBundleSpec(bundle);
    const systemd = config.systemdCgroup ?? systemdPath(spec.linux?.cgroupsPath);
    const root = path.join(config.root, this.o.namespace);
    // For the `delete` action, should this shim die: where capsa's state is.
    fs.writeFileSync(path.join(bundle, BUNDLE_RECORD), JSON.stringify({ root, systemdCgroup: systemd }));
    const runtime = this.o.runtimeFor(root, systemd);
    const t0 = performance.now();
    // One snapshot mount (the usual overlay, or a bind): capsa-init makes it in
    // the container's own mount namespace, so nothing is mounted (and later
    // unmounted) on the host. Anything else goes through mount(8) as before.
    const inContainer = rootfsInContainer(r.rootfs ?? []);
    const rootfs = inContainer ? undefined : await mountRootfs(r.rootfs ?? [], bundle, this.o.trackChild);
    const t1 = performance.now();
    const ioRequest = { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: !!r.terminal };
    let io: ProcessIo | undefined;
    try {
      io = await ProcessIo.open(ioRequest, { id, namespace: this.o.namespace, workDir: bundle, onChild: this.o.trackChild });
      const container = await runtime.create(id, {
        bundle, spec, rootfsMount: inContainer, stdio: io.stdio, foregroundTerminal: !!r.terminal && !!spec.process?.terminal,
        noPivot: config.noPivotRoot, noNewKeyring: config.noNewKeyring,
        onWarning: (msg) => this.o.log('warning', `${id}: ${msg}`),
      });
      io.attach(container.io.ptyMaster);
      this.o.log('debug', `${id}: create: rootfs ${(t1 - t0).toFixed(1)} ms, io + container ${(performance.now() - t1).toFixed(1)} ms`);
      const init = new Proc('', ioRequest);
      init.io = io;
      init.pid = container.pid;
      this.o.trackProcess(init.pid);
      const hasPrivatePidNs = (spec.linux?.namespaces ?? []).some((n) => n.type === 'pid' && !n.path);
      const t = new Task(id, bundle, container, init, rootfs, hasPrivatePidNs);
      this.tasks.set(id, t);
      container.wait().then((res) => this.initExited(t, res)).catch((e) => this.o.log('error', `${id}: waiting for the init: ${(e as Error).message}`));
      t.oom = container.watchOom(() => this.o.publisher.publish('TaskOOM', { containerId: id }));
      this.o.publisher.publish('TaskCreate', {
        containerId: id, bundle, rootfs: r.rootfs, io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: !!r.terminal }, pid: init.pid,
      });
      return { pid: init.pid };
    } catch (e) {
      await io?.close(0);
      if (rootfs) await unmountRootfs(rootfs, this.o.trackChild).catch((u) => this.o.log('warning', `${id}: ${(u as Error).message}`));
      throw e;
    }
  }

  private async initExited(t: Task, res: WaitResult): Promise<void> {
    // Without its own pid namespace, what the init leaves behind would be
    // reparented to the shim: it dies with the init, as with runc.
    if (!t.hasPrivatePidNs) await t.container.kill(SIGKILL, { all: true }).catch(() => {});
    await t.oom?.finish();
    const exit = t.init.setExited(exitStatusOf(res));
    await t.init.startGate;
    this.o.publisher.publish('TaskExit', { containerId: t.id, id: t.id, pid: t.init.pid, exitStatus: exit.status, exitedAt: exit.at });
  }

  private async start(r: IdRequest): Promise<Msg> {
    const t = this.task(r.id);
    if (r.execId) return this.startExec(t, r.execId);
    const p = t.init;
    if (p.exit) throw precondition('cannot start a process that has stopped');
    let release!: () => void;
    p.startGate = new Promise((res) => { release = res; });
    try {
      await t.container.start();
      p.started = true;
    } finally {
      if (p.started) this.afterAnswer(() => this.o.publisher.publish('TaskStart', { containerId: t.id, pid: p.pid }), release);
      else release();
    }
    return { pid: p.pid };
  }

  /**
   * Publishes an event once the answer being made has been written (a
   * setImmediate runs after the write), then releases the exit event that
   * waits for it. The client's next step waits on the answer, not the
   * event; runc's shim sends its events from their own goroutine too.
   */
  private afterAnswer(publish: () => void, release: () => void = () => {}): void {
    setImmediate(() => {
      try { publish(); } finally { release(); }
    });
  }

  private async startExec(t: Task, execId: string): Promise<Msg> {
    const p = t.execs.get(execId);
    if (!p) throw notFound(`process ${execId} does not exist`);
    if (p.started || p.exit || p.startRequested) throw precondition(`process ${execId} has already been started`);
    if (t.init.exit) throw precondition('cannot exec in a stopped container');
    p.startRequested = true;
    let release!: () => void;
    p.startGate = new Promise((res) => { release = res; });
    try {
      const t0 = performance.now();
      const prepared = await p.prepared;
      let handle: ExecProcess | undefined;
      if (prepared) {
        handle = await prepared.start().catch((e: unknown) => {
          // Redone from scratch below, whose outcome is the answer: the
          // prepared process also needs read(2) under the container's
          // seccomp filter, which a strict profile may refuse.
          this.o.log('info', `${t.id}/${execId}: the prepared exec failed (${(e as Error).message}); starting it anew`);
          return undefined;
        });
      }
      if (!handle) {
        const io = await this.openIo(t, p);
        handle = await t.container.exec(this.execSpec(p), { stdio: io.stdio, foregroundTerminal: !!p.ioRequest.terminal });
      }
      this.o.log('debug', `${t.id}/${execId}: start: ${prepared ? 'prepared' : 'not prepared'}, ${(performance.now() - t0).toFixed(1)} ms`);
      p.io!.attach(handle.io.ptyMaster);
      p.handle = handle;
      p.pid = handle.pid;
      p.started = true;
      this.o.trackProcess(p.pid);
      handle.wait().then(async (res) => {
        const exitedAt = now();
        await p.io?.outputTaken(OUTPUT_TAKEN_LIMIT_MS);
        const exit = p.setExited(exitStatusOf(res), exitedAt);
        await p.startGate;
        this.o.publisher.publish('TaskExit', { containerId: t.id, id: execId, pid: p.pid, exitStatus: exit.status, exitedAt: exit.at });
      }).catch((e) => this.o.log('error', `${t.id}/${execId}: ${(e as Error).message}`));
    } catch (e) {
      await p.io?.close(0);
      p.io = undefined;
      p.startRequested = false;
      throw e;
    } finally {
      p.prepared = undefined;
      if (p.started) this.afterAnswer(() => this.o.publisher.publish('TaskExecStarted', { containerId: t.id, execId, pid: p.pid }), release);
      else release();
    }
    return { pid: p.pid };
  }

  private execSpec(p: Proc): Process {
    return { ...p.spec!, terminal: !!p.ioRequest.terminal };
  }

  /** The exec's stdio, opened once (by its preparation or by Start). */
  private async openIo(t: Task, p: Proc): Promise<ProcessIo> {
    p.io ??= await ProcessIo.open(p.ioRequest, { id: t.id, namespace: this.o.namespace, workDir: t.bundle, onChild: this.o.trackChild, holdOutput: true });
    return p.io;
  }

  /**
   * Right after Exec is answered: opens the process's stdio and makes it
   * ready to execve (Runtime.prepareExec), while containerd and its client
   * take their turn before Start. Any failure leaves Start to do it all.
   */
  private prepareExec(t: Task, p: Proc): void {
    p.prepared = (async () => {
      if (t.init.exit || !p.spec) return undefined;
      try {
        const io = await this.openIo(t, p);
        return await t.container.prepareExec(this.execSpec(p), { stdio: io.stdio, foregroundTerminal: !!p.ioRequest.terminal });
      } catch (e) {
        this.o.log('debug', `${t.id}/${p.execId}: preparing the exec failed (${(e as Error).message}); Start will do it all`);
        return undefined;
      }
    })();
  }

  /** A prepared exec that will never start: its process leaves the container. */
  private async cancelPrepared(p: Proc): Promise<void> {
    const prepared = await p.prepared;
    p.prepared = undefined;
    await prepared?.cancel();
  }

  private async delete(r: IdRequest): Promise<Msg> {
    const t = this.task(r.id);
    if (r.execId) {
      const p = t.execs.get(r.execId);
      if (!p) throw notFound(`process ${r.execId} does not exist`);
      if (p.started && !p.exit) throw precondition(`cannot delete a running process ${r.execId}`);
      await this.cancelPrepared(p);
      await p.io?.close();
      t.execs.delete(r.execId);
      return { pid: p.pid, exitStatus: p.exit?.status ?? 0, exitedAt: p.exit?.at };
    }
    const p = t.init;
    if (!p.exit) {
      const status = t.container.state().status;
      if (status !== 'created' && status !== 'stopped') throw precondition(`cannot delete a ${status} process`);
    }
    for (const e of t.execs.values()) await this.cancelPrepared(e);
    await t.container.delete({ force: true });
    // A created init was killed by the delete: its exit is known shortly.
    const exit: Exit | undefined = p.exit ?? await Promise.race([p.wait(), new Promise<undefined>((res) => setTimeout(() => res(undefined), 2000).unref())]);
    t.oom?.stop();
    await p.io?.close();
    for (const e of t.execs.values()) await e.io?.close(0);
    if (t.rootfs) await unmountRootfs(t.rootfs, this.o.trackChild).catch((e) => this.o.log('warning', `${t.id}: ${(e as Error).message}`));
    this.tasks.delete(t.id);
    const out = { pid: p.pid, exitStatus: exit?.status ?? 0, exitedAt: exit?.at };
    // containerd runs the `delete` action after this (on connection close):
    // the launcher answers it from this file without starting Node.
    const answer = [...encode(T.DeleteResponse, out)].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
    try { fs.writeFileSync(path.join(t.bundle, DELETED_RECORD), `${answer}\n`); } catch (e) { this.o.log('warning', `${t.id}: ${(e as Error).message}`); }
    this.o.publisher.publish('TaskDelete', { containerId: t.id, ...out });
    return out;
  }

  // ---- processes ----

  private exec(r: IdRequest & { terminal?: boolean; stdin?: string; stdout?: string; stderr?: string; spec?: AnyMsg }): Msg {
    const t = this.task(r.id);
    const execId = r.execId ?? '';
    if (!execId) throw new RpcError(Code.InvalidArgument, 'exec id is empty');
    if (t.execs.has(execId)) throw new RpcError(Code.AlreadyExists, `id ${execId}: already exists`);
    if (t.init.exit) throw precondition('cannot exec in a stopped state');
    let spec: Process;
    try {
      spec = JSON.parse((r.spec?.value ?? Buffer.from('null')).toString('utf8')) as Process;
      if (!spec || typeof spec !== 'object' || !Array.isArray(spec.args) || !spec.args.length) throw new Error('process.args must be a non-empty array');
    } catch (e) {
      throw new RpcError(Code.InvalidArgument, `exec ${execId}: invalid process spec: ${(e as Error).message}`);
    }
    const p = new Proc(execId, { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: !!r.terminal }, spec);
    t.execs.set(execId, p);
    this.afterAnswer(() => {
      this.o.publisher.publish('TaskExecAdded', { containerId: t.id, execId });
      if (t.execs.get(execId) === p && !p.startRequested) this.prepareExec(t, p);
    });
    return {};
  }

  private async kill(r: IdRequest & { signal?: number; all?: boolean }): Promise<Msg> {
    const t = this.task(r.id);
    const signal = r.signal ?? 0;
    if (r.execId) {
      const p = t.execs.get(r.execId);
      if (!p) throw notFound(`process ${r.execId} does not exist`);
      if (!p.started) throw precondition(`process ${r.execId} has not been started`);
      if (p.exit || !p.handle?.kill(signal)) throw notFound('process already finished');
      return {};
    }
    if (t.init.exit && !r.all) throw notFound('process already finished');
    try {
      await t.container.kill(signal, { all: !!r.all });
    } catch (e) {
      if (e instanceof CapsaError && (e.code === 'BAD_STATE' || e.code === 'NOT_FOUND')) throw notFound(`process already finished: ${e.message}`);
      throw e;
    }
    return {};
  }

  private async wait(r: IdRequest, ctx: CallContext): Promise<Msg> {
    const p = this.proc(r);
    const exit = await new Promise<Exit>((resolve, reject) => {
      p.wait().then(resolve, reject);
      ctx.signal.addEventListener('abort', () => reject(new RpcError(Code.Canceled, 'wait canceled')));
    });
    return { exitStatus: exit.status, exitedAt: exit.at };
  }

  private state(r: IdRequest): Msg {
    const t = this.task(r.id);
    const p = this.proc(r);
    let status: TaskStatus;
    if (p.exit) status = TaskStatus.STOPPED;
    else if (p.execId) status = p.started ? TaskStatus.RUNNING : TaskStatus.CREATED;
    // The init's status as this shim made it, as runc's shim keeps it (no
    // state files read for the State calls containerd makes around every exec).
    else status = !p.started ? TaskStatus.CREATED : t.paused ? TaskStatus.PAUSED : TaskStatus.RUNNING;
    const io = p.ioRequest;
    return {
      id: p.execId || t.id, bundle: t.bundle, pid: p.pid, status, stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, terminal: io.terminal,
      exitStatus: p.exit?.status ?? 0, exitedAt: p.exit?.at, execId: p.execId,
    };
  }

  private async pids(r: IdRequest): Promise<Msg> {
    const t = this.task(r.id);
    const byPid = new Map([...t.execs.values()].filter((p) => p.started && !p.exit).map((p) => [p.pid, p.execId]));
    // A prepared exec's process is not there yet for containerd (runc's shim has none).
    const waiting = new Set<number>();
    for (const p of t.execs.values()) {
      const w = await p.prepared;
      if (w && !p.started) waiting.add(w.pid);
    }
    const pids = (await t.container.pids()).filter((pid) => !waiting.has(pid));
    return {
      processes: pids.map((pid) => {
        const execId = byPid.get(pid);
        return execId ? { pid, info: { typeUrl: ProcessDetails.name, value: encode(ProcessDetails, { execId }) } } : { pid };
      }),
    };
  }

  private async pause(r: IdRequest, pause: boolean): Promise<Msg> {
    const t = this.task(r.id);
    if (t.init.exit) throw precondition('container not running');
    if (pause) await t.container.pause(); else await t.container.resume();
    t.paused = pause;
    this.o.publisher.publish(pause ? 'TaskPaused' : 'TaskResumed', { containerId: t.id });
    return {};
  }

  private async update(r: IdRequest & { resources?: AnyMsg }): Promise<Msg> {
    const t = this.task(r.id);
    if (t.init.exit) throw precondition('container not running');
    if (r.resources?.typeUrl && r.resources.typeUrl !== TYPE_URL.linuxResources) throw new RpcError(Code.InvalidArgument, `update: resources of type ${r.resources.typeUrl}, want ${TYPE_URL.linuxResources}`);
    let resources: Resources;
    try {
      resources = JSON.parse((r.resources?.value ?? Buffer.from('{}')).toString('utf8')) as Resources;
    } catch (e) {
      throw new RpcError(Code.InvalidArgument, `update: invalid LinuxResources JSON: ${(e as Error).message}`);
    }
    for (const w of await t.container.update(resources)) this.o.log('warning', `${t.id}: update: ${w}`);
    return {};
  }

  private async stats(r: IdRequest): Promise<Msg> {
    const t = this.task(r.id);
    if (t.init.exit) throw precondition('container not running');
    const stats = await t.container.stats();
    const events = this.o.unified ? t.container.memoryEventsFile() : undefined;
    return { stats: metricsAny(stats, this.o.unified, t.container.oomKillCount(), events ? readV2Files(path.dirname(events), Object.keys(stats.hugetlb)) : {}) };
  }
}
