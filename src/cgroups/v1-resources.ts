// linux.resources → files in the cgroup v1 hierarchies (one dir per
// controller). A field whose controller is not mounted is a config error —
// except that on a hybrid host hugetlb and rdma may live on the cgroup2 side,
// which `v2Fallback` provides.
import type { BlockIO, Cpu, Memory, Network, Resources } from '../spec/types';
import { CapsaError } from '../errors';
import { effectiveDeviceRules, reduceDeviceRules, ruleToV1String } from './devices-rules';
import { formatInt, invalid, parseCgroupInt, type CgroupWriter } from './fsio';
import { hugetlbV2, rdma } from './v2-resources';

const R = 'linux.resources';

export interface V1Context {
  w: CgroupWriter;
  /** the container's dir in the hierarchy holding `controller`, if that is mounted */
  dir(controller: string): string | undefined;
  update: boolean;
  /** hybrid: the cgroup2 dir (controller enabled) when `controller` is only on the v2 side */
  v2Fallback?: (controller: string) => { dir: string; available: Set<string> } | undefined;
}

const unsupported = (field: string, message: string) => new CapsaError('UNSUPPORTED', `${field}: ${message}`, { configPath: field });

function need(ctx: V1Context, controller: string, field: string): string {
  const dir = ctx.dir(controller);
  if (!dir) throw invalid(field, `the ${controller} cgroup controller is not mounted on this host`);
  return dir;
}

const int = formatInt;

export function applyV1Resources(ctx: V1Context, resources: Resources | undefined): void {
  const r = resources ?? {};
  if (r.unified && Object.keys(r.unified).length > 0 && !ctx.v2Fallback) {
    throw invalid(`${R}.unified`, 'cgroup v2 keys cannot be applied on a cgroup v1 host');
  }
  if (r.pids && r.pids.limit !== undefined) {
    const dir = need(ctx, 'pids', `${R}.pids.limit`);
    // runtime-spec 1.3 (runc 1.4): 0 is a limit of zero tasks; negative is none.
    ctx.w.write(`${R}.pids.limit`, dir, 'pids.max', r.pids.limit >= 0 ? int(r.pids.limit) : 'max');
  }
  memoryV1(ctx, r.memory);
  cpuV1(ctx, r.cpu);
  blkioV1(ctx, r.blockIO);
  hugetlbV1(ctx, r);
  networkV1(ctx, r.network);
  rdmaV1(ctx, r);
  // Device rules are set once, at create: rewriting them on a running
  // container would deny everything for a moment. runc's update leaves them too.
  if (ctx.update) {
    if (r.devices !== undefined) ctx.w.warn(`${R}.devices is not changed by update`);
  } else {
    devicesV1(ctx, r);
  }
}

