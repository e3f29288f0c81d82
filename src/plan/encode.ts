// Plan → bytes, in the format native/init/plan.c decodes.
import { ByteWriter } from '../sys/byte-writer';
import { OPS, type FieldType, type Op } from './schema';

export const PLAN_VERSION = 1;

/** u32 byte length including the NUL, the UTF-8 bytes, the NUL. */
function str(w: ByteWriter, s: string): void {
  const n = Buffer.byteLength(s, 'utf8');
  w.u32(n + 1);
  w.cstring(s, n);
}

function writeField(w: ByteWriter, type: FieldType, value: unknown): void {
  switch (type) {
    case 'u32': return w.u32(value as number);
    case 'u64': return w.u64(value as bigint | number);
    case 'str': return str(w, value as string);
    case 'strs': {
      const list = value as string[];
      w.u32(list.length);
      for (const s of list) str(w, s);
      return;
    }
    case 'u32s': {
      const list = value as number[];
      w.u32(list.length);
      for (const n of list) w.u32(n);
      return;
    }
    case 'blob': {
      const b = value as Buffer;
      w.u32(b.length);
      w.bytes(b);
      return;
    }
  }
}

export function encodePlan(ops: readonly Op[]): Buffer {
  // One growing buffer (a Buffer per field made encoding the slowest step of a cold CLI create).
  const w = new ByteWriter(16384);
  w.bytes(Buffer.from('CPLN', 'latin1'));
  w.u32(PLAN_VERSION);
  w.u32(ops.length);
  for (const op of ops) {
    const schema = OPS[op.op];
    // Op header: u16 code, two zero bytes, u32 payload length.
    w.u16(schema.code);
    w.u16(0);
    const lengthAt = w.length;
    w.u32(0);
    for (const [name, type] of schema.fields) writeField(w, type, (op as unknown as Record<string, unknown>)[name]);
    w.u32At(lengthAt, w.length - lengthAt - 4);
  }
  return w.result();
}
