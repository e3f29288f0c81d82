// Plan → bytes, in the format native/init/plan.c decodes.
import { OPS, type FieldType, type Op } from './schema';

export const PLAN_VERSION = 1;

/**
 * One growing buffer written at an offset: a plan has hundreds of ops, and a
 * Buffer per field made encoding the slowest step of a cold CLI create.
 */
/**
 * Buffer's own utf8Write (what buf.write calls after normalising its
 * arguments) is several times faster for the many short strings of a plan;
 * buf.write where a Node lacks it.
 */
const fastUtf8Write = (Buffer.prototype as unknown as { utf8Write?: (s: string, offset: number) => number }).utf8Write;
function writeUtf8(buf: Buffer, s: string, offset: number): void {
  if (fastUtf8Write) fastUtf8Write.call(buf, s, offset);
  else buf.write(s, offset, 'utf8');
}

class Writer {
  private buf = Buffer.allocUnsafe(16384);
  // DataView setters are V8 builtins: fast even before the JIT has seen this
  // code, unlike Buffer's write* methods (JS with argument checks).
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
  }
  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v >>> 0, true);
    this.length += 4;
  }
  /** Overwrites a u32 written earlier (a length known only afterwards). */
  u32At(offset: number, v: number): void {
    this.view.setUint32(offset, v >>> 0, true);
  }
  u64(v: bigint | number): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt.asUintN(64, BigInt(v)), true);
    this.length += 8;
  }
  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8') + 1; // with its NUL
    this.u32(n);
    this.reserve(n);
    writeUtf8(this.buf, s, this.length);
    this.buf[this.length + n - 1] = 0;
    this.length += n;
  }
  bytes(b: Buffer): void {
    this.reserve(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeField(w: Writer, type: FieldType, value: unknown): void {
  switch (type) {
    case 'u32': return w.u32(value as number);
    case 'u64': return w.u64(value as bigint | number);
    case 'str': return w.str(value as string);
    case 'strs': {
      const list = value as string[];
      w.u32(list.length);
      for (const s of list) w.str(s);
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
  const w = new Writer();
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
  return w.done();
}
