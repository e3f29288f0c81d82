// The v1 (and hybrid) driver against an emulated cgroupfs in a temp dir:
// which file gets which value for each linux.resources field, write order,
// parents created/removed, errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { createCgroupManager, loadCgroupManager } from '../../src/cgroups';
import type { CgroupManager } from '../../src/cgroups/manager';
import { hybridFixture, sync, v1Fixture, type Fixture } from '../fixtures/cgroups/fake-cgroupfs';

function withV1(fn: (fx: Fixture, m: CgroupManager, dir: (c: string) => string) => void, hierarchies?: string[][], cgroupsPath?: string): void {
  const fx = v1Fixture(hierarchies);
  try {
    const m = createCgroupManager({ id: 'c1', host: fx.host, ...(cgroupsPath ? { cgroupsPath } : {}) });
    m.create();
    fn(fx, m, (c) => path.join(fx.host.hierarchies[c]!, m.path));
  } finally {
    fx.cleanup();
  }
}

const read = (f: string) => fs.readFileSync(f, 'utf8').trim();
// Fixtures without a devices hierarchy also get "device access is not restricted".
const warningsOf = (m: CgroupManager) => (m.warnings ?? []).filter((w) => !w.includes('devices cgroup controller is not mounted'));

function expectError(fn: () => unknown, code: string, configPath: string | undefined, text?: RegExp): CapsaError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CapsaError);
    const ce = e as CapsaError;
    assert.is(ce.code, code, ce.message);
    assert.is(ce.configPath, configPath, ce.message);
    if (text) assert.match(ce.message, text);
    assert.not.match(ce.message, /\n/);
    return ce;
  }
  assert.unreachable('expected an error');
  throw new Error('unreachable');
}

// ---- dirs

test('default path: /<id> in every hierarchy, one dir each, no shared parent', () => {
  withV1((fx, m, dir) => {
    const rec = m.toJSON();
    assert.is(rec.path, '/c1');
    for (const c of ['cpu', 'memory', 'pids', 'name=systemd']) assert.is(dir(c), path.join(fx.host.hierarchies[c]!, 'c1'));
    assert.is(rec.created.length, 13, 'one dir per hierarchy mount');
    assert.is(read(path.join(dir('cpuset'), 'cpuset.cpus')), '0-3');
    sync(m.destroy());
    assert.equal(fs.readdirSync(path.join(fx.root, 'memory')).filter((n) => fs.statSync(path.join(fx.root, 'memory', n)).isDirectory()), []);
  });
});

test('create: a dir per hierarchy with parents, recorded top-down; cpuset inherits cpus/mems', () => {
  withV1((fx, m, dir) => {
    const rec = m.toJSON();
    assert.is(rec.path, '/capsa/c1');
    for (const c of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'hugetlb', 'net_cls', 'net_prio', 'rdma', 'name=systemd']) {
      assert.ok(fs.existsSync(dir(c)), c);
    }
    assert.is(rec.created.length, 26);
    assert.ok(rec.created.indexOf(path.join(fx.root, 'memory/capsa')) < rec.created.indexOf(path.join(fx.root, 'memory/capsa/c1')));
    assert.is(read(path.join(dir('cpuset'), 'cpuset.cpus')), '0-3');
    assert.is(read(path.join(dir('cpuset'), 'cpuset.mems')), '0');
    assert.is(read(path.join(fx.root, 'cpuset/capsa/cpuset.cpus')), '0-3');
  }, undefined, 'c1');
});

test('combined hierarchies (cpu,cpuacct) get one dir', () => {
  withV1((fx, m) => {
    const d = path.join(fx.root, 'cpu,cpuacct', 'capsa', 'c1');
    assert.ok(fs.existsSync(path.join(d, 'cpu.shares')));
    assert.ok(fs.existsSync(path.join(d, 'cpuacct.usage')));
    m.apply({ cpu: { shares: 512 } });
    assert.is(read(path.join(d, 'cpu.shares')), '512');
    assert.is(m.toJSON().created.length, 4);
  }, [['cpu', 'cpuacct'], ['memory']], 'c1');
});

