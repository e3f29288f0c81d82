// process.scheduler, process.ioPriority, process.execCPUAffinity and
// linux.memoryPolicy → ops. Each value is checked here (shape, range, what the
// kernel's rules refuse, what this host has) so a failure names the field;
// whatever the kernel still refuses comes back from capsa-init with its errno.
import { CapsaError } from '../errors';
import type { MemoryPolicy, Process } from '../spec/types';
import type { Op } from './schema';

/** What the host has, read by the caller (compile stays free of I/O). */
export interface HostTopology {
  /** CPUs online (/sys/devices/system/cpu/online). */
  onlineCpus?: readonly number[];
  /** NUMA nodes online (/sys/devices/system/node/online); absent: no NUMA support. */
  onlineNodes?: readonly number[];
}

function invalid(configPath: string, msg: string): never {
  throw new CapsaError('INVALID_CONFIG', `config.${configPath}: ${msg}`, { configPath });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function intIn(v: unknown, p: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) invalid(p, `expected an integer, got ${JSON.stringify(v)}`);
  if (v < min || v > max) invalid(p, `${v} is out of range [${min}, ${max}]`);
  return v;
}

function strList(v: unknown, p: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) invalid(p, 'expected an array of strings');
  return v as string[];
}

// ---- lists of numbers ("0-3,7") ----

