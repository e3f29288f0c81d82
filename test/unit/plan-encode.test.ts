// The Plan's wire format (src/plan/encode.ts), byte by byte: what
// native/init/plan.c decodes. No root needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { compile } from '../../src/plan/compile';
import { encodePlan, PLAN_VERSION } from '../../src/plan/encode';
import { OPS, type FieldType, type Op } from '../../src/plan/schema';
import { defaultSpec } from '../../src/spec/defaults';

const HEADER = 12;
const OP_HEAD = 8;

/** The op records after the header: [code, payload]. */
function records(buf: Buffer): { code: number; pad: number; payload: Buffer }[] {
  const out: { code: number; pad: number; payload: Buffer }[] = [];
  let at = HEADER;
  while (at < buf.length) {
    const code = buf.readUInt16LE(at);
    const pad = buf.readUInt16LE(at + 2);
    const len = buf.readUInt32LE(at + 4);
    out.push({ code, pad, payload: buf.subarray(at + OP_HEAD, at + OP_HEAD + len) });
    at += OP_HEAD + len;
  }
  assert.is(at, buf.length, 'records end exactly at the end of the buffer');
  return out;
}

/** An independent decoder, written from the format description, for round trips. */
function decode(buf: Buffer): Record<string, unknown>[] {
  assert.is(buf.subarray(0, 4).toString('latin1'), 'CPLN');
  const count = buf.readUInt32LE(8);
  const byCode = new Map(Object.entries(OPS).map(([name, s]) => [s.code as number, { name, fields: s.fields as readonly (readonly [string, FieldType])[] }]));
  const recs = records(buf);
  assert.is(recs.length, count);
  return recs.map(({ code, payload }) => {
    const schema = byCode.get(code);
    assert.ok(schema, `known op code ${code}`);
    let at = 0;
    const u32 = () => { const v = payload.readUInt32LE(at); at += 4; return v; };
    const str = () => {
      const n = u32();
      const bytes = payload.subarray(at, at + n);
      assert.is(bytes[n - 1], 0, 'strings are NUL-terminated');
      at += n;
      return bytes.subarray(0, n - 1).toString('utf8');
    };
    const op: Record<string, unknown> = { op: schema!.name };
    for (const [name, type] of schema!.fields) {
      switch (type) {
        case 'u32': op[name] = u32(); break;
        case 'u64': op[name] = payload.readBigUInt64LE(at); at += 8; break;
        case 'str': op[name] = str(); break;
        case 'strs': { const n = u32(); op[name] = Array.from({ length: n }, str); break; }
        case 'u32s': { const n = u32(); op[name] = Array.from({ length: n }, u32); break; }
        case 'blob': { const n = u32(); op[name] = Buffer.from(payload.subarray(at, at + n)); at += n; break; }
      }
    }
    assert.is(at, payload.length, `${schema!.name}: payload fully consumed`);
    return op;
  });
}

test('empty plan: the 12-byte header "CPLN", version, count 0', () => {
  const b = encodePlan([]);
  assert.is(b.length, 12);
  assert.is(b.toString('hex'), Buffer.concat([Buffer.from('CPLN', 'latin1'), Buffer.from([PLAN_VERSION, 0, 0, 0]), Buffer.from([0, 0, 0, 0])]).toString('hex'));
  assert.is(PLAN_VERSION, 1);
});

test('op header: u16 code, two zero bytes, u32 payload length (little-endian)', () => {
  const b = encodePlan([{ op: 'pivotRoot' }, { op: 'sync', code: 2 }]);
  assert.is(b.readUInt32LE(8), 2);
  assert.is(b.subarray(12).toString('hex'), [
    '1000', '0000', '00000000', // pivotRoot = 16, no payload
    '0100', '0000', '04000000', '02000000', // sync = 1, u32 2
  ].join(''));
});

test('u32 and u64 fields are little-endian; u64 takes bigint or number, wraps negatives', () => {
  const b = encodePlan([{ op: 'rlimit', resource: 7, soft: 1024, hard: 0xffffffffffffffffn }]);
  const [r] = records(b);
  assert.is(r!.code, OPS.rlimit.code);
  assert.is(r!.payload.toString('hex'), '07000000' + '0004000000000000' + 'ffffffffffffffff');
  const neg = records(encodePlan([{ op: 'rlimit', resource: 0, soft: -1, hard: 2n ** 40n }]))[0]!;
  assert.is(neg.payload.subarray(4).toString('hex'), 'ffffffffffffffff' + '0000000000010000');
  const u32 = records(encodePlan([{ op: 'umask', mask: 0xfffffffe }]))[0]!;
  assert.is(u32.payload.toString('hex'), 'feffffff');
});

