// Reading usage back: cgroup files → CgroupStats, the shapes of runc's
// `events --stats` (cpu, memory, pids, blkio, hugetlb). Missing files give
// zeros, not errors: which files exist depends on kernel and config.
import * as path from 'node:path';
import type { CgroupStats, PsiData, PsiStats } from './manager';
import { parseCgroupInt, parseKeyValues, type CgroupFs } from './fsio';

/** v2 "max" as runc reports it (math.MaxUint64). */
const UNLIMITED = 2 ** 64 - 1;
// cpuacct.stat counts USER_HZ ticks, which is 100 on every Linux ABI.
const NS_PER_TICK = 1e9 / 100;

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

class Reader {
  constructor(private readonly cfs: CgroupFs) {}
  text(dir: string | undefined, file: string): string | undefined {
    if (!dir) return undefined;
    try {
      return this.cfs.read(path.join(dir, file)).trim();
    } catch {
      return undefined;
    }
  }
  int(dir: string | undefined, file: string, maxAs = 0): number {
    return parseCgroupInt(this.text(dir, file), maxAs);
  }
  kv(dir: string | undefined, file: string): Record<string, number> {
    return parseKeyValues(this.text(dir, file));
  }
  has(dir: string | undefined, file: string): boolean {
    return !!dir && this.cfs.exists(path.join(dir, file));
  }
}

// Page sizes the kernel names in hugetlb files (x86: 2MB, 1GB; arm64 and ppc add others).
const HUGEPAGE_SIZES = ['64KB', '512KB', '1MB', '2MB', '8MB', '16MB', '32MB', '256MB', '512MB', '1GB', '16GB'];

function emptyStats(): CgroupStats {
  return {
    cpu: { usage: { total: 0, kernel: 0, user: 0 }, throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 } },
    memory: { usage: { usage: 0, max: 0, failcnt: 0, limit: 0 }, raw: {} },
    pids: { current: 0, limit: 0 },
    blkio: {},
    hugetlb: {},
  };
}

/** "8:0 Read 123" lines (and "8:0 123" for time/sectors); "Total" lines dropped. */
export function parseBlkioV1(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!dev) continue;
    const [op, value] = f.length >= 3 ? [f[1]!, f[2]!] : ['', f[1] ?? '0'];
    out.push({ major: Number(dev[1]), minor: Number(dev[2]), op, value: Number(value) });
  }
  return out;
}

const BLKIO_V1: [string, string[]][] = [
  ['ioServiceBytesRecursive', ['blkio.io_service_bytes_recursive', 'blkio.bfq.io_service_bytes_recursive', 'blkio.throttle.io_service_bytes_recursive']],
  ['ioServicedRecursive', ['blkio.io_serviced_recursive', 'blkio.bfq.io_serviced_recursive', 'blkio.throttle.io_serviced_recursive']],
  ['ioQueuedRecursive', ['blkio.io_queued_recursive', 'blkio.bfq.io_queued_recursive']],
  ['ioServiceTimeRecursive', ['blkio.io_service_time_recursive', 'blkio.bfq.io_service_time_recursive']],
  ['ioWaitTimeRecursive', ['blkio.io_wait_time_recursive', 'blkio.bfq.io_wait_time_recursive']],
  ['ioMergedRecursive', ['blkio.io_merged_recursive', 'blkio.bfq.io_merged_recursive']],
  ['ioTimeRecursive', ['blkio.time_recursive', 'blkio.bfq.time_recursive']],
  ['sectorsRecursive', ['blkio.sectors_recursive', 'blkio.bfq.sectors_recursive']],
];

export interface V1StatDirs {
  cpu?: string;
  cpuacct?: string;
  memory?: string;
  pids?: string;
  blkio?: string;
  hugetlb?: string;
  /** hybrid: hugetlb on the cgroup2 side */
  hugetlbV2?: string;
}

