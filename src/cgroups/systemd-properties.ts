// linux.resources → properties of the container's systemd scope, so that
// systemd records the limits and writes the same values again whenever it
// re-applies the unit (systemctl daemon-reload, a SetUnitProperties from
// someone else). Limits written only to cgroupfs would be reset then.
// Conversions follow runc's systemd driver: cgroup v2 names (MemoryMax,
// CPUWeight, IOWeight) on unified hosts, the legacy ones (MemoryLimit,
// CPUShares, BlockIOWeight) on v1/hybrid hosts. capsa still writes every
// value to cgroupfs itself afterwards (exact values; systemd rounds CPU quota).
import type { BlockIO, Cpu, Memory, Resources } from '../spec/types';
import type { Variant } from './dbus';
import { blkioWeightToIoWeight, sharesToWeight, swapToV2 } from './conversions';
import { effectiveDeviceRules, reduceDeviceRules, WILDCARD, type DeviceRule } from './devices-rules';
import type { CgroupLayout } from './manager';
import type { UnitProperty } from './systemd-annotations';

/** USEC_INFINITY / CGROUP_LIMIT_MAX: "no limit" for systemd's 64-bit properties. */
export const SYSTEMD_INFINITY = 2n ** 64n - 1n;
const DEFAULT_CPU_PERIOD_US = 100_000;

const u64 = (n: number | bigint): Variant => ['t', n === -1 ? SYSTEMD_INFINITY : BigInt(n)];

export interface PropertyContext {
  layout: CgroupLayout;
  /** systemd's major version (Manager.Version); some properties need a recent one. */
  version: number;
  /** On update: what cgroupfs holds now, for the half of a pair that was not given. */
  current?: { quota?: number; period?: number; memoryLimit?: number };
}

export interface UnitProperties {
  properties: UnitProperty[];
  /** Settings systemd cannot record; capsa still applies them to cgroupfs. */
  notes: string[];
}

/**
 * "0-2,7" → systemd's CPU/NUMA-node mask (D-Bus "ay"): byte i holds
 * cpus 8i..8i+7, lowest bit first.
 */
export function listToMask(list: string): number[] {
  const bytes: number[] = [];
  for (const part of list.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [a, b = a] = part.split('-').map((x) => Number(x.trim()));
    for (let n = a!; n <= b!; n++) {
      const i = n >> 3;
      while (bytes.length <= i) bytes.push(0);
      bytes[i]! |= 1 << (n & 7);
    }
  }
  return bytes;
}

/** CPU quota as systemd stores it: µs of CPU time per second, rounded up to whole percents (runc does the same). */
export function quotaPerSecUsec(quota: number, period: number): bigint {
  if (quota <= 0) return SYSTEMD_INFINITY;
  let perSec = Math.floor((quota * 1_000_000) / (period || DEFAULT_CPU_PERIOD_US));
  if (perSec % 10_000 !== 0) perSec = (Math.floor(perSec / 10_000) + 1) * 10_000;
  return BigInt(perSec);
}

function memoryProps(m: Memory | undefined, ctx: PropertyContext, out: UnitProperties): void {
  if (!m) return;
  const v2 = ctx.layout === 'v2';
  const limit = m.limit ?? 0;
  if (limit !== 0) out.properties.push([v2 ? 'MemoryMax' : 'MemoryLimit', u64(limit)]);
  if (!v2) return;
  if ((m.reservation ?? 0) !== 0) out.properties.push(['MemoryLow', u64(m.reservation!)]);
  const swap = swapToV2(m.swap, m.limit ?? (m.swap !== undefined ? ctx.current?.memoryLimit : undefined));
  // swap equal to the limit: no swap (MemorySwapMax=0), so a daemon-reload keeps it off too
  if (typeof swap === 'number' && (swap !== 0 || (m.swap ?? 0) > 0)) out.properties.push(['MemorySwapMax', u64(swap)]);
}

