// `container.stats()`: cgroup statistics (cpu, memory, pids, blkio, hugetlb)
// of a container, read from the cgroup its state record names.
import { CapsaError } from '../errors';
import { loadCgroupManager, type CgroupStats } from '../cgroups';
import { notExist } from '../state/store';
import type { Runtime } from './runtime';

export type ContainerStats = CgroupStats;

export function containerStats(runtime: Runtime, id: string): ContainerStats {
  const record = runtime.store.open(id).read();
  if (!record) throw notExist(id);
  if (!record.cgroup) throw new CapsaError('BAD_STATE', `container ${id} has no cgroup (it is still being created)`);
  return loadCgroupManager(record.cgroup).stats();
}