function memoryV1(ctx: V1Context, m: Memory | undefined): void {
  if (!m) return;
  const { w } = ctx;
  const f = `${R}.memory`;
  const limit = m.limit ?? 0;
  let swap = m.swap ?? 0;
  const anything = limit !== 0 || swap !== 0 || (m.reservation ?? 0) !== 0 || (m.kernel ?? 0) !== 0 || (m.kernelTCP ?? 0) !== 0 ||
    (m.swappiness !== undefined && m.swappiness !== -1) || !!m.disableOOMKiller || m.useHierarchy !== undefined;
  if (!anything) return;
  const dir = need(ctx, 'memory', f);
  // Unlimited memory with no swap setting: unlimited memory+swap too, else memsw would cap it.
  if (limit === -1 && swap === 0) swap = -1;
  if (swap !== 0 && !w.has(dir, 'memory.memsw.limit_in_bytes')) {
    if (swap !== -1) throw unsupported(`${f}.swap`, 'this kernel does not account swap (no memory.memsw.limit_in_bytes; boot with swapaccount=1)');
    swap = 0; // without swap accounting, memory+swap is unlimited already
  }
  // The kernel keeps limit <= memsw at every step: raise memsw first when it
  // must grow past the current limit, otherwise lower the limit first.
  const writeLimit = () => w.write(`${f}.limit`, dir, 'memory.limit_in_bytes', int(limit));
  const writeSwap = () => w.write(`${f}.swap`, dir, 'memory.memsw.limit_in_bytes', int(swap));
  if (limit !== 0 && swap !== 0) {
    const current = parseCgroupInt(w.readOptional(dir, 'memory.limit_in_bytes'));
    if (swap === -1 || current < swap) {
      writeSwap();
      writeLimit();
    } else {
      writeLimit();
      writeSwap();
    }
  } else {
    if (limit !== 0) writeLimit();
    if (swap !== 0) writeSwap();
  }
  if ((m.reservation ?? 0) !== 0) w.write(`${f}.reservation`, dir, 'memory.soft_limit_in_bytes', int(m.reservation!));
  kernelMemory(w, dir, `${f}.kernel`, 'memory.kmem.limit_in_bytes', m.kernel);
  kernelMemory(w, dir, `${f}.kernelTCP`, 'memory.kmem.tcp.limit_in_bytes', m.kernelTCP);
  if (m.swappiness !== undefined && m.swappiness !== -1) w.write(`${f}.swappiness`, dir, 'memory.swappiness', String(m.swappiness));
  if (m.disableOOMKiller) w.write(`${f}.disableOOMKiller`, dir, 'memory.oom_control', '1');
  if (m.useHierarchy !== undefined) useHierarchyV1(w, dir, `${f}.useHierarchy`, m.useHierarchy);
}

// Kernels since 5.10 account hierarchically always: memory.use_hierarchy
// reads 1 and refuses 0 (EINVAL).
function useHierarchyV1(w: CgroupWriter, dir: string, field: string, on: boolean): void {
  try {
    w.write(field, dir, 'memory.use_hierarchy', on ? '1' : '0');
  } catch (e) {
    if (on || (e as CapsaError).errno !== 'EINVAL') throw e;
    throw unsupported(field, 'false cannot be honoured: this kernel always accounts memory hierarchically (memory.use_hierarchy refuses 0)');
  }
}

// Kernel memory limits are deprecated (gone or refusing writes on new
// kernels): apply where possible, otherwise warn and carry on.
function kernelMemory(w: CgroupWriter, dir: string, field: string, file: string, value: number | undefined): void {
  if (value === undefined || value === 0) return;
  if (!w.has(dir, file)) {
    w.warn(`${field} is ignored: this kernel has no ${file}`);
    return;
  }
  try {
    w.write(field, dir, file, int(value));
  } catch (e) {
    const errno = (e as CapsaError).errno;
    if (errno !== 'EOPNOTSUPP' && errno !== 'ENOTSUP' && errno !== 'EINVAL') throw e;
    w.warn(`${field} is ignored: this kernel no longer supports ${file}`);
    return;
  }
  // Kernels since 6.1 accept memory.kmem.limit_in_bytes and do nothing with it.
  if (value > 0 && Number(w.read(dir, file)) !== Math.floor(value / 4096) * 4096) w.warn(`${field} is ignored: this kernel accepts ${file} but does not enforce it`);
}