test('strings: u32 byte length including the NUL, UTF-8 bytes, NUL', () => {
  const [r] = records(encodePlan([{ op: 'hostname', name: 'ab' }]));
  assert.is(r!.payload.toString('hex'), '03000000' + '616200');
  const [e] = records(encodePlan([{ op: 'hostname', name: '' }]));
  assert.is(e!.payload.toString('hex'), '01000000' + '00');
  const [u] = records(encodePlan([{ op: 'hostname', name: 'é€' }]));
  assert.is(u!.payload.readUInt32LE(0), 2 + 3 + 1, 'the length counts bytes, not characters');
  assert.is(u!.payload.subarray(4).toString('hex'), 'c3a9e282ac00');
});

test('string lists, u32 lists and blobs: a u32 count, then the items', () => {
  const [x] = records(encodePlan([{ op: 'exec', argv: ['sh', '-c'], env: [] }]));
  assert.is(x!.payload.toString('hex'), '02000000' + '03000000' + '736800' + '03000000' + '2d6300' + '00000000');
  const creds: Op = { op: 'creds', uid: 1, gid: 2, setGroups: 1, groups: [5, 70000], effective: 1n, permitted: 2n, inheritable: 0n, ambient: 0n, lastCap: 40 };
  const [c] = records(encodePlan([creds]));
  assert.is(c!.payload.subarray(12, 24).toString('hex'), '02000000' + '05000000' + '70110100');
  const prog = Buffer.from([6, 0, 0, 0, 0, 0, 0xff, 0x7f]);
  const [s] = records(encodePlan([{ op: 'seccomp', flags: 3, program: prog, notifySocket: 7 }]));
  assert.is(s!.payload.toString('hex'), '03000000' + '08000000' + prog.toString('hex') + '07000000');
});

test('fields are written in schema order, whatever the object key order', () => {
  const a = encodePlan([{ op: 'mknod', path: '/dev/null', mode: 0o20666, major: 1, minor: 3, uid: 0, gid: 0 }]);
  const b = encodePlan([{ gid: 0, uid: 0, minor: 3, major: 1, mode: 0o20666, path: '/dev/null', op: 'mknod' } as Op]);
  assert.is(a.toString('hex'), b.toString('hex'));
  const [r] = records(a);
  assert.is(r!.payload.toString('hex'), '0a000000' + Buffer.from('/dev/null\0').toString('hex') + 'b6210000' + '01000000' + '03000000' + '00000000' + '00000000');
});

test('origin fields (configPath, what) are not encoded', () => {
  const a = encodePlan([{ op: 'chdir', path: '/x' }]);
  const b = encodePlan([{ op: 'chdir', path: '/x', configPath: 'process.cwd', what: 'chdir to /x' }]);
  assert.is(a.toString('hex'), b.toString('hex'));
});

test('op codes are unique and every schema field type is known', () => {
  const codes = Object.values(OPS).map((s) => s.code);
  assert.is(new Set(codes).size, codes.length);
  for (const [name, s] of Object.entries(OPS)) {
    for (const [, type] of s.fields) assert.ok(['u32', 'u64', 'str', 'strs', 'blob', 'u32s'].includes(type), `${name}: ${type}`);
  }
});

/** A compiled default plan with this seccomp program. */
function defaultPlan(program: Buffer) {
  const spec = defaultSpec();
  spec.process!.terminal = false;
  return compile({
    spec, bundle: '/b', rootfs: '/b/rootfs', fifoPath: '/run/capsa/x/exec.fifo', preserveFds: 0, noPivot: false,
    lastCap: 40, cgroupMounts: [{ name: '', hostDir: '/sys/fs/cgroup/x' }], id: 'x', isDirectory: () => true,
    seccomp: { program, flags: 1 },
  });
}

for (const [what, program] of [
  ['', Buffer.from('0123456789abcdef', 'hex')],
  // an engine's seccomp profile compiles to tens of KB: past the encoder's first buffer
  [' (with a 64 KB filter: the buffer grows mid-plan)', Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7) & 0xff))],
] as const) test(`a compiled default plan round-trips through an independent decoder${what}`, () => {
  const plan = defaultPlan(program);
  const buf = encodePlan(plan.ops);
  assert.is(buf.readUInt32LE(4), PLAN_VERSION);
  const decoded = decode(buf);
  assert.is(decoded.length, plan.ops.length);
  decoded.forEach((d, i) => {
    const op = plan.ops[i] as unknown as Record<string, unknown>;
    assert.is(d.op, op.op);
    for (const [name, type] of OPS[op.op as keyof typeof OPS].fields) {
      const want = type === 'u64' ? BigInt.asUintN(64, BigInt(op[name] as bigint | number)) : op[name];
      assert.equal(d[name], want, `op ${i} (${op.op}).${name}`);
    }
  });
});

test.run();
