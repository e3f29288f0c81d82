// The v2 driver against an emulated cgroup2 tree: controllers enabled on the
// way down, each linux.resources field → file and value (with runc's
// conversions), unified keys, device filter installation, freeze, stats.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import { openPidfd } from '../../src/runtime/process-exit';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { blkioWeightToIoWeight, createCgroupManager, loadCgroupManager, sharesToWeight, swapToV2 } from '../../src/cgroups';
import type { DeviceFilterSyscalls } from '../../src/cgroups';
import type { CgroupManager } from '../../src/cgroups/manager';
import { V2Manager } from '../../src/cgroups/v2';
import { pidsUnder } from '../../src/cgroups/dirs';
import type { CgroupFs } from '../../src/cgroups/fsio';
import { decodeEbpf, OP } from '../../src/cgroups/devices-ebpf';
import { sync, v2Fixture, type Fixture } from '../fixtures/cgroups/fake-cgroupfs';

const read = (f: string) => fs.readFileSync(f, 'utf8').trim();

interface BpfCall {
  op: string;
  args: unknown[];
}

function fakeBpf(calls: BpfCall[], attached: number[] = []): DeviceFilterSyscalls {
  let next = 100;
  return {
    loadDeviceFilter: (insns, license) => (calls.push({ op: 'load', args: [insns, license] }), next++),
    attachDeviceFilter: (dirFd, prog) => void calls.push({ op: 'attach', args: [typeof dirFd, prog] }),
    detachDeviceFilter: (dirFd, prog) => void calls.push({ op: 'detach', args: [typeof dirFd, prog] }),
    attachedDeviceFilters: () => (calls.push({ op: 'query', args: [] }), [...attached]),
    closeFd: (fd) => void calls.push({ op: 'close', args: [fd] }),
  };
}

function withV2(fn: (fx: Fixture, m: CgroupManager, dir: string, calls: BpfCall[]) => void, opts: { controllers?: string[]; cgroupsPath?: string; setup?: (fx: Fixture) => void } = {}): void {
  const fx = v2Fixture(opts.controllers);
  try {
    opts.setup?.(fx);
    const calls: BpfCall[] = [];
    fx.host.deviceFilter = fakeBpf(calls);
    const m = createCgroupManager({ id: 'c2', host: fx.host, ...(opts.cgroupsPath ? { cgroupsPath: opts.cgroupsPath } : {}) });
    m.create();
    fn(fx, m, path.join(fx.root, m.path), calls);
  } finally {
    fx.cleanup();
  }
}

function expectError(fn: () => unknown, code: string, configPath: string | undefined, text?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).code, code, (e as Error).message);
    assert.is((e as CapsaError).configPath, configPath, (e as Error).message);
    if (text) assert.match((e as Error).message, text);
    return;
  }
  assert.unreachable('expected an error');
}

// ---- conversions

test('shares → weight and blkio weight → io.weight use runc\'s formulas', () => {
  assert.is(sharesToWeight(2), 1);
  assert.is(sharesToWeight(1024), 39); // 1 + (1022 * 9999) / 262142
  assert.is(sharesToWeight(262144), 10000);
  assert.is(sharesToWeight(512), 20);
  assert.is(sharesToWeight(0), 0);
  assert.is(blkioWeightToIoWeight(10), 1);
  assert.is(blkioWeightToIoWeight(500), 4950);
  assert.is(blkioWeightToIoWeight(1000), 10000);
  assert.is(blkioWeightToIoWeight(100), 910);
});

test('swap: OCI memory+swap → memory.swap.max', () => {
  assert.is(swapToV2(300, 100), 200);
  assert.is(swapToV2(-1, 100), -1);
  assert.is(swapToV2(undefined, -1), -1);
  assert.is(swapToV2(undefined, 100), 0);
  assert.is(swapToV2(100, 100), 0 + 0); // equal: no swap
  assert.type(swapToV2(50, 100), 'string');
  assert.type(swapToV2(50, undefined), 'string');
});

