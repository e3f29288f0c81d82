// src/sys/byte-writer.ts: little-endian values into one growing buffer (the
// plan encoder and the D-Bus marshaller use it). No root needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { ByteWriter } from '../../src/sys/byte-writer';

test('u8/u16/u32/u64 little-endian, u32At patches, cstring adds a NUL, zeros pads', () => {
  const w = new ByteWriter(64);
  w.u8(0xab);
  w.u16(0x0102);
  w.u32(0xdeadbeef);
  const at = w.length;
  w.u32(0);
  w.u64(-1);
  w.cstring('hé', Buffer.byteLength('hé'));
  w.zeros(3);
  w.bytes(Buffer.from([9, 8]));
  w.u32At(at, 7);
  assert.is(w.result().toString('hex'), 'ab' + '0201' + 'efbeadde' + '07000000' + 'ffffffffffffffff' + '68c3a900' + '000000' + '0908');
  assert.is(w.length, w.result().length);
});

test('values written across growth land in order: every method, from a 1-byte start', () => {
  const w = new ByteWriter(1);
  const want: Buffer[] = [];
  for (let i = 0; i < 300; i++) {
    switch (i % 6) {
      case 0: w.u8(i & 0xff); want.push(Buffer.from([i & 0xff])); break;
      case 1: w.u16(i); { const b = Buffer.alloc(2); b.writeUInt16LE(i); want.push(b); } break;
      case 2: w.u32(i * 1000); { const b = Buffer.alloc(4); b.writeUInt32LE(i * 1000); want.push(b); } break;
      case 3: w.u64(BigInt(i) << 40n); { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(i) << 40n); want.push(b); } break;
      case 4: w.cstring(`s${i}`, String(`s${i}`).length); want.push(Buffer.from(`s${i}\0`)); break;
      case 5: w.bytes(Buffer.alloc(i, i & 0xff)); want.push(Buffer.alloc(i, i & 0xff)); w.zeros(5); want.push(Buffer.alloc(5)); break;
    }
  }
  assert.ok(w.result().equals(Buffer.concat(want)));
});

test.run();
