// Resource limits, as root with real containers on this host's cgroups: each
// limit is read back from cgroupfs and shown to act on the container (the
// OOM killer, fork failing, CPU throttling, the freezer, the devices
// controller), plus ps, kill --all, update and bad input. Nothing here waits
// to win a race: waits poll for an event the kernel reports, with a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Spec } from '../../src/spec/types';
import { makeBundle, type TestBundle } from '../helpers/bundle';
import { CAPSA_BIN, capsaSuite, capsaToFilesIn, messageOf } from '../helpers/capsa';
import { all, cmd, type Config } from '../helpers/config';
import { snapshot } from '../helpers/leaks';
import { stateHelpersFor, withBundleFor } from '../helpers/run';
import { tick, until } from '../helpers/wait';

const { test, root, capsa, capsaOk } = capsaSuite('cgroups');

const ID_PREFIX = 'capsa-test-cg';
const capsaToFiles = capsaToFilesIn(root);
const withBundle = withBundleFor(capsa, { idPrefix: ID_PREFIX });
const MiB = 1024 * 1024;

// ---- local helpers ----

const resources = (r: NonNullable<NonNullable<Spec['linux']>['resources']>): Config => (s) => {
  s.linux!.resources = { ...(s.linux!.resources ?? {}), ...r };
};
const tmpfsTmp: Config = (s) => { s.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=1m'] }); };

/** The container's dir in a v1 hierarchy (capsa's default place). */
const cgDir = (controller: string, id: string) => `/sys/fs/cgroup/${controller}/${id}`;
const cgRead = (controller: string, id: string, file: string) => fs.readFileSync(path.join(cgDir(controller, id), file), 'utf8').trim();
const cgInt = (controller: string, id: string, file: string) => Number(cgRead(controller, id, file));
/** "key value" lines (cpu.stat, memory.oom_control, pids.events) as a map. */
function cgKeyed(controller: string, id: string, file: string): Map<string, number> {
  return new Map(cgRead(controller, id, file).split('\n').map((l) => { const [k, v] = l.split(/\s+/); return [k!, Number(v)]; }));
}

const { state, waitStatus } = stateHelpersFor({ capsa, capsaOk });

/** `capsa run -d`; returns the running container's init pid (host pid namespace). */
async function runDetached(b: TestBundle): Promise<{ pid: number; outFile: string }> {
  const r = await capsaToFiles(['run', '-d', '-b', b.dir, b.id], b.dir);
  assert.is(r.code, 0, `run -d exited ${r.code}: ${r.stderr}`);
  const s = await state(b.id);
  assert.is(s.status, 'running');
  return { pid: s.pid, outFile: r.outFile };
}

/** A live (not zombie) process's field from /proc/<pid>/status, or undefined. */
function procStatus(pid: number, key: string): string | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    if (/^State:\s+[ZX]/m.test(text)) return undefined;
    return (new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text) ?? [])[1]?.trim();
  } catch {
    return undefined;
  }
}

/** A long-running `capsa events ID` whose JSON lines are collected as they come. */
interface EventsFollower { lines: () => Record<string, unknown>[]; exited: Promise<number | null>; child: ChildProcess; stderr: () => string }

function followEvents(id: string): EventsFollower {
  const child = spawn(CAPSA_BIN, ['--root', root, 'events', id], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => { child.on('close', (code) => resolve(code)); child.on('error', () => resolve(null)); });
  const lines = () => out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, exited, child, stderr: () => err };
}

function stopFollower(f: EventsFollower | undefined): Promise<unknown> {
  if (!f) return Promise.resolve();
  if (f.child.exitCode === null && f.child.signalCode === null) f.child.kill('SIGKILL');
  return f.exited;
}

/** Every cgroup dir (any hierarchy, any depth the leak walker covers) whose name contains `mark`. */
const cgroupDirsNamed = (mark: string) => snapshot([]).cgroups.filter((c) => c.includes(mark));

// ---- membership ----

/** hierarchy → cgroup path from /proc/PID/cgroup ("0::" is the cgroup2 one). */
function cgroupsOf(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [num, ctrls, p] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1, line.lastIndexOf(':')), line.slice(line.lastIndexOf(':') + 1)];
    out.set(num === '0' ? '0::' : ctrls!, p!);
  }
  return out;
}

