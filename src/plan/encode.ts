// Plan → bytes, in the format native/init/plan.c decodes.
import { OPS, type FieldType, type Op } from './schema';

export const PLAN_VERSION = 1;

class Writer {
  private chunks: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(v >>> 0);
    this.push(b);
  }
  u64(v: bigint | number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)));
    this.push(b);
  }
  str(s: string): void {
    const bytes = Buffer.from(s + '\0', 'utf8');
    this.u32(bytes.length);
    this.push(bytes);
  }
  done(): Buffer {
    return Buffer.concat(this.chunks, this.length);
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
      w.push(b);
      return;
    }
  }
}

export function encodePlan(ops: readonly Op[]): Buffer {
  const body = new Writer();
  for (const op of ops) {
    const schema = OPS[op.op];
    const payload = new Writer();
    for (const [name, type] of schema.fields) writeField(payload, type, (op as unknown as Record<string, unknown>)[name]);
    const head = Buffer.alloc(8);
    head.writeUInt16LE(schema.code, 0);
    head.writeUInt32LE(payload.length, 4);
    body.push(head);
    body.push(payload.done());
  }
  const header = Buffer.alloc(12);
  header.write('CPLN', 0, 'latin1');
  header.writeUInt32LE(PLAN_VERSION, 4);
  header.writeUInt32LE(ops.length, 8);
  return Buffer.concat([header, body.done()]);
}
