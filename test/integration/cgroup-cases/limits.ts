// Resource limits on real containers, any layout, either driver: each limit
// read back from the container's cgroup files and shown to act on it (the
// OOM killer, fork failing, CPU throttling), plus update. Waits poll for an
// event the kernel reports, with a deadline.
import * as fs from 'node:fs';
import * as assert from 'uvu/assert';

import { FILES, LAYOUT, V2, cgroupsOf } from '../../helpers/cgroupfs';
import { all, cmd, type Config } from '../../helpers/config';
import { tick, until } from '../../helpers/wait';
import { MiB, blockDevice, resources, stopFollower, userNs, type CgroupContext, type EventsFollower } from './context';

export function membershipCases(c: CgroupContext): void {
  const { test, withBundle, runDetached, capsaOk } = c;
  for (const [label, extra] of [['', undefined], [' (with a user namespace: joined by cgroup.procs, not CLONE_INTO_CGROUP)', userNs]] as const) {
    test(`init and exec'd processes are in the container's cgroup in every hierarchy${label}`, async () => {
      await withBundle(all(cmd('sleep', 'forever'), extra), async (b) => {
        const { pid, cg } = await runDetached(b);
        assert.ok(cg.path.includes(b.id), `${cg.path} is the container's own cgroup`);
        const init = cgroupsOf(pid);
        if (LAYOUT !== 'v1') assert.ok(init.has('0::'), 'a cgroup2 line');
        if (V2) assert.is(init.size, 1, 'pure v2: only the 0:: line');
        for (const [h, p] of init) assert.is(p, cg.path, `init, hierarchy ${h}`);
        assert.ok(cg.procs().includes(pid), 'cgroup.procs lists the init');
        // an exec'd process reads its own /proc/self/cgroup (no cgroup namespace here)
        const r = await capsaOk(['exec', b.id, '/bin/testinit', 'cgroup']);
        const lines = r.stdout.trim().split('\n');
        assert.is(lines.length, init.size, r.stdout);
        for (const l of lines) assert.is(l.slice(l.lastIndexOf(':') + 1), cg.path, `exec: ${l}`);
      });
    });
  }
}

const fieldConfig = (dev: { major: number; minor: number } | undefined, hugetlb: boolean) => resources({
  memory: { limit: 64 * MiB, reservation: 32 * MiB, swap: 96 * MiB, ...(V2 ? {} : { swappiness: 10, disableOOMKiller: true, kernelTCP: 16 * MiB }) },
  cpu: { shares: 512, quota: 50_000, period: 100_000, burst: 10_000, cpus: '0', mems: '0' },
  pids: { limit: 100 },
  ...(dev ? {
    blockIO: {
      ...(V2 ? { weight: 500 } : {}),
      throttleReadBpsDevice: [{ ...dev, rate: 1 * MiB }], throttleWriteBpsDevice: [{ ...dev, rate: 2 * MiB }],
      throttleReadIOPSDevice: [{ ...dev, rate: 100 }], throttleWriteIOPSDevice: [{ ...dev, rate: 200 }],
    },
  } : {}),
  ...(hugetlb ? { hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }] } : {}),
});

