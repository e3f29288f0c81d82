// linux.resources → files of one cgroup v2 dir. Values in v1 units are
// converted (conversions.ts); `unified` keys are written last, verbatim, so
// they override anything derived here.
import type { BlockIO, Cpu, HugepageLimit, Memory, Resources } from '../spec/types';
import { CapsaError } from '../errors';
import { blkioWeightToIoWeight, sharesToWeight, swapToV2 } from './conversions';
import { compileDeviceFilter } from './devices-ebpf';
import { effectiveDeviceRules } from './devices-rules';
import { formatInt, invalid, parseCgroupInt, type CgroupWriter } from './fsio';
import { installDeviceFilter, type DeviceFilterSyscalls } from './bpf-native';

const R = 'linux.resources';

export interface V2Context {
  w: CgroupWriter;
  dir: string;
  /** controllers listed in the dir's cgroup.controllers */
  available: Set<string>;
  /** a partial update of a running container: keep what is not mentioned */
  update: boolean;
  deviceFilter: () => DeviceFilterSyscalls;
}

const unsupported = (field: string, message: string) => new CapsaError('UNSUPPORTED', `${field}: ${message}`, { configPath: field });

function need(ctx: Pick<V2Context, 'available'>, controller: string, field: string): void {
  if (!ctx.available.has(controller)) {
    throw invalid(field, `the ${controller} controller is not available in this cgroup (cgroup.controllers: ${[...ctx.available].join(' ') || 'none'})`);
  }
}

const maxOr = (n: number) => (n === -1 ? 'max' : formatInt(n));

export function applyV2Resources(ctx: V2Context, resources: Resources | undefined): void {
  // Even with no resources at all, a new container gets the default device rules.
  const r = resources ?? {};
  if (r.pids && r.pids.limit !== undefined) {
    need(ctx, 'pids', `${R}.pids.limit`);
    // runtime-spec 1.3 (runc 1.4): 0 is a limit of zero tasks; negative is none.
    ctx.w.write(`${R}.pids.limit`, ctx.dir, 'pids.max', r.pids.limit >= 0 ? formatInt(r.pids.limit) : 'max');
  }
  memoryV2(ctx, r.memory);
  ioV2(ctx, r.blockIO);
  cpuV2(ctx, r.cpu);
  hugetlbV2(ctx.w, ctx.dir, ctx.available, r.hugepageLimits);
  rdma(ctx.w, ctx.dir, r.rdma, () => need(ctx, 'rdma', `${R}.rdma`));
  if (r.network && (r.network.classID !== undefined || (r.network.priorities ?? []).length > 0)) {
    throw invalid(`${R}.network`, 'the net_cls and net_prio controllers do not exist on cgroup v2');
  }
  if (r.devices !== undefined || !ctx.update) devicesV2(ctx, r);
  unifiedV2(ctx.w, ctx.dir, ctx.available, r.unified);
}

function memoryV2(ctx: V2Context, m: Memory | undefined): void {
  if (!m) return;
  const { w, dir } = ctx;
  const f = `${R}.memory`;
  const limit = m.limit ?? 0;
  const touches = limit !== 0 || (m.swap ?? 0) !== 0 || (m.reservation ?? 0) !== 0;
  if (touches) need(ctx, 'memory', f);
  if (ctx.update && m.checkBeforeUpdate && limit > 0) {
    const current = parseCgroupInt(w.readOptional(dir, 'memory.current'));
    if (current > limit) throw invalid(`${f}.limit`, `the container already uses ${current} bytes, more than the new limit ${limit}`);
  }
  // On update, a swap value is relative to the limit already in force.
  const limitForSwap = m.limit ?? (ctx.update && m.swap !== undefined ? parseCgroupInt(w.readOptional(dir, 'memory.max'), -1) : undefined);
  const swap = swapToV2(m.swap, limitForSwap);
  if (typeof swap === 'string') throw invalid(`${f}.swap`, swap);
  // memory+swap equal to memory (swap 0 here) means no swap at all, as in runc.
  const noSwap = swap === 0 && (m.swap ?? 0) > 0;
  if (swap !== 0 || noSwap) {
    if (w.has(dir, 'memory.swap.max')) w.write(`${f}.swap`, dir, 'memory.swap.max', maxOr(swap));
    else if (swap !== -1 && !noSwap) throw unsupported(`${f}.swap`, 'this kernel does not account swap (no memory.swap.max)');
  }
  if (limit !== 0) w.write(`${f}.limit`, dir, 'memory.max', maxOr(limit));
  if ((m.reservation ?? 0) !== 0) w.write(`${f}.reservation`, dir, 'memory.low', maxOr(m.reservation!));
  if (m.swappiness !== undefined && m.swappiness !== -1) w.warn(`${f}.swappiness is ignored: cgroup v2 has no per-cgroup swappiness`);
  if (m.kernel !== undefined && m.kernel !== 0) w.warn(`${f}.kernel is ignored: cgroup v2 accounts kernel memory in memory.max`);
  if (m.kernelTCP !== undefined && m.kernelTCP !== 0) w.warn(`${f}.kernelTCP is ignored: cgroup v2 accounts kernel memory in memory.max`);
  if (m.disableOOMKiller) w.warn(`${f}.disableOOMKiller is ignored: cgroup v2 cannot disable the OOM killer`);
  // cgroup v2 always accounts hierarchically: true is what it does, false cannot be had.
  if (m.useHierarchy === false) throw new CapsaError('UNSUPPORTED', `${f}.useHierarchy: false cannot be honoured: cgroup v2 always accounts memory hierarchically`, { configPath: `${f}.useHierarchy` });
}