export function statsV1(cfs: CgroupFs, d: V1StatDirs): CgroupStats {
  const r = new Reader(cfs);
  const s = emptyStats();
  s.cpu.usage.total = r.int(d.cpuacct, 'cpuacct.usage');
  const percpu = r.text(d.cpuacct, 'cpuacct.usage_percpu');
  if (percpu) s.cpu.usage.percpu = percpu.split(/\s+/).map(Number);
  if (r.has(d.cpuacct, 'cpuacct.usage_user')) {
    s.cpu.usage.user = r.int(d.cpuacct, 'cpuacct.usage_user');
    s.cpu.usage.kernel = r.int(d.cpuacct, 'cpuacct.usage_sys');
  } else {
    const st = r.kv(d.cpuacct, 'cpuacct.stat');
    s.cpu.usage.user = (st.user ?? 0) * NS_PER_TICK;
    s.cpu.usage.kernel = (st.system ?? 0) * NS_PER_TICK;
  }
  const cpuStat = r.kv(d.cpu, 'cpu.stat');
  s.cpu.throttling = { periods: cpuStat.nr_periods ?? 0, throttledPeriods: cpuStat.nr_throttled ?? 0, throttledTime: cpuStat.throttled_time ?? 0 };

  const m = d.memory;
  s.memory.usage = {
    usage: r.int(m, 'memory.usage_in_bytes'),
    max: r.int(m, 'memory.max_usage_in_bytes'),
    failcnt: r.int(m, 'memory.failcnt'),
    limit: r.int(m, 'memory.limit_in_bytes'),
  };
  if (r.has(m, 'memory.memsw.usage_in_bytes')) {
    s.memory.swap = { usage: r.int(m, 'memory.memsw.usage_in_bytes'), limit: r.int(m, 'memory.memsw.limit_in_bytes') };
  }
  s.memory.raw = r.kv(m, 'memory.stat');
  if (s.memory.raw.cache !== undefined) s.memory.cache = s.memory.raw.cache;

  s.pids = { current: r.int(d.pids, 'pids.current'), limit: r.int(d.pids, 'pids.max') };

  for (const [key, files] of BLKIO_V1) {
    const file = files.find((f) => r.has(d.blkio, f));
    if (file) s.blkio[key] = parseBlkioV1(r.text(d.blkio, file));
  }

  for (const size of HUGEPAGE_SIZES) {
    if (r.has(d.hugetlb, `hugetlb.${size}.usage_in_bytes`)) {
      s.hugetlb[size] = {
        usage: r.int(d.hugetlb, `hugetlb.${size}.usage_in_bytes`),
        max: r.int(d.hugetlb, `hugetlb.${size}.max_usage_in_bytes`),
        failcnt: r.int(d.hugetlb, `hugetlb.${size}.failcnt`),
      };
    }
  }
  if (d.hugetlbV2) Object.assign(s.hugetlb, hugetlbV2Stats(r, d.hugetlbV2));
  return s;
}

function hugetlbV2Stats(r: Reader, dir: string): CgroupStats['hugetlb'] {
  const out: CgroupStats['hugetlb'] = {};
  for (const size of HUGEPAGE_SIZES) {
    if (!r.has(dir, `hugetlb.${size}.current`)) continue;
    out[size] = {
      usage: r.int(dir, `hugetlb.${size}.current`),
      // v2 keeps no high-water mark for hugetlb.
      max: 0,
      failcnt: r.kv(dir, `hugetlb.${size}.events`).max ?? 0,
    };
  }
  return out;
}

/** io.stat "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." → runc's blkio entries. */
export function parseIoStat(text: string | undefined): Record<string, BlkioEntry[]> {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!dev) continue;
    const kv = Object.fromEntries(f.slice(1).map((p) => p.split('=') as [string, string]));
    const major = Number(dev[1]);
    const minor = Number(dev[2]);
    bytes.push({ major, minor, op: 'Read', value: Number(kv.rbytes ?? 0) }, { major, minor, op: 'Write', value: Number(kv.wbytes ?? 0) });
    ios.push({ major, minor, op: 'Read', value: Number(kv.rios ?? 0) }, { major, minor, op: 'Write', value: Number(kv.wios ?? 0) });
  }
  return { ioServiceBytesRecursive: bytes, ioServicedRecursive: ios };
}