function cpuV1(ctx: V1Context, c: Cpu | undefined): void {
  if (!c) return;
  const { w } = ctx;
  const f = `${R}.cpu`;
  const cpuDir = () => need(ctx, 'cpu', f);
  if ((c.shares ?? 0) !== 0) {
    const dir = cpuDir();
    w.write(`${f}.shares`, dir, 'cpu.shares', int(c.shares!));
    // The kernel clamps out-of-range shares silently; say so instead.
    const got = parseCgroupInt(w.readOptional(dir, 'cpu.shares'));
    if (got !== 0 && got !== c.shares) {
      throw invalid(`${f}.shares`, `${c.shares} is out of range: the kernel allows at ${c.shares! > got ? 'most' : 'least'} ${got}`);
    }
  }
  const quota = c.quota ?? 0;
  const period = c.period ?? 0;
  let retryPeriod = false;
  if (period !== 0) {
    const dir = cpuDir();
    try {
      w.write(`${f}.period`, dir, 'cpu.cfs_period_us', int(period));
    } catch (e) {
      // A smaller period can be refused while the old quota/period ratio
      // exceeds the parent's; it fits once the new quota is in.
      if ((e as CapsaError).errno !== 'EINVAL' || quota === 0) throw e;
      retryPeriod = true;
    }
  }
  if (quota !== 0) {
    const dir = cpuDir();
    w.write(`${f}.quota`, dir, 'cpu.cfs_quota_us', int(quota));
    if (retryPeriod) w.write(`${f}.period`, dir, 'cpu.cfs_period_us', int(period));
  }
  if (c.burst !== undefined) {
    const dir = cpuDir();
    if (!w.has(dir, 'cpu.cfs_burst_us')) throw unsupported(`${f}.burst`, 'this kernel has no cpu.cfs_burst_us');
    w.write(`${f}.burst`, dir, 'cpu.cfs_burst_us', int(c.burst));
  }
  // Period before runtime: the runtime must fit in the period.
  if ((c.realtimePeriod ?? 0) !== 0) rtWrite(ctx, `${f}.realtimePeriod`, 'cpu.rt_period_us', c.realtimePeriod!);
  if ((c.realtimeRuntime ?? 0) !== 0) rtWrite(ctx, `${f}.realtimeRuntime`, 'cpu.rt_runtime_us', c.realtimeRuntime!);
  if (c.idle !== undefined) {
    const dir = cpuDir();
    if (w.has(dir, 'cpu.idle')) w.write(`${f}.idle`, dir, 'cpu.idle', String(c.idle));
    else if (c.idle !== 0) throw unsupported(`${f}.idle`, 'this kernel has no cpu.idle');
  }
  for (const k of ['cpus', 'mems'] as const) {
    const v = c[k];
    if (v === undefined || v === '') continue;
    w.write(`${f}.${k}`, need(ctx, 'cpuset', `${f}.${k}`), `cpuset.${k}`, v);
  }
}

function rtWrite(ctx: V1Context, field: string, file: string, value: number): void {
  const dir = need(ctx, 'cpu', field);
  if (!ctx.w.has(dir, file)) throw unsupported(field, `this kernel has no ${file} (CONFIG_RT_GROUP_SCHED is off)`);
  ctx.w.write(field, dir, file, int(value));
}

const THROTTLE_FILES = [
  ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
  ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
  ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
  ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
] as const;

function blkioV1(ctx: V1Context, b: BlockIO | undefined): void {
  if (!b) return;
  const { w } = ctx;
  const f = `${R}.blockIO`;
  const dir = () => need(ctx, 'blkio', f);
  // CFQ's blkio.weight is gone from current kernels; BFQ's takes the same values.
  const weightFile = (d: string, plain: string, bfq: string) => (w.has(d, plain) || !w.has(d, bfq) ? plain : bfq);
  if ((b.weight ?? 0) !== 0) {
    const d = dir();
    w.write(`${f}.weight`, d, weightFile(d, 'blkio.weight', 'blkio.bfq.weight'), String(b.weight));
  }
  if ((b.leafWeight ?? 0) !== 0) {
    const d = dir();
    if (w.has(d, 'blkio.leaf_weight')) w.write(`${f}.leafWeight`, d, 'blkio.leaf_weight', String(b.leafWeight));
    else w.warn(`${f}.leafWeight is ignored: this kernel has no blkio.leaf_weight`);
  }
  (b.weightDevice ?? []).forEach((wd, i) => {
    const df = `${f}.weightDevice[${i}]`;
    if ((wd.weight ?? 0) !== 0) {
      const d = dir();
      w.write(df, d, weightFile(d, 'blkio.weight_device', 'blkio.bfq.weight_device'), `${wd.major}:${wd.minor} ${wd.weight}`);
    }
    if ((wd.leafWeight ?? 0) !== 0) {
      const d = dir();
      if (w.has(d, 'blkio.leaf_weight_device')) w.write(df, d, 'blkio.leaf_weight_device', `${wd.major}:${wd.minor} ${wd.leafWeight}`);
      else w.warn(`${df}.leafWeight is ignored: this kernel has no blkio.leaf_weight_device`);
    }
  });
  for (const [key, file] of THROTTLE_FILES) {
    (b[key] ?? []).forEach((td, i) => w.write(`${f}.${key}[${i}]`, dir(), file, `${td.major}:${td.minor} ${int(td.rate)}`));
  }
}

