// Checks on linux.resources done before any file is written, so bad input
// fails with the field's name and leaves nothing half-applied.
import type { Resources } from '../spec/types';
import type { CgroupLayout } from './manager';
import { invalid } from './fsio';

const R = 'linux.resources';

// Describes a bad value by its kind: serializing it could be huge or too deep.
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v).slice(0, 40)}`;
}

function int(field: string, v: unknown, min: number, max = Number.MAX_VALUE, what?: string): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(field, `${describe(v)} is not an integer`);
  if (v < min || v > max) {
    throw invalid(field, what ?? (min === -1 ? `${v} is negative (only -1, meaning unlimited, is allowed)` : `${v} is out of range [${min}, ${max === Number.MAX_VALUE ? '…' : max}]`));
  }
}

const CPU_LIST = /^\s*(\d+(-\d+)?)(\s*,\s*\d+(-\d+)?)*\s*$/;
export const HUGEPAGE_SIZE = /^\d+(KB|MB|GB|TB)$/;

const SECTION_KINDS: [keyof Resources, 'object' | 'array'][] = [
  ['memory', 'object'], ['cpu', 'object'], ['pids', 'object'], ['blockIO', 'object'], ['network', 'object'],
  ['rdma', 'object'], ['unified', 'object'], ['devices', 'array'], ['hugepageLimits', 'array'],
];

/** Each section has the JSON type the drivers expect; list entries are objects. */
function checkShape(r: Resources): void {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw invalid(R, `${describe(r)} is not an object`);
  for (const [key, kind] of SECTION_KINDS) {
    const v = (r as Record<string, unknown>)[key];
    if (v === undefined || v === null) continue;
    const ok = kind === 'array' ? Array.isArray(v) : typeof v === 'object' && !Array.isArray(v);
    if (!ok) throw invalid(`${R}.${key}`, `${describe(v)} is not ${kind === 'array' ? 'an array' : 'an object'}`);
    if (kind === 'array') (v as unknown[]).forEach((e, i) => {
      if (typeof e !== 'object' || e === null || Array.isArray(e)) throw invalid(`${R}.${key}[${i}]`, `${describe(e)} is not an object`);
    });
  }
}

export function validateResources(r: Resources | undefined, layout: CgroupLayout): void {
  if (r === undefined || r === null) return;
  checkShape(r);
  const m = r.memory;
  if (m) {
    for (const k of ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP'] as const) int(`${R}.memory.${k}`, m[k], -1);
    int(`${R}.memory.swappiness`, m.swappiness, -1, 100, `${m.swappiness} is not in [0, 100]`);
    if (m.useHierarchy !== undefined && m.useHierarchy !== null && typeof m.useHierarchy !== 'boolean') throw invalid(`${R}.memory.useHierarchy`, `${describe(m.useHierarchy)} is not a boolean`);
    const limit = m.limit ?? 0;
    const swap = m.swap ?? 0;
    if (limit > 0 && swap > 0 && swap < limit) {
      throw invalid(`${R}.memory.swap`, `memory+swap (${swap}) must not be less than memory.limit (${limit}); OCI swap counts memory plus swap`);
    }
  }
  const c = r.cpu;
  if (c) {
    int(`${R}.cpu.shares`, c.shares, 0);
    int(`${R}.cpu.quota`, c.quota, -1);
    int(`${R}.cpu.period`, c.period, 0);
    int(`${R}.cpu.burst`, c.burst, 0);
    int(`${R}.cpu.realtimeRuntime`, c.realtimeRuntime, -1);
    int(`${R}.cpu.realtimePeriod`, c.realtimePeriod, 0);
    int(`${R}.cpu.idle`, c.idle, 0, 1, `${c.idle} must be 0 or 1`);
    for (const k of ['cpus', 'mems'] as const) {
      const v = c[k];
      if (v !== undefined && v !== '' && (typeof v !== 'string' || !CPU_LIST.test(v))) throw invalid(`${R}.cpu.${k}`, `"${v}" is not a list like "0-3,5"`);
    }
  }
  if (r.pids) int(`${R}.pids.limit`, r.pids.limit, -Number.MAX_VALUE);
  const b = r.blockIO;
  if (b) {
    int(`${R}.blockIO.weight`, b.weight, 0, 1000);
    int(`${R}.blockIO.leafWeight`, b.leafWeight, 0, 1000);
    (b.weightDevice ?? []).forEach((d, i) => {
      const f = `${R}.blockIO.weightDevice[${i}]`;
      int(`${f}.major`, d.major, 0);
      int(`${f}.minor`, d.minor, 0);
      int(`${f}.weight`, d.weight, 0, 1000);
      int(`${f}.leafWeight`, d.leafWeight, 0, 1000);
    });
    for (const k of ['throttleReadBpsDevice', 'throttleWriteBpsDevice', 'throttleReadIOPSDevice', 'throttleWriteIOPSDevice'] as const) {
      (b[k] ?? []).forEach((d, i) => {
        const f = `${R}.blockIO.${k}[${i}]`;
        int(`${f}.major`, d.major, 0);
        int(`${f}.minor`, d.minor, 0);
        int(`${f}.rate`, d.rate, 0);
      });
    }
  }
  (r.hugepageLimits ?? []).forEach((h, i) => {
    const f = `${R}.hugepageLimits[${i}]`;
    if (typeof h.pageSize !== 'string' || !HUGEPAGE_SIZE.test(h.pageSize)) throw invalid(`${f}.pageSize`, `"${h.pageSize}" is not a page size like "2MB"`);
    int(`${f}.limit`, h.limit, 0);
  });
  if (r.network) {
    int(`${R}.network.classID`, r.network.classID, 0, 0xffffffff);
    (r.network.priorities ?? []).forEach((p, i) => {
      if (typeof p.name !== 'string' || !/^\S+$/.test(p.name)) throw invalid(`${R}.network.priorities[${i}].name`, `"${p.name}" is not an interface name`);
      int(`${R}.network.priorities[${i}].priority`, p.priority, 0, 0xffffffff);
    });
  }
  for (const [dev, v] of Object.entries(r.rdma ?? {})) {
    if (!/^\S+$/.test(dev)) throw invalid(`${R}.rdma["${dev}"]`, 'is not a device name');
    int(`${R}.rdma["${dev}"].hcaHandles`, v.hcaHandles, 0, 0xffffffff);
    int(`${R}.rdma["${dev}"].hcaObjects`, v.hcaObjects, 0, 0xffffffff);
  }
  if (r.unified && Object.keys(r.unified).length > 0) {
    if (layout === 'v1') throw invalid(`${R}.unified`, 'cgroup v2 keys cannot be applied on a cgroup v1 host (no cgroup2 hierarchy is mounted)');
    for (const [k, v] of Object.entries(r.unified)) {
      const f = `${R}.unified["${k}"]`;
      if (k.includes('/') || k === '' || k === '.' || k === '..') throw invalid(f, 'must be a file name in the container\'s cgroup dir (no "/")');
      if (!/^[a-z0-9_]+\.[A-Za-z0-9_.]+$/.test(k)) throw invalid(f, 'must look like CONTROLLER.PARAMETER');
      if (typeof v !== 'string') throw invalid(f, 'value must be a string');
    }
  }
}