const userNs: Config = (s) => {
  s.linux!.namespaces!.push({ type: 'user' });
  s.linux!.uidMappings = [{ containerID: 0, hostID: 0, size: 65536 }];
  s.linux!.gidMappings = [{ containerID: 0, hostID: 0, size: 65536 }];
};

for (const [label, extra] of [['', undefined], [' (with a user namespace)', userNs]] as const) {
  test(`init and exec'd processes are in the container's cgroup in every hierarchy, cgroup2 included${label}`, async () => {
    await withBundle(all(cmd('sleep', 'forever'), extra), async (b) => {
      const { pid } = await runDetached(b);
      const want = `/${b.id}`;
      const init = cgroupsOf(pid);
      assert.ok(init.has('0::'), 'this host has a cgroup2 line');
      for (const [h, p] of init) assert.is(p, want, `init, hierarchy ${h}`);
      // cgroup.procs agrees, in a v1 hierarchy and on the cgroup2 side
      assert.ok(cgRead('memory', b.id, 'cgroup.procs').split('\n').map(Number).includes(pid));
      assert.ok(fs.readFileSync(`/sys/fs/cgroup/unified/${b.id}/cgroup.procs`, 'utf8').split('\n').map(Number).includes(pid));
      // an exec'd process: it reads its own /proc/self/cgroup (no cgroup namespace here)
      const r = await capsaOk(['exec', b.id, '/bin/testinit', 'cgroup']);
      const lines = r.stdout.trim().split('\n');
      assert.is(lines.length, init.size, r.stdout);
      for (const l of lines) assert.is(l.slice(l.lastIndexOf(':') + 1), want, `exec: ${l}`);
    });
  });
}

// ---- every field this host has ----

test('every linux.resources field this hybrid host supports lands in its cgroup file', async () => {
  const vda = fs.readFileSync('/sys/block/vda/dev', 'utf8').trim().split(':').map(Number) as [number, number];
  const dev = { major: vda[0], minor: vda[1] };
  const config = all(cmd('sleep', 'forever'), resources({
    memory: { limit: 64 * MiB, reservation: 32 * MiB, swap: 96 * MiB, swappiness: 10, disableOOMKiller: true, kernelTCP: 16 * MiB, kernel: 48 * MiB },
    cpu: { shares: 512, quota: 50_000, period: 100_000, burst: 10_000, cpus: '0', mems: '0' },
    pids: { limit: 100 },
    blockIO: {
      throttleReadBpsDevice: [{ ...dev, rate: 1 * MiB }], throttleWriteBpsDevice: [{ ...dev, rate: 2 * MiB }],
      throttleReadIOPSDevice: [{ ...dev, rate: 100 }], throttleWriteIOPSDevice: [{ ...dev, rate: 200 }],
    },
    hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }],
  }));
  await withBundle(config, async (b) => {
    const r = await capsaToFiles(['run', '-d', '-b', b.dir, b.id], b.dir);
    assert.is(r.code, 0, r.stderr);
    const expect: [string, string, string][] = [
      ['memory', 'memory.limit_in_bytes', String(64 * MiB)],
      ['memory', 'memory.soft_limit_in_bytes', String(32 * MiB)],
      ['memory', 'memory.memsw.limit_in_bytes', String(96 * MiB)],
      ['memory', 'memory.swappiness', '10'],
      ['memory', 'memory.kmem.tcp.limit_in_bytes', String(16 * MiB)],
      ['cpu', 'cpu.shares', '512'],
      ['cpu', 'cpu.cfs_quota_us', '50000'],
      ['cpu', 'cpu.cfs_period_us', '100000'],
      ['cpu', 'cpu.cfs_burst_us', '10000'],
      ['cpuset', 'cpuset.cpus', '0'],
      ['cpuset', 'cpuset.mems', '0'],
      ['pids', 'pids.max', '100'],
      ['blkio', 'blkio.throttle.read_bps_device', `${dev.major}:${dev.minor} ${1 * MiB}`],
      ['blkio', 'blkio.throttle.write_bps_device', `${dev.major}:${dev.minor} ${2 * MiB}`],
      ['blkio', 'blkio.throttle.read_iops_device', `${dev.major}:${dev.minor} 100`],
      ['blkio', 'blkio.throttle.write_iops_device', `${dev.major}:${dev.minor} 200`],
    ];
    for (const [ctrl, file, value] of expect) assert.is(cgRead(ctrl, b.id, file), value, `${ctrl}/${file}`);
    assert.is(cgKeyed('memory', b.id, 'memory.oom_control').get('oom_kill_disable'), 1, 'disableOOMKiller');
    // kernel memory: set where the kernel still takes it, else a warning, never a failure
    const kmem = cgRead('memory', b.id, 'memory.kmem.limit_in_bytes');
    assert.ok(kmem === String(48 * MiB) || /memory\.kernel/.test(r.stderr), `kmem ${kmem}, stderr: ${r.stderr}`);
    // hugetlb lives only on the cgroup2 side of this host
    assert.is(fs.readFileSync(`/sys/fs/cgroup/unified/${b.id}/hugetlb.2MB.max`, 'utf8').trim(), String(4 * MiB));
  });
});

