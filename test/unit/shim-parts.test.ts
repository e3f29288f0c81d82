// The shim's small parts without containerd: Go-style flags, the config
// file, socket addresses and grouping, rootfs mount arguments, the OOM watch
// (its cgroup v2 inotify path driven through a stand-in memory.events file),
// the event publisher's order and retries against a fake Events service, and
// the Stats answer on a cgroup v2 host from a stand-in cgroup v2 dir.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { CapsaError } from '../../src/errors';
import { groupOf, socketPath } from '../../src/shim/address';
import { configFromOptions, parseShimToml } from '../../src/shim/config';
import { EventPublisher } from '../../src/shim/events';
import { parseFlags } from '../../src/shim/flags';
import { decode, encode } from '../../src/shim/proto/codec';
import { events, ForwardRequest, RuncOptions, RuntimeOptions } from '../../src/shim/proto/messages';
import { MetricsV2, metricsAny, readV2Files } from '../../src/shim/proto/metrics';
import { ProcessIo } from '../../src/shim/io';
import { mountArgs } from '../../src/shim/rootfs';
import { realCgroupFs } from '../../src/cgroups/fsio';
import { statsV2 } from '../../src/cgroups/stats';
import { TtrpcServer } from '../../src/shim/ttrpc/server';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-shim-parts-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('flags: containerd\'s start and delete command lines, -f=v, --f v, and the action word', () => {
  const f = parseFlags(['-namespace', 'k8s.io', '-address', '/run/containerd/containerd.sock', '-publish-binary', '/usr/bin/containerd', '-id', 'abc', '-debug', 'start']);
  assert.equal([f.namespace, f.address, f.publishBinary, f.id, f.debug, f.action], ['k8s.io', '/run/containerd/containerd.sock', '/usr/bin/containerd', 'abc', true, 'start']);
  const d = parseFlags(['--namespace=ns', '-id=x', '-bundle', '/b', 'delete']);
  assert.equal([d.namespace, d.id, d.bundle, d.action, d.debug], ['ns', 'x', '/b', 'delete', false]);
  assert.is(parseFlags(['-namespace', 'ns', '-id', 'x']).action, '');
  assert.is(parseFlags(['-debug=false', '-namespace', 'n']).debug, false);
  assert.throws(() => parseFlags(['-nope', 'start']), (e: CapsaError) => e.code === 'INVALID_ARGUMENT' && e.message === 'flag provided but not defined: -nope');
  assert.throws(() => parseFlags(['-id']), /flag needs an argument: -id/);
  assert.throws(() => parseFlags(['-id', 'x', 'frobnicate']), /unknown action "frobnicate"/);
});

test('config file: the TOML subset, its errors naming file and line, and runtime options that name it', () => {
  assert.equal(parseShimToml('# c\n[capsa]\nmode = "shared"  # per namespace\nroot = \'/run/x\'\nsystemd_cgroup = true\n', 'f'), { mode: 'shared', root: '/run/x', systemd_cgroup: true });
  assert.throws(() => parseShimToml('mode = shared\n', '/etc/capsa/shim.toml'), /\/etc\/capsa\/shim.toml:1: cannot parse/);
  const file = path.join(tmp, 'shim.toml');
  fs.writeFileSync(file, 'mode = "shared"\nroot = "/run/capsa-x"\n');
  const viaCri = configFromOptions({ typeUrl: RuntimeOptions.name, value: encode(RuntimeOptions, { configPath: file }) });
  assert.equal({ mode: viaCri.mode, root: viaCri.root }, { mode: 'shared', root: '/run/capsa-x' });
  fs.writeFileSync(file, 'mode = "cluster"\n');
  assert.throws(() => configFromOptions({ typeUrl: RuntimeOptions.name, value: encode(RuntimeOptions, { configPath: file }) }), /mode must be "pod" or "shared"/);
  fs.writeFileSync(file, 'colour = "blue"\n');
  assert.throws(() => configFromOptions({ typeUrl: RuntimeOptions.name, value: encode(RuntimeOptions, { configPath: file }) }), /unknown setting "colour"/);
  const runc = configFromOptions({ typeUrl: RuncOptions.name, value: encode(RuncOptions, { root: '/r', systemdCgroup: true, binaryName: 'runc' }) });
  assert.equal([runc.root, runc.systemdCgroup, runc.mode], ['/r', true, 'pod']);
  assert.is(configFromOptions({ typeUrl: 'something.Else', value: Buffer.from([1]) }).mode, 'pod', 'unknown option types are ignored');
  assert.is(configFromOptions(undefined).root, '/run/containerd/capsa');
});