/** A cpuset-style list ("0-3,7") → sorted unique numbers. */
export function parseIdList(text: unknown, p: string, max: number): number[] {
  if (typeof text !== 'string') invalid(p, `expected a string like "0-3,7", got ${JSON.stringify(text)}`);
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const item = part.trim();
    const m = /^(\d+)(?:-(\d+))?$/.exec(item);
    if (!m) invalid(p, `"${text}" is not a list like "0-3,7"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) invalid(p, `range "${item}" runs backwards`);
    if (hi >= max) invalid(p, `${hi} is above the largest supported (${max - 1})`);
    for (let n = lo; n <= hi; n++) out.add(n);
  }
  return [...out].sort((a, b) => a - b);
}

/** The same format as written by the kernel (/sys/devices/system/cpu/online); '' → []. */
export function parseKernelList(text: string): number[] {
  const t = text.trim();
  return t === '' ? [] : parseIdList(t, 'host', 1 << 16);
}

function formatList(ns: readonly number[]): string {
  return ns.join(',');
}

// ---- process.scheduler ----

export const SCHED_POLICIES: Record<string, number> = {
  SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2, SCHED_BATCH: 3, SCHED_ISO: 4, SCHED_IDLE: 5, SCHED_DEADLINE: 6,
};
export const SCHED_FLAGS: Record<string, bigint> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01n, SCHED_FLAG_RECLAIM: 0x02n, SCHED_FLAG_DL_OVERRUN: 0x04n, SCHED_FLAG_KEEP_POLICY: 0x08n,
  SCHED_FLAG_KEEP_PARAMS: 0x10n, SCHED_FLAG_UTIL_CLAMP_MIN: 0x20n, SCHED_FLAG_UTIL_CLAMP_MAX: 0x40n,
};
const U64_MAX = 2 ** 64;

/** sched_setattr for the process, or nothing. `forks`: the process still forks after it (hooks). */
export function schedulerOps(proc: Process, forks = false, base = 'process'): Op[] {
  const raw = proc.scheduler as unknown;
  if (raw === undefined || raw === null) return [];
  const p = `${base}.scheduler`;
  if (!isObj(raw)) invalid(p, 'expected an object');
  if (typeof raw.policy !== 'string' || raw.policy === '') invalid(`${p}.policy`, 'is required (SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE or SCHED_DEADLINE)');
  const policy = SCHED_POLICIES[raw.policy];
  if (policy === undefined) invalid(`${p}.policy`, `unknown policy "${raw.policy}"`);
  if (raw.policy === 'SCHED_ISO') invalid(`${p}.policy`, 'SCHED_ISO is not implemented by the Linux kernel');
  const nice = raw.nice === undefined || raw.nice === null ? 0 : intIn(raw.nice, `${p}.nice`, -(2 ** 31), 2 ** 31 - 1);
  const priority = raw.priority === undefined || raw.priority === null ? 0 : intIn(raw.priority, `${p}.priority`, 0, 2 ** 31 - 1);
  const runtime = raw.runtime === undefined || raw.runtime === null ? 0 : intIn(raw.runtime, `${p}.runtime`, 0, U64_MAX);
  const deadline = raw.deadline === undefined || raw.deadline === null ? 0 : intIn(raw.deadline, `${p}.deadline`, 0, U64_MAX);
  const period = raw.period === undefined || raw.period === null ? 0 : intIn(raw.period, `${p}.period`, 0, U64_MAX);
  let flags = 0n;
  strList(raw.flags, `${p}.flags`).forEach((f, i) => {
    const bit = SCHED_FLAGS[f];
    if (bit === undefined) invalid(`${p}.flags[${i}]`, `unknown flag "${f}"`);
    flags |= bit;
  });
  // runc's rules (libcontainer/configs/validate), then the kernel's.
  const fairPolicy = raw.policy === 'SCHED_OTHER' || raw.policy === 'SCHED_BATCH';
  if (fairPolicy && (nice < -20 || nice > 19)) invalid(`${p}.nice`, `${nice} is out of range [-20, 19]`);
  const rt = raw.policy === 'SCHED_FIFO' || raw.policy === 'SCHED_RR';
  if (rt && (priority < 1 || priority > 99)) invalid(`${p}.priority`, `${raw.policy} needs a priority in [1, 99], got ${priority}`);
  if (!rt && priority !== 0) invalid(`${p}.priority`, 'can only be given for SCHED_FIFO or SCHED_RR');
  const dl = raw.policy === 'SCHED_DEADLINE';
  if (!dl && (runtime || deadline || period)) invalid(p, 'runtime/deadline/period can only be given for SCHED_DEADLINE');
  if (dl) {
    if (!runtime || !deadline) invalid(p, 'SCHED_DEADLINE needs runtime and deadline (nanoseconds)');
    if (runtime > deadline) invalid(`${p}.runtime`, `${runtime} is above the deadline ${deadline}`);
    if (period && deadline > period) invalid(`${p}.deadline`, `${deadline} is above the period ${period}`);
    // The kernel refuses fork (EAGAIN) to a SCHED_DEADLINE task without reset-on-fork.
    if (forks && !(flags & SCHED_FLAGS.SCHED_FLAG_RESET_ON_FORK!)) invalid(`${p}.flags`, 'SCHED_DEADLINE without SCHED_FLAG_RESET_ON_FORK cannot run startContainer hooks (the kernel refuses fork to a deadline task)');
  }
  return [{
    op: 'scheduler', policy, nice: nice >>> 0, priority, flags, runtime: BigInt(runtime), deadline: BigInt(deadline), period: BigInt(period),
    configPath: p, what: `set scheduler ${raw.policy}`,
  }];
}

// ---- process.ioPriority ----

export const IOPRIO_CLASSES: Record<string, number> = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };

export function ioPriorityOps(proc: Process, base = 'process'): Op[] {
  const raw = proc.ioPriority as unknown;
  if (raw === undefined || raw === null) return [];
  const p = `${base}.ioPriority`;
  if (!isObj(raw)) invalid(p, 'expected an object');
  const cls = typeof raw.class === 'string' ? IOPRIO_CLASSES[raw.class] : undefined;
  if (cls === undefined) invalid(`${p}.class`, `expected IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE, got ${JSON.stringify(raw.class)}`);
  const level = intIn(raw.priority, `${p}.priority`, 0, 7);
  return [{ op: 'ioprio', value: (cls << 13) | level, configPath: p, what: `set I/O priority ${raw.class} ${level}` }];
}

// ---- process.execCPUAffinity ----

const MAX_CPUS = 8192; // bits in the mask capsa-init accepts (cpu_set_t is 1024; larger masks are refused there)

export function cpuMask(cpus: readonly number[]): Buffer {
  const top = cpus.length ? cpus[cpus.length - 1]! : 0;
  const b = Buffer.alloc(Math.max(8, Math.ceil((top + 1) / 64) * 8));
  for (const c of cpus) b[c >> 3]! |= 1 << (c & 7);
  return b;
}

export interface ExecAffinity {
  initial?: number[];
  final?: number[];
}

/** Parses and checks execCPUAffinity against the CPUs online here. */
export function execAffinity(proc: Process, host: HostTopology, base = 'process'): ExecAffinity {
  const raw = proc.execCPUAffinity as unknown;
  if (raw === undefined || raw === null) return {};
  const p = `${base}.execCPUAffinity`;
  if (!isObj(raw)) invalid(p, 'expected an object');
  const out: ExecAffinity = {};
  for (const key of ['initial', 'final'] as const) {
    const v = raw[key];
    if (v === undefined || v === null || v === '') continue;
    const cpus = parseIdList(v, `${p}.${key}`, MAX_CPUS);
    if (host.onlineCpus) {
      const online = new Set(host.onlineCpus);
      const missing = cpus.filter((c) => !online.has(c));
      if (missing.length) invalid(`${p}.${key}`, `CPU ${formatList(missing)} is not online on this host (online: ${formatList(host.onlineCpus)})`);
    }
    out[key] = cpus;
  }
  return out;
}

/**
 * The first op of every plan: where capsa-init runs before it joins the
 * container's cgroup. runc resets it to every CPU (a runtime started under
 * taskset must not pin the container), or uses execCPUAffinity.initial (exec).
 */
export function initialAffinityOp(initial: number[] | undefined, base = 'process'): Op {
  if (!initial) return { op: 'cpuAffinity', mask: Buffer.alloc(0), report: 0, what: 'reset CPU affinity' };
  return { op: 'cpuAffinity', mask: cpuMask(initial), report: 1, configPath: `${base}.execCPUAffinity.initial`, what: `set CPU affinity ${formatList(initial)}` };
}

export function finalAffinityOps(final: number[] | undefined, base = 'process'): Op[] {
  if (!final) return [];
  return [{ op: 'cpuAffinity', mask: cpuMask(final), report: 0, configPath: `${base}.execCPUAffinity.final`, what: `set CPU affinity ${formatList(final)}` }];
}

// ---- linux.memoryPolicy ----

export const MPOL_MODES: Record<string, number> = {
  MPOL_DEFAULT: 0, MPOL_PREFERRED: 1, MPOL_BIND: 2, MPOL_INTERLEAVE: 3, MPOL_LOCAL: 4, MPOL_PREFERRED_MANY: 5, MPOL_WEIGHTED_INTERLEAVE: 6,
};
export const MPOL_FLAGS: Record<string, number> = {
  MPOL_F_STATIC_NODES: 1 << 15, MPOL_F_RELATIVE_NODES: 1 << 14, MPOL_F_NUMA_BALANCING: 1 << 13,
};
const MAX_NODES = 1024;

export function memoryPolicyOps(policy: MemoryPolicy | undefined, host: HostTopology): Op[] {
  const raw = policy as unknown;
  if (raw === undefined || raw === null) return [];
  const p = 'linux.memoryPolicy';
  if (!isObj(raw)) invalid(p, 'expected an object');
  const mode = typeof raw.mode === 'string' ? MPOL_MODES[raw.mode] : undefined;
  if (mode === undefined) invalid(`${p}.mode`, `expected one of ${Object.keys(MPOL_MODES).join(', ')}, got ${JSON.stringify(raw.mode)}`);
  const name = raw.mode as string;
  let flags = 0;
  const flagNames = strList(raw.flags, `${p}.flags`);
  flagNames.forEach((f, i) => {
    const bit = MPOL_FLAGS[f];
    if (bit === undefined) invalid(`${p}.flags[${i}]`, `unknown flag "${f}"`);
    flags |= bit;
  });
  if (flagNames.includes('MPOL_F_STATIC_NODES') && flagNames.includes('MPOL_F_RELATIVE_NODES')) invalid(`${p}.flags`, 'MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other');
  const nodes = raw.nodes === undefined || raw.nodes === null || raw.nodes === '' ? [] : parseIdList(raw.nodes, `${p}.nodes`, MAX_NODES);
  if ((name === 'MPOL_DEFAULT' || name === 'MPOL_LOCAL') && nodes.length) invalid(`${p}.nodes`, `${name} takes no nodes`);
  if (['MPOL_BIND', 'MPOL_INTERLEAVE', 'MPOL_WEIGHTED_INTERLEAVE', 'MPOL_PREFERRED_MANY'].includes(name) && !nodes.length) invalid(`${p}.nodes`, `${name} needs at least one node`);
  if (nodes.length && !(flags & MPOL_FLAGS.MPOL_F_RELATIVE_NODES!)) {
    if (!host.onlineNodes) invalid(`${p}.nodes`, 'this host has no NUMA nodes (/sys/devices/system/node is missing)');
    const online = new Set(host.onlineNodes);
    const missing = nodes.filter((n) => !online.has(n));
    // Static nodes may name nodes that come later; the others must exist now.
    if (missing.length && !(flags & MPOL_FLAGS.MPOL_F_STATIC_NODES!)) invalid(`${p}.nodes`, `node ${formatList(missing)} is not online on this host (online: ${formatList(host.onlineNodes)})`);
  }
  const what = `set memory policy ${name}${nodes.length ? ` nodes ${formatList(nodes)}` : ''}${flagNames.length ? ` ${flagNames.join('|')}` : ''}`;
  return [{ op: 'mempolicy', mode: mode | flags, nodes, configPath: p, what }];
}
