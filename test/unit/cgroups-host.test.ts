// Root only, on the real host: the driver for this machine's layout makes
// /capsa-test-<random>/ctr in every hierarchy, applies limits that are read
// back from cgroupfs, takes in a `sleep` child, lists it, freezes and thaws
// it, reports stats, and removes every dir it made. Skipped when not root.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { cgroupHostFromSystem, createCgroupManager } from '../../src/cgroups';
import type { CgroupHost } from '../../src/cgroups';
import type { CgroupManager } from '../../src/cgroups/manager';
import { sync } from '../fixtures/cgroups/fake-cgroupfs';

const isRoot = process.getuid?.() === 0;
let host: CgroupHost | undefined;
try {
  host = cgroupHostFromSystem();
} catch {
  host = undefined;
}
const runnable = isRoot && host !== undefined && host.layout !== 'v2';
const skip = (why: string) => console.log(`  (skipped: ${why})`);

const read = (f: string) => fs.readFileSync(f, 'utf8').trim();
const top = `/capsa-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

function dirsOf(m: CgroupManager): string[] {
  const rec = m.toJSON();
  const mounts = [...new Set(Object.values(rec.hierarchies ?? {}))];
  if (rec.layout === 'hybrid' && rec.unified) mounts.push(rec.unified);
  return mounts.map((mnt) => path.join(mnt, rec.path));
}

function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

function run(dirForProcs: (pid: number) => void, script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `read go; ${script}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', () => resolve(out));
    try {
      dirForProcs(child.pid!);
    } catch (e) {
      child.kill('SIGKILL');
      reject(e);
      return;
    }
    child.stdin.end('go\n');
  });
}

test('real v1/hybrid host: create, limits, join, pids, freeze, stats, destroy', async () => {
  if (!runnable) return skip(!isRoot ? 'not root' : 'host is not v1/hybrid');
  const m = createCgroupManager({ id: 'ctr', cgroupsPath: `${top}/ctr`, host: host! });
  let child: ChildProcess | undefined;
  // Whether hugetlb was already enabled at the cgroup2 root; restored afterwards.
  const unifiedRootControl = host!.unified ? path.join(host!.unified, 'cgroup.subtree_control') : undefined;
  const hugetlbBefore = unifiedRootControl ? read(unifiedRootControl).split(/\s+/).includes('hugetlb') : true;
  try {
    m.create();
    const dirs = dirsOf(m);
    for (const d of dirs) assert.ok(fs.existsSync(d), d);
    assert.is(m.toJSON().created.length, dirs.length * 2, 'top and leaf in every hierarchy');

    const limits = { memory: { limit: 64 << 20, swap: 128 << 20, reservation: 32 << 20 }, pids: { limit: 20 }, cpu: { shares: 512, quota: 20000, period: 100000 } };
    m.apply(limits);
    const mem = path.join(host!.hierarchies.memory!, m.path);
    assert.is(read(path.join(mem, 'memory.limit_in_bytes')), String(64 << 20));
    if (fs.existsSync(path.join(mem, 'memory.memsw.limit_in_bytes'))) assert.is(read(path.join(mem, 'memory.memsw.limit_in_bytes')), String(128 << 20));
    assert.is(read(path.join(mem, 'memory.soft_limit_in_bytes')), String(32 << 20));
    assert.is(read(path.join(host!.hierarchies.pids!, m.path, 'pids.max')), '20');
    const cpu = path.join(host!.hierarchies.cpu!, m.path);
    assert.is(read(path.join(cpu, 'cpu.shares')), '512');
    assert.is(read(path.join(cpu, 'cpu.cfs_quota_us')), '20000');
    // cpuset was filled in from the parent, or adding a task would fail.
    if (host!.hierarchies.cpuset) assert.is.not(read(path.join(host!.hierarchies.cpuset, m.path, 'cpuset.cpus')), '');

    // Kernel memory on this kernel: applied or a warning, never a failure.
    sync(m.update({ memory: { kernel: 64 << 20 } }));
    // A raise of memory past memsw must be ordered memsw-first.
    sync(m.update({ memory: { limit: 256 << 20, swap: 512 << 20 } }));
    assert.is(read(path.join(mem, 'memory.limit_in_bytes')), String(256 << 20));
    // A kernel rejection names the file and value.
    try {
      sync(m.update({ cpu: { period: 1 } })); // below the kernel's 1ms minimum
      assert.unreachable();
    } catch (e) {
      assert.match((e as Error).message, new RegExp(`^linux.resources.cpu.period: write 1 to ${cpu}/cpu.cfs_period_us: invalid argument$`));
    }

    child = spawn('sleep', ['60'], { stdio: 'ignore' });
    await new Promise((res) => child!.once('spawn', res));
    sync(m.addProcess(child.pid!));
    assert.equal(m.pids(), [child.pid]);
    for (const d of dirs) assert.ok(read(path.join(d, 'cgroup.procs')).split('\n').includes(String(child.pid)), d);
    const stats = m.stats();
    assert.is(stats.pids.current, 1);
    assert.is(stats.pids.limit, 20);
    assert.is(stats.memory.usage.limit, 256 << 20);
    assert.ok(stats.cpu.usage.total >= 0);

    m.freeze();
    assert.is(read(path.join(host!.hierarchies.freezer!, m.path, 'freezer.state')), 'FROZEN');
    assert.ok(m.isFrozen());
    m.thaw();
    assert.is(read(path.join(host!.hierarchies.freezer!, m.path, 'freezer.state')), 'THAWED');
    assert.not.ok(m.isFrozen());

    child.kill('SIGKILL');
    await waitExit(child);
    sync(m.destroy());
    for (const d of dirs) assert.not.ok(fs.existsSync(d), `${d} removed`);
    for (const d of dirs) assert.not.ok(fs.existsSync(path.dirname(d)), `${path.dirname(d)} removed`);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await waitExit(child);
    }
    try {
      sync(m.destroy());
    } catch {
      /* reported by the assertions above */
    }
    if (unifiedRootControl && !hugetlbBefore) fs.writeFileSync(unifiedRootControl, '-hugetlb');
  }
});

