// Verbs that act through the container's cgroup: pause, resume, ps, stats,
// update and events.
import * as path from 'node:path';
import { CapsaError } from '../errors';
import type { CgroupManager, CgroupStats } from '../cgroups/manager';
import { OomKillWatch, type OomEvidence } from '../cgroups/oom-watch';
import type { Resources } from '../spec/types';
import { notExist, type StateStore } from '../state/store';
import { loadCgroup } from './container-cgroup';
import { openLocked, type Opened } from './lifecycle';

function requireCgroup(o: Opened): CgroupManager {
  if (!o.cgroup) throw new CapsaError('BAD_STATE', `container ${o.record.id} has no cgroup`);
  return o.cgroup;
}

async function withContainer<T>(store: StateStore, id: string, fn: (o: Opened) => T | Promise<T>): Promise<T> {
  const o = await openLocked(store, id);
  try {
    return await fn(o);
  } finally {
    o.dir.unlock();
  }
}

export function pauseContainer(store: StateStore, id: string): Promise<void> {
  return withContainer(store, id, (o) => {
    if (o.status !== 'running' && o.status !== 'created') throw new CapsaError('BAD_STATE', 'container not running');
    requireCgroup(o).freeze();
  });
}

export function resumeContainer(store: StateStore, id: string): Promise<void> {
  return withContainer(store, id, (o) => {
    if (o.status !== 'paused') throw new CapsaError('BAD_STATE', 'container not paused');
    requireCgroup(o).thaw();
  });
}

/** Host pids of every process in the container's cgroup. */
export function containerPids(store: StateStore, id: string): Promise<number[]> {
  return withContainer(store, id, (o) => {
    if (o.status === 'stopped') return [];
    return requireCgroup(o).pids();
  });
}

export function containerStats(store: StateStore, id: string): Promise<CgroupStats> {
  return withContainer(store, id, (o) => {
    if (o.status === 'stopped') throw new CapsaError('BAD_STATE', 'container not running');
    return requireCgroup(o).stats();
  });
}

export async function updateContainer(store: StateStore, id: string, resources: Resources): Promise<string[]> {
  return withContainer(store, id, async (o) => {
    if (o.status === 'stopped') throw new CapsaError('BAD_STATE', 'container not running');
    const cg = requireCgroup(o);
    await cg.update(resources);
    return [...(cg.warnings ?? [])];
  });
}

export interface ContainerEvent {
  type: 'stats' | 'oom';
  id: string;
  data?: unknown;
}

/**
 * Emits a stats event every interval and an "oom" event when the OOM killer
 * hits the container; ends when the container stops.
 */
export async function watchEvents(store: StateStore, id: string, intervalMs: number, emit: (e: ContainerEvent) => void, opts: { oomCheckMs?: number; signal?: AbortSignal } = {}): Promise<void> {
  const first = await withContainer(store, id, (o) => requireCgroup(o));
  const tick = opts.oomCheckMs ?? Math.min(intervalMs, 100);
  const oom = new OomKillWatch(first, () => emit({ type: 'oom', id }), { pollMs: tick });
  try {
    await pollEvents(store, id, intervalMs, tick, emit, oom, opts);
    if (!opts.signal?.aborted) await oom.finish();
  } finally {
    oom.stop();
  }
}

async function pollEvents(store: StateStore, id: string, intervalMs: number, tick: number, emit: (e: ContainerEvent) => void, oom: OomKillWatch, opts: { signal?: AbortSignal }): Promise<void> {
  let nextStats = 0;
  while (!opts.signal?.aborted) {
    const done = await withContainer(store, id, (o) => {
      const cg = requireCgroup(o);
      // OOM first: a container the OOM killer stopped still reports it.
      oom.check();
      if (o.status === 'stopped') return true;
      if (Date.now() >= nextStats) {
        emit({ type: 'stats', id, data: cg.stats() });
        nextStats = Date.now() + intervalMs;
      }
      return false;
    }).catch((e) => {
      if (e instanceof CapsaError && e.code === 'NOT_FOUND') return true;
      throw e;
    });
    if (done) return;
    await new Promise((r) => setTimeout(r, tick));
  }
}

/** Calls onOom for each OOM kill in the container's cgroup from now on, until stop() (nothing to watch without a cgroup). */
export function watchContainerOom(store: StateStore, id: string, onOom: (seen: OomEvidence) => void, opts: { pollMs?: number } = {}): OomKillWatch {
  return new OomKillWatch(readCgroup(store, id), onOom, opts);
}

function readCgroup(store: StateStore, id: string): CgroupManager | undefined {
  const record = store.open(id).read();
  if (!record) throw notExist(id);
  return loadCgroup(record.cgroup, record.useSystemd);
}

/** OOM kills in the container's cgroup so far (0 when it has none); no lock, like state. */
export function containerOomKills(store: StateStore, id: string): number {
  try { return readCgroup(store, id)?.oomKillCount?.() ?? 0; } catch (e) {
    if (e instanceof CapsaError) throw e;
    return 0;
  }
}

/**
 * cgroup v2: the container's memory.events, which the kernel notifies
 * (inotify IN_MODIFY) when its counters change; undefined on v1.
 */
export function memoryEventsFile(store: StateStore, id: string): string | undefined {
  const rec = readCgroup(store, id)?.toJSON();
  if (rec?.layout !== 'v2') return undefined;
  return path.join(rec.unified ?? rec.mountRoot, rec.path, 'memory.events');
}