// ---- dirs and controllers

test('create: controllers enabled in every parent\'s subtree_control, dirs recorded', () => {
  withV2((fx, m, dir) => {
    assert.is(read(path.join(fx.root, 'cgroup.subtree_control')), 'cpuset cpu io memory hugetlb pids rdma');
    assert.is(read(path.join(fx.root, 'capsa', 'cgroup.subtree_control')), 'cpuset cpu io memory hugetlb pids rdma');
    assert.is(read(path.join(dir, 'cgroup.controllers')), 'cpuset cpu io memory hugetlb pids rdma');
    assert.ok(fs.existsSync(path.join(dir, 'memory.max')));
    assert.equal(m.toJSON(), { layout: 'v2', path: '/capsa/c2', created: [path.join(fx.root, 'capsa'), dir], mountRoot: fx.root, unified: fx.root });
  }, { cgroupsPath: 'c2' });
});

test('default path /<id>: right under the root, controllers enabled in the root, one dir made and removed', () => {
  withV2((fx, m, dir) => {
    assert.is(dir, path.join(fx.root, 'c2'));
    assert.is(read(path.join(fx.root, 'cgroup.subtree_control')), 'cpuset cpu io memory hugetlb pids rdma');
    assert.is(read(path.join(dir, 'cgroup.controllers')), 'cpuset cpu io memory hugetlb pids rdma');
    assert.equal(m.toJSON().created, [dir]);
    sync(m.destroy());
    assert.not.ok(fs.existsSync(dir));
  });
});

test('create: a parent that cannot enable a controller gives a warning, not a failure', () => {
  withV2((fx, m) => {
    assert.ok(m.warnings!.some((w) => w.includes('cannot enable the cpuset controller')));
    assert.not.ok(read(path.join(fx.root, 'cgroup.subtree_control')).includes('cpuset'));
  }, { setup: (fx) => (fx.fs.onWrite = (file, v) => (file.endsWith('subtree_control') && v === '+cpuset' ? 'EBUSY' : undefined)) });
});

test('destroy removes the leaf and the parents capsa made, only when empty', () => {
  withV2((fx, m, dir) => {
    const other = createCgroupManager({ id: 'other', cgroupsPath: 'other', host: fx.host });
    other.create();
    sync(m.addProcess(5));
    assert.equal(m.pids(), [5]);
    fx.fs.set(path.join(dir, 'cgroup.procs'), '');
    sync(m.destroy());
    assert.not.ok(fs.existsSync(dir));
    assert.ok(fs.existsSync(path.join(fx.root, 'capsa')), 'still holds "other"');
    assert.equal(other.toJSON().created, [path.join(fx.root, 'capsa/other')]);
  }, { cgroupsPath: 'c2' });
});

// ---- resources

test('memory: max, low, swap.max = swap - limit; v1-only fields warn', () => {
  withV2((_fx, m, dir) => {
    m.apply({ memory: { limit: 1000, reservation: 500, swap: 3000, swappiness: 10, kernel: 5, disableOOMKiller: true } });
    assert.is(read(path.join(dir, 'memory.max')), '1000');
    assert.is(read(path.join(dir, 'memory.low')), '500');
    assert.is(read(path.join(dir, 'memory.swap.max')), '2000');
    assert.is(read(path.join(dir, 'memory.oom.group')), '0', 'not set');
    assert.equal(m.warnings!.length, 3);
    sync(m.update({ memory: { limit: -1 } }));
    assert.is(read(path.join(dir, 'memory.max')), 'max');
    assert.is(read(path.join(dir, 'memory.swap.max')), 'max');
  });
});