function cpuV2(ctx: V2Context, c: Cpu | undefined): void {
  if (!c) return;
  const { w, dir } = ctx;
  const f = `${R}.cpu`;
  if ((c.realtimeRuntime ?? 0) !== 0 || (c.realtimePeriod ?? 0) !== 0) {
    throw unsupported(`${f}.${(c.realtimeRuntime ?? 0) !== 0 ? 'realtimeRuntime' : 'realtimePeriod'}`, 'realtime CPU bandwidth is not available on cgroup v2');
  }
  if ((c.shares ?? 0) !== 0) {
    need(ctx, 'cpu', `${f}.shares`);
    w.write(`${f}.shares`, dir, 'cpu.weight', String(sharesToWeight(c.shares!)));
  }
  const quota = c.quota ?? 0;
  const period = c.period ?? 0;
  if (quota !== 0 || period !== 0) {
    need(ctx, 'cpu', `${f}.quota`);
    // On update, keep the half of cpu.max that was not given.
    const current = ctx.update ? (w.readOptional(dir, 'cpu.max') ?? '').split(/\s+/) : [];
    const quotaText = quota > 0 ? formatInt(quota) : quota === -1 || !ctx.update ? 'max' : (current[0] ?? 'max');
    const periodText = period > 0 ? formatInt(period) : ctx.update ? current[1] : undefined;
    w.write(`${f}.${quota !== 0 ? 'quota' : 'period'}`, dir, 'cpu.max', periodText ? `${quotaText} ${periodText}` : quotaText);
  }
  if (c.burst !== undefined) {
    need(ctx, 'cpu', `${f}.burst`);
    if (!w.has(dir, 'cpu.max.burst')) throw unsupported(`${f}.burst`, 'this kernel has no cpu.max.burst');
    w.write(`${f}.burst`, dir, 'cpu.max.burst', formatInt(c.burst));
  }
  if (c.idle !== undefined) {
    if (w.has(dir, 'cpu.idle')) w.write(`${f}.idle`, dir, 'cpu.idle', String(c.idle));
    else if (c.idle !== 0) throw unsupported(`${f}.idle`, 'this kernel has no cpu.idle');
  }
  for (const k of ['cpus', 'mems'] as const) {
    const v = c[k];
    if (v === undefined || v === '') continue;
    need(ctx, 'cpuset', `${f}.${k}`);
    w.write(`${f}.${k}`, dir, `cpuset.${k}`, v);
  }
}

const THROTTLES = [
  ['throttleReadBpsDevice', 'rbps'],
  ['throttleWriteBpsDevice', 'wbps'],
  ['throttleReadIOPSDevice', 'riops'],
  ['throttleWriteIOPSDevice', 'wiops'],
] as const;