test('cpu.idle: an idle container reads 1 in cpu.idle (and the kernel drops its weight to the minimum)', async () => {
  await withBundle(all(cmd('sleep', 'forever'), resources({ cpu: { idle: 1 } })), async (b) => {
    await runDetached(b);
    assert.is(cgRead('cpu', b.id, 'cpu.idle'), '1');
    assert.is(cgRead('cpu', b.id, 'cpu.shares'), '3');
  });
});

// ---- memory ----

const MEM_LIMIT = 32 * MiB;
const memLimit: Config = resources({ memory: { limit: MEM_LIMIT, swap: MEM_LIMIT } });

test('memory limit: a hog past it is OOM-killed, so `capsa run` exits 137', async () => {
  await withBundle(all(memLimit, cmd('hog', '200')), async (b) => {
    const r = await capsa(['run', '-b', b.dir, b.id], { timeoutMs: 120_000 });
    assert.is(r.code, 137, `exit ${r.code}, stdout ${r.stdout}, stderr ${r.stderr}`);
    assert.not.match(r.stdout, 'allocated', 'the 200 MiB allocation never completed');
  });
});

test('memory limit: memory.limit_in_bytes and memsw hold it while a container under it runs', async () => {
  await withBundle(all(memLimit, cmd('hog', '8')), async (b) => {
    const { outFile } = await runDetached(b);
    await until('the 8 MiB hog to allocate', () => (fs.readFileSync(outFile, 'utf8').includes('allocated') ? true : undefined));
    assert.is(cgInt('memory', b.id, 'memory.limit_in_bytes'), MEM_LIMIT);
    assert.is(cgInt('memory', b.id, 'memory.memsw.limit_in_bytes'), MEM_LIMIT);
    const usage = cgInt('memory', b.id, 'memory.usage_in_bytes');
    assert.ok(usage >= 8 * MiB && usage <= MEM_LIMIT, `usage ${usage} is the hog's 8 MiB, under the limit`);
    assert.is((await state(b.id)).status, 'running');
  });
});

test('memory limit: `capsa events` reports {"type":"oom"} when the OOM killer hits the container', async () => {
  await withBundle(all(memLimit, cmd('hog', '200')), async (b) => {
    let events: EventsFollower | undefined;
    try {
      const c = await capsaToFiles(['create', '-b', b.dir, b.id], b.dir);
      assert.is(c.code, 0, c.stderr);
      assert.is(cgInt('memory', b.id, 'memory.limit_in_bytes'), MEM_LIMIT, 'the limit is in place before the process starts');
      events = followEvents(b.id);
      const ev = events;
      // the first stats line means events has taken its OOM baseline
      await until('the first stats event', () => (ev.lines().some((e) => e.type === 'stats') ? true : undefined));
      await capsaOk(['start', b.id]);
      // events ends by itself once the container has stopped
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([ev.exited, new Promise((r) => { timer = setTimeout(() => r('still running after 60 s'), 60_000); })]);
      clearTimeout(timer);
      assert.is(code, 0, `capsa events ended with ${code}: ${ev.stderr()}`);
      const ooms = ev.lines().filter((e) => e.type === 'oom');
      assert.equal(ooms, [{ type: 'oom', id: b.id }], JSON.stringify(ev.lines()));
      assert.is((await state(b.id)).status, 'stopped');
      assert.ok((cgKeyed('memory', b.id, 'memory.oom_control').get('oom_kill') ?? 0) >= 1);
    } finally {
      await stopFollower(events);
    }
  });
});