export function limitCases(c: CgroupContext): void {
  const { test, withBundle, runDetached, created, capsa, capsaOk, state, waitStatus } = c;

  test(`every linux.resources field this ${LAYOUT} host supports lands in its cgroup file`, async () => {
    const dev = blockDevice();
    const hugetlb = fs.existsSync('/sys/kernel/mm/hugepages/hugepages-2048kB');
    await withBundle(all(cmd('sleep', 'forever'), fieldConfig(dev, hugetlb)), async (b) => {
      const { cg } = await runDetached(b);
      const d = dev ? `${dev.major}:${dev.minor}` : '';
      const expect: [string, string][] = V2 ? [
        ['memory.max', String(64 * MiB)], ['memory.low', String(32 * MiB)],
        ['cpu.weight', '20'], ['cpu.max', '50000 100000'], ['cpu.max.burst', '10000'],
        ['cpuset.cpus', '0'], ['cpuset.mems', '0'], ['pids.max', '100'],
      ] : [
        ['memory.limit_in_bytes', String(64 * MiB)], ['memory.soft_limit_in_bytes', String(32 * MiB)],
        ['memory.memsw.limit_in_bytes', String(96 * MiB)], ['memory.swappiness', '10'], ['memory.kmem.tcp.limit_in_bytes', String(16 * MiB)],
        ['cpu.shares', '512'], ['cpu.cfs_quota_us', '50000'], ['cpu.cfs_period_us', '100000'], ['cpu.cfs_burst_us', '10000'],
        ['cpuset.cpus', '0'], ['cpuset.mems', '0'], ['pids.max', '100'],
      ];
      for (const [file, value] of expect) assert.is(cg.read(file), value, file);
      if (V2 && cg.exists('memory.swap.max')) assert.is(cg.read('memory.swap.max'), String(32 * MiB), 'memory+swap 96M - memory 64M');
      if (!V2) assert.is(cg.keyed('memory.oom_control').get('oom_kill_disable'), 1, 'disableOOMKiller');
      if (dev && V2) {
        assert.is(cg.read('io.max'), `${d} rbps=${1 * MiB} wbps=${2 * MiB} riops=100 wiops=200`);
        const weight = cg.exists('io.bfq.weight') ? cg.read('io.bfq.weight') : cg.read('io.weight');
        assert.match(weight, /^default (500|4950)$/, `io weight: ${weight}`);
      }
      if (dev && !V2) {
        assert.is(cg.read('blkio.throttle.read_bps_device'), `${d} ${1 * MiB}`);
        assert.is(cg.read('blkio.throttle.write_iops_device'), `${d} 200`);
      }
      // hugetlb: the v2 file (on this hybrid host it lives on the cgroup2 side only)
      if (hugetlb && LAYOUT !== 'v1') assert.is(fs.readFileSync(`${cg.dir('unified')}/hugetlb.2MB.max`, 'utf8').trim(), String(4 * MiB));
    });
  });

  test('cpu.idle: an idle container reads 1 in cpu.idle (and the kernel drops its weight to the minimum)', async () => {
    await withBundle(all(cmd('sleep', 'forever'), resources({ cpu: { idle: 1 } })), async (b) => {
      const { cg } = await runDetached(b);
      assert.is(cg.read('cpu.idle'), '1');
      // the kernel reports the weight of an idle group as the lowest there is
      if (V2) assert.is(cg.read('cpu.weight'), '0');
      else assert.is(cg.read('cpu.shares'), '3');
    });
  });

  const MEM_LIMIT = 32 * MiB;
  const memLimit: Config = resources({ memory: { limit: MEM_LIMIT, swap: MEM_LIMIT } });

  test('memory limit: a hog past it is OOM-killed, so `capsa run` exits 137', async () => {
    await withBundle(all(memLimit, cmd('hog', '200')), async (b) => {
      const r = await capsa(['run', '-b', b.dir, b.id], { timeoutMs: 120_000 });
      assert.is(r.code, 137, `exit ${r.code}, stdout ${r.stdout}, stderr ${r.stderr}`);
      assert.not.match(r.stdout, 'allocated', 'the 200 MiB allocation never completed');
    });
  });

  test('memory limit: the limit files hold it while a container under it runs', async () => {
    await withBundle(all(memLimit, cmd('hog', '8')), async (b) => {
      const { outFile, cg } = await runDetached(b);
      await until('the 8 MiB hog to allocate', () => (fs.readFileSync(outFile, 'utf8').includes('allocated') ? true : undefined), 60_000);
      assert.is(cg.int(FILES.memoryLimit), MEM_LIMIT);
      if (V2) {
        if (cg.exists('memory.swap.max')) assert.is(cg.read('memory.swap.max'), '0', 'memory+swap = memory: no swap');
      } else assert.is(cg.int('memory.memsw.limit_in_bytes'), MEM_LIMIT);
      const usage = cg.int(FILES.memoryUsage);
      assert.ok(usage >= 8 * MiB && usage <= MEM_LIMIT, `usage ${usage} is the hog's 8 MiB, under the limit`);
      assert.is((await state(b.id)).status, 'running');
    });
  });

  test('memory limit: `capsa events` reports {"type":"oom"} when the OOM killer hits the container', async () => {
    await withBundle(all(memLimit, cmd('hog', '200')), async (b) => {
      let events: EventsFollower | undefined;
      try {
        const { cg } = await created(b);
        assert.is(cg.int(FILES.memoryLimit), MEM_LIMIT, 'the limit is in place before the process starts');
        events = c.followEvents(b.id);
        const ev = events;
        // the first stats line means events has taken its OOM baseline
        await until('the first stats event', () => (ev.lines().some((e) => e.type === 'stats') ? true : undefined), 60_000);
        await capsaOk(['start', b.id]);
        // events ends by itself once the container has stopped
        let timer: NodeJS.Timeout | undefined;
        const code = await Promise.race([ev.exited, new Promise((r) => { timer = setTimeout(() => r('still running after 120 s'), 120_000); })]);
        clearTimeout(timer);
        assert.is(code, 0, `capsa events ended with ${code}: ${ev.stderr()}`);
        const ooms = ev.lines().filter((e) => e.type === 'oom');
        assert.equal(ooms, [{ type: 'oom', id: b.id }], JSON.stringify(ev.lines()));
        assert.is((await state(b.id)).status, 'stopped');
        // the kernel's own count (systemd may remove a stopped scope's dir: read it only if still there)
        if (cg.exists(FILES.oomEvents)) assert.ok((cg.keyed(FILES.oomEvents).get('oom_kill') ?? 0) >= 1);
      } finally {
        await stopFollower(events);
      }
    });
  });

  test('pids limit: fork fails with EAGAIN inside the container, and pids.max reads it', async () => {
    await withBundle(all(resources({ pids: { limit: 8 } }), cmd('forkbomb', '50')), async (b) => {
      const { cg, outFile } = await created(b);
      assert.is(cg.read('pids.max'), '8');
      await capsaOk(['start', b.id]);
      await waitStatus(b.id, 'stopped');
      const m = /^forked=(\d+) error=(\S+)$/m.exec(fs.readFileSync(outFile, 'utf8'));
      assert.ok(m, `forkbomb output: ${fs.readFileSync(outFile, 'utf8')}`);
      assert.is(m![2], 'EAGAIN');
      assert.ok(Number(m![1]) < 8 && Number(m![1]) > 0, `forked ${m![1]} children with the init counted against 8`);
      if (cg.exists('pids.events')) assert.ok((cg.keyed('pids.events').get('max') ?? 0) > 0, 'the pids controller counted refused forks');
    });
  });

  for (const limit of [1, 0]) {
    test(`pids limit ${limit} (runtime-spec 1.3: 0 is a real limit): the container starts, pids.max reads ${limit}, its first fork fails`, async () => {
      await withBundle(all(resources({ pids: { limit } }), cmd('forkbomb', '1')), async (b) => {
        const { cg, outFile } = await created(b);
        assert.is(cg.read('pids.max'), String(limit));
        await capsaOk(['start', b.id]);
        await waitStatus(b.id, 'stopped');
        assert.is(fs.readFileSync(outFile, 'utf8'), 'forked=0 error=EAGAIN\n');
      });
    });
  }

  test('cpu quota: the quota files hold it and a spinning container is throttled to it', async () => {
    const QUOTA = 10_000;
    const PERIOD = 100_000;
    await withBundle(all(resources({ cpu: { quota: QUOTA, period: PERIOD } }), cmd('spin')), async (b) => {
      const { cg } = await runDetached(b);
      if (V2) assert.is(cg.read('cpu.max'), `${QUOTA} ${PERIOD}`);
      else {
        assert.is(cg.int('cpu.cfs_quota_us'), QUOTA);
        assert.is(cg.int('cpu.cfs_period_us'), PERIOD);
      }
      const throttled = () => cg.keyed('cpu.stat').get('nr_throttled') ?? 0;
      // usage in ns: v1 cpuacct.usage, v2 cpu.stat usage_usec
      const usage = () => (V2 ? (cg.keyed('cpu.stat').get('usage_usec') ?? 0) * 1000 : cg.int('cpuacct.usage'));
      await until('cpu.stat nr_throttled > 0', () => (throttled() > 0 ? true : undefined), 30_000);
      const usage0 = usage();
      const t0 = process.hrtime.bigint();
      const throttled0 = throttled();
      await tick(2000);
      const used = usage() - usage0;
      const wallNs = Number(process.hrtime.bigint() - t0);
      const share = used / wallNs;
      // an unthrottled spin loop gets a whole CPU; the quota allows 10% plus a
      // period's worth at the window's edges
      assert.ok(share > 0, `the spin loop ran (${used} ns)`);
      assert.ok(share <= QUOTA / PERIOD + 0.1, `spin loop got ${(share * 100).toFixed(1)}% of a CPU, quota is ${(100 * QUOTA) / PERIOD}%`);
      assert.ok(throttled() > throttled0, `throttled in the window too (${throttled0} → ${throttled()})`);
      // a throttled spinner is still deleted at once
      await capsaOk(['delete', '--force', b.id]);
    });
  });
}

