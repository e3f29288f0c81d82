// start, kill, delete and state of existing containers, with runc's rules and
// error phrases (engines match on "container does not exist" and
// "container not running").
import * as fs from 'node:fs';
import { CapsaError } from '../errors';
import type { CgroupManager } from '../cgroups/manager';
import { notExist, type ContainerDir, type StateRecord, type StateStore } from '../state/store';
import { loadCgroup } from './container-cgroup';
import type { Hook, State } from '../spec/types';
import { signalProcess, waitForExit, watchExit, type ProcessHandle } from './process-exit';
import { readProcStat } from '../sys/proc';
import { deriveStatus, toOciState, type Status } from './status';
import { faultPoint } from './faults';
import { addon } from '../sys/addon';

const SIGKILL = 9;

export interface Opened {
  dir: ContainerDir;
  record: StateRecord;
  cgroup?: CgroupManager;
  status: Status;
}

/** Opens and locks a container; the caller must dir.unlock(). */
export async function openLocked(store: StateStore, id: string): Promise<Opened> {
  const dir = store.open(id);
  await dir.lock();
  const record = dir.read();
  if (!record) {
    dir.unlock();
    throw notExist(id);
  }
  const cgroup = loadCgroup(record.cgroup, record.useSystemd);
  return { dir, record, cgroup, status: deriveStatus(record, dir, cgroup) };
}

/** Reads state without taking the lock (state must never block or crash). */
export function readState(store: StateStore, id: string) {
  const dir = store.open(id);
  const record = dir.read();
  if (!record) throw notExist(id);
  let cgroup: CgroupManager | undefined;
  try { cgroup = loadCgroup(record.cgroup, record.useSystemd); } catch { cgroup = undefined; }
  return toOciState(record, deriveStatus(record, dir, cgroup));
}

/**
 * Opens the exec fifo and waits until init has gone through it: init writes
 * "0", runs the startContainer hooks, and the fifo closes when it execve's
 * the entrypoint (close-on-exec). Anything init writes after the "0" is the
 * error that stopped it (a failing hook, a failed exec).
 */
function waitStarted(fifo: string, record: StateRecord, timeoutMs: number): Promise<void> {
  // Watched with the event loop directly (no net.Socket: loading net costs the CLI ~7 ms).
  const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  // The init dying without ever opening the fifo gives no EOF: watch it too.
  const death = watchExit({ pid: record.pid, startTime: record.initStartTime }, false);
  let received = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    let settled = false;
    let watchId = 0;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      death.cancel();
      if (watchId) addon().unwatchPidfd(watchId);
      fs.closeSync(fd);
      if (err) reject(err); else resolve();
    };
    /** Reads what is there; true at EOF (the init exec'd or died). */
    const drain = (): boolean => {
      for (;;) {
        let chunk: Buffer | null;
        try { chunk = addon().readSome(fd); } catch { return true; }
        if (chunk === null) return false;
        if (chunk.length === 0) return true;
        received = Buffer.concat([received, chunk]);
      }
    };
    const decide = () => {
      if (received.length === 0) return settle(new CapsaError('INIT', `container ${record.id} init exited before it could start`));
      const error = received.subarray(1).toString('utf8').trim();
      settle(error ? new CapsaError('INIT', error) : undefined);
    };
    const onReadable = () => {
      watchId = 0;
      if (settled) return;
      if (drain()) return decide();
      watchId = addon().watchReadable(fd, onReadable);
    };
    const timer = setTimeout(() => settle(new CapsaError('TIMEOUT', `container ${record.id} did not start within ${timeoutMs} ms`)), timeoutMs);
    // A process that exits (and is reaped by an engine) right away may beat
    // the fifo's events: drain what it left in the fifo ourselves.
    void death.exited.then(() => {
      if (settled) return;
      drain();
      decide();
    });
    watchId = addon().watchReadable(fd, onReadable);
  });
}

/** Hooks (and the child_process they need) load only when there are hooks to run. */
async function runHooksWarnOnly(kind: 'poststart' | 'poststop', hooks: Hook[] | undefined, state: Partial<State>, warn: (m: string) => void): Promise<void> {
  if (!hooks?.length) return;
  const h = require('./hooks') as typeof import('./hooks');
  await h.runHooksWarnOnly(kind, hooks, state, warn);
}