test('destroy removes only dirs capsa created, deepest first, and leaves busy parents', () => {
  const fx = v1Fixture([['memory'], ['pids']]);
  try {
    // /capsa pre-exists in memory (someone else made it); not in pids.
    fx.fs.mkdir(path.join(fx.root, 'memory', 'capsa'));
    const a = createCgroupManager({ id: 'a', cgroupsPath: 'a', host: fx.host });
    a.create();
    assert.equal(a.toJSON().created, [path.join(fx.root, 'memory/capsa/a'), path.join(fx.root, 'pids/capsa'), path.join(fx.root, 'pids/capsa/a')]);
    const b = createCgroupManager({ id: 'b', cgroupsPath: 'b', host: fx.host });
    b.create();
    assert.equal(b.toJSON().created, [path.join(fx.root, 'memory/capsa/b'), path.join(fx.root, 'pids/capsa/b')]);
    sync(a.destroy());
    assert.not.ok(fs.existsSync(path.join(fx.root, 'pids/capsa/a')));
    assert.ok(fs.existsSync(path.join(fx.root, 'pids/capsa')), 'b still lives in /capsa');
    sync(b.destroy());
    // capsa's shared default parent goes with the last container in it, whoever made it.
    assert.not.ok(fs.existsSync(path.join(fx.root, 'pids/capsa')), 'empty shared parent removed by the last container');
    assert.not.ok(fs.existsSync(path.join(fx.root, 'memory/capsa')), 'empty shared parent removed even if made by someone else');
    // Only rmdir was used: nothing else under the root was touched.
    assert.ok(fs.existsSync(path.join(fx.root, 'memory/memory.limit_in_bytes')));
  } finally {
    fx.cleanup();
  }
});

test('a record written before create() finished (creating): destroy removes leaves the create may have made when empty, never recursing into one', () => {
  const fx = v1Fixture([['memory'], ['pids'], ['cpu']]);
  try {
    const m = createCgroupManager({ id: 'c1', host: fx.host });
    const rec = { ...m.toJSON(), creating: true };
    assert.equal(rec.created, []);
    const leaf = (c: string) => path.join(fx.root, c, m.path);
    // The create was stopped after two of its mkdirs; one of them has a child cgroup.
    fx.fs.mkdir(leaf('memory'));
    fx.fs.mkdir(leaf('pids'));
    fx.fs.mkdir(path.join(leaf('pids'), 'inner'));
    // Without the flag, leaves not recorded as created are not ours to remove.
    sync(loadCgroupManager({ ...rec, creating: false }, { fs: fx.fs, sleep: () => {} }).destroy());
    assert.ok(fs.existsSync(leaf('memory')));
    const e = expectError(() => loadCgroupManager(rec, { fs: fx.fs, sleep: () => {} }).destroy(), 'SYSCALL', undefined, /^remove cgroup .*pids.*: device or resource busy$/);
    assert.is(e.errno, 'EBUSY');
    assert.not.ok(fs.existsSync(leaf('memory')), 'empty leaf removed');
    assert.ok(fs.existsSync(path.join(leaf('pids'), 'inner')), 'a leaf with a child cgroup is left whole');
    assert.not.ok(fs.existsSync(leaf('cpu')));
  } finally {
    fx.cleanup();
  }
});

test('destroy removes child cgroups the container made, and reports a busy leaf after retrying', () => {
  withV1((fx, m, dir) => {
    fx.fs.mkdir(path.join(dir('pids'), 'inner'));
    sync(m.addProcess(4242));
    let sleeps = 0;
    const busy = loadCgroupManager(m.toJSON(), { fs: fx.fs, sleep: () => void sleeps++ });
    const e = expectError(() => busy.destroy(), 'SYSCALL', undefined, /^remove cgroup .*\/capsa\/c1: device or resource busy$/);
    assert.is(e.errno, 'EBUSY');
    assert.ok(sleeps > 0, 'retried');
    assert.not.ok(fs.existsSync(path.join(dir('pids'), 'inner')), 'child removed first');
    // The process leaves: destroy now succeeds.
    fx.fs.set(path.join(dir('pids'), 'cgroup.procs'), '');
    fx.fs.set(path.join(dir('memory'), 'cgroup.procs'), '');
    sync(busy.destroy());
    assert.not.ok(fs.existsSync(dir('pids')));
    assert.not.ok(fs.existsSync(path.join(fx.root, 'memory/capsa')));
  }, [['memory'], ['pids']], 'c1');
});

test('addProcess writes the pid into every hierarchy; pids() is recursive', () => {
  withV1((fx, m, dir) => {
    sync(m.addProcess(100));
    for (const c of ['memory', 'pids', 'name=systemd']) assert.equal(fx.fs.valuesWritten('cgroup.procs', dir(c)), ['100'], c);
    fx.fs.mkdir(path.join(dir('pids'), 'sub'));
    fx.fs.set(path.join(dir('pids'), 'sub', 'cgroup.procs'), '101\n102\n');
    assert.equal(m.pids().sort(), [100, 101, 102]);
  }, [['memory'], ['pids'], ['name=systemd']]);
});

// ---- memory

test('memory: every field to its v1 file', () => {
  withV1((fx, m, dir) => {
    m.apply({ memory: { limit: 1 << 28, reservation: 1 << 27, swap: 1 << 29, swappiness: 10, disableOOMKiller: true } });
    const d = dir('memory');
    assert.is(read(path.join(d, 'memory.limit_in_bytes')), String(1 << 28));
    assert.is(read(path.join(d, 'memory.soft_limit_in_bytes')), String(1 << 27));
    assert.is(read(path.join(d, 'memory.memsw.limit_in_bytes')), String(1 << 29));
    assert.is(read(path.join(d, 'memory.swappiness')), '10');
    assert.is(read(path.join(d, 'memory.oom_control')), '1');
  });
});