function hugetlbV1(ctx: V1Context, r: Resources): void {
  const limits = r.hugepageLimits ?? [];
  if (limits.length === 0) return;
  const dir = ctx.dir('hugetlb');
  if (!dir) {
    const v2 = ctx.v2Fallback?.('hugetlb');
    if (v2) return hugetlbV2(ctx.w, v2.dir, v2.available, limits);
    throw invalid(`${R}.hugepageLimits`, 'the hugetlb cgroup controller is not mounted on this host');
  }
  limits.forEach((h, i) => {
    const f = `${R}.hugepageLimits[${i}]`;
    const file = `hugetlb.${h.pageSize}.limit_in_bytes`;
    if (!ctx.w.has(dir, file)) throw invalid(`${f}.pageSize`, `huge page size ${h.pageSize} is not supported by this kernel (no ${file})`);
    ctx.w.write(`${f}.limit`, dir, file, int(h.limit));
    const rsvd = `hugetlb.${h.pageSize}.rsvd.limit_in_bytes`;
    if (ctx.w.has(dir, rsvd)) ctx.w.write(`${f}.limit`, dir, rsvd, int(h.limit));
  });
}

function networkV1(ctx: V1Context, n: Network | undefined): void {
  if (!n) return;
  if (n.classID !== undefined && n.classID !== 0) {
    ctx.w.write(`${R}.network.classID`, need(ctx, 'net_cls', `${R}.network.classID`), 'net_cls.classid', String(n.classID));
  }
  (n.priorities ?? []).forEach((p, i) => {
    const f = `${R}.network.priorities[${i}]`;
    ctx.w.write(f, need(ctx, 'net_prio', f), 'net_prio.ifpriomap', `${p.name} ${p.priority}`);
  });
}

function rdmaV1(ctx: V1Context, r: Resources): void {
  if (Object.keys(r.rdma ?? {}).length === 0) return;
  let dir = ctx.dir('rdma');
  if (!dir) dir = ctx.v2Fallback?.('rdma')?.dir;
  rdma(ctx.w, dir, r.rdma, () => {
    if (!dir) throw invalid(`${R}.rdma`, 'the rdma cgroup controller is not mounted on this host');
  });
}

/** Reduce the rules, then write the default ("a") and the exceptions. */
function devicesV1(ctx: V1Context, r: Resources): void {
  const field = `${R}.devices`;
  const state = reduceDeviceRules(effectiveDeviceRules(r.devices), field);
  const dir = ctx.dir('devices');
  if (!dir) {
    // No devices controller: only fatal when the config asked for rules.
    if (r.devices && r.devices.length > 0) throw invalid(field, 'the devices cgroup controller is not mounted on this host');
    ctx.w.warn('the devices cgroup controller is not mounted: device access is not restricted');
    return;
  }
  const [resetFile, exceptionFile] = state.defaultAllow ? ['devices.allow', 'devices.deny'] : ['devices.deny', 'devices.allow'];
  ctx.w.write(field, dir, resetFile, 'a');
  // Each file opened once: a default config has 10 exception rules.
  ctx.w.writeEach(field, dir, exceptionFile, state.exceptions.map(ruleToV1String));
}