// ---- pids ----

test('pids limit: fork fails with EAGAIN inside the container, and pids.max reads it', async () => {
  await withBundle(all(resources({ pids: { limit: 8 } }), cmd('forkbomb', '50')), async (b) => {
    const c = await capsaToFiles(['create', '-b', b.dir, b.id], b.dir);
    assert.is(c.code, 0, c.stderr);
    assert.is(cgRead('pids', b.id, 'pids.max'), '8');
    await capsaOk(['start', b.id]);
    await waitStatus(b.id, 'stopped');
    const m = /^forked=(\d+) error=(\S+)$/m.exec(fs.readFileSync(c.outFile, 'utf8'));
    assert.ok(m, `forkbomb output: ${fs.readFileSync(c.outFile, 'utf8')}`);
    assert.is(m![2], 'EAGAIN');
    assert.ok(Number(m![1]) < 8 && Number(m![1]) > 0, `forked ${m![1]} children with the init counted against 8`);
    assert.ok((cgKeyed('pids', b.id, 'pids.events').get('max') ?? 0) > 0, 'the pids controller counted refused forks');
  });
});

// ---- cpu ----

test('cpu quota: cfs_quota_us/cfs_period_us hold it and a spinning container is throttled to it', async () => {
  const QUOTA = 10_000;
  const PERIOD = 100_000;
  await withBundle(all(resources({ cpu: { quota: QUOTA, period: PERIOD } }), cmd('spin')), async (b) => {
    await runDetached(b);
    assert.is(cgInt('cpu', b.id, 'cpu.cfs_quota_us'), QUOTA);
    assert.is(cgInt('cpu', b.id, 'cpu.cfs_period_us'), PERIOD);
    // the kernel throttles it: wait for the scheduler to report it
    await until('cpu.stat nr_throttled > 0', () => ((cgKeyed('cpu', b.id, 'cpu.stat').get('nr_throttled') ?? 0) > 0 ? true : undefined));
    // measure: CPU time the cgroup got over a window of at least 20 periods
    const usage0 = cgInt('cpuacct', b.id, 'cpuacct.usage');
    const t0 = process.hrtime.bigint();
    const throttled0 = cgKeyed('cpu', b.id, 'cpu.stat').get('nr_throttled')!;
    await tick(2000);
    const usage1 = cgInt('cpuacct', b.id, 'cpuacct.usage');
    const wallNs = Number(process.hrtime.bigint() - t0);
    const throttled1 = cgKeyed('cpu', b.id, 'cpu.stat').get('nr_throttled')!;
    const share = (usage1 - usage0) / wallNs;
    // an unthrottled spin loop gets a whole CPU; the quota allows 10% plus a
    // period's worth at the window's edges
    assert.ok(share > 0, `the spin loop ran (${usage1 - usage0} ns)`);
    assert.ok(share <= QUOTA / PERIOD + 0.1, `spin loop got ${(share * 100).toFixed(1)}% of a CPU, quota is ${(100 * QUOTA) / PERIOD}%`);
    assert.ok(throttled1 > throttled0, `throttled in the window too (${throttled0} → ${throttled1})`);
  });
});

// ---- freezer ----