function ioV2(ctx: V2Context, b: BlockIO | undefined): void {
  if (!b) return;
  const { w, dir } = ctx;
  const f = `${R}.blockIO`;
  // BFQ takes blkio weights as they are; io.weight needs converting.
  const bfq = w.has(dir, 'io.bfq.weight');
  if ((b.weight ?? 0) !== 0) {
    need(ctx, 'io', `${f}.weight`);
    if (bfq) w.write(`${f}.weight`, dir, 'io.bfq.weight', String(b.weight));
    else w.write(`${f}.weight`, dir, 'io.weight', String(blkioWeightToIoWeight(b.weight!)));
  }
  if ((b.leafWeight ?? 0) !== 0) w.warn(`${f}.leafWeight is ignored: cgroup v2 has no leaf weight`);
  (b.weightDevice ?? []).forEach((d, i) => {
    const df = `${f}.weightDevice[${i}]`;
    if ((d.weight ?? 0) !== 0) {
      need(ctx, 'io', df);
      if (bfq) w.write(df, dir, 'io.bfq.weight', `${d.major}:${d.minor} ${d.weight}`);
      else w.write(df, dir, 'io.weight', `${d.major}:${d.minor} ${blkioWeightToIoWeight(d.weight!)}`);
    }
    if ((d.leafWeight ?? 0) !== 0) w.warn(`${df}.leafWeight is ignored: cgroup v2 has no leaf weight`);
  });
  for (const [key, name] of THROTTLES) {
    (b[key] ?? []).forEach((d, i) => {
      const df = `${f}.${key}[${i}]`;
      need(ctx, 'io', df);
      // 0 lifts the limit, as it does in v1's throttle files.
      w.write(df, dir, 'io.max', `${d.major}:${d.minor} ${name}=${d.rate === 0 ? 'max' : formatInt(d.rate)}`);
    });
  }
}

/** hugetlb.<size>.max (and .rsvd.max where the kernel has it); shared with hybrid hosts. */
export function hugetlbV2(w: CgroupWriter, dir: string, available: Set<string>, limits: HugepageLimit[] | undefined): void {
  (limits ?? []).forEach((h, i) => {
    const f = `${R}.hugepageLimits[${i}]`;
    need({ available }, 'hugetlb', f);
    const file = `hugetlb.${h.pageSize}.max`;
    if (!w.has(dir, file)) throw invalid(`${f}.pageSize`, `huge page size ${h.pageSize} is not supported by this kernel (no ${file})`);
    w.write(`${f}.limit`, dir, file, formatInt(h.limit));
    const rsvd = `hugetlb.${h.pageSize}.rsvd.max`;
    if (w.has(dir, rsvd)) w.write(`${f}.limit`, dir, rsvd, formatInt(h.limit));
  });
}

/** rdma.max lines, the same syntax on v1 and v2. */
export function rdma(w: CgroupWriter, dir: string | undefined, r: Resources['rdma'], needRdma: () => void): void {
  for (const [dev, v] of Object.entries(r ?? {})) {
    const parts = [dev];
    if (v.hcaHandles !== undefined) parts.push(`hca_handle=${v.hcaHandles}`);
    if (v.hcaObjects !== undefined) parts.push(`hca_object=${v.hcaObjects}`);
    if (parts.length === 1) continue;
    needRdma();
    w.write(`${R}.rdma["${dev}"]`, dir!, 'rdma.max', parts.join(' '));
  }
}

function devicesV2(ctx: V2Context, r: Resources): void {
  const program = compileDeviceFilter(effectiveDeviceRules(r.devices));
  installDeviceFilter(ctx.deviceFilter(), ctx.dir, program.bytes);
}

// Files whose writes would move, kill or freeze the container behind capsa's back.
const RESERVED_UNIFIED = new Set(['cgroup.procs', 'cgroup.threads', 'cgroup.kill', 'cgroup.freeze']);

/** `unified` keys, written verbatim (one write per line). Also used by hybrid hosts. */
export function unifiedV2(w: CgroupWriter, dir: string, available: Set<string>, unified: Record<string, string> | undefined): void {
  for (const [key, value] of Object.entries(unified ?? {})) {
    const f = `${R}.unified["${key}"]`;
    if (key.includes('/')) throw invalid(f, 'must be a file name (no "/")');
    if (RESERVED_UNIFIED.has(key)) throw invalid(f, 'is managed by capsa and cannot be set through unified');
    if (!w.has(dir, key)) {
      const controller = key.split('.')[0]!;
      if (controller !== 'cgroup' && !available.has(controller)) throw invalid(f, `the ${controller} controller is not available in this cgroup`);
      throw invalid(f, `no such file in ${dir}`);
    }
    w.writeLines(f, dir, key, value);
  }
}