test('memory.useHierarchy: true is what cgroup v2 always does (nothing written, no warning); false is an error naming the field', () => {
  withV2((fx, m) => {
    const writes = fx.fs.writes.length;
    m.apply({ memory: { useHierarchy: true } });
    assert.equal(fx.fs.writes.slice(writes).filter((w) => path.basename(w.file).startsWith('memory.')), [], 'no memory file written');
    assert.equal((m.warnings ?? []).filter((w) => w.includes('useHierarchy')), []);
    expectError(() => m.update({ memory: { useHierarchy: false } }), 'UNSUPPORTED', 'linux.resources.memory.useHierarchy', /cgroup v2 always accounts memory hierarchically/);
  });
});

test('memory: update with swap alone uses the limit in force', () => {
  withV2((fx, m, dir) => {
    m.apply({ memory: { limit: 1000 } });
    sync(m.update({ memory: { swap: 1500 } }));
    assert.is(read(path.join(dir, 'memory.swap.max')), '500');
    fx.fs.set(path.join(dir, 'memory.current'), '900');
    expectError(() => m.update({ memory: { limit: 800, checkBeforeUpdate: true } }), 'INVALID_CONFIG', 'linux.resources.memory.limit', /already uses 900/);
    expectError(() => m.update({ memory: { limit: 800, swap: 500 } }), 'INVALID_CONFIG', 'linux.resources.memory.swap');
  });
});

test('memory: swap equal to the limit turns swap off (memory.swap.max 0, as runc; found on the cgroup2 guest)', () => {
  withV2((_fx, m, dir) => {
    m.apply({ memory: { limit: 1000, swap: 1000 } });
    assert.is(read(path.join(dir, 'memory.swap.max')), '0');
    m.apply({ memory: { limit: 2000 } });
    assert.is(read(path.join(dir, 'memory.swap.max')), '0', 'no swap setting: left alone');
  });
});

test('memory: swap without memory.swap.max', () => {
  withV2((_fx, m) => {
    expectError(() => m.apply({ memory: { limit: 100, swap: 200 } }), 'UNSUPPORTED', 'linux.resources.memory.swap');
    m.apply({ memory: { limit: -1 } }); // implied unlimited swap: nothing to do
    m.apply({ memory: { limit: 100, swap: 100 } }); // no swap asked for, none there: fine
  }, { setup: (fx) => fx.fs.omit.add('memory.swap.max') });
});

test('a systemd scope (made by systemd): the controllers it leaves out are enabled in its parents, not in the scope', () => {
  const fx = v2Fixture();
  try {
    fx.fs.mkdir(path.join(fx.root, 'system.slice'));
    fx.fs.mkdir(path.join(fx.root, 'system.slice', 'x.scope'));
    const m = new V2Manager(fx.host, '/system.slice/x.scope');
    m.adoptedBySystemd();
    const all = read(path.join(fx.root, 'cgroup.controllers'));
    assert.is(read(path.join(fx.root, 'cgroup.subtree_control')), all);
    assert.is(read(path.join(fx.root, 'system.slice', 'cgroup.subtree_control')), all);
    assert.is(read(path.join(fx.root, 'system.slice', 'x.scope', 'cgroup.subtree_control')), '', 'the scope holds processes: nothing enabled below it');
    assert.ok(fs.existsSync(path.join(fx.root, 'system.slice', 'x.scope', 'hugetlb.2MB.max')), 'hugetlb limits have their file');
  } finally {
    fx.cleanup();
  }
});

test('cpu: weight from shares, cpu.max forms, burst, idle, cpuset', () => {
  withV2((_fx, m, dir) => {
    m.apply({ cpu: { shares: 1024, quota: 50000, period: 100000, burst: 1000, idle: 1, cpus: '0-1', mems: '0' } });
    assert.is(read(path.join(dir, 'cpu.weight')), '39');
    assert.is(read(path.join(dir, 'cpu.max')), '50000 100000');
    assert.is(read(path.join(dir, 'cpu.max.burst')), '1000');
    assert.is(read(path.join(dir, 'cpu.idle')), '1');
    assert.is(read(path.join(dir, 'cpuset.cpus')), '0-1');
    assert.is(read(path.join(dir, 'cpuset.mems')), '0');
    m.apply({ cpu: { quota: -1, period: 200000 } });
    assert.is(read(path.join(dir, 'cpu.max')), 'max 200000');
    m.apply({ cpu: { quota: 30000 } });
    assert.is(read(path.join(dir, 'cpu.max')), '30000');
  });
});