export async function startContainer(store: StateStore, id: string, opts: { timeoutMs?: number; onWarning?: (m: string) => void } = {}): Promise<void> {
  const o = await openLocked(store, id);
  try {
    switch (o.status) {
      case 'created': break;
      case 'stopped': throw new CapsaError('BAD_STATE', 'cannot start a container that has stopped');
      case 'running': throw new CapsaError('BAD_STATE', 'cannot start an already running container');
      case 'paused': throw new CapsaError('BAD_STATE', 'cannot start a paused container');
      default: throw new CapsaError('BAD_STATE', `cannot start a container in the ${o.status} state`);
    }
    faultPoint('start:before-fifo');
    // startContainer hooks run before the fifo closes: allow for their timeouts.
    const hookTime = (o.record.hooks?.startContainer ?? []).reduce((t, h) => t + (h.timeout ?? 0) * 1000, 0);
    await waitStarted(o.dir.fifoPath, o.record, (opts.timeoutMs ?? 30_000) + hookTime);
    faultPoint('start:after-fifo');
    fs.rmSync(o.dir.fifoPath, { force: true });
    await runPoststart(o, opts.onWarning ?? (() => {}));
  } finally {
    o.dir.unlock();
  }
}

/**
 * runtime-spec 1.3 lifecycle step 9: a failing poststart hook is an error;
 * the runtime stops the container and continues at step 12 — destroy it, then
 * run the poststop hooks. (runc runs poststart at the end of `create` and
 * destroys the container when one fails; the end state is the same.)
 */
async function runPoststart(o: Opened, warn: (m: string) => void): Promise<void> {
  const hooks = o.record.hooks?.poststart;
  if (!hooks?.length) return;
  const h = require('./hooks') as typeof import('./hooks');
  try {
    await h.runHooks('poststart', hooks, toOciState(o.record, 'running'));
  } catch (e) {
    await killAndWait(o);
    await destroy(o, warn);
    throw e;
  }
}

/**
 * Signals every process in the container's cgroup. For SIGKILL on v2 one
 * write to cgroup.kill does it. Otherwise, as runc does, the cgroup
 * is frozen while its pids are read and signalled, so nothing in it can fork
 * a process the walk misses (a fork bomb in a container without its own pid
 * namespace); a paused container is frozen already.
 */
function signalAll(cgroup: CgroupManager | undefined, signal: number, paused = false): void {
  if (!cgroup) return;
  // cgroup.kill (v2, Linux ≥ 5.14) reaches every process at once, those forked meanwhile too.
  if (signal === SIGKILL && cgroup.killAll?.()) return;
  if (cgroup.pids().length === 0) return;
  let thaw = false;
  if (!paused) {
    try { cgroup.freeze(); thaw = true; } catch { /* no freezer here: signal them running */ }
  }
  try {
    for (const pid of cgroup.pids()) {
      try { process.kill(pid, signal); } catch { /* exited meanwhile */ }
    }
  } finally {
    if (thaw) { try { cgroup.thaw(); } catch { /* removed meanwhile */ } }
  }
}

export async function killContainer(store: StateStore, id: string, signal: number, all = false): Promise<void> {
  const o = await openLocked(store, id);
  try {
    // Without a pid namespace of its own, the init's death does not take the
    // container's other processes with it: SIGKILL goes to all of them (runc >= 1.2).
    if (all || (signal === SIGKILL && !o.record.hasPrivatePidNs)) {
      // runc exits 0 for kill --all of a stopped container (the shim relies on it).
      signalAll(o.cgroup, signal, o.status === 'paused');
      // Frozen tasks only act on a signal once thawed; runc thaws for SIGKILL.
      if (o.status === 'paused' && signal === SIGKILL) thawAfterKill(o);
      return;
    }
    if (o.status === 'stopped' || !signalProcess({ pid: o.record.pid, startTime: o.record.initStartTime }, signal)) throw new CapsaError('BAD_STATE', 'container not running');
  } finally {
    o.dir.unlock();
  }
}