test('pause freezes a counting process and resume thaws it', async () => {
  await withBundle(all(tmpfsTmp, cmd('count', '/tmp/counter')), async (b) => {
    const { pid } = await runDetached(b);
    const counterFile = `/proc/${pid}/root/tmp/counter`;
    const counter = () => {
      try { return Number(fs.readFileSync(counterFile, 'utf8').trim()); } catch { return undefined; }
    };
    await until('the counter to start', () => ((counter() ?? 0) > 2 ? true : undefined));

    await capsaOk(['pause', b.id]);
    assert.is((await state(b.id)).status, 'paused');
    assert.is(cgRead('freezer', b.id, 'freezer.state'), 'FROZEN');
    const frozenAt = counter();
    assert.ok(frozenAt !== undefined);
    await tick(300); // 30 of the counter's 10 ms steps
    assert.is(counter(), frozenAt, 'the counter did not move while frozen');
    assert.is(cgRead('freezer', b.id, 'freezer.state'), 'FROZEN');

    await capsaOk(['resume', b.id]);
    assert.is((await state(b.id)).status, 'running');
    assert.is(cgRead('freezer', b.id, 'freezer.state'), 'THAWED');
    await until('the counter to move again', () => ((counter() ?? 0) > frozenAt! ? true : undefined));
  });
});

test('a paused container can be force-deleted (the kill reaches frozen processes)', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    const { pid } = await runDetached(b);
    await capsaOk(['pause', b.id]);
    assert.is(cgRead('freezer', b.id, 'freezer.state'), 'FROZEN');
    await capsaOk(['delete', '--force', b.id]);
    assert.not.ok(fs.existsSync(cgDir('freezer', b.id)), 'the freezer dir is gone');
    await until(`init ${pid} to die`, () => (procStatus(pid, 'State') === undefined ? true : undefined));
  });
});

// ---- ps and kill --all ----

test('ps lists the init and its forked child; kill --all KILL kills both', async () => {
  await withBundle(cmd('fork-sleep', '600'), async (b) => {
    const { pid: init, outFile } = await runDetached(b);
    const nsChild = await until('the child pid line', () => (/^(\d+)\n/.exec(fs.readFileSync(outFile, 'utf8')) ?? [])[1]);

    const pids = JSON.parse((await capsaOk(['ps', '--format', 'json', b.id])).stdout) as number[];
    assert.is(pids.length, 2, `ps --format json: ${JSON.stringify(pids)}`);
    assert.ok(pids.includes(init), 'the init is listed');
    const child = pids.find((p) => p !== init)!;
    assert.is(procStatus(child, 'PPid'), String(init), 'the other one is the init\'s child');
    // its pid inside the container is the one it printed
    assert.is(procStatus(child, 'NSpid')!.split(/\s+/).pop(), nsChild);
    const procs = cgRead('pids', b.id, 'cgroup.procs').split('\n').map(Number).sort();
    assert.equal(procs, [...pids].sort(), 'both are in the container\'s cgroup');

    // the table form: host ps lines for exactly those pids
    const table = (await capsaOk(['ps', b.id])).stdout.trimEnd().split('\n');
    const pidCol = table[0]!.trim().split(/\s+/).indexOf('PID');
    assert.ok(pidCol >= 0, table[0]);
    assert.equal(table.slice(1).map((l) => Number(l.trim().split(/\s+/)[pidCol])).sort(), [...pids].sort(), table.join('\n'));

    await capsaOk(['kill', '--all', b.id, 'KILL']);
    await waitStatus(b.id, 'stopped');
    await until(`child ${child} to be gone`, () => (procStatus(child, 'State') === undefined ? true : undefined));
    assert.equal(JSON.parse((await capsaOk(['ps', '--format', 'json', b.id])).stdout), []);
  });
});

// ---- update ----

test('update --memory raises memory.limit_in_bytes of a running container', async () => {
  await withBundle(all(resources({ memory: { limit: MEM_LIMIT } }), cmd('sleep', 'forever')), async (b) => {
    await runDetached(b);
    assert.is(cgInt('memory', b.id, 'memory.limit_in_bytes'), MEM_LIMIT);
    await capsaOk(['update', '--memory', '64M', b.id]);
    assert.is(cgInt('memory', b.id, 'memory.limit_in_bytes'), 64 * MiB);
    assert.is((await state(b.id)).status, 'running');
  });
});