test('cpu: update keeps the half of cpu.max it was not given', () => {
  withV2((fx, m, dir) => {
    fx.fs.set(path.join(dir, 'cpu.max'), '50000 100000\n');
    sync(m.update({ cpu: { period: 200000 } }));
    assert.is(read(path.join(dir, 'cpu.max')), '50000 200000');
    sync(m.update({ cpu: { quota: 10000 } }));
    assert.is(read(path.join(dir, 'cpu.max')), '10000 200000');
  });
});

test('cpu: realtime is refused on v2', () => {
  withV2((_fx, m) => {
    expectError(() => m.apply({ cpu: { realtimeRuntime: 1000 } }), 'UNSUPPORTED', 'linux.resources.cpu.realtimeRuntime', /cgroup v2/);
  });
});

test('pids.max: 0 is a limit (runtime-spec 1.3, runc 1.4), negative is max; withoutPids leaves it for later', () => {
  withV2((_fx, m, dir) => {
    m.apply({ pids: { limit: 32 } });
    assert.is(read(path.join(dir, 'pids.max')), '32');
    m.apply({ pids: { limit: 0 } });
    assert.is(read(path.join(dir, 'pids.max')), '0');
    m.apply({ pids: { limit: -1 } });
    assert.is(read(path.join(dir, 'pids.max')), 'max');
    m.apply({ pids: { limit: 5 }, memory: { limit: 1 << 20 } }, { withoutPids: true });
    assert.is(read(path.join(dir, 'pids.max')), 'max');
    assert.is(read(path.join(dir, 'memory.max')), String(1 << 20));
  });
});

test('io: converted io.weight, io.max throttles (0 lifts the limit)', () => {
  withV2((fx, m) => {
    m.apply({
      blockIO: {
        weight: 500,
        leafWeight: 10,
        weightDevice: [{ major: 8, minor: 0, weight: 100 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 0 }],
        throttleReadIOPSDevice: [{ major: 8, minor: 16, rate: 100 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 200 }],
      },
    });
    assert.equal(fx.fs.valuesWritten('io.weight'), ['4950', '8:0 910']);
    assert.equal(fx.fs.valuesWritten('io.max'), ['8:0 rbps=1048576', '8:0 wbps=max', '8:16 riops=100', '8:16 wiops=200']);
    assert.ok(m.warnings!.some((w) => w.includes('leafWeight is ignored')));
  });
});

test('io: BFQ takes the blkio weight unconverted', () => {
  withV2((fx, m) => {
    m.apply({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 100 }] } });
    assert.equal(fx.fs.valuesWritten('io.bfq.weight'), ['500', '8:0 100']);
    assert.equal(fx.fs.valuesWritten('io.weight'), []);
  }, { setup: (fx) => (fx.fs.extraV2.io = { 'io.bfq.weight': 'default 100' }) });
});

test('hugetlb, rdma; network is refused on v2', () => {
  withV2((fx, m, dir) => {
    m.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }], rdma: { mlx5_0: { hcaHandles: 2, hcaObjects: 3 } } });
    assert.is(read(path.join(dir, 'hugetlb.2MB.max')), '4194304');
    assert.is(read(path.join(dir, 'hugetlb.2MB.rsvd.max')), '4194304');
    assert.equal(fx.fs.valuesWritten('rdma.max'), ['mlx5_0 hca_handle=2 hca_object=3']);
    expectError(() => m.apply({ hugepageLimits: [{ pageSize: '16MB', limit: 1 }] }), 'INVALID_CONFIG', 'linux.resources.hugepageLimits[0].pageSize');
    expectError(() => m.apply({ network: { classID: 1 } }), 'INVALID_CONFIG', 'linux.resources.network', /cgroup v2/);
  });
});

