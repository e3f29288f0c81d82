// `exec`: a new process inside a running container — its namespaces, cgroup,
// and the container's seccomp filter — built by capsa-init like the init.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError, fromSystemError } from '../errors';
import { compileExec } from '../plan/compile-exec';
import type { NamespaceType, Process } from '../spec/types';
import type { StateStore } from '../state/store';
import { execCgroupMembership } from '../cgroups/exec-membership';
import { addon } from '../sys/addon';
import { hostLastCap, readProcStat } from '../sys/proc';
import { startInit, type InitOptions } from './init-process';
import type { InitPark } from './init-park';
import { openLocked } from './lifecycle';
import { writePidFile } from './pidfile';
import { deriveStatus, processStartTime } from './status';
import { faultPoint } from './faults';
import { ChildExit, signalProcess, waitForExit } from './process-exit';
import { connectPidfdSocket, sendPidfd } from './pidfd-socket';
import { hostTopology } from './topology';
import { prepareSeccomp } from './seccomp-agent';
import { withinMs } from './within';

export interface ExecOptions {
  consoleSocket?: string;
  /** Foreground -t: capsa relays the terminal and gets the pty master. */
  foregroundTerminal?: boolean;
  pidFile?: string;
  preserveFds?: number;
  /** Sub-cgroups to join: "path" (v2, or every v1 controller) or "controller[,controller]:path". */
  cgroup?: string[];
  stdio?: InitOptions['stdio'];
  stepTimeoutMs?: number;
  /** runc --ignore-paused: exec into a frozen container (the process starts frozen). */
  ignorePaused?: boolean;
  /** runc --pidfd-socket: a pidfd of the new process is sent on this unix socket. */
  pidfdSocket?: string;
  /** Details only worth a --debug log. */
  onDebug?: (msg: string) => void;
}

export interface ExecResult {
  pid: number;
  startTime: number;
  ptyMaster?: number;
  stdio: Awaited<ReturnType<typeof startInit>>['stdio'];
}

const NS_FILES: [NamespaceType, string][] = [
  ['user', 'user'], ['ipc', 'ipc'], ['uts', 'uts'], ['network', 'net'], ['pid', 'pid'], ['cgroup', 'cgroup'], ['time', 'time'], ['mount', 'mnt'],
];

/**
 * The namespaces of each container init seen (by pid and start time), for a
 * process that execs into the same container again and again (a shim, a
 * probe): an init's namespaces and ours never change while it lives.
 */
const joinCache = new Map<string, NamespaceType[]>();

/** The container's namespaces that are not ours (those an exec must join). */
function namespacesToJoin(pid: number, startTime: number): NamespaceType[] {
  const key = `${pid}:${startTime}`;
  const cached = joinCache.get(key);
  if (cached) return cached;
  const out = readNamespacesToJoin(pid);
  if (joinCache.size >= 256) joinCache.clear();
  joinCache.set(key, out);
  return out;
}

