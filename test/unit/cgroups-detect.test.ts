import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { cgroupHostAt, createCgroupManager, detectLayout, parseCgroupMounts, resolveCgroupPath, parseSystemdCgroupsPath, requireSystemd } from '../../src/cgroups';
import { hybridFixture, v1Fixture, v2Fixture } from '../fixtures/cgroups/fake-cgroupfs';

// This machine's mountinfo (hybrid).
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

// A typical systemd v1 host: combined cpu,cpuacct and net_cls,net_prio mounts, optional fields present.
const V1 = `25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,hugetlb
33 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset,clone_children
`;

const V2 = `22 1 0:21 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
23 1 0:5 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
`;

test('hybrid: v1 controllers plus cgroup2 at <root>/unified', () => {
  assert.is(detectLayout(HYBRID), 'hybrid');
  const h = parseCgroupMounts(HYBRID);
  assert.is(h.mountRoot, '/sys/fs/cgroup');
  assert.is(h.unified, '/sys/fs/cgroup/unified');
  assert.is(h.hierarchies.memory, '/sys/fs/cgroup/memory');
  assert.is(h.hierarchies['name=systemd'], '/sys/fs/cgroup/systemd');
  assert.not.ok(h.hierarchies.hugetlb);
});

test('v1: combined mounts map every controller to the shared dir', () => {
  assert.is(detectLayout(V1), 'v1');
  const h = parseCgroupMounts(V1);
  assert.is(h.hierarchies.cpu, '/sys/fs/cgroup/cpu,cpuacct');
  assert.is(h.hierarchies.cpuacct, '/sys/fs/cgroup/cpu,cpuacct');
  assert.is(h.hierarchies.net_prio, '/sys/fs/cgroup/net_cls,net_prio');
  assert.is(h.hierarchies.cpuset, '/sys/fs/cgroup/cpuset'); // clone_children is an option, not a controller
  assert.not.ok('clone_children' in h.hierarchies);
  assert.not.ok('xattr' in h.hierarchies);
  assert.is(h.unified, undefined);
});

test('v2: cgroup2 at the mount root', () => {
  assert.is(detectLayout(V2), 'v2');
  const h = parseCgroupMounts(V2);
  assert.equal(h, { layout: 'v2', mountRoot: '/sys/fs/cgroup', hierarchies: {}, unified: '/sys/fs/cgroup' });
});

test('v1 with a cgroup2 mount somewhere else is still v1', () => {
  assert.is(detectLayout(V1 + '50 1 0:40 / /mnt/cg2 rw - cgroup2 cgroup2 rw\n'), 'v1');
});

test('copies propagated into a container rootfs do not replace the host mounts', () => {
  const extra = '90 31 0:32 / /run/capsa/x/rootfs/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n';
  assert.is(parseCgroupMounts(extra + HYBRID).hierarchies.memory, '/sys/fs/cgroup/memory');
});

test('no cgroup mounts at all → UNSUPPORTED', () => {
  try {
    detectLayout('23 1 0:5 / /proc rw - proc proc rw\n');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).code, 'UNSUPPORTED');
  }
});

test('cgroupHostAt rebuilds the layout by scanning fixture trees', () => {
  for (const [make, layout] of [[v1Fixture, 'v1'], [v2Fixture, 'v2'], [hybridFixture, 'hybrid']] as const) {
    const fx = make();
    try {
      const h = cgroupHostAt(fx.root, { fs: fx.fs });
      assert.is(h.layout, layout);
      if (layout !== 'v2') assert.is(h.hierarchies.memory, path.join(fx.root, 'memory'));
      if (layout === 'hybrid') assert.is(h.unified, path.join(fx.root, 'unified'));
    } finally {
      fx.cleanup();
    }
  }
  // Combined dir names are split into controllers.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-cg-scan-'));
  try {
    fs.mkdirSync(path.join(root, 'cpu,cpuacct'));
    fs.mkdirSync(path.join(root, 'systemd'));
    const h = cgroupHostAt(root);
    assert.is(h.hierarchies.cpuacct, path.join(root, 'cpu,cpuacct'));
    assert.is(h.hierarchies['name=systemd'], path.join(root, 'systemd'));
  } finally {
    fs.rmSync(root, { recursive: true });
  }
});

// ---- paths

test('default path is /<id> (as crun); relative paths go under /capsa; absolute are kept', () => {
  assert.is(resolveCgroupPath('c1', undefined), '/c1');
  assert.is(resolveCgroupPath('c1', ''), '/c1');
  assert.is(resolveCgroupPath('c1', 'pod/c1'), '/capsa/pod/c1');
  assert.is(resolveCgroupPath('c1', '/kubepods/burstable/pod1/c1'), '/kubepods/burstable/pod1/c1');
  assert.is(resolveCgroupPath('c1', '//a/./b/'), '/a/b');
});

function expectInvalid(fn: () => unknown, configPath: string, text: RegExp): void {
  try {
    fn();
    assert.unreachable('expected an error');
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).code, 'INVALID_CONFIG');
    assert.is((e as CapsaError).configPath, configPath);
    assert.match((e as Error).message, text);
  }
}

test('".." components, the root cgroup and systemd paths are refused', () => {
  expectInvalid(() => resolveCgroupPath('c', '/a/../../etc'), 'linux.cgroupsPath', /must not contain "\.\."/);
  expectInvalid(() => resolveCgroupPath('c', '../x'), 'linux.cgroupsPath', /\.\./);
  expectInvalid(() => resolveCgroupPath('c', '/'), 'linux.cgroupsPath', /root cgroup/);
  expectInvalid(() => resolveCgroupPath('c', 'system.slice:docker:abc'), 'linux.cgroupsPath', /--systemd-cgroup/);
  // a colon inside a normal path is fine
  assert.is(resolveCgroupPath('c', '/a/b:c'), '/a/b:c');
  // the message is one line
  try {
    resolveCgroupPath('c', 'a/../b');
  } catch (e) {
    assert.not.match((e as Error).message, /\n/);
  }
});

