// src/shim/proto: the shim's protobuf codec against bytes made by containerd
// 1.6's own Go types (test/fixtures/shim-corpus/corpus.json, recorded by
// gen.go beside it with Debian's golang-github-containerd-*-dev packages).
// Every message the shim writes must equal Go's bytes; every message Go
// writes must decode to the values gen.go put in. No root needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { decode, encode, type Schema } from '../../src/shim/proto/codec';
import * as M from '../../src/shim/proto/messages';
import { MetricsV1, MetricsV2 } from '../../src/shim/proto/metrics';
import { REPO_ROOT } from '../helpers/rootfs';

interface Entry { name: string; typeUrl?: string; hex: string }
const corpus: Entry[] = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'shim-corpus', 'corpus.json'), 'utf8'));
const go = (name: string): Entry => {
  const e = corpus.find((c) => c.name === name);
  if (!e) throw new Error(`corpus has no ${name}`);
  return e;
};
const goBytes = (name: string) => Buffer.from(go(name).hex, 'hex');

const EXITED = { seconds: 1700000000, nanos: 123456789 };
const mounts = [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/a:/b', 'upperdir=/u', 'workdir=/w'] }];
const any = (schema: Schema, m: Record<string, unknown>) => ({ typeUrl: schema.name, value: encode(schema, m) });

/** name in the corpus → schema and the values gen.go used. */
const cases: [string, Schema, Record<string, unknown>][] = [
  ['CreateTaskRequest', M.task.CreateTaskRequest, {
    id: 'c1', bundle: '/run/b/c1', rootfs: mounts, terminal: true, stdin: '/f/in', stdout: '/f/out', stderr: '/f/err',
    options: any(M.RuncOptions, { binaryName: 'capsa', root: '/run/x', systemdCgroup: true, ioUid: 1000 }),
  }],
  ['CreateTaskRequest.runtimeoptions', M.task.CreateTaskRequest, { id: 'c2', bundle: '/b', options: any(M.RuntimeOptions, { configPath: '/etc/capsa/shim.toml' }) }],
  ['CreateTaskResponse', M.task.CreateTaskResponse, { pid: 4242 }],
  ['StartRequest', M.task.StartRequest, { id: 'c1', execId: 'e1' }],
  ['StartResponse', M.task.StartResponse, { pid: 77 }],
  ['DeleteRequest', M.task.DeleteRequest, { id: 'c1', execId: 'e1' }],
  ['DeleteResponse', M.task.DeleteResponse, { pid: 4242, exitStatus: 137, exitedAt: EXITED }],
  ['DeleteResponse.zeroTime', M.task.DeleteResponse, { pid: 1 }],
  ['ExecProcessRequest', M.task.ExecProcessRequest, {
    id: 'c1', execId: 'e1', terminal: true, stdin: '/i', stdout: '/o', stderr: '/e',
    spec: { typeUrl: M.TYPE_URL.process, value: Buffer.from('{"args":["true"],"cwd":"/"}') },
  }],
  ['ResizePtyRequest', M.task.ResizePtyRequest, { id: 'c1', execId: 'e1', width: 120, height: 40 }],
  ['StateRequest', M.task.StateRequest, { id: 'c1', execId: 'e1' }],
  ['StateResponse', M.task.StateResponse, {
    id: 'c1', bundle: '/b', pid: 99, status: M.TaskStatus.STOPPED, stdin: '/i', stdout: '/o', stderr: '/e', terminal: true, exitStatus: 3, exitedAt: EXITED, execId: 'e1',
  }],
  ['KillRequest', M.task.KillRequest, { id: 'c1', execId: 'e1', signal: 9, all: true }],
  ['CloseIORequest', M.task.CloseIORequest, { id: 'c1', execId: 'e1', stdin: true }],
  ['PidsRequest', M.task.PidsRequest, { id: 'c1' }],
  ['PidsResponse', M.task.PidsResponse, { processes: [{ pid: 10 }, { pid: 11, info: any(M.ProcessDetails, { execId: 'e1' }) }] }],
  ['CheckpointTaskRequest', M.task.CheckpointTaskRequest, { id: 'c1', path: '/cp' }],
  ['UpdateTaskRequest', M.task.UpdateTaskRequest, {
    id: 'c1', resources: { typeUrl: M.TYPE_URL.linuxResources, value: Buffer.from('{"memory":{"limit":134217728}}') }, annotations: { a: '1' },
  }],
  ['WaitRequest', M.task.WaitRequest, { id: 'c1', execId: 'e1' }],
  ['WaitResponse', M.task.WaitResponse, { exitStatus: 130, exitedAt: EXITED }],
  ['StatsRequest', M.task.StatsRequest, { id: 'c1' }],
  ['ConnectRequest', M.task.ConnectRequest, { id: 'c1' }],
  ['ConnectResponse', M.task.ConnectResponse, { shimPid: 100, taskPid: 101, version: 'v2' }],
  ['ShutdownRequest', M.task.ShutdownRequest, { id: 'c1', now: true }],
  ['PauseRequest', M.task.PauseRequest, { id: 'c1' }],
  ['ResumeRequest', M.task.ResumeRequest, { id: 'c1' }],
  ['TaskCreate', M.events.TaskCreate, { containerId: 'c1', bundle: '/b', rootfs: mounts, io: { stdin: '/i', stdout: '/o', stderr: '/e', terminal: true }, pid: 4242 }],
  ['TaskStart', M.events.TaskStart, { containerId: 'c1', pid: 4242 }],
  ['TaskExit', M.events.TaskExit, { containerId: 'c1', id: 'e1', pid: 4243, exitStatus: 137, exitedAt: EXITED }],
  ['TaskDelete', M.events.TaskDelete, { containerId: 'c1', pid: 4242, exitStatus: 1, exitedAt: EXITED, id: 'c1' }],
  ['TaskOOM', M.events.TaskOOM, { containerId: 'c1' }],
  ['TaskExecAdded', M.events.TaskExecAdded, { containerId: 'c1', execId: 'e1' }],
  ['TaskExecStarted', M.events.TaskExecStarted, { containerId: 'c1', execId: 'e1', pid: 4244 }],
  ['TaskPaused', M.events.TaskPaused, { containerId: 'c1' }],
  ['TaskResumed', M.events.TaskResumed, { containerId: 'c1' }],
  ['ForwardRequest', M.ForwardRequest, { envelope: { timestamp: EXITED, namespace: 'ns1', topic: '/tasks/start', event: any(M.events.TaskStart, { containerId: 'c1', pid: 7 }) } }],
  ['Timestamp', M.Timestamp, EXITED],
  ['RuncOptions', M.RuncOptions, {
    noPivotRoot: true, noNewKeyring: true, shimCgroup: '/shim', ioUid: 1, ioGid: 2, binaryName: 'b', root: '/r', criuPath: '/c', systemdCgroup: true, criuImagePath: '/ci', criuWorkPath: '/cw',
  }],
  ['RuntimeOptions', M.RuntimeOptions, { typeUrl: 'x', configPath: '/etc/capsa/shim.toml' }],
  ['ttrpc.Request', M.Request, {
    service: 'containerd.task.v2.Task', method: 'Kill', payload: Buffer.from([0x0a, 0x02, 0x63, 0x31]), timeoutNano: 5000000000, metadata: [{ key: 'containerd-namespace-ttrpc', value: 'ns1' }],
  }],
  ['ttrpc.Response.ok', M.Response, { payload: Buffer.from([0x08, 0x01]) }],
  ['ttrpc.Response.error', M.Response, { status: { code: 5, message: 'container c9: not found' } }],
];

const v1Memory: Record<string, unknown> = {};
['cache', 'rss', 'rss_huge', 'mapped_file', 'dirty', 'writeback', 'pgpgin', 'pgpgout', 'pgfault', 'pgmajfault', 'inactive_anon', 'active_anon', 'inactive_file',
  'active_file', 'unevictable', 'hierarchical_memory_limit', 'hierarchical_memsw_limit'].forEach((k, i) => { v1Memory[k] = i + 1; });
['cache', 'rss', 'rss_huge', 'mapped_file', 'dirty', 'writeback', 'pgpgin', 'pgpgout', 'pgfault', 'pgmajfault', 'inactive_anon', 'active_anon', 'inactive_file',
  'active_file', 'unevictable'].forEach((k, i) => { v1Memory[`total_${k}`] = i + 18; });
v1Memory.total_unevictable = 32;
v1Memory.hierarchical_memory_limit = 9223372036854771712;
Object.assign(v1Memory, {
  usage: { limit: 9223372036854771712, usage: 2, max: 3, failcnt: 4 }, swap: { limit: 5, usage: 6 }, kernel: { usage: 7 }, kernelTcp: { usage: 8 },
});
cases.push(['MetricsV1', MetricsV1, {
  hugetlb: [{ usage: 1, max: 2, failcnt: 3, pagesize: '2MB' }],
  pids: { current: 3, limit: 100 },
  cpu: { usage: { total: 123456789012, kernel: 5, user: 6, perCpu: [1, 300, 70000] }, throttling: { periods: 1, throttledPeriods: 2, throttledTime: 3 } },
  memory: v1Memory,
  blkio: { ioServiceBytesRecursive: [{ op: 'Read', major: 8, minor: 0, value: 4096 }], ioServicedRecursive: [{ op: 'Write', major: 8, minor: 1, value: 2 }] },
  memoryOomControl: { oomKill: 1 },
}]);
cases.push(['MetricsV2', MetricsV2, {
  pids: { current: 3, limit: 18446744073709551615n },
  cpu: { usageUsec: 1000, userUsec: 600, systemUsec: 400, nrPeriods: 1, nrThrottled: 2, throttledUsec: 3 },
  memory: { anon: 1, file: 2, inactive_file: 13, pgfault: 18, usage: 32, usageLimit: 18446744073709551615n, swapUsage: 34, swapLimit: 35 },
  io: { usage: [{ major: 8, minor: 0, rbytes: 1, wbytes: 2, rios: 3, wios: 4 }] },
  hugetlb: [{ current: 1, max: 2, pagesize: '2MB' }],
  memoryEvents: { oom: 1, oomKill: 2 },
}]);

for (const [name, schema, values] of cases) {
  test(`${name}: encodes to Go's bytes and Go's bytes decode to the same values`, () => {
    assert.is(encode(schema, values).toString('hex'), go(name).hex);
    // decode → encode is the identity on Go's bytes (every field read back, none invented)
    assert.is(encode(schema, decode(schema, goBytes(name))).toString('hex'), go(name).hex);
  });
}

test('decoded fields have the values and types Go wrote (strings, uint32, bool, enum, int64, map, nested Any)', () => {
  const c = decode<Record<string, any>>(M.task.CreateTaskRequest, goBytes('CreateTaskRequest'));
  assert.is(c.id, 'c1');
  assert.is(c.terminal, true);
  assert.equal(c.rootfs, [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/a:/b', 'upperdir=/u', 'workdir=/w'] }]);
  assert.is(c.options.typeUrl, 'containerd.runc.v1.Options');
  assert.equal(decode(M.RuncOptions, c.options.value), { ioUid: 1000, binaryName: 'capsa', root: '/run/x', systemdCgroup: true });
  const s = decode<Record<string, any>>(M.task.StateResponse, goBytes('StateResponse'));
  assert.equal(s.exitedAt, EXITED);
  assert.is(s.status, M.TaskStatus.STOPPED);
  const u = decode<Record<string, any>>(M.task.UpdateTaskRequest, goBytes('UpdateTaskRequest'));
  assert.equal(u.annotations, { a: '1' });
  assert.equal(JSON.parse(u.resources.value.toString()), { memory: { limit: 134217728 } });
  const z = decode<Record<string, any>>(M.task.DeleteResponse, goBytes('DeleteResponse.zeroTime'));
  assert.equal(z.exitedAt, { seconds: M.GO_ZERO_TIME.seconds }, "Go's zero time.Time (negative int64 seconds)");
  const v2 = decode<Record<string, any>>(MetricsV2, goBytes('MetricsV2'));
  assert.is(v2.memory.usageLimit, 18446744073709551615n, 'uint64 max survives as a bigint');
});

test('type URLs are typeurl v1 names without a type.googleapis.com/ prefix, as Go registers them', () => {
  for (const [name, schema] of cases) {
    const url = go(name).typeUrl;
    if (url) assert.is(schema.name, url, name);
  }
});

test('a ttrpc request frame written by the Go client decodes: header, service, method, metadata, timeout', async () => {
  const { FrameReader } = await import('../../src/shim/ttrpc/frame');
  const frames: [number, number, Buffer][] = [];
  new FrameReader((h, p) => frames.push([h.streamId, h.type, p]), () => assert.unreachable('not oversized')).push(goBytes('ttrpc.frame.State'));
  assert.is(frames.length, 1);
  const [streamId, type, payload] = frames[0]!;
  assert.is(streamId, 1);
  assert.is(type, 1);
  const req = decode<M.RequestMsg>(M.Request, payload);
  assert.is(req.service, 'containerd.task.v2.Task');
  assert.is(req.method, 'State');
  assert.equal(decode(M.task.StateRequest, req.payload!), { id: 'c1' });
  assert.equal(req.metadata, [{ key: 'containerd-namespace-ttrpc', value: 'ns1' }]);
  assert.ok(Number(req.timeoutNano) > 0 && Number(req.timeoutNano) <= 1e9, `timeout from the 1 s context deadline: ${req.timeoutNano}`);
});

test('malformed input: truncated fields and bad wire types throw instead of returning garbage', () => {
  const full = goBytes('StateResponse');
  assert.throws(() => decode(M.task.StateResponse, full.subarray(0, full.length - 1)), /truncated/);
  assert.throws(() => decode(M.task.StateRequest, Buffer.from([0x08, 0x01])), /bad wire type/);
  assert.throws(() => decode(M.task.StateRequest, Buffer.from([0x0a, 0x05, 0x61])), /truncated/);
  assert.throws(() => decode(M.task.StateRequest, Buffer.from([0x0b])), /wire type 3/);
  // unknown fields are skipped (forward compatibility)
  assert.equal(decode(M.task.StateRequest, Buffer.from([0x0a, 0x01, 0x61, 0x78, 0x05])), { id: 'a' });
});

test.run();