/**
 * Lets frozen processes act on the SIGKILL just sent. Their cgroup may be
 * gone already: cgroup.kill reaches frozen tasks, and systemd removes a
 * scope's cgroup as soon as it is empty. Then nothing is left to thaw.
 */
function thawAfterKill(o: Opened): void {
  try {
    o.cgroup?.thaw();
  } catch (e) {
    if (!(e instanceof CapsaError && e.errno === 'ENOENT')) throw e;
  }
}

async function killAndWait(o: Opened): Promise<void> {
  faultPoint('delete:before-kill');
  // Still being created, the init's pid is not recorded yet: the cgroup is
  // what finds it (destroy() waits for the cgroup to empty). Those that are
  // our own children (a create this process started, say in a worker thread
  // that was terminated) must be reaped here, or they stay zombies.
  const ourChildren = o.record.pid ? [] : childrenIn(o.cgroup);
  signalAll(o.cgroup, SIGKILL, o.status === 'paused');
  if (o.status === 'paused') thawAfterKill(o);
  if (!o.record.pid) {
    await Promise.all(ourChildren.map((child) => waitForExit(child, 30_000)));
    return;
  }
  const init = { pid: o.record.pid, startTime: o.record.initStartTime };
  signalProcess(init, SIGKILL);
  await waitForExit(init, 30_000);
}

function childrenIn(cgroup: CgroupManager | undefined): ProcessHandle[] {
  const out: ProcessHandle[] = [];
  for (const pid of cgroup?.pids() ?? []) {
    const st = readProcStat(pid);
    if (st?.ppid === process.pid) out.push({ pid, startTime: st.startTime });
  }
  return out;
}

async function destroy(o: Opened, onWarning: (m: string) => void): Promise<void> {
  // Processes left in the cgroup (no private pid namespace) die with the container.
  faultPoint('delete:before-cgroup');
  if (o.cgroup) {
    for (let round = 0; round < 100 && o.cgroup.pids().length > 0; round++) {
      signalAll(o.cgroup, SIGKILL);
      await new Promise((r) => setImmediate(r));
    }
    try {
      // The systemd driver stops the scope itself (loadCgroup gives a record from before it did a manager that does).
      await o.cgroup.destroy();
    } catch (e) {
      onWarning(`remove cgroup of ${o.record.id}: ${(e as Error).message}`);
    }
  }
  if (o.record.intelRdt) (require('./resctrl') as typeof import('./resctrl')).removeIntelRdt(o.record.intelRdt, onWarning);
  faultPoint('delete:before-remove');
  o.dir.remove();
  await runHooksWarnOnly('poststop', o.record.hooks?.poststop, toOciState(o.record, 'stopped'), onWarning);
}

async function removeRecordless(store: StateStore, id: string): Promise<boolean> {
  let dir: ContainerDir;
  try {
    dir = store.open(id);
  } catch {
    return false;
  }
  await dir.lock();
  try {
    if (dir.read()) return false;
    // Only what a killed create leaves (a fifo, a temp state file); anything
    // else in the dir makes rmdir fail and the dir is not ours to remove.
    return dir.removeIfOnlyCreateLeftovers();
  } finally {
    dir.unlock();
  }
}

export async function deleteContainer(store: StateStore, id: string, opts: { force?: boolean; onWarning?: (m: string) => void } = {}): Promise<void> {
  let o: Opened;
  try {
    o = await openLocked(store, id);
  } catch (e) {
    if (!(e instanceof CapsaError && e.code === 'NOT_FOUND')) throw e;
    // A create killed before it wrote state.json leaves an empty dir behind.
    if (await removeRecordless(store, id)) return;
    if (opts.force) return;
    throw e;
  }
  try {
    switch (o.status) {
      case 'stopped':
        break;
      case 'created':
        await killAndWait(o);
        break;
      default:
        if (!opts.force) throw new CapsaError('BAD_STATE', `cannot delete container ${id} that is not stopped: ${o.status}`);
        await killAndWait(o);
    }
    await destroy(o, opts.onWarning ?? (() => {}));
  } finally {
    await o.dir.unlockAsync();
  }
}