test('update --resources - (JSON on stdin) raises memory and memory+swap together', async () => {
  await withBundle(all(memLimit, cmd('sleep', 'forever')), async (b) => {
    await runDetached(b);
    assert.is(cgInt('memory', b.id, 'memory.limit_in_bytes'), MEM_LIMIT);
    assert.is(cgInt('memory', b.id, 'memory.memsw.limit_in_bytes'), MEM_LIMIT);
    const json = JSON.stringify({ memory: { limit: 96 * MiB, swap: 128 * MiB } });
    await capsaOk(['update', '--resources', '-', b.id], { input: json });
    assert.is(cgInt('memory', b.id, 'memory.limit_in_bytes'), 96 * MiB);
    assert.is(cgInt('memory', b.id, 'memory.memsw.limit_in_bytes'), 128 * MiB);
  });
});

test('update --pids-limit raises pids.max, and forks the old limit refused then work', async () => {
  await withBundle(all(resources({ pids: { limit: 4 } }), cmd('sleep', 'forever')), async (b) => {
    await runDetached(b);
    assert.is(cgRead('pids', b.id, 'pids.max'), '4');
    // init + the exec'd process + at most 2 children fill the old limit (fewer
    // while exec's short-lived setup process is still being released)
    const before = await capsaOk(['exec', b.id, '/bin/testinit', 'forkbomb', '5']);
    const m = /^forked=(\d+) error=EAGAIN\n$/.exec(before.stdout);
    assert.ok(m && Number(m[1]) <= 2, `at the old limit: ${before.stdout}`);
    await capsaOk(['update', '--pids-limit', '20', b.id]);
    assert.is(cgRead('pids', b.id, 'pids.max'), '20');
    const after = await capsaOk(['exec', b.id, '/bin/testinit', 'forkbomb', '5']);
    assert.is(after.stdout, 'forked=5 error=none\n');
  });
});

// ---- devices ----

const KMSG = { type: 'c', path: '/dev/kmsg', major: 1, minor: 11, fileMode: 0o600, uid: 0, gid: 0 } as const;
const withKmsg: Config = (s) => { s.linux!.devices = [...(s.linux!.devices ?? []), { ...KMSG }]; };
// reading /dev/kmsg also needs CAP_SYSLOG when kernel.dmesg_restrict is set:
// grant it, so only the device cgroup decides
const capSyslog: Config = (s) => {
  const c = s.process!.capabilities!;
  for (const set of ['bounding', 'effective', 'permitted'] as const) c[set] = [...(c[set] ?? []), 'CAP_SYSLOG'];
};
const deviceRules = (...rules: NonNullable<NonNullable<NonNullable<Spec['linux']>['resources']>['devices']>): Config => (s) => {
  s.linux!.resources = { ...(s.linux!.resources ?? {}), devices: [...(s.linux!.resources?.devices ?? []), ...rules] };
};

/** Runs the container in the foreground and returns testinit's one-line verdict ("ok" or an errno name). */
async function openIn(config: Config, devicesList?: (list: string[]) => void): Promise<string> {
  let verdict = '';
  await withBundle(config, async (b) => {
    const c = await capsaToFiles(['create', '-b', b.dir, b.id], b.dir);
    assert.is(c.code, 0, c.stderr);
    devicesList?.(cgRead('devices', b.id, 'devices.list').split('\n'));
    await capsaOk(['start', b.id]);
    await waitStatus(b.id, 'stopped');
    verdict = fs.readFileSync(c.outFile, 'utf8').trim();
  });
  return verdict;
}

test('devices: a deny rule after an allow makes opening the node fail with EPERM', async () => {
  const allowKmsg = { allow: true, type: 'c', major: 1, minor: 11, access: 'rwm' } as const;
  const denyKmsg = { allow: false, type: 'c', major: 1, minor: 11, access: 'rwm' } as const;
  // control: allowed, the node opens (so the node and CAP_SYSLOG are not what fails below)
  const allowed = await openIn(all(withKmsg, capSyslog, deviceRules(allowKmsg), cmd('open', '/dev/kmsg', 'r')), (list) => {
    assert.ok(list.includes('c 1:11 rwm'), `devices.list allows c 1:11: ${list.join(' | ')}`);
  });
  assert.is(allowed, 'ok');
  // the same, with the deny appended: the last rule wins
  const denied = await openIn(all(withKmsg, capSyslog, deviceRules(allowKmsg, denyKmsg), cmd('open', '/dev/kmsg', 'r')), (list) => {
    assert.not.ok(list.some((l) => l.startsWith('c 1:11 ')), `devices.list has no c 1:11: ${list.join(' | ')}`);
    assert.not.ok(list.includes('a *:* rwm'), 'not allow-all');
  });
  assert.is(denied, 'EPERM');
  // the node is there all the same: only the cgroup refused it
  const stat = await openIn(all(withKmsg, deviceRules(allowKmsg, denyKmsg), cmd('stat', '/dev/kmsg')));
  assert.is(stat, 'type=char mode=0600 uid=0 gid=0 major=1 minor=11');
});

