// The Stats answer: capsa's cgroup statistics as containerd/cgroups'
// io.containerd.cgroups.v1.Metrics or .v2.Metrics (stats/v1/metrics.proto,
// v2/stats/metrics.proto, cgroups v1.0.4). Which one is the host's choice,
// made as runc's shim makes it: v2 only when /sys/fs/cgroup itself is cgroup2.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupStats } from '../../cgroups/manager';
import { encode, message, type Schema } from './codec';
import { TYPE_URL, type AnyMsg } from './messages';

const u64 = (names: string[], first = 1): [number, string, 'uint64'][] => names.map((n, i) => [first + i, n, 'uint64']);

const MemoryEntryV1 = message('io.containerd.cgroups.v1.MemoryEntry', u64(['limit', 'usage', 'max', 'failcnt']));
const BlkIOEntry = message('io.containerd.cgroups.v1.BlkIOEntry', [[1, 'op', 'string'], [2, 'device', 'string'], ...u64(['major', 'minor', 'value'], 3)]);
/** memory.stat keys of v1, in field order 1–32 (the total_ ones follow their own). */
const V1_MEMORY_KEYS = ['cache', 'rss', 'rss_huge', 'mapped_file', 'dirty', 'writeback', 'pgpgin', 'pgpgout', 'pgfault', 'pgmajfault',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'hierarchical_memory_limit', 'hierarchical_memsw_limit'];
const V1_TOTAL_KEYS = ['cache', 'rss', 'rss_huge', 'mapped_file', 'dirty', 'writeback', 'pgpgin', 'pgpgout', 'pgfault', 'pgmajfault',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable'].map((k) => `total_${k}`);

export const MetricsV1: Schema = message('io.containerd.cgroups.v1.Metrics', [
  [1, 'hugetlb', message('io.containerd.cgroups.v1.HugetlbStat', [...u64(['usage', 'max', 'failcnt']), [4, 'pagesize', 'string']]), { repeated: true }],
  [2, 'pids', message('io.containerd.cgroups.v1.PidsStat', u64(['current', 'limit']))],
  [3, 'cpu', message('io.containerd.cgroups.v1.CPUStat', [
    [1, 'usage', message('io.containerd.cgroups.v1.CPUUsage', [...u64(['total', 'kernel', 'user']), [4, 'perCpu', 'uint64', { repeated: true }]])],
    [2, 'throttling', message('io.containerd.cgroups.v1.Throttle', u64(['periods', 'throttledPeriods', 'throttledTime']))],
  ])],
  [4, 'memory', message('io.containerd.cgroups.v1.MemoryStat', [
    ...u64(V1_MEMORY_KEYS), ...u64(V1_TOTAL_KEYS, 18),
    [33, 'usage', MemoryEntryV1], [34, 'swap', MemoryEntryV1], [35, 'kernel', MemoryEntryV1], [36, 'kernelTcp', MemoryEntryV1],
  ])],
  [5, 'blkio', message('io.containerd.cgroups.v1.BlkIOStat', ['ioServiceBytesRecursive', 'ioServicedRecursive', 'ioQueuedRecursive', 'ioServiceTimeRecursive',
    'ioWaitTimeRecursive', 'ioMergedRecursive', 'ioTimeRecursive', 'sectorsRecursive'].map((n, i) => [i + 1, n, BlkIOEntry, { repeated: true }]))],
  [9, 'memoryOomControl', message('io.containerd.cgroups.v1.MemoryOomControl', u64(['oomKillDisable', 'underOom', 'oomKill']))],
]);

const V2_MEMORY_KEYS = ['anon', 'file', 'kernel_stack', 'slab', 'sock', 'shmem', 'file_mapped', 'file_dirty', 'file_writeback', 'anon_thp',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'slab_reclaimable', 'slab_unreclaimable', 'pgfault', 'pgmajfault',
  'workingset_refault', 'workingset_activate', 'workingset_nodereclaim', 'pgrefill', 'pgscan', 'pgsteal', 'pgactivate', 'pgdeactivate',
  'pglazyfree', 'pglazyfreed', 'thp_fault_alloc', 'thp_collapse_alloc'];

export const MetricsV2: Schema = message('io.containerd.cgroups.v2.Metrics', [
  [1, 'pids', message('io.containerd.cgroups.v2.PidsStat', u64(['current', 'limit']))],
  [2, 'cpu', message('io.containerd.cgroups.v2.CPUStat', u64(['usageUsec', 'userUsec', 'systemUsec', 'nrPeriods', 'nrThrottled', 'throttledUsec']))],
  [4, 'memory', message('io.containerd.cgroups.v2.MemoryStat', [...u64(V2_MEMORY_KEYS), ...u64(['usage', 'usageLimit', 'swapUsage', 'swapLimit'], 32)])],
  [6, 'io', message('io.containerd.cgroups.v2.IOStat', [[1, 'usage', message('io.containerd.cgroups.v2.IOEntry', u64(['major', 'minor', 'rbytes', 'wbytes', 'rios', 'wios'])), { repeated: true }]])],
  [7, 'hugetlb', message('io.containerd.cgroups.v2.HugeTlbStat', [...u64(['current', 'max']), [3, 'pagesize', 'string']]), { repeated: true }],
  [8, 'memoryEvents', message('io.containerd.cgroups.v2.MemoryEvents', u64(['low', 'high', 'max', 'oom', 'oomKill']))],
]);

interface Entry { major: number; minor: number; op: string; value: number }

function v1Metrics(s: CgroupStats, oomKills: number): Record<string, unknown> {
  const raw = s.memory.raw;
  const memory: Record<string, unknown> = {};
  for (const k of [...V1_MEMORY_KEYS, ...V1_TOTAL_KEYS]) memory[k] = raw[k] ?? 0;
  memory.usage = s.memory.usage;
  if (s.memory.swap) memory.swap = s.memory.swap;
  const blkio: Record<string, unknown> = {};
  for (const [k, list] of Object.entries(s.blkio)) {
    blkio[k] = (list as Entry[]).map((e) => ({ op: e.op, major: e.major, minor: e.minor, value: e.value }));
  }
  return {
    hugetlb: Object.entries(s.hugetlb).map(([pagesize, h]) => ({ ...h, pagesize })),
    pids: s.pids,
    cpu: { usage: { ...s.cpu.usage, perCpu: s.cpu.usage.percpu }, throttling: s.cpu.throttling },
    memory,
    blkio,
    memoryOomControl: { oomKill: oomKills },
  };
}

/**
 * What containerd/cgroups' v2 manager reads beside the stats capsa shares
 * with runc (v2/manager.go Stat): the raw swap files (capsa's swap is runc's
 * memory+swap), pids.max and memory.events whole, hugetlb.<size>.max (the
 * limit); "max" is uint64 max there (runc and v1 say 0 for pids).
 */
export interface V2Files { pidsMax?: number | bigint; swapCurrent?: number | bigint; swapMax?: number | bigint; memoryEvents?: Record<string, number>; hugetlbMax?: Record<string, number | bigint> }

const U64_MAX = 18446744073709551615n;
/** A cgroup v2 single-value file as containerd reads it: "max" is uint64 max; absent or unparsable 0. */
function readU64(file: string): number | bigint | undefined {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8').trim(); } catch { return undefined; }
  if (text === 'max') return U64_MAX;
  return /^\d+$/.test(text) ? Number(text) : 0;
}

/** The V2Files of a cgroup v2 dir (the container's). */
export function readV2Files(dir: string, hugePageSizes: string[]): V2Files {
  const memoryEvents: Record<string, number> = {};
  try {
    for (const line of fs.readFileSync(path.join(dir, 'memory.events'), 'utf8').split('\n')) {
      const [k, v] = line.trim().split(/\s+/);
      if (k && v && /^\d+$/.test(v)) memoryEvents[k] = Number(v);
    }
  } catch { /* no memory controller */ }
  const hugetlbMax: Record<string, number | bigint> = {};
  for (const size of hugePageSizes) {
    const v = readU64(path.join(dir, `hugetlb.${size}.max`));
    if (v !== undefined) hugetlbMax[size] = v;
  }
  return { pidsMax: readU64(path.join(dir, 'pids.max')), swapCurrent: readU64(path.join(dir, 'memory.swap.current')), swapMax: readU64(path.join(dir, 'memory.swap.max')), memoryEvents, hugetlbMax };
}

function v2Metrics(s: CgroupStats, oomKills: number, files: V2Files): Record<string, unknown> {
  const raw = s.memory.raw;
  const memory: Record<string, unknown> = {};
  for (const k of V2_MEMORY_KEYS) memory[k] = raw[k] ?? 0;
  memory.usage = s.memory.usage.usage;
  memory.usageLimit = s.memory.usage.limit;
  memory.swapUsage = files.swapCurrent ?? 0;
  memory.swapLimit = files.swapMax ?? 0;
  const usec = (ns: number) => Math.floor(ns / 1000);
  const io = new Map<string, Record<string, number>>();
  const add = (list: unknown, read: string, write: string) => {
    for (const e of (list ?? []) as Entry[]) {
      const key = `${e.major}:${e.minor}`;
      const row = io.get(key) ?? { major: e.major, minor: e.minor };
      row[e.op === 'Read' ? read : write] = e.value;
      io.set(key, row);
    }
  };
  add(s.blkio.ioServiceBytesRecursive, 'rbytes', 'wbytes');
  add(s.blkio.ioServicedRecursive, 'rios', 'wios');
  const ev = files.memoryEvents ?? {};
  return {
    pids: { current: s.pids.current, limit: files.pidsMax ?? s.pids.limit },
    cpu: {
      usageUsec: usec(s.cpu.usage.total), userUsec: usec(s.cpu.usage.user), systemUsec: usec(s.cpu.usage.kernel),
      nrPeriods: s.cpu.throttling.periods, nrThrottled: s.cpu.throttling.throttledPeriods, throttledUsec: usec(s.cpu.throttling.throttledTime),
    },
    memory,
    io: { usage: [...io.values()] },
    hugetlb: Object.entries(s.hugetlb).map(([pagesize, h]) => ({ current: h.usage, max: files.hugetlbMax?.[pagesize] ?? 0, pagesize })),
    // As containerd: present when memory.events could be read; oom_kill at least as high as the count the shim saw.
    ...(Object.keys(ev).length || oomKills ? { memoryEvents: { low: ev.low ?? 0, high: ev.high ?? 0, max: ev.max ?? 0, oom: ev.oom ?? 0, oomKill: Math.max(ev.oom_kill ?? 0, oomKills) } } : {}),
  };
}

/** The StatsResponse.stats Any for the host's cgroup mode. */
export function metricsAny(s: CgroupStats, unified: boolean, oomKills = 0, v2Files: V2Files = {}): AnyMsg {
  return unified
    ? { typeUrl: TYPE_URL.metricsV2, value: encode(MetricsV2, v2Metrics(s, oomKills, v2Files)) }
    : { typeUrl: TYPE_URL.metricsV1, value: encode(MetricsV1, v1Metrics(s, oomKills)) };
}