test('a controller the cgroup does not have is INVALID_CONFIG naming the field', () => {
  withV2((_fx, m) => {
    expectError(() => m.apply({ pids: { limit: 3 } }), 'INVALID_CONFIG', 'linux.resources.pids.limit', /pids controller is not available/);
    expectError(() => m.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 1 }] }), 'INVALID_CONFIG', 'linux.resources.hugepageLimits[0]');
  }, { controllers: ['cpu', 'memory'] });
});

test('unified: verbatim, one write per line, after the derived values', () => {
  withV2((fx, m, dir) => {
    m.apply({ cpu: { shares: 1024 }, unified: { 'cpu.weight': '300', 'memory.high': '5000', 'io.max': '8:0 rbps=1\n8:16 wbps=2' } });
    assert.is(read(path.join(dir, 'cpu.weight')), '300', 'unified overrides the converted shares');
    assert.is(read(path.join(dir, 'memory.high')), '5000');
    assert.equal(fx.fs.valuesWritten('io.max'), ['8:0 rbps=1', '8:16 wbps=2']);
  });
});

test('unified: bad keys name the key', () => {
  withV2((_fx, m) => {
    expectError(() => m.apply({ unified: { '../../x.y': '1' } }), 'INVALID_CONFIG', 'linux.resources.unified["../../x.y"]', /no "\/"/);
    expectError(() => m.apply({ unified: { 'pids.max': '1' } }), 'INVALID_CONFIG', 'linux.resources.unified["pids.max"]', /pids controller is not available/);
    expectError(() => m.apply({ unified: { 'memory.nonsense': '1' } }), 'INVALID_CONFIG', 'linux.resources.unified["memory.nonsense"]', /no such file/);
    expectError(() => m.apply({ unified: { 'cgroup.procs': '1' } }), 'INVALID_CONFIG', 'linux.resources.unified["cgroup.procs"]', /managed by capsa/);
    expectError(() => m.apply({ unified: { nodot: '1' } }), 'INVALID_CONFIG', 'linux.resources.unified["nodot"]', /CONTROLLER\.PARAMETER/);
  }, { controllers: ['cpu', 'memory'] });
});

test('a kernel rejection names field, value and file', () => {
  withV2((fx, m, dir) => {
    fx.fs.failWrites.set(path.join(dir, 'memory.max'), 'EBUSY');
    try {
      m.apply({ memory: { limit: 1234 } });
      assert.unreachable();
    } catch (e) {
      assert.is((e as Error).message, `linux.resources.memory.limit: write 1234 to ${dir}/memory.max: device or resource busy`);
    }
  });
});

// ---- devices

test('devices: create loads the default program, attaches it, closes the fds', () => {
  withV2((_fx, m, _dir, calls) => {
    m.apply(undefined);
    assert.equal(calls.map((c) => c.op), ['query', 'load', 'attach', 'close']);
    const [insns, license] = calls[1]!.args as [Buffer, string];
    assert.is(license, 'Apache');
    const prog = decodeEbpf(insns);
    assert.is(prog[prog.length - 1]!.code, OP.EXIT);
    assert.equal(prog[prog.length - 2], { code: OP.MOV32_K, dst: 0, src: 0, off: 0, imm: 0 }, 'default deny');
    assert.equal(calls[2]!.args, ['number', 100]);
    assert.equal(calls[3]!.args, [100]);
  });
});

test('devices: programs attached before are detached after the new one is attached', () => {
  const fx = v2Fixture();
  try {
    const calls: BpfCall[] = [];
    fx.host.deviceFilter = fakeBpf(calls, [7, 8]);
    const m = createCgroupManager({ id: 'c', host: fx.host });
    m.create();
    m.apply({ devices: [{ allow: true, access: 'rwm' }] });
    assert.equal(calls.map((c) => `${c.op}${c.op === 'detach' || c.op === 'close' ? ' ' + (c.args.at(-1) as number) : ''}`), ['query', 'load', 'attach', 'detach 7', 'detach 8', 'close 7', 'close 8', 'close 100']);
    // update leaves device rules alone unless given
    calls.length = 0;
    sync(m.update({ pids: { limit: 1 } }));
    assert.equal(calls, []);
  } finally {
    fx.cleanup();
  }
});