function readNamespacesToJoin(pid: number): NamespaceType[] {
  const out: NamespaceType[] = [];
  for (const [type, file] of NS_FILES) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/ns/${file}`) !== fs.readlinkSync(`/proc/self/ns/${file}`)) out.push(type);
    } catch { /* namespace kind not supported by this kernel */ }
  }
  return out;
}

/** Which LSMs this host enforces: fixed while we run. */
let hostLsm: import('../security/lsm').LsmFacts | undefined;

/** A prepared exec's process, waiting at its last step before execve. */
export interface PreparedExecResult {
  /** Its host pid. */
  pid: number;
  /** Lets it execve: resolves (or fails) as execProcess does. */
  start(): Promise<ExecResult>;
  /** Makes it exit without running anything; resolves once it has left the container. */
  cancel(): Promise<void>;
}

/** How execProcess holds a prepared process before its execve. */
interface StartGate {
  /** The process waits: the container's lock is released until `opened` settles. */
  reached(pid: number): void;
  /** Resolves to start the process, rejects to cancel it. */
  opened: Promise<void>;
}

function checkExecStatus(status: string, ignorePaused: boolean | undefined): void {
  switch (status) {
    // As runc: a created container's namespaces and cgroup exist already.
    case 'running': case 'created': return;
    case 'stopped': throw new CapsaError('BAD_STATE', 'cannot exec in a stopped container');
    case 'paused':
      if (ignorePaused) return;
      throw new CapsaError('BAD_STATE', 'cannot exec in a paused container (use --ignore-paused to override)');
    default: throw new CapsaError('BAD_STATE', `cannot exec in a ${status} container`);
  }
}

/**
 * execProcess in two halves: everything up to the execve now (joining the
 * container, credentials, filter, finding the command), the execve when
 * start() is called. A failure before the wait rejects here; one after it
 * (the container stopped or paused meanwhile, the execve) rejects start().
 */
export function prepareExecProcess(store: StateStore, id: string, proc: Process, opts: ExecOptions = {}, internals: Omit<ExecInternals, 'gate'> = {}): Promise<PreparedExecResult> {
  let open!: () => void;
  let refuse!: (e: Error) => void;
  const opened = new Promise<void>((resolve, reject) => { open = resolve; refuse = reject; });
  opened.catch(() => {});
  return new Promise((resolve, reject) => {
    let waiting = false;
    const gate: StartGate = {
      opened,
      reached: (pid) => {
        waiting = true;
        resolve({
          pid,
          start: () => { open(); return finished; },
          cancel: async () => {
            refuse(new CapsaError('BAD_STATE', 'the exec was canceled before it started'));
            await finished.catch(() => {});
          },
        });
      },
    };
    const finished = execProcess(store, id, proc, opts, { ...internals, gate });
    finished.then(
      () => { if (!waiting) reject(new CapsaError('INTERNAL', 'the exec did not wait to be started')); },
      (e: unknown) => { if (!waiting) reject(e); },
    );
  });
}

/** What the library's Runtime adds to ExecOptions. */
export interface ExecInternals {
  /** Holds the process before its execve (prepareExecProcess). */
  gate?: StartGate;
  /**
   * A process that fails (or is canceled) before its execve is ours to reap
   * (the library reaps its children; the CLI leaves them to its adopter).
   * Unreaped, it would keep the container's cgroup populated.
   */
  reapFailed?: boolean;
  /** Parked capsa-inits (RuntimeOptions.parkInit): this exec takes one, and another is parked a while after it. */
  park?: InitPark;
}

export async function execProcess(store: StateStore, id: string, proc: Process, opts: ExecOptions = {}, internals: ExecInternals = {}): Promise<ExecResult> {
  const { gate, reapFailed = false, park } = internals;
  const o = await openLocked(store, id);
  /** Set once this exec has ended either way (its lock released). */
  let over = false;
  /** Refused at the start gate because the container is paused: the process can only leave once thawed. */
  let refusedFrozen = false;
  let consoleFd: number | undefined;
  let ptyPeer: number | undefined;
  let pidfdSock: number | undefined;
  let agent: ReturnType<typeof prepareSeccomp> | undefined;
  try {
    checkExecStatus(o.status, opts.ignorePaused);
    if (proc.terminal && !opts.consoleSocket && !opts.foregroundTerminal) throw new CapsaError('INVALID_ARGUMENT', 'cannot allocate tty if capsa will detach without setting console socket');
    if (opts.consoleSocket && !proc.terminal) throw new CapsaError('INVALID_ARGUMENT', 'cannot use console socket if capsa will not detach or allocate tty');
    if (opts.pidfdSocket !== undefined) pidfdSock = connectPidfdSocket(opts.pidfdSocket);
    if (proc.terminal) {
      if (opts.consoleSocket) {
        try { consoleFd = addon().connectUnix(path.resolve(opts.consoleSocket)); } catch (e) { throw fromSystemError(e, `console socket ${opts.consoleSocket}`, 'INVALID_ARGUMENT'); }
      } else {
        [ptyPeer, consoleFd] = addon().socketPair();
      }
    }
    const preserveFds = opts.preserveFds ?? 0;
    const filter = o.record.seccomp && { program: Buffer.from(o.record.seccomp.program, 'base64'), flags: o.record.seccomp.flags, listener: o.record.seccomp.listener };
    const extraFds = consoleFd === undefined ? [] : [consoleFd];
    agent = prepareSeccomp(filter, 3 + preserveFds + 1 + extraFds.length, { id: o.record.id, bundle: o.record.bundle, annotations: o.record.annotations, status: 'running', initPid: o.record.pid });
    extraFds.push(...agent.extraFds);
    const seccomp = agent.seccomp;
    const { detectLsm, planProcessLsm } = require('../security/lsm') as typeof import('../security/lsm');
    hostLsm ??= detectLsm();
    const lsm = planProcessLsm(proc, hostLsm);
    const ops = compileExec({ lsm,
      process: proc, containerPid: o.record.pid, namespaces: namespacesToJoin(o.record.pid, o.record.initStartTime), lastCap: hostLastCap(),
      preserveFds, consoleFd: consoleFd === undefined ? undefined : 3 + preserveFds + 1, seccomp,
      cgroupMembership: execCgroupMembership(o.record.cgroup, o.cgroup?.membership?.(), opts.cgroup ?? []),
      memoryPolicy: o.record.memoryPolicy, topology: hostTopology(proc, o.record.memoryPolicy),
      resctrlTasks: o.record.intelRdt && (require('./resctrl') as typeof import('./resctrl')).resctrlTasksFiles(o.record.intelRdt),
      startGate: !!gate,
    });
    let pid = 0;
    let childStart: number | undefined;
    const parked = preserveFds === 0 ? await park?.take() : undefined;
    const result = await startInit(ops, {
      preserveFds, stdio: opts.stdio ?? 'inherit', stepTimeoutMs: opts.stepTimeoutMs ?? 30_000,
      extraFds, onDebug: opts.onDebug, parked,
    }, {
      onSeccomp: agent.onSeccomp,
      onReady: (p) => o.cgroup?.addProcess(p),
      onMaps: () => {},
      onHooks: () => {},
      onChild: (p) => { pid = p; childStart = readProcStat(p)?.startTime; faultPoint('exec:child'); },
      onStartGate: gate && (async (p) => {
        // Nothing holds the container while the process waits: it is checked again when started.
        o.dir.unlock();
        gate.reached(p);
        await gate.opened;
        // The process may have died meanwhile (its container stopped): then
        // startInit has failed and the lock is not ours to take again.
        if (over) return;
        await o.dir.lock();
        if (over) return o.dir.unlock();
        // The record read before still tells: a container stopped, deleted
        // or replaced meanwhile had this init die, so it derives 'stopped'.
        // (No state.json read again on the Start of every prepared exec.)
        const status = deriveStatus(o.record, o.dir, o.cgroup);
        refusedFrozen = status === 'paused' && !opts.ignorePaused;
        checkExecStatus(status, opts.ignorePaused);
      }),
    }).catch(async (e: unknown) => {
      // The process that failed (a command that does not exist, say) is
      // exiting: report once it has left the container, as runc does. (A
      // fast caller — the compiled CLI — otherwise returns while it is still
      // in the container's cgroup.) The library reaps it whenever it exits,
      // even after this wait gives up: a zombie in the container's pid
      // namespace would keep the init from exiting, and a delete waiting.
      // The CLI leaves it to its adopter. One refused because the container
      // is paused is not waited for: it can only leave once thawed.
      if (pid && childStart !== undefined) {
        const h = { pid, startTime: childStart };
        const exited = reapFailed ? new ChildExit(h).wait(false) : waitForExit(h, 5_000, false).catch(() => null);
        if (!refusedFrozen) await withinMs(exited, 5_000);
      }
      throw e;
    });
    // Read when capsa-init reported the child: the process is still ours, unreaped.
    const startTime = childStart ?? processStartTime(pid);
    if (opts.pidFile) writePidFile(opts.pidFile, pid);
    if (pidfdSock !== undefined) {
      try {
        sendPidfd(pidfdSock, result.pid || pid, opts.pidfdSocket!);
      } catch (e) {
        // The caller never learns of the process: do not leave it running.
        signalProcess({ pid: result.pid || pid, startTime }, 9);
        throw e;
      }
    }
    const ptyMaster = ptyPeer === undefined ? undefined : addon().recvFd(ptyPeer);
    return { pid: result.pid || pid, startTime, ptyMaster, stdio: result.stdio };
  } finally {
    if (consoleFd !== undefined) addon().closeFd(consoleFd);
    if (ptyPeer !== undefined) addon().closeFd(ptyPeer);
    if (pidfdSock !== undefined) addon().closeFd(pidfdSock);
    agent?.close();
    o.dir.unlock();
    over = true;
    park?.fillSoon();
  }
}