function cpuProps(c: Cpu | undefined, ctx: PropertyContext, out: UnitProperties): void {
  if (!c) return;
  const v2 = ctx.layout === 'v2';
  // CPUWeight=0 is systemd's way (≥ 252) of asking for cpu.idle 1.
  const idle = v2 && c.idle === 1 && ctx.version >= 252;
  if (idle) out.properties.push(['CPUWeight', u64(0)]);
  if ((c.shares ?? 0) !== 0) {
    if (!v2) out.properties.push(['CPUShares', u64(c.shares!)]);
    else if (idle) out.notes.push('linux.resources.cpu.shares is not sent to systemd: CPUWeight carries cpu.idle');
    else out.properties.push(['CPUWeight', u64(sharesToWeight(c.shares!))]);
  }
  const quota = c.quota ?? (c.period ? ctx.current?.quota : undefined) ?? 0;
  const period = c.period ?? (c.quota ? ctx.current?.period : undefined) ?? 0;
  if (c.quota !== undefined || c.period !== undefined) {
    if (period > 0 && ctx.version >= 242) out.properties.push(['CPUQuotaPeriodUSec', u64(period)]);
    if (quota !== 0 || period !== 0) out.properties.push(['CPUQuotaPerSecUSec', ['t', quotaPerSecUsec(quota, period)]]);
  }
  for (const [k, name] of [['cpus', 'AllowedCPUs'], ['mems', 'AllowedMemoryNodes']] as const) {
    const v = c[k];
    if (v === undefined || v === '') continue;
    if (ctx.version >= 244) out.properties.push([name, ['ay', listToMask(v)]]);
    else out.notes.push(`linux.resources.cpu.${k} is not sent to systemd ${ctx.version} (${name} needs 244)`);
  }
}

function ioProps(b: BlockIO | undefined, ctx: PropertyContext, out: UnitProperties): void {
  if (!b) return;
  const v2 = ctx.layout === 'v2';
  if ((b.weight ?? 0) !== 0) out.properties.push(v2 ? ['IOWeight', u64(blkioWeightToIoWeight(b.weight!))] : ['BlockIOWeight', u64(b.weight!)]);
  const perDevice = (b.weightDevice ?? []).filter((d) => (d.weight ?? 0) !== 0)
    .map((d) => [`/dev/block/${d.major}:${d.minor}`, BigInt(v2 ? blkioWeightToIoWeight(d.weight!) : d.weight!)]);
  if (perDevice.length) out.properties.push([v2 ? 'IODeviceWeight' : 'BlockIODeviceWeight', ['a(st)', perDevice]]);
  const throttles = [
    ['throttleReadBpsDevice', 'IOReadBandwidthMax', 'BlockIOReadBandwidth'],
    ['throttleWriteBpsDevice', 'IOWriteBandwidthMax', 'BlockIOWriteBandwidth'],
    ['throttleReadIOPSDevice', 'IOReadIOPSMax', undefined],
    ['throttleWriteIOPSDevice', 'IOWriteIOPSMax', undefined],
  ] as const;
  for (const [key, v2Name, v1Name] of throttles) {
    const list = (b[key] ?? []).map((d) => [`/dev/block/${d.major}:${d.minor}`, d.rate === 0 ? SYSTEMD_INFINITY : BigInt(d.rate)]);
    const name = v2 ? v2Name : v1Name;
    if (list.length && name) out.properties.push([name, ['a(st)', list]]);
  }
}

/** One DeviceAllow entry for an allow exception, or undefined when systemd has no way to say it ("c *:5"). */
function deviceAllowEntry(r: DeviceRule): [string, string] | undefined {
  const group = r.type === 'b' ? 'block-' : 'char-';
  if (r.major === WILDCARD) return r.minor === WILDCARD ? [`${group}*`, r.access] : undefined;
  if (r.minor === WILDCARD) return [`${group}${r.major}`, r.access];
  return [`/dev/${r.type === 'b' ? 'block' : 'char'}/${r.major}:${r.minor}`, r.access];
}

/**
 * DevicePolicy and DeviceAllow. A list systemd can express exactly becomes a
 * strict allow list (runc does this too). Anything else (a default-allow list
 * with exceptions, a "c *:5" rule) becomes DevicePolicy=auto with no entries:
 * systemd then leaves device access alone, and capsa's own eBPF filter, which
 * both systemd's and capsa's programs must pass, enforces the rules.
 */