test('devices: a failing attach is reported on the field, fds still closed', () => {
  const fx = v2Fixture();
  try {
    const calls: BpfCall[] = [];
    const bpf = fakeBpf(calls);
    bpf.attachDeviceFilter = () => {
      const e = new Error('bpf(BPF_PROG_ATTACH): Operation not permitted') as NodeJS.ErrnoException;
      e.code = 'EPERM';
      throw e;
    };
    fx.host.deviceFilter = bpf;
    const m = createCgroupManager({ id: 'c', host: fx.host });
    m.create();
    expectError(() => m.apply({}), 'SYSCALL', 'linux.resources.devices', /attach device filter on .*: operation not permitted/);
    assert.equal(calls.filter((c) => c.op === 'close').map((c) => c.args[0]), [100]);
  } finally {
    fx.cleanup();
  }
});

// ---- freeze, stats, record

test('freeze: cgroup.freeze=1, waits for cgroup.events frozen 1; thaw', () => {
  withV2((fx, m, dir) => {
    let polls = 0;
    fx.fs.onWrite = (file, v) => {
      if (file.endsWith('cgroup.freeze')) fx.fs.set(path.join(dir, 'cgroup.events'), `populated 1\nfrozen 0\n`);
      return v === 'x' ? 'EINVAL' : undefined;
    };
    const realRead = fx.fs.read.bind(fx.fs);
    fx.fs.read = (f: string) => {
      if (f.endsWith('cgroup.events') && ++polls === 3) fx.fs.set(f, 'populated 1\nfrozen 1\n');
      return realRead(f);
    };
    m.freeze();
    assert.is(read(path.join(dir, 'cgroup.freeze')), '1');
    assert.ok(m.isFrozen());
    assert.ok(polls >= 3);
    m.thaw();
    assert.is(read(path.join(dir, 'cgroup.freeze')), '0');
    assert.not.ok(m.isFrozen());
  });
});