test('memory.useHierarchy: true is written to memory.use_hierarchy; false where the kernel refuses 0 is an error naming the field', () => {
  withV1((fx, m, dir) => {
    const file = path.join(dir('memory'), 'memory.use_hierarchy');
    fx.fs.set(file, '0');
    m.apply({ memory: { useHierarchy: true } });
    assert.is(read(file), '1');
    // Kernels since 5.10: use_hierarchy is always 1 and a 0 is refused with EINVAL.
    fx.fs.onWrite = (f, value) => (f === file && value === '0' ? 'EINVAL' : undefined);
    expectError(() => m.update({ memory: { useHierarchy: false } }), 'UNSUPPORTED', 'linux.resources.memory.useHierarchy', /always accounts memory hierarchically/);
    assert.is(read(file), '1');
    // An older kernel that takes 0 gets it.
    fx.fs.onWrite = undefined;
    sync(m.update({ memory: { useHierarchy: false } }));
    assert.is(read(file), '0');
  });
});

// The kernel's rule: memory.limit_in_bytes <= memory.memsw.limit_in_bytes at all times.
function enforceMemswOrder(fx: Fixture, d: string): void {
  fx.fs.onWrite = (file, value) => {
    const num = (t: string) => (t === '-1' ? Number.MAX_SAFE_INTEGER : Number(t));
    const limit = num(read(path.join(d, 'memory.limit_in_bytes')));
    const memsw = num(read(path.join(d, 'memory.memsw.limit_in_bytes')));
    const v = num(value);
    if (file.endsWith('memory.limit_in_bytes') && v > memsw) return 'EINVAL';
    if (file.endsWith('memory.memsw.limit_in_bytes') && v < limit) return 'EINVAL';
    return undefined;
  };
}

