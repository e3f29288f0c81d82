// src/shim/ttrpc: framing and the server's rules (containerd/ttrpc 1.1
// server.go), over a real unix socket with the shim's own client and with
// hand-made frames. No root needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { CapsaError } from '../../src/errors';
import { decode, encode } from '../../src/shim/proto/codec';
import { Request, Response, type ResponseMsg } from '../../src/shim/proto/messages';
import { TtrpcClient } from '../../src/shim/ttrpc/client';
import { Code, frame, FrameReader, MAX_MESSAGE, RpcError } from '../../src/shim/ttrpc/frame';
import { TtrpcServer, type CallContext } from '../../src/shim/ttrpc/server';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-shim-ttrpc-'));
const sockPath = path.join(dir, 'ttrpc.sock');
const server = new TtrpcServer();
const listener = net.createServer((s) => server.serve(s));
let release: () => void = () => {};
const aborted: string[] = [];
let lastMetadata: Map<string, string> | undefined;

server.register('test.Svc', {
  Echo: (p, ctx) => { lastMetadata = ctx.metadata; return p; },
  Slow: (p) => new Promise<Buffer>((resolve) => { release = () => resolve(p); }),
  Hang: (_p, ctx: CallContext) => new Promise<Buffer>((_resolve, reject) => {
    ctx.signal.addEventListener('abort', () => { aborted.push('hang'); reject(new Error('aborted')); });
  }),
  NotFound: () => { throw new CapsaError('NOT_FOUND', 'container x: not found'); },
  Bad: () => { throw new CapsaError('BAD_STATE', 'container not running'); },
  Crash: () => { throw new TypeError('boom'); },
  Big: () => Buffer.alloc(MAX_MESSAGE + 1),
});

test.before(async () => {
  await new Promise<void>((r) => listener.listen(sockPath, r));
});
test.after(() => {
  server.closeAll();
  listener.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const requestFrame = (id: number, service: string, method: string, payload = Buffer.alloc(0)) =>
  frame(id, 1, encode(Request, { service, method, payload }));

/** Sends raw bytes; resolves with the responses (stream id, decoded) once `count` arrived. */
function raw(bytes: Buffer[], count: number): Promise<[number, ResponseMsg][]> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sockPath);
    const got: [number, ResponseMsg][] = [];
    const reader = new FrameReader((h, p) => {
      got.push([h.streamId, decode<ResponseMsg>(Response, p)]);
      if (got.length === count) { s.destroy(); resolve(got); }
    }, () => reject(new Error('oversized response')));
    s.on('data', (d: Buffer) => reader.push(d));
    s.on('error', reject);
    s.on('connect', async () => {
      for (const b of bytes) {
        s.write(b);
        await new Promise((r) => setImmediate(r));
      }
    });
    setTimeout(() => { s.destroy(); reject(new Error(`only ${got.length}/${count} responses`)); }, 5000);
  });
}

test('a call round-trips payload and metadata through the client', async () => {
  const c = await TtrpcClient.connect(`unix://${sockPath}`);
  try {
    const out = await c.call('test.Svc', 'Echo', Buffer.from('hello'), { metadata: { 'containerd-namespace-ttrpc': 'ns1' } });
    assert.is(out.toString(), 'hello');
    assert.is(lastMetadata?.get('containerd-namespace-ttrpc'), 'ns1');
  } finally { c.close(); }
});

test('a frame split into single bytes, and two frames in one write, are both answered', async () => {
  const one = requestFrame(1, 'test.Svc', 'Echo', Buffer.from('a'));
  const bytes = [...one].map((b) => Buffer.from([b]));
  const r1 = await raw(bytes, 1);
  assert.is(r1[0]![1].payload!.toString(), 'a');
  const both = Buffer.concat([requestFrame(1, 'test.Svc', 'Echo', Buffer.from('x')), requestFrame(3, 'test.Svc', 'Echo', Buffer.from('y'))]);
  const r2 = await raw([both], 2);
  assert.equal(r2.map(([id, r]) => [id, r.payload!.toString()]).sort(), [[1, 'x'], [3, 'y']]);
});

test('an even stream id gets InvalidArgument on that stream; the connection keeps working', async () => {
  const r = await raw([requestFrame(2, 'test.Svc', 'Echo'), requestFrame(3, 'test.Svc', 'Echo', Buffer.from('ok'))], 2);
  const even = r.find(([id]) => id === 2)![1];
  assert.is(even.status?.code, Code.InvalidArgument);
  assert.match(even.status!.message!, /StreamID must be odd/);
  assert.is(r.find(([id]) => id === 3)![1].payload!.toString(), 'ok');
});