test('stats: v2 files into the runc events shape', () => {
  withV2((fx, m, dir) => {
    const set = (f: string, v: string) => fx.fs.set(path.join(dir, f), v);
    set('cpu.stat', 'usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 10\nnr_throttled 4\nthrottled_usec 7\n');
    set('memory.current', '4096');
    set('memory.peak', '8192');
    set('memory.max', '1048576');
    set('memory.events', 'low 0\nhigh 0\nmax 6\noom 1\noom_kill 1\n');
    set('memory.swap.current', '100');
    set('memory.swap.max', 'max');
    set('memory.stat', 'anon 10\nfile 20\n');
    set('pids.current', '2');
    set('pids.max', 'max');
    set('io.stat', '8:0 rbytes=100 wbytes=50 rios=3 wios=2 dbytes=0 dios=0\n');
    set('hugetlb.2MB.current', '2097152');
    set('hugetlb.2MB.events', 'max 4\n');
    const s = m.stats();
    assert.equal(s.cpu, { usage: { total: 5000, user: 3000, kernel: 2000 }, throttling: { periods: 10, throttledPeriods: 4, throttledTime: 7000 } });
    assert.equal(s.memory.usage, { usage: 4096, max: 8192, failcnt: 6, limit: 1048576 });
    assert.equal(s.memory.swap, { usage: 4196, limit: 2 ** 64 - 1 });
    assert.is(s.memory.cache, 20);
    assert.equal(s.pids, { current: 2, limit: 0 });
    assert.equal(s.blkio.ioServiceBytesRecursive, [{ major: 8, minor: 0, op: 'Read', value: 100 }, { major: 8, minor: 0, op: 'Write', value: 50 }]);
    assert.equal(s.blkio.ioServicedRecursive, [{ major: 8, minor: 0, op: 'Read', value: 3 }, { major: 8, minor: 0, op: 'Write', value: 2 }]);
    assert.equal(s.hugetlb['2MB'], { usage: 2097152, max: 0, failcnt: 4 });
    assert.is(m.oomKillCount!(), 1);
    assert.is(s.cpu.psi, undefined, 'no pressure files: no psi');
    set('cpu.pressure', 'some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=99\n');
    set('memory.pressure', 'some avg10=0.00 avg60=0.00 avg300=0.00 total=7\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=3\n');
    set('io.pressure', 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
    const p = m.stats();
    assert.equal(p.cpu.psi, { some: { avg10: 1.5, avg60: 0.25, avg300: 0, total: 12345 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 99 } });
    assert.equal(p.memory.psi!.some.total, 7);
    assert.equal(p.memory.psi!.full.total, 3);
    assert.equal((p.blkio.psi as { some: { total: number } }).some.total, 0);
  });
});

test('create refuses a cgroup that already holds processes or is frozen (runc ≥ 1.2), and never touches them', () => {
  for (const [label, prepare, re] of [
    ['busy', (fx: Fixture, dir: string) => fx.fs.set(path.join(dir, 'cgroup.procs'), '4242\n'), /container's cgroup is not empty: 1 process\(es\) found in .*\/taken/],
    ['busy child', (fx: Fixture, dir: string) => { fx.fs.mkdir(path.join(dir, 'sub')); fx.fs.set(path.join(dir, 'sub', 'cgroup.procs'), '7\n8\n'); }, /2 process\(es\)/],
    ['frozen', (fx: Fixture, dir: string) => fx.fs.set(path.join(dir, 'cgroup.freeze'), '1'), /unexpectedly frozen/],
  ] as const) {
    const fx = v2Fixture();
    try {
      const dir = path.join(fx.root, 'taken');
      fx.fs.mkdir(dir);
      prepare(fx, dir);
      const m = createCgroupManager({ id: 'c', cgroupsPath: '/taken', host: fx.host });
      expectError(() => m.create(), 'INVALID_CONFIG', 'linux.cgroupsPath', re);
      assert.equal(m.pids(), [], `${label}: its processes are not the container's`);
      assert.is(m.killAll!(), false, `${label}: nothing killed`);
      sync(m.destroy());
      assert.ok(fs.existsSync(dir), `${label}: the cgroup stays`);
      assert.equal(fx.fs.valuesWritten('cgroup.kill'), []);
    } finally {
      fx.cleanup();
    }
  }
  // an existing empty one is used, as runc does
  withV2((_fx, m) => assert.equal(m.pids(), []), { setup: (fx) => fx.fs.mkdir(path.join(fx.root, 'capsa')), cgroupsPath: 'reuse' });
});

test('pids: a cgroup removed while it is walked (systemd collects an empty scope) has no more pids, not an error (found on the cgroup2 guest)', () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: gone`), { code });
  // cgroup.procs read, then the dir is gone before its children are listed
  const listGone = { read: () => '42\n', subdirs: () => { throw errno('ENOENT'); } } as unknown as CgroupFs;
  assert.equal(pidsUnder(listGone, '/sys/fs/cgroup/x.scope'), [42]);
  // cgroup.procs of a removed cgroup: ENOENT, or ENODEV once opened
  for (const code of ['ENOENT', 'ENODEV']) {
    const readGone = { read: () => { throw errno(code); }, subdirs: () => [] } as unknown as CgroupFs;
    assert.equal(pidsUnder(readGone, '/sys/fs/cgroup/x.scope'), [], code);
  }
  // anything else is still an error naming the file
  const denied = { read: () => { throw errno('EACCES'); }, subdirs: () => [] } as unknown as CgroupFs;
  assert.throws(() => pidsUnder(denied, '/sys/fs/cgroup/x.scope'), /cgroup\.procs/);
});

test('pids: a 0 in cgroup.procs (a process the kernel cannot name in our pid namespace, or one being released) is no pid: never signalled, never waited for', () => {
  const procs = { read: () => '0\n42\n0\n', subdirs: () => [] } as unknown as CgroupFs;
  assert.equal(pidsUnder(procs, '/sys/fs/cgroup/x'), [42]);
  assert.is(openPidfd({ pid: 0, startTime: 0 }), undefined, 'pid 0 opens no pidfd (pidfd_open would fail with EINVAL)');
});

test('openPidfd: a pid that now names a thread, not a process (pidfd_open: EINVAL on Linux 6.1, ENOENT on 6.18), is no process: undefined, not an error', () => {
  const tids = fs.readdirSync('/proc/self/task').map(Number).filter((t) => t !== process.pid);
  assert.ok(tids.length > 0, 'node has threads besides its main one');
  const tid = tids[0]!;
  assert.is(openPidfd({ pid: tid, startTime: 0 }), undefined, `thread ${tid} of pid ${process.pid}`);
});

test('killAll: one write of 1 to cgroup.kill', () => {
  withV2((fx, m, dir) => {
    assert.is(m.killAll!(), true);
    assert.equal(fx.fs.valuesWritten('cgroup.kill', dir), ['1']);
  });
  withV2((_fx, m) => assert.is(m.killAll!(), false, 'no cgroup.kill (Linux < 5.14): the caller signals each pid'),
    { setup: (fx) => fx.fs.omit.add('cgroup.kill') });
});

test('ownership (user + cgroup namespace, runtime-spec 1.1): the dir and the delegatable files go to the container root\'s host uid', () => {
  const fx = v2Fixture();
  try {
    const chowned: string[] = [];
    fx.fs.chown = (file, uid) => void chowned.push(`${path.relative(fx.root, file)} ${uid}`);
    const m = new V2Manager(fx.host, '/own', [], false, 100000);
    m.create();
    const delegate = fs.existsSync('/sys/kernel/cgroup/delegate') ? fs.readFileSync('/sys/kernel/cgroup/delegate', 'utf8').split('\n').filter(Boolean) : ['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads'];
    const present = delegate.filter((f) => fs.existsSync(path.join(fx.root, 'own', f)));
    assert.ok(present.includes('cgroup.procs') && present.includes('cgroup.subtree_control'), present.join());
    assert.equal(chowned, ['own 100000', ...present.map((f) => `own/${f} 100000`)]);
    assert.not.ok(chowned.some((c) => c.startsWith('own/memory.max')), 'limits stay root\'s');
    m.destroy();
  } finally {
    fx.cleanup();
  }
});

test('record round trip and nested relative path', () => {
  withV2((fx, m, dir) => {
    assert.is(m.path, '/capsa/pod/x');
    const loaded = loadCgroupManager(JSON.parse(JSON.stringify(m.toJSON())), { fs: fx.fs, deviceFilter: fakeBpf([]), sleep: () => {} });
    assert.equal(loaded.toJSON(), m.toJSON());
    sync(loaded.destroy());
    assert.not.ok(fs.existsSync(dir));
    assert.not.ok(fs.existsSync(path.join(fx.root, 'capsa')));
  }, { cgroupsPath: 'pod/x' });
});

test('a record written before create() finished (creating): destroy removes the leaf the create may have made', () => {
  const fx = v2Fixture();
  try {
    const m = createCgroupManager({ id: 'c1', host: fx.host });
    const rec = { ...m.toJSON(), creating: true };
    const leaf = path.join(fx.root, m.path);
    fx.fs.mkdir(leaf);
    sync(loadCgroupManager({ ...rec, creating: false }, { fs: fx.fs, sleep: () => {} }).destroy());
    assert.ok(fs.existsSync(leaf), 'not recorded, not flagged: kept');
    sync(loadCgroupManager(rec, { fs: fx.fs, sleep: () => {} }).destroy());
    assert.not.ok(fs.existsSync(leaf));
  } finally {
    fx.cleanup();
  }
});

test.run();