test('memory: limit/memsw write order keeps limit <= memsw when lowering and raising', () => {
  withV1((fx, m, dir) => {
    const d = dir('memory');
    enforceMemswOrder(fx, d);
    m.apply({ memory: { limit: 200, swap: 300 } }); // from unlimited: lower limit first
    assert.equal(fx.fs.writes.filter((w) => w.file.startsWith(d)).map((w) => path.basename(w.file)), ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']);
    fx.fs.writes.length = 0;
    sync(m.update({ memory: { limit: 1000, swap: 2000 } })); // raising past memsw: memsw first
    assert.equal(fx.fs.writes.map((w) => `${path.basename(w.file)}=${w.value}`), ['memory.memsw.limit_in_bytes=2000', 'memory.limit_in_bytes=1000']);
    fx.fs.writes.length = 0;
    sync(m.update({ memory: { limit: 100, swap: 150 } })); // lowering: limit first
    assert.equal(fx.fs.writes.map((w) => `${path.basename(w.file)}=${w.value}`), ['memory.limit_in_bytes=100', 'memory.memsw.limit_in_bytes=150']);
    fx.fs.writes.length = 0;
    sync(m.update({ memory: { limit: -1 } })); // unlimited memory implies unlimited memsw, memsw first
    assert.equal(fx.fs.writes.map((w) => `${path.basename(w.file)}=${w.value}`), ['memory.memsw.limit_in_bytes=-1', 'memory.limit_in_bytes=-1']);
  }, [['memory']]);
});

test('memory: swap without swap accounting; kernel memory warns instead of failing', () => {
  const fx = v1Fixture([['memory']]);
  try {
    fx.fs.omit.add('memory.memsw.limit_in_bytes').add('memory.kmem.tcp.limit_in_bytes');
    const m = createCgroupManager({ id: 'c', host: fx.host });
    m.create();
    const d = path.join(fx.root, 'memory', m.path);
    expectError(() => m.apply({ memory: { limit: 100, swap: 200 } }), 'UNSUPPORTED', 'linux.resources.memory.swap', /swapaccount/);
    m.apply({ memory: { limit: -1 } }); // the implied unlimited memsw is simply skipped
    fx.fs.failWrites.set(path.join(d, 'memory.kmem.limit_in_bytes'), 'EOPNOTSUPP');
    m.apply({ memory: { kernel: 1 << 20, kernelTCP: 1 << 20 } });
    assert.equal(warningsOf(m), [
      'linux.resources.memory.kernel is ignored: this kernel no longer supports memory.kmem.limit_in_bytes',
      'linux.resources.memory.kernelTCP is ignored: this kernel has no memory.kmem.tcp.limit_in_bytes',
    ]);
  } finally {
    fx.cleanup();
  }
});

test('memory: kernel memory a kernel accepts but ignores (6.1+) is a warning', () => {
  withV1((fx, m, dir) => {
    const kmem = path.join(dir('memory'), 'memory.kmem.limit_in_bytes');
    fx.fs.onWrite = (file) => (file === kmem ? { store: '9223372036854771712' } : undefined);
    m.apply({ memory: { kernel: 1 << 20 } });
    assert.equal(warningsOf(m), ['linux.resources.memory.kernel is ignored: this kernel accepts memory.kmem.limit_in_bytes but does not enforce it']);
  }, [['memory']]);
});

test('memory: kernel memory is written where the kernel still takes it', () => {
  withV1((fx, m, dir) => {
    m.apply({ memory: { kernel: 1 << 20, kernelTCP: 1 << 19 } });
    assert.is(read(path.join(dir('memory'), 'memory.kmem.limit_in_bytes')), String(1 << 20));
    assert.is(read(path.join(dir('memory'), 'memory.kmem.tcp.limit_in_bytes')), String(1 << 19));
    assert.equal(warningsOf(m), []);
  }, [['memory']]);
});

test('a kernel rejection names the field, value, file and reason', () => {
  withV1((fx, m, dir) => {
    const file = path.join(dir('memory'), 'memory.limit_in_bytes');
    fx.fs.failWrites.set(file, 'EBUSY');
    const e = expectError(() => m.apply({ memory: { limit: 1234 } }), 'SYSCALL', 'linux.resources.memory.limit');
    assert.is(e.message, `linux.resources.memory.limit: write 1234 to ${file}: device or resource busy`);
    assert.is(e.errno, 'EBUSY');
  }, [['memory']]);
});

test('invalid values fail before anything is written', () => {
  withV1((fx, m) => {
    const cases: [object, string][] = [
      [{ memory: { limit: -2 } }, 'linux.resources.memory.limit'],
      [{ memory: { limit: 100, swap: 50 } }, 'linux.resources.memory.swap'],
      [{ memory: { swappiness: 101 } }, 'linux.resources.memory.swappiness'],
      [{ memory: { limit: 1.5 } }, 'linux.resources.memory.limit'],
      [{ cpu: { shares: -1 } }, 'linux.resources.cpu.shares'],
      [{ cpu: { quota: -5 } }, 'linux.resources.cpu.quota'],
      [{ cpu: { cpus: '0-3;rm' } }, 'linux.resources.cpu.cpus'],
      [{ blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: -1 }] } }, 'linux.resources.blockIO.throttleReadBpsDevice[0].rate'],
      [{ hugepageLimits: [{ pageSize: '2M', limit: 1 }] }, 'linux.resources.hugepageLimits[0].pageSize'],
      [{ unified: { 'memory.high': '1' } }, 'linux.resources.unified'],
      [{ devices: [{ allow: true, type: 'x', access: 'r' }] }, 'linux.resources.devices[0].type'],
      [{ devices: [{ allow: true, access: '' }] }, 'linux.resources.devices[0].access'],
    ];
    for (const [r, field] of cases) {
      fx.fs.writes.length = 0;
      expectError(() => m.apply(r as never), 'INVALID_CONFIG', field);
      assert.equal(fx.fs.writes.filter((w) => !w.file.endsWith('devices.deny') && !w.file.endsWith('devices.allow')), [], field);
    }
  });
});

test('a field whose controller is not mounted is INVALID_CONFIG naming the field', () => {
  withV1((_fx, m) => {
    expectError(() => m.apply({ network: { classID: 0x100001 } }), 'INVALID_CONFIG', 'linux.resources.network.classID', /net_cls cgroup controller is not mounted/);
    expectError(() => m.apply({ network: { priorities: [{ name: 'eth0', priority: 5 }] } }), 'INVALID_CONFIG', 'linux.resources.network.priorities[0]');
    expectError(() => m.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 0 }] }), 'INVALID_CONFIG', 'linux.resources.hugepageLimits');
    expectError(() => m.apply({ pids: { limit: 5 } }), 'INVALID_CONFIG', 'linux.resources.pids.limit');
    expectError(() => m.apply({ rdma: { mlx5_0: { hcaHandles: 1 } } }), 'INVALID_CONFIG', 'linux.resources.rdma');
  }, [['memory'], ['devices'], ['cpu']]);
});

test('unified keys are refused on v1', () => {
  withV1((_fx, m) => {
    expectError(() => m.apply({ unified: { 'memory.high': '100' } }), 'INVALID_CONFIG', 'linux.resources.unified', /v1/);
  });
});

// ---- cpu

