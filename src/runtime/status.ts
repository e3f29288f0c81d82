// A container's status is derived from the live process, never trusted from
// state.json alone: pid + start time identify the init process.
import type { CgroupManager } from '../cgroups/manager';
import type { State } from '../spec/types';
import type { ContainerDir, StateRecord } from '../state/store';
import { isAlive, readProcStat, readSmallFile } from '../sys/proc';
import { CapsaError } from '../errors';

export type Status = State['status'];

function stillWaitingForStart(rec: StateRecord, dir: ContainerDir): boolean {
  if (!dir.fifoExists()) return false;
  // After `start` the process has exec'd the entrypoint even if the fifo was
  // not removed (a crashed start): the comm then is no longer capsa-init.
  try {
    return readSmallFile(`/proc/${rec.pid}/comm`).trim() === 'capsa-init';
  } catch {
    return false;
  }
}

export function deriveStatus(rec: StateRecord, dir: ContainerDir, cgroup?: CgroupManager): Status {
  if (rec.phase === 'creating') {
    return isAlive(rec.creator.pid, rec.creator.startTime) ? 'creating' : 'stopped';
  }
  if (!isAlive(rec.pid, rec.initStartTime)) return 'stopped';
  if (stillWaitingForStart(rec, dir)) return 'created';
  try {
    if (cgroup?.isFrozen()) return 'paused';
  } catch {
    /* cgroup gone: the process is still running */
  }
  return 'running';
}

export function toOciState(rec: StateRecord, status: Status): State & { created: string; owner: string } {
  return {
    ociVersion: rec.ociVersion,
    id: rec.id,
    pid: status === 'stopped' ? 0 : rec.pid,
    status,
    bundle: rec.bundle,
    rootfs: rec.rootfs,
    created: rec.created,
    owner: rec.owner,
    ...(rec.annotations && Object.keys(rec.annotations).length ? { annotations: rec.annotations } : {}),
  };
}

export function processStartTime(pid: number): number {
  const st = readProcStat(pid);
  // The init died between reporting its pid and this read: a failed create.
  if (!st) throw new CapsaError('INIT', `container process ${pid} exited while the container was being created`);
  return st.startTime;
}