export function deviceProps(configured: Resources['devices']): UnitProperty[] {
  const state = reduceDeviceRules(effectiveDeviceRules(configured));
  const entries = state.defaultAllow ? undefined : state.exceptions.map(deviceAllowEntry);
  if (!entries || entries.some((e) => e === undefined)) return [['DevicePolicy', ['s', 'auto']], ['DeviceAllow', ['a(ss)', []]]];
  return [['DevicePolicy', ['s', 'strict']], ['DeviceAllow', ['a(ss)', entries]]];
}

/** `unified` keys systemd has a property for (runc's list); the rest only go to cgroupfs. */
function unifiedProps(unified: Record<string, string> | undefined, ctx: PropertyContext, out: UnitProperties): void {
  if (ctx.layout !== 'v2') return;
  for (const [key, raw] of Object.entries(unified ?? {})) {
    const v = raw.trim();
    const num = (s: string) => (s === 'max' ? SYSTEMD_INFINITY : /^\d+$/.test(s) ? BigInt(s) : undefined);
    const memory: Record<string, string> = { 'memory.high': 'MemoryHigh', 'memory.low': 'MemoryLow', 'memory.min': 'MemoryMin', 'memory.max': 'MemoryMax', 'memory.swap.max': 'MemorySwapMax' };
    if (key in memory || key === 'pids.max' || key === 'cpu.weight') {
      const n = num(v);
      if (n === undefined) continue; // the cgroupfs write reports it
      out.properties.push([memory[key] ?? (key === 'pids.max' ? 'TasksMax' : 'CPUWeight'), ['t', n]]);
    } else if (key === 'cpu.max') {
      const [q, p] = v.split(/\s+/);
      const period = p ? Number(p) : DEFAULT_CPU_PERIOD_US;
      const quota = q === 'max' ? 0 : Number(q);
      if (!Number.isInteger(quota) || !Number.isInteger(period)) continue;
      if (ctx.version >= 242) out.properties.push(['CPUQuotaPeriodUSec', u64(period)]);
      out.properties.push(['CPUQuotaPerSecUSec', ['t', quotaPerSecUsec(quota, period)]]);
    } else if ((key === 'cpuset.cpus' || key === 'cpuset.mems') && ctx.version >= 244 && /^[\d,\s-]*$/.test(v)) {
      out.properties.push([key === 'cpuset.cpus' ? 'AllowedCPUs' : 'AllowedMemoryNodes', ['ay', listToMask(v)]]);
    }
  }
}

/**
 * The properties for `resources`. `pids` is left out: the pids limit is set
 * once the container's process is in the scope (see SystemdManager), since
 * capsa-init's own clone counts against it.
 */
export function resourcesToProperties(r: Resources | undefined, ctx: PropertyContext, opts: { devices: boolean }): UnitProperties {
  const out: UnitProperties = { properties: [], notes: [] };
  if (opts.devices) out.properties.push(...deviceProps(r?.devices));
  if (!r) return out;
  memoryProps(r.memory, ctx, out);
  cpuProps(r.cpu, ctx, out);
  ioProps(r.blockIO, ctx, out);
  unifiedProps(r.unified, ctx, out);
  return out;
}

/**
 * TasksMax for a pids limit: negative is no limit, absent is nothing. systemd
 * refuses TasksMax=0 ("out of range"), so a limit of 0 (runtime-spec 1.3)
 * goes to cgroupfs only, with a note.
 */
export function pidsProperty(limit: number | undefined, notes: string[] = []): UnitProperty | undefined {
  if (limit === undefined || limit === null) return undefined;
  if (limit === 0) {
    notes.push('linux.resources.pids.limit 0 is written to pids.max only: systemd refuses TasksMax=0, so a systemctl daemon-reload would lift it');
    return undefined;
  }
  return ['TasksMax', limit < 0 ? ['t', SYSTEMD_INFINITY] : u64(limit)];
}