test('devices: a default device (/dev/null) still opens beside a denied one, and partial access is enforced', async () => {
  const denyKmsg = { allow: false, type: 'c', major: 1, minor: 11, access: 'rwm' } as const;
  assert.is(await openIn(all(withKmsg, deviceRules(denyKmsg), cmd('open', '/dev/null', 'rw'))), 'ok');
  // read allowed, write not: r opens, w is refused by the cgroup
  const readOnly = { allow: true, type: 'c', major: 1, minor: 11, access: 'r' } as const;
  assert.is(await openIn(all(withKmsg, capSyslog, deviceRules(readOnly), cmd('open', '/dev/kmsg', 'r')), (list) => {
    assert.ok(list.includes('c 1:11 r'), list.join(' | '));
  }), 'ok');
  assert.is(await openIn(all(withKmsg, capSyslog, deviceRules(readOnly), cmd('open', '/dev/kmsg', 'w'))), 'EPERM');
});

// ---- bad input ----

/** `capsa create` must fail: exit 1, one stderr line naming `field`, and nothing left behind. */
async function expectRefused(config: Config, field: string, leftover: (id: string) => string[] = () => []): Promise<string> {
  const b = makeBundle({ config: all(config, cmd('sleep', 'forever')), idPrefix: ID_PREFIX });
  try {
    const r = await capsaToFiles(['create', '-b', b.dir, b.id], b.dir);
    assert.is(r.code, 1, `exit ${r.code}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
    const msg = messageOf(r.stderr);
    assert.ok(msg.includes(field), `"${msg}" names ${field}`);
    assert.not.ok(fs.existsSync(path.join(root, b.id)), 'no state dir');
    assert.equal(cgroupDirsNamed(b.id), [], 'no cgroup dir for the id');
    assert.equal(leftover(b.id), [], 'nothing else left behind');
    assert.is((await capsa(['state', b.id])).code, 1, 'the container does not exist');
    return msg;
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
}

test('a value the kernel rejects (a cpuset CPU this host lacks) is reported with the file and value written', async () => {
  const cpus = fs.readFileSync('/sys/fs/cgroup/cpuset/cpuset.effective_cpus', 'utf8').trim();
  const missing = '63';
  assert.not.ok(cpus.split(',').some((r) => { const [a, b = a] = r.split('-').map(Number); return 63 >= a! && 63 <= b!; }), `host has cpu ${missing}: ${cpus}`);
  const msg = await expectRefused(resources({ cpu: { cpus: missing } }), 'linux.resources.cpu.cpus');
  assert.match(msg, 'cpuset.cpus');
  assert.match(msg, `write ${missing} to /sys/fs/cgroup/cpuset/`);
});

test('bad input: a negative memory limit is refused', async () => {
  const msg = await expectRefused(resources({ memory: { limit: -5 * MiB } }), 'linux.resources.memory.limit');
  assert.match(msg, 'negative');
});

test('bad input: a linux.cgroupsPath with ".." is refused', async () => {
  const parent = `${ID_PREFIX}-parent-${process.pid}`;
  const escaped = `${ID_PREFIX}-escaped-${process.pid}`;
  await expectRefused((s) => { s.linux!.cgroupsPath = `${parent}/../../${escaped}`; }, 'linux.cgroupsPath', () => [...cgroupDirsNamed(parent), ...cgroupDirsNamed(escaped)]);
});

test('bad input: an unknown unified key is refused on this hybrid host', async () => {
  await expectRefused(resources({ unified: { 'memory.capsa_no_such_file': '1' } }), 'linux.resources.unified["memory.capsa_no_such_file"]');
});

test.run();