test('grouping: the capsa group annotation, then the CRI sandbox id, then the task id; shared mode: one group', () => {
  assert.is(groupOf('c1', { 'io.kubernetes.cri.sandbox-id': 'pod1' }, 'pod'), 'pod1');
  assert.is(groupOf('c1', { 'io.kubernetes.cri.sandbox-id': 'pod1', 'io.containerd.capsa.v2.group': 'g' }, 'pod'), 'g');
  assert.is(groupOf('c1', {}, 'pod'), 'c1');
  assert.is(groupOf('c1', { 'io.kubernetes.cri.sandbox-id': 'pod1' }, 'shared'), groupOf('c2', undefined, 'shared'));
});

test('socket path: /run/containerd/s/<sha256 of address/ns/group + salt>, within the 106-byte limit, never runc\'s', () => {
  const p = socketPath('/run/containerd/containerd.sock', 'k8s.io', 'pod1');
  const want = createHash('sha256').update('/run/containerd/containerd.sock/k8s.io/pod1#capsa').digest('hex');
  assert.is(p, `/run/containerd/s/${want}`);
  assert.ok(`unix://${p}`.length <= 106);
  const runcs = createHash('sha256').update('/run/containerd/containerd.sock/k8s.io/pod1').digest('hex');
  assert.is.not(p, `/run/containerd/s/${runcs}`);
});