test('createCgroupManager resolves the path without creating anything', () => {
  const fx = v1Fixture();
  try {
    const m = createCgroupManager({ id: 'c1', host: fx.host });
    assert.is(m.path, '/c1');
    assert.is(m.layout, 'v1');
    assert.not.ok(fs.existsSync(path.join(fx.root, 'memory', 'c1')));
  } finally {
    fx.cleanup();
  }
});

// ---- systemd

test('systemd driver without systemd: one-line UNSUPPORTED error', () => {
  const fx = v1Fixture();
  try {
    const host = { ...fx.host, systemdProbePath: path.join(fx.root, 'no-such-dir') };
    for (const fn of [() => requireSystemd(host.systemdProbePath), () => createCgroupManager({ id: 'c', host, systemd: true, cgroupsPath: 'system.slice:capsa:c' })]) {
      try {
        fn();
        assert.unreachable();
      } catch (e) {
        assert.is((e as CapsaError).code, 'UNSUPPORTED');
        assert.is((e as Error).message, 'systemd cgroup driver requested but systemd is not running (PID 1 is not systemd)');
      }
    }
  } finally {
    fx.cleanup();
  }
});

test('systemd driver without a given client talks D-Bus; an unreachable bus is a one-line SYSTEMD error', async () => {
  const fx = v1Fixture();
  const saved = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  try {
    const probe = path.join(fx.root, 'run-systemd-system');
    fs.mkdirSync(probe);
    process.env.DBUS_SYSTEM_BUS_ADDRESS = `unix:path=${path.join(fx.root, 'no-bus')}`;
    const m = createCgroupManager({ id: 'c', host: { ...fx.host, systemdProbePath: probe }, systemd: true });
    try {
      await m.addProcess(42);
      assert.unreachable();
    } catch (e) {
      assert.is((e as CapsaError).code, 'SYSTEMD', String(e));
      assert.match((e as Error).message, /^D-Bus .*no-bus: connect: /);
      assert.not.match((e as Error).message, /\n/);
    }
  } finally {
    if (saved === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS; else process.env.DBUS_SYSTEM_BUS_ADDRESS = saved;
    fx.cleanup();
  }
});

test('systemd slice:prefix:name parsing and slice nesting', () => {
  assert.equal(parseSystemdCgroupsPath('system.slice:docker:abc', 'x'), {
    slice: 'system.slice', prefix: 'docker', name: 'abc', unit: 'docker-abc.scope', path: '/system.slice/docker-abc.scope',
  });
  assert.is(parseSystemdCgroupsPath('a-b-c.slice:p:n', 'x').path, '/a.slice/a-b.slice/a-b-c.slice/p-n.scope');
  assert.is(parseSystemdCgroupsPath(undefined, 'id1').path, '/system.slice/capsa-id1.scope');
  assert.is(parseSystemdCgroupsPath(':p:n', 'x').slice, 'system.slice');
  assert.is(parseSystemdCgroupsPath('machine.slice:p:sub.slice', 'x').unit, 'sub.slice');
  expectInvalid(() => parseSystemdCgroupsPath('/a/b', 'x'), 'linux.cgroupsPath', /slice:prefix:name/);
  expectInvalid(() => parseSystemdCgroupsPath('a--b.slice:p:n', 'x'), 'linux.cgroupsPath', /invalid slice/);
});

test('systemd manager with a client: scope started with the first pid, resources applied after', async () => {
  const fx = v1Fixture([['memory'], ['pids']]);
  try {
    const probe = path.join(fx.root, 'sd');
    fs.mkdirSync(probe);
    const calls: string[] = [];
    const sent: unknown[] = [];
    const client = {
      async startTransientScope(unit: string, slice: string, pid: number, description: string, properties: (version: number) => unknown[]) {
        calls.push(`start ${unit} ${slice} ${pid} ${description}`);
        sent.push(...properties(252));
        // what systemd would do: make the scope's dirs and put the pid in
        for (const c of ['memory', 'pids']) {
          fs.mkdirSync(path.join(fx.root, c, 'system.slice'), { recursive: true });
          fx.fs.mkdir(path.join(fx.root, c, 'system.slice', 'p-c.scope'));
        }
      },
      async setUnitProperties(unit: string, properties: (version: number) => unknown[]) {
        calls.push(`set ${unit}`);
        sent.push(...properties(252));
      },
      async stopUnit(unit: string) {
        calls.push(`stop ${unit}`);
      },
    };
    const m = createCgroupManager({ id: 'c', cgroupsPath: 'system.slice:p:c', host: { ...fx.host, systemdProbePath: probe }, systemd: true, systemdClient: client });
    m.create();
    m.apply({ pids: { limit: 10 } });
    assert.equal(fx.fs.valuesWritten('pids.max'), []);
    await m.addProcess(42);
    assert.equal(calls, ['start p-c.scope system.slice 42 capsa container c']);
    assert.equal(fx.fs.valuesWritten('pids.max'), ['10']);
    // the limit went to systemd too, as TasksMax (a uint64), after the default device policy
    assert.equal(sent.map((p) => (p as [string])[0]), ['DevicePolicy', 'DeviceAllow', 'TasksMax']);
    assert.equal(sent[2], ['TasksMax', ['t', 10n]]);
    await m.destroy();
    assert.equal(calls[1], 'stop p-c.scope');
  } finally {
    fx.cleanup();
  }
});

test.run();