test('cpu: shares, quota, period, burst, realtime, idle, cpus, mems', () => {
  withV1((fx, m, dir) => {
    m.apply({ cpu: { shares: 512, quota: 50000, period: 100000, burst: 10000, realtimePeriod: 1000000, realtimeRuntime: 950000, idle: 1, cpus: '0-1', mems: '0' } });
    const d = dir('cpu');
    assert.is(read(path.join(d, 'cpu.shares')), '512');
    assert.is(read(path.join(d, 'cpu.cfs_quota_us')), '50000');
    assert.is(read(path.join(d, 'cpu.cfs_period_us')), '100000');
    assert.is(read(path.join(d, 'cpu.cfs_burst_us')), '10000');
    assert.is(read(path.join(d, 'cpu.rt_period_us')), '1000000');
    assert.is(read(path.join(d, 'cpu.rt_runtime_us')), '950000');
    assert.is(read(path.join(d, 'cpu.idle')), '1');
    assert.is(read(path.join(dir('cpuset'), 'cpuset.cpus')), '0-1');
    assert.is(read(path.join(dir('cpuset'), 'cpuset.mems')), '0');
    const order = fx.fs.writes.filter((w) => w.file.startsWith(d)).map((w) => path.basename(w.file));
    assert.ok(order.indexOf('cpu.cfs_period_us') < order.indexOf('cpu.cfs_quota_us'));
    assert.ok(order.indexOf('cpu.rt_period_us') < order.indexOf('cpu.rt_runtime_us'));
  });
});

test('cpu: a period refused with EINVAL is retried after the quota', () => {
  withV1((fx, m, dir) => {
    let first = true;
    fx.fs.onWrite = (file) => (file.endsWith('cpu.cfs_period_us') && first ? ((first = false), 'EINVAL') : undefined);
    sync(m.update({ cpu: { quota: 10000, period: 20000 } }));
    assert.equal(fx.fs.writes.map((w) => path.basename(w.file)), ['cpu.cfs_period_us', 'cpu.cfs_quota_us', 'cpu.cfs_period_us']);
    assert.is(read(path.join(dir('cpu'), 'cpu.cfs_period_us')), '20000');
    // Without a quota to make room, the EINVAL is reported.
    first = true;
    expectError(() => m.update({ cpu: { period: 20000 } }), 'SYSCALL', 'linux.resources.cpu.period', /invalid argument/);
  }, [['cpu']]);
});

test('cpu: shares the kernel clamps are reported', () => {
  withV1((fx, m) => {
    fx.fs.onWrite = (file, value) => (file.endsWith('cpu.shares') && Number(value) > 262144 ? { store: '262144' } : undefined);
    expectError(() => m.apply({ cpu: { shares: 1000000 } }), 'INVALID_CONFIG', 'linux.resources.cpu.shares', /at most 262144/);
  }, [['cpu']]);
});

test('cpu: burst/idle on a kernel without the files', () => {
  const fx = v1Fixture([['cpu']]);
  try {
    fx.fs.omit.add('cpu.cfs_burst_us').add('cpu.idle').add('cpu.rt_runtime_us');
    const m = createCgroupManager({ id: 'c', host: fx.host });
    m.create();
    expectError(() => m.apply({ cpu: { burst: 1 } }), 'UNSUPPORTED', 'linux.resources.cpu.burst');
    expectError(() => m.apply({ cpu: { idle: 1 } }), 'UNSUPPORTED', 'linux.resources.cpu.idle');
    expectError(() => m.apply({ cpu: { realtimeRuntime: 5 } }), 'UNSUPPORTED', 'linux.resources.cpu.realtimeRuntime', /RT_GROUP_SCHED/);
    m.apply({ cpu: { idle: 0 } }); // asking for the default is fine
  } finally {
    fx.cleanup();
  }
});

// ---- pids, blkio, hugetlb, network, rdma

test('pids: a limit >= 0 is written (0 too: runtime-spec 1.3, runc 1.4), negative means max', () => {
  withV1((_fx, m, dir) => {
    const f = path.join(dir('pids'), 'pids.max');
    m.apply({ pids: { limit: 64 } });
    assert.is(read(f), '64');
    sync(m.update({ pids: { limit: 0 } }));
    assert.is(read(f), '0');
    sync(m.update({ pids: { limit: -1 } }));
    assert.is(read(f), 'max');
  }, [['pids']]);
});