test('rootfs: mount(8) arguments for overlay and bind mounts; long lowerdirs become relative to their common dir', () => {
  assert.equal(mountArgs({ type: 'overlay', source: 'overlay', options: ['workdir=/w', 'upperdir=/u', 'lowerdir=/l1:/l2'] }, '/b/rootfs'),
    { args: ['-t', 'overlay', '-o', 'workdir=/w,upperdir=/u,lowerdir=/l1:/l2', 'overlay', '/b/rootfs'], cwd: undefined });
  assert.equal(mountArgs({ type: 'bind', source: '/src', options: ['rbind', 'ro'] }, '/t').args, ['-o', 'rbind,ro', '/src', '/t']);
  const lowers = Array.from({ length: 80 }, (_, i) => `/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/${i + 1}/fs`);
  const long = mountArgs({ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`, 'upperdir=/u', 'workdir=/w'] }, '/t');
  assert.is(long.cwd, '/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots');
  assert.ok(long.args[3]!.startsWith('lowerdir=1/fs:2/fs:'), long.args[3]);
  assert.ok(Buffer.byteLength(long.args[3]!) < 4096);
});

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('events: Forward requests in publish order with namespace metadata, retried after a failure, dropped without TTRPC_ADDRESS', async () => {
  const sock = path.join(tmp, 'events.sock');
  const got: { topic: string; ns: string; type: string; id: string }[] = [];
  let failNext = 1;
  const server = new TtrpcServer();
  server.register('containerd.services.events.ttrpc.v1.Events', {
    Forward: (p, ctx) => {
      if (failNext > 0) { failNext--; throw new CapsaError('INTERNAL', 'not now'); }
      const env = decode<{ envelope: { topic: string; namespace: string; event: { typeUrl: string; value: Buffer } } }>(ForwardRequest, p).envelope;
      const ev = decode<{ containerId: string }>(events.TaskStart, env.event.value);
      got.push({ topic: env.topic, ns: ctx.metadata.get('containerd-namespace-ttrpc') ?? '', type: env.event.typeUrl, id: ev.containerId });
      return Buffer.alloc(0);
    },
  });
  const l = net.createServer((s) => server.serve(s));
  await new Promise<void>((r) => l.listen(sock, r));
  const pub = new EventPublisher(sock, 'ns1', 5);
  try {
    pub.publish('TaskCreate', { containerId: 'a' });
    pub.publish('TaskStart', { containerId: 'b' });
    pub.publish('TaskExit', { containerId: 'c' });
    await pub.flush(5000);
    assert.equal(got, [
      { topic: '/tasks/create', ns: 'ns1', type: 'containerd.events.TaskCreate', id: 'a' },
      { topic: '/tasks/start', ns: 'ns1', type: 'containerd.events.TaskStart', id: 'b' },
      { topic: '/tasks/exit', ns: 'ns1', type: 'containerd.events.TaskExit', id: 'c' },
    ]);
    const none = new EventPublisher('', 'ns1');
    none.publish('TaskOOM', { containerId: 'x' });
    await none.flush(100);
  } finally {
    pub.close();
    server.closeAll();
    l.close();
  }
});


test('events: stamped when published, sent from a later turn of the event loop; one that cannot be encoded is dropped (onDrop) and the next still goes out', async () => {
  const sock = path.join(tmp, 'events-later.sock');
  const got: { topic: string; ms: number }[] = [];
  const server = new TtrpcServer();
  server.register('containerd.services.events.ttrpc.v1.Events', {
    Forward: (p) => {
      const env = decode<{ envelope: { topic: string; timestamp: { seconds: bigint | number; nanos: number } } }>(ForwardRequest, p).envelope;
      got.push({ topic: env.topic, ms: Number(env.timestamp.seconds) * 1000 + Math.floor(env.timestamp.nanos / 1e6) });
      return Buffer.alloc(0);
    },
  });
  const l = net.createServer((s) => server.serve(s));
  await new Promise<void>((r) => l.listen(sock, r));
  const pub = new EventPublisher(sock, 'ns1', 5);
  const dropped: string[] = [];
  pub.onDrop = (name, e) => dropped.push(`${name}: ${(e as Error).message}`);
  try {
    const before = Date.now();
    pub.publish('TaskExit', { containerId: 'a', pid: 'not a number' });
    pub.publish('TaskExit', { containerId: 'b', pid: 7 });
    const after = Date.now();
    // This turn goes on for 30 ms after publishing: nothing is encoded or
    // sent in it, and the stamps are those of the publish calls.
    while (Date.now() < after + 30) { /* the rest of the turn */ }
    await pub.flush(5000);
    assert.is(got.length, 1, 'the event that could not be encoded was not sent');
    assert.is(got[0]!.topic, '/tasks/exit');
    assert.ok(got[0]!.ms >= before && got[0]!.ms <= after, `stamped when published (${before}..${after}), not when sent: ${got[0]!.ms}`);
    assert.is(dropped.length, 1);
    assert.match(dropped[0]!, /^TaskExit: /);
  } finally {
    pub.close();
    server.closeAll();
    l.close();
  }
});

test('events: dialEarly() connects to containerd before the first event, and the events then go over that one connection', async () => {
  const sock = path.join(tmp, 'events-early.sock');
  const got: string[] = [];
  const server = new TtrpcServer();
  server.register('containerd.services.events.ttrpc.v1.Events', {
    Forward: (p) => { got.push(decode<{ envelope: { topic: string } }>(ForwardRequest, p).envelope.topic); return Buffer.alloc(0); },
  });
  let connections = 0;
  const l = net.createServer((s) => { connections++; server.serve(s); });
  await new Promise<void>((r) => l.listen(sock, r));
  const pub = new EventPublisher(sock, 'ns1', 5);
  try {
    pub.dialEarly();
    pub.dialEarly(); // a second call while dialing makes no second connection
    await until(() => connections === 1);
    assert.is(got.length, 0, 'connected before any event');
    pub.publish('TaskCreate', { containerId: 'a' });
    pub.publish('TaskStart', { containerId: 'a' });
    await pub.flush(5000);
    assert.equal(got, ['/tasks/create', '/tasks/start']);
    assert.is(connections, 1, 'the early connection carried the events');
    const none = new EventPublisher('', 'ns1');
    none.dialEarly(); // no TTRPC_ADDRESS: nothing to dial, no error
  } finally {
    pub.close();
    server.closeAll();
    l.close();
  }
});


test('Stats on cgroup v2: the v2 Metrics containerd\'s own v2 manager (containerd/cgroups v2/manager.go Stat) reads from the same files', () => {
  const dir = path.join(tmp, 'cg2');
  fs.mkdirSync(dir);
  const files: Record<string, string> = {
    'cpu.stat': 'usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 7\nnr_throttled 2\nthrottled_usec 900\n',
    'memory.current': '1048576\n', 'memory.max': 'max\n', 'memory.swap.current': '4096\n', 'memory.swap.max': '8192\n', 'memory.peak': '2097152\n',
    'memory.stat': 'anon 100\nfile 200\nkernel_stack 16384\nshmem 5\ninactive_file 7\npgfault 11\nthp_collapse_alloc 3\n',
    'memory.events': 'low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\n',
    'pids.current': '3\n', 'pids.max': 'max\n',
    'io.stat': '8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n',
    'hugetlb.2MB.current': '0\n', 'hugetlb.2MB.max': '4194304\n', 'hugetlb.2MB.events': 'max 0\n',
  };
  for (const [f, v] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), v);
  const stats = statsV2(realCgroupFs, dir);
  const any = metricsAny(stats, true, 5, readV2Files(dir, Object.keys(stats.hugetlb)));
  assert.is(any.typeUrl, 'io.containerd.cgroups.v2.Metrics');
  const m = decode<Record<string, any>>(MetricsV2, any.value!);
  const u64max = 18446744073709551615n;
  assert.equal(m.pids, { current: 3, limit: u64max }, 'pids.max "max" is uint64 max, as getPidValue');
  assert.equal(m.cpu, { usageUsec: 5000, userUsec: 3000, systemUsec: 2000, nrPeriods: 7, nrThrottled: 2, throttledUsec: 900 });
  assert.is(m.memory.usage, 1048576);
  assert.is(m.memory.usageLimit, u64max);
  assert.is(m.memory.swapUsage, 4096, 'memory.swap.current itself (not runc\'s memory+swap)');
  assert.is(m.memory.swapLimit, 8192, 'memory.swap.max itself');
  assert.equal([m.memory.anon, m.memory.file, m.memory.kernel_stack, m.memory.shmem, m.memory.inactive_file, m.memory.pgfault, m.memory.thp_collapse_alloc], [100, 200, 16384, 5, 7, 11, 3]);
  assert.equal(m.io, { usage: [{ major: 8, rbytes: 10, wbytes: 20, rios: 1, wios: 2 }] });
  assert.equal(m.hugetlb, [{ max: 4194304, pagesize: '2MB' }], 'hugetlb max is the limit file (zeros, like minor 0 above, are not encoded)');
  assert.equal(m.memoryEvents, { low: 1, high: 2, max: 3, oom: 4, oomKill: 5 });
});

test('exec stdio (holdOutput): a client whose FIFO reader opens only after the process wrote and closed its end still gets the output, then EOF once outputTaken() has seen it read', async () => {
  const fifo = path.join(tmp, 'late-stdout');
  const io = await ProcessIo.open({ stdout: fifo }, { id: 'late', namespace: 'ns', workDir: tmp, holdOutput: true });
  try {
    const writer = io.stdio[1];
    assert.type(writer, 'number');
    fs.writeSync(writer as number, 'printed before the client opened\n');
    io.attach(); // the process has its fds: the shim's copy of its end is closed, as after Start
    // What ctr does when its background open(2) is late: a blocking open for reading, then read to EOF.
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    reader.stdout.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((r) => reader.on('close', r));
    await io.outputTaken(10_000);
    const timer = setTimeout(() => reader.kill('SIGKILL'), 10_000);
    assert.is(await exited, 0, 'cat saw EOF once the held writer was let go');
    clearTimeout(timer);
    assert.is(out, 'printed before the client opened\n');
  } finally {
    await io.close(0);
  }
});

test.run();