test('unknown service and unknown method get Unimplemented naming them', async () => {
  const c = await TtrpcClient.connect(sockPath);
  try {
    const e1 = await c.call('no.Such', 'X', Buffer.alloc(0)).catch((e) => e as RpcError);
    assert.ok(e1 instanceof RpcError && e1.grpcCode === Code.Unimplemented && e1.message === 'service no.Such', String(e1));
    const e2 = await c.call('test.Svc', 'Nope', Buffer.alloc(0)).catch((e) => e as RpcError);
    assert.ok(e2 instanceof RpcError && e2.grpcCode === Code.Unimplemented && e2.message === 'method Nope', String(e2));
  } finally { c.close(); }
});

test('a payload over 4 MiB is skipped unread and answered ResourceExhausted; the next frame is served', async () => {
  const big = Buffer.alloc(HEADER_PLUS(MAX_MESSAGE + 100));
  big.writeUInt32BE(MAX_MESSAGE + 100, 0);
  big.writeUInt32BE(1, 4);
  big[8] = 1;
  // sent in pieces, as a socket delivers it
  const pieces: Buffer[] = [];
  for (let i = 0; i < big.length; i += 1 << 20) pieces.push(big.subarray(i, i + (1 << 20)));
  pieces.push(requestFrame(3, 'test.Svc', 'Echo', Buffer.from('after')));
  const r = await raw(pieces, 2);
  assert.is(r.find(([id]) => id === 1)![1].status?.code, Code.ResourceExhausted);
  assert.is(r.find(([id]) => id === 3)![1].payload!.toString(), 'after');
});
const HEADER_PLUS = (n: number) => 10 + n;

test('an unparsable request gets InvalidArgument', async () => {
  const r = await raw([frame(1, 1, Buffer.from([0x0a, 0x7f, 0x01]))], 1);
  assert.is(r[0]![1].status?.code, Code.InvalidArgument);
});

test('handler errors map to codes (NotFound 5, FailedPrecondition 9, anything else Unknown 2) and never end the connection', async () => {
  const c = await TtrpcClient.connect(sockPath);
  try {
    const codes: number[] = [];
    for (const m of ['NotFound', 'Bad', 'Crash']) {
      const e = (await c.call('test.Svc', m, Buffer.alloc(0)).catch((err) => err)) as RpcError;
      codes.push(e.grpcCode);
    }
    assert.equal(codes, [Code.NotFound, Code.FailedPrecondition, Code.Unknown]);
    assert.is((await c.call('test.Svc', 'Echo', Buffer.from('still here'))).toString(), 'still here');
    const big = (await c.call('test.Svc', 'Big', Buffer.alloc(0)).catch((err) => err)) as RpcError;
    assert.is(big.grpcCode, Code.ResourceExhausted, 'an oversized answer becomes ResourceExhausted');
  } finally { c.close(); }
});

test('a long call (Wait) does not hold up short calls on the same connection', async () => {
  const c = await TtrpcClient.connect(sockPath);
  try {
    const order: string[] = [];
    const slow = c.call('test.Svc', 'Slow', Buffer.from('slow')).then((b) => order.push(b.toString()));
    await c.call('test.Svc', 'Echo', Buffer.from('fast')).then((b) => order.push(b.toString()));
    release();
    await slow;
    assert.equal(order, ['fast', 'slow']);
  } finally { c.close(); }
});

test('a client that disconnects aborts its in-flight calls; a timeout_nano aborts the handler with DeadlineExceeded', async () => {
  aborted.length = 0;
  const c = await TtrpcClient.connect(sockPath);
  const pending = c.call('test.Svc', 'Hang', Buffer.alloc(0)).catch((e) => e as Error);
  await new Promise((r) => setTimeout(r, 50));
  c.close();
  await pending;
  for (let i = 0; i < 100 && !aborted.length; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(aborted, ['hang']);
  const r = await raw([frame(1, 1, encode(Request, { service: 'test.Svc', method: 'Hang', timeoutNano: 50e6 }))], 1);
  assert.is(r[0]![1].status?.code, Code.DeadlineExceeded);
});

test.run();