test('blkio: weight goes to blkio.bfq.weight without CFQ, to blkio.weight with it; devices and throttles', () => {
  withV1((fx, m, dir) => {
    const d = dir('blkio');
    m.apply({
      blockIO: {
        weight: 300,
        leafWeight: 200,
        weightDevice: [{ major: 8, minor: 0, weight: 500 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 2097152 }],
        throttleReadIOPSDevice: [{ major: 8, minor: 16, rate: 100 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 200 }],
      },
    });
    assert.is(read(path.join(d, 'blkio.bfq.weight')), '300');
    assert.is(read(path.join(d, 'blkio.bfq.weight_device')), '8:0 500');
    assert.is(read(path.join(d, 'blkio.throttle.read_bps_device')), '8:0 1048576');
    assert.is(read(path.join(d, 'blkio.throttle.write_bps_device')), '8:0 2097152');
    assert.is(read(path.join(d, 'blkio.throttle.read_iops_device')), '8:16 100');
    assert.is(read(path.join(d, 'blkio.throttle.write_iops_device')), '8:16 200');
    assert.equal(warningsOf(m), ['linux.resources.blockIO.leafWeight is ignored: this kernel has no blkio.leaf_weight']);
    // A CFQ kernel: plain files exist and win.
    for (const f of ['blkio.weight', 'blkio.leaf_weight', 'blkio.weight_device', 'blkio.leaf_weight_device']) fx.fs.set(path.join(d, f), '');
    sync(m.update({ blockIO: { weight: 400, leafWeight: 100, weightDevice: [{ major: 8, minor: 0, weight: 600, leafWeight: 700 }] } }));
    assert.is(read(path.join(d, 'blkio.weight')), '400');
    assert.is(read(path.join(d, 'blkio.leaf_weight')), '100');
    assert.is(read(path.join(d, 'blkio.weight_device')), '8:0 600');
    assert.is(read(path.join(d, 'blkio.leaf_weight_device')), '8:0 700');
  }, [['blkio']]);
});

test('hugetlb: <size>.limit_in_bytes; unknown sizes are config errors', () => {
  withV1((_fx, m, dir) => {
    m.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 4 << 21 }, { pageSize: '1GB', limit: 0 }] });
    assert.is(read(path.join(dir('hugetlb'), 'hugetlb.2MB.limit_in_bytes')), String(4 << 21));
    assert.is(read(path.join(dir('hugetlb'), 'hugetlb.1GB.limit_in_bytes')), '0');
    expectError(() => m.apply({ hugepageLimits: [{ pageSize: '4MB', limit: 1 }] }), 'INVALID_CONFIG', 'linux.resources.hugepageLimits[0].pageSize', /4MB/);
  }, [['hugetlb']]);
});

test('network and rdma', () => {
  withV1((fx, m, dir) => {
    m.apply({ network: { classID: 1048577, priorities: [{ name: 'eth0', priority: 5 }, { name: 'lo', priority: 2 }] }, rdma: { mlx5_0: { hcaHandles: 3, hcaObjects: 10000 }, mlx4_0: { hcaObjects: 7 } } });
    assert.is(read(path.join(dir('net_cls'), 'net_cls.classid')), '1048577');
    assert.equal(fx.fs.valuesWritten('net_prio.ifpriomap'), ['eth0 5', 'lo 2']);
    assert.equal(fx.fs.valuesWritten('rdma.max'), ['mlx5_0 hca_handle=3 hca_object=10000', 'mlx4_0 hca_object=7']);
  }, [['net_cls'], ['net_prio'], ['rdma']]);
});

// ---- devices

test('devices: no config rules → deny all, then runc\'s default allow list', () => {
  withV1((fx, m, dir) => {
    m.apply(undefined);
    assert.equal(fx.fs.valuesWritten('devices.deny', dir('devices')), ['a']);
    assert.equal(fx.fs.valuesWritten('devices.allow', dir('devices')), [
      'c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:8 rwm', 'c 1:7 rwm', 'c 5:0 rwm', 'c 1:5 rwm', 'c 1:9 rwm', 'c 136:* rwm', 'c 5:2 rwm', 'c 10:200 rwm',
    ]);
    assert.equal(fx.fs.writes.map((w) => path.basename(w.file))[0], 'devices.deny', 'deny all comes first');
  }, [['devices']]);
});

test('devices: a rule the kernel rejects is named in the error with its file, and the rules after it are not written', () => {
  withV1((fx, m, dir) => {
    fx.fs.onWrite = (_file, value) => (value === 'c 1:7 rwm' ? 'EINVAL' : undefined);
    const e = expectError(() => m.apply(undefined), 'SYSCALL', 'linux.resources.devices', /write c 1:7 rwm to .*devices\.allow/);
    assert.is(e.errno, 'EINVAL');
    assert.equal(fx.fs.valuesWritten('devices.allow', dir('devices')), ['c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:8 rwm', 'c 1:7 rwm']);
  }, [['devices']]);
});

test('devices: config rules in order, folded as the kernel would', () => {
  withV1((fx, m, dir) => {
    m.apply({
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' }, // fuse
        { allow: true, type: 'b', major: 8, minor: 0, access: 'rwm' },
        { allow: false, type: 'b', major: 8, minor: 0, access: 'w' }, // then take write away again
      ],
    });
    const allowed = fx.fs.valuesWritten('devices.allow', dir('devices'));
    assert.equal(allowed.slice(0, 2), ['c 10:229 rw', 'b 8:0 rm']);
    assert.equal(fx.fs.valuesWritten('devices.deny', dir('devices')), ['a']);
  }, [['devices']]);
});