export function updateCases(c: CgroupContext): void {
  const { test, withBundle, runDetached, capsaOk, state } = c;
  const MEM_LIMIT = 32 * MiB;

  test('update --memory raises the memory limit of a running container', async () => {
    await withBundle(all(resources({ memory: { limit: MEM_LIMIT } }), cmd('sleep', 'forever')), async (b) => {
      const { cg } = await runDetached(b);
      assert.is(cg.int(FILES.memoryLimit), MEM_LIMIT);
      await capsaOk(['update', '--memory', '64M', b.id]);
      assert.is(cg.int(FILES.memoryLimit), 64 * MiB);
      assert.is((await state(b.id)).status, 'running');
    });
  });

  test('update --resources - (JSON on stdin) raises memory and memory+swap together', async () => {
    await withBundle(all(resources({ memory: { limit: MEM_LIMIT, swap: MEM_LIMIT } }), cmd('sleep', 'forever')), async (b) => {
      const { cg } = await runDetached(b);
      assert.is(cg.int(FILES.memoryLimit), MEM_LIMIT);
      const json = JSON.stringify({ memory: { limit: 96 * MiB, swap: 128 * MiB } });
      await capsaOk(['update', '--resources', '-', b.id], { input: json });
      assert.is(cg.int(FILES.memoryLimit), 96 * MiB);
      if (!V2) assert.is(cg.int('memory.memsw.limit_in_bytes'), 128 * MiB);
      else if (cg.exists('memory.swap.max')) assert.is(cg.int('memory.swap.max'), 32 * MiB, 'swap alone: 128M - 96M');
    });
  });

  test('update --pids-limit raises pids.max, and forks the old limit refused then work', async () => {
    await withBundle(all(resources({ pids: { limit: 4 } }), cmd('sleep', 'forever')), async (b) => {
      const { cg } = await runDetached(b);
      assert.is(cg.read('pids.max'), '4');
      // init + the exec'd process + at most 2 children fill the old limit (fewer
      // while exec's short-lived setup process is still being released)
      const before = await capsaOk(['exec', b.id, '/bin/testinit', 'forkbomb', '5']);
      const m = /^forked=(\d+) error=EAGAIN\n$/.exec(before.stdout);
      assert.ok(m && Number(m[1]) <= 2, `at the old limit: ${before.stdout}`);
      await capsaOk(['update', '--pids-limit', '20', b.id]);
      assert.is(cg.read('pids.max'), '20');
      const after = await capsaOk(['exec', b.id, '/bin/testinit', 'forkbomb', '5']);
      assert.is(after.stdout, 'forked=5 error=none\n');
    });
  });

  test('update --cpu-quota/--cpu-period/--cpu-burst/--cpu-idle/--cpuset-cpus land in the cpu files', async () => {
    await withBundle(cmd('sleep', 'forever'), async (b) => {
      const { cg } = await runDetached(b);
      await capsaOk(['update', '--cpu-quota', '20000', '--cpu-period', '50000', '--cpu-burst', '5000', '--cpuset-cpus', '0', b.id]);
      if (V2) {
        assert.is(cg.read('cpu.max'), '20000 50000');
        assert.is(cg.read('cpu.max.burst'), '5000');
      } else {
        assert.is(cg.read('cpu.cfs_quota_us'), '20000');
        assert.is(cg.read('cpu.cfs_period_us'), '50000');
        assert.is(cg.read('cpu.cfs_burst_us'), '5000');
      }
      assert.is(cg.read('cpuset.cpus'), '0');
      // only the period changes: the quota stays
      await capsaOk(['update', '--cpu-period', '100000', b.id]);
      assert.is(V2 ? cg.read('cpu.max') : `${cg.read('cpu.cfs_quota_us')} ${cg.read('cpu.cfs_period_us')}`, '20000 100000');
      await capsaOk(['update', '--cpu-idle', '1', b.id]);
      assert.is(cg.read('cpu.idle'), '1');
      await capsaOk(['update', '--cpu-idle', '0', b.id]);
      assert.is(cg.read('cpu.idle'), '0');
    });
  });
}