/** A *.pressure file: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" and a "full" line. */
export function parsePressure(text: string | undefined): PsiStats | undefined {
  if (!text) return undefined;
  const zero = (): PsiData => ({ avg10: 0, avg60: 0, avg300: 0, total: 0 });
  const out: PsiStats = { some: zero(), full: zero() };
  let seen = false;
  for (const line of text.split('\n')) {
    const [kind, ...pairs] = line.trim().split(/\s+/);
    if (kind !== 'some' && kind !== 'full') continue;
    seen = true;
    for (const pair of pairs) {
      const [k, v] = pair.split('=');
      if (k === 'avg10' || k === 'avg60' || k === 'avg300' || k === 'total') out[kind][k] = Number(v) || 0;
    }
  }
  return seen ? out : undefined;
}

export function statsV2(cfs: CgroupFs, dir: string): CgroupStats {
  const r = new Reader(cfs);
  const s = emptyStats();
  const cpu = r.kv(dir, 'cpu.stat');
  s.cpu.usage = { total: (cpu.usage_usec ?? 0) * 1000, user: (cpu.user_usec ?? 0) * 1000, kernel: (cpu.system_usec ?? 0) * 1000 };
  s.cpu.throttling = { periods: cpu.nr_periods ?? 0, throttledPeriods: cpu.nr_throttled ?? 0, throttledTime: (cpu.throttled_usec ?? 0) * 1000 };

  const usage = r.int(dir, 'memory.current');
  const limit = r.int(dir, 'memory.max', UNLIMITED);
  s.memory.usage = { usage, max: r.int(dir, 'memory.peak'), failcnt: r.kv(dir, 'memory.events').max ?? 0, limit };
  if (r.has(dir, 'memory.swap.current')) {
    // runc reports v2 swap as memory+swap, the v1 meaning.
    const swapMax = r.int(dir, 'memory.swap.max', UNLIMITED);
    s.memory.swap = { usage: usage + r.int(dir, 'memory.swap.current'), limit: swapMax === UNLIMITED || limit === UNLIMITED ? UNLIMITED : swapMax + limit };
  }
  s.memory.raw = r.kv(dir, 'memory.stat');
  if (s.memory.raw.file !== undefined) s.memory.cache = s.memory.raw.file;

  s.pids = { current: r.int(dir, 'pids.current'), limit: r.int(dir, 'pids.max') };
  if (r.has(dir, 'io.stat')) s.blkio = parseIoStat(r.text(dir, 'io.stat'));
  s.hugetlb = hugetlbV2Stats(r, dir);
  // Pressure (PSI): present when the kernel has CONFIG_PSI and it is not disabled at boot.
  const cpuPsi = parsePressure(r.text(dir, 'cpu.pressure'));
  const memPsi = parsePressure(r.text(dir, 'memory.pressure'));
  const ioPsi = parsePressure(r.text(dir, 'io.pressure'));
  if (cpuPsi) s.cpu.psi = cpuPsi;
  if (memPsi) s.memory.psi = memPsi;
  if (ioPsi) s.blkio.psi = ioPsi;
  return s;
}

/** OOM kills so far: v1 memory.oom_control "oom_kill N", v2 memory.events "oom_kill N". */
export function oomKills(cfs: CgroupFs, dir: string | undefined, layout: 'v1' | 'v2'): number {
  const r = new Reader(cfs);
  return (layout === 'v1' ? r.kv(dir, 'memory.oom_control') : r.kv(dir, 'memory.events')).oom_kill ?? 0;
}