test('devices: allow-all config (privileged) writes allow a', () => {
  withV1((fx, m, dir) => {
    m.apply({ devices: [{ allow: true, access: 'rwm' }] });
    assert.equal(fx.fs.valuesWritten('devices.allow', dir('devices')), ['a']);
    assert.equal(fx.fs.valuesWritten('devices.deny', dir('devices')), []);
  }, [['devices']]);
});

test('devices: punching a hole in a wildcard rule is refused', () => {
  withV1((_fx, m) => {
    expectError(
      () => m.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', access: 'rw' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }] }),
      'INVALID_CONFIG', 'linux.resources.devices', /wider rule "c \*:\* rw"/,
    );
  }, [['devices']]);
});

test('devices: update leaves the rules alone and says so', () => {
  withV1((fx, m) => {
    sync(m.update({ devices: [{ allow: true, access: 'rwm' }] }));
    assert.equal(fx.fs.writes, []);
    assert.equal(m.warnings, ['linux.resources.devices is not changed by update']);
  }, [['devices']]);
});

// ---- freezer

test('freeze writes FROZEN and waits for it; thaw writes THAWED', () => {
  withV1((fx, m, dir) => {
    const state = path.join(dir('freezer'), 'freezer.state');
    let reads = 0;
    const realRead = fx.fs.read.bind(fx.fs);
    fx.fs.read = (f: string) => (f === state && read(f) === 'FROZEN' && reads++ < 3 ? 'FREEZING\n' : realRead(f));
    m.freeze();
    assert.is(reads, 4);
    assert.ok(m.isFrozen());
    m.thaw();
    assert.is(read(state), 'THAWED');
    assert.not.ok(m.isFrozen());
  }, [['freezer']]);
});

test('freeze that never completes: thawed again and TIMEOUT, no real sleeping', () => {
  withV1((fx, m, dir) => {
    const state = path.join(dir('freezer'), 'freezer.state');
    const realRead = fx.fs.read.bind(fx.fs);
    fx.fs.read = (f: string) => (f === state && read(f) === 'FROZEN' ? 'FREEZING\n' : realRead(f));
    const e = expectError(() => m.freeze(), 'TIMEOUT', undefined, /left thawed/);
    assert.ok(e);
    assert.is(read(state), 'THAWED');
    assert.ok(fx.fs.valuesWritten('freezer.state').filter((v) => v === 'FROZEN').length > 1, 'retried');
  }, [['freezer']]);
});

test('pause without a freezer hierarchy is UNSUPPORTED', () => {
  withV1((_fx, m) => {
    expectError(() => m.freeze(), 'UNSUPPORTED', undefined, /freezer/);
    assert.not.ok(m.isFrozen());
  }, [['memory']]);
});

// ---- stats