test('real v1 devices: a default-denied device cannot be opened from the cgroup', async () => {
  if (!runnable || !host!.hierarchies.devices) return skip(!isRoot ? 'not root' : 'no v1 devices controller');
  if (!fs.existsSync('/dev/kmsg')) return skip('no /dev/kmsg to test with');
  const m = createCgroupManager({ id: 'dev', cgroupsPath: `${top}-dev`, host: host! });
  try {
    m.create();
    m.apply(undefined); // runc's defaults: /dev/null yes, /dev/kmsg (c 1:11) no
    const list = read(path.join(host!.hierarchies.devices, m.path, 'devices.list'));
    assert.ok(list.includes('c 1:3 rwm'), list);
    assert.not.ok(list.includes('a *:* rwm'), list);
    const out = await run((pid) => m.addProcess(pid), 'cat /dev/null && echo null-ok; head -c0 /dev/kmsg && echo kmsg-opened || echo kmsg-denied');
    assert.match(out, /null-ok/, out);
    assert.match(out, /kmsg-denied/, out);
  } finally {
    for (let i = 0; i < 50; i++) {
      try {
        sync(m.destroy());
        break;
      } catch {
        await new Promise((res) => setTimeout(res, 20));
      }
    }
  }
  for (const d of dirsOf(m)) assert.not.ok(fs.existsSync(d), `${d} removed`);
});

test('real hybrid host: hugetlb limits land on the cgroup2 side', async () => {
  if (!runnable || host!.layout !== 'hybrid' || host!.hierarchies.hugetlb) return skip('needs a hybrid host without v1 hugetlb');
  const rootControllers = read(path.join(host!.unified!, 'cgroup.controllers')).split(/\s+/);
  if (!rootControllers.includes('hugetlb')) return skip('cgroup2 side has no hugetlb');
  const control = path.join(host!.unified!, 'cgroup.subtree_control');
  const before = read(control).split(/\s+/).includes('hugetlb');
  const m = createCgroupManager({ id: 'h', cgroupsPath: `${top}-huge/ctr`, host: host! });
  try {
    m.create();
    m.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 4 << 20 }] });
    const u = path.join(host!.unified!, m.path);
    assert.is(read(path.join(u, 'hugetlb.2MB.max')), String(4 << 20));
    m.apply({ unified: { 'hugetlb.2MB.max': String(2 << 20) } });
    assert.is(read(path.join(u, 'hugetlb.2MB.max')), String(2 << 20));
    assert.ok('2MB' in m.stats().hugetlb);
  } finally {
    sync(m.destroy());
    if (!before) fs.writeFileSync(control, '-hugetlb');
  }
  for (const d of dirsOf(m)) assert.not.ok(fs.existsSync(d), `${d} removed`);
});

test.run();