test('stats: v1 files into the runc events shape', () => {
  withV1((fx, m, dir) => {
    const set = (c: string, f: string, v: string) => fx.fs.set(path.join(dir(c), f), v);
    set('cpuacct', 'cpuacct.usage', '5000');
    set('cpuacct', 'cpuacct.usage_percpu', '1000 4000 ');
    set('cpuacct', 'cpuacct.usage_user', '3000');
    set('cpuacct', 'cpuacct.usage_sys', '2000');
    set('cpu', 'cpu.stat', 'nr_periods 10\nnr_throttled 3\nthrottled_time 777\n');
    set('memory', 'memory.usage_in_bytes', '4096');
    set('memory', 'memory.max_usage_in_bytes', '8192');
    set('memory', 'memory.failcnt', '2');
    set('memory', 'memory.limit_in_bytes', '1048576');
    set('memory', 'memory.memsw.usage_in_bytes', '5000');
    set('memory', 'memory.memsw.limit_in_bytes', '2097152');
    set('memory', 'memory.stat', 'cache 100\nrss 200\n');
    set('pids', 'pids.current', '3');
    set('pids', 'pids.max', '10');
    set('blkio', 'blkio.throttle.io_service_bytes_recursive', '8:0 Read 100\n8:0 Write 50\nTotal 150\n');
    set('hugetlb', 'hugetlb.2MB.usage_in_bytes', '2097152');
    set('hugetlb', 'hugetlb.2MB.failcnt', '1');
    const s = m.stats();
    assert.equal(s.cpu, { usage: { total: 5000, kernel: 2000, user: 3000, percpu: [1000, 4000] }, throttling: { periods: 10, throttledPeriods: 3, throttledTime: 777 } });
    assert.equal(s.memory.usage, { usage: 4096, max: 8192, failcnt: 2, limit: 1048576 });
    assert.equal(s.memory.swap, { usage: 5000, limit: 2097152 });
    assert.equal(s.memory.raw, { cache: 100, rss: 200 });
    assert.is(s.memory.cache, 100);
    assert.equal(s.pids, { current: 3, limit: 10 });
    assert.equal(s.blkio.ioServiceBytesRecursive, [{ major: 8, minor: 0, op: 'Read', value: 100 }, { major: 8, minor: 0, op: 'Write', value: 50 }]);
    assert.equal(s.hugetlb['2MB'], { usage: 2097152, max: 0, failcnt: 1 });
    assert.equal(s.hugetlb['1GB'], { usage: 0, max: 0, failcnt: 0 });
    set('memory', 'memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    assert.is(m.oomKillCount!(), 2);
  });
});

test('stats: cpuacct.stat ticks when usage_user/sys are absent; pids.max "max" is 0', () => {
  const fx = v1Fixture([['cpuacct'], ['pids']]);
  try {
    fx.fs.omit.add('cpuacct.usage_user').add('cpuacct.usage_sys');
    const m = createCgroupManager({ id: 'c', host: fx.host });
    m.create();
    fx.fs.set(path.join(fx.root, 'cpuacct', m.path, 'cpuacct.stat'), 'user 5\nsystem 2\n');
    const s = m.stats();
    assert.is(s.cpu.usage.user, 50_000_000);
    assert.is(s.cpu.usage.kernel, 20_000_000);
    assert.is(s.pids.limit, 0);
  } finally {
    fx.cleanup();
  }
});

// ---- record round trip

test('toJSON → loadCgroupManager rebuilds the same manager', () => {
  withV1((fx, m) => {
    const rec = JSON.parse(JSON.stringify(m.toJSON()));
    const loaded = loadCgroupManager(rec, { fs: fx.fs, sleep: () => {} });
    assert.equal(loaded.toJSON(), m.toJSON());
    loaded.apply({ pids: { limit: 7 } });
    assert.equal(fx.fs.valuesWritten('pids.max'), ['7']);
    sync(loaded.destroy());
    assert.equal(fs.readdirSync(path.join(fx.root, 'pids')).filter((n) => !n.includes('.') && n !== 'tasks' && n !== 'notify_on_release'), []);
  }, [['pids'], ['memory']]);
});

// ---- hybrid

test('hybrid: same path on the cgroup2 side; processes added there too; removed on destroy', () => {
  const fx = hybridFixture();
  try {
    const m = createCgroupManager({ id: 'h1', cgroupsPath: 'h1', host: fx.host });
    assert.is(m.layout, 'hybrid');
    m.create();
    const u = path.join(fx.root, 'unified', 'capsa', 'h1');
    assert.ok(fs.existsSync(u));
    assert.ok(m.toJSON().created.includes(u));
    sync(m.addProcess(77));
    assert.equal(fx.fs.valuesWritten('cgroup.procs', u), ['77']);
    assert.equal(fx.fs.valuesWritten('cgroup.procs', path.join(fx.root, 'memory/capsa/h1')), ['77']);
    for (const f of [u, path.join(fx.root, 'memory/capsa/h1')]) fx.fs.set(path.join(f, 'cgroup.procs'), '');
    for (const c of ['cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'blkio', 'pids', 'systemd']) fx.fs.set(path.join(fx.root, c, 'capsa/h1/cgroup.procs'), '');
    sync(m.destroy());
    assert.not.ok(fs.existsSync(path.join(fx.root, 'unified', 'capsa')));
    assert.not.ok(fs.existsSync(path.join(fx.root, 'memory', 'capsa')));
  } finally {
    fx.cleanup();
  }
});

test('hybrid: hugetlb and unified keys go to the cgroup2 side, enabling the controller on the way', () => {
  const fx = hybridFixture();
  try {
    const m = createCgroupManager({ id: 'h2', cgroupsPath: 'pod/h2', host: fx.host });
    m.create();
    const u = path.join(fx.root, 'unified', 'capsa', 'pod', 'h2');
    assert.not.ok(fs.existsSync(path.join(u, 'hugetlb.2MB.max')), 'not enabled until needed');
    m.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 2097152 }] });
    assert.is(read(path.join(u, 'hugetlb.2MB.max')), '2097152');
    assert.is(read(path.join(u, 'hugetlb.2MB.rsvd.max')), '2097152');
    assert.is(read(path.join(fx.root, 'unified', 'cgroup.subtree_control')), 'hugetlb');
    assert.is(read(path.join(fx.root, 'unified', 'capsa', 'pod', 'cgroup.subtree_control')), 'hugetlb');
    m.apply({ unified: { 'hugetlb.1GB.max': '0' } });
    assert.is(read(path.join(u, 'hugetlb.1GB.max')), '0');
    expectError(() => m.apply({ unified: { 'memory.high': '1000' } }), 'INVALID_CONFIG', 'linux.resources.unified["memory.high"]', /memory controller is not available/);
    expectError(() => m.apply({ unified: { 'hugetlb.3MB.max': '1' } }), 'INVALID_CONFIG', 'linux.resources.unified["hugetlb.3MB.max"]', /no such file/);
    const s = m.stats();
    assert.equal(s.hugetlb['2MB'], { usage: 0, max: 0, failcnt: 0 });
  } finally {
    fx.cleanup();
  }
});

test.run();
