// A small table-driven protobuf (proto3) codec for the few dozen messages the
// shim speaks. Each message is a list of fields; encode writes the fields that
// differ from their default in field-number order (what Go's marshalers do),
// decode keeps the fields present on the wire and skips unknown ones.
// Checked byte for byte against containerd's own Go types in
// test/unit/shim-codec.test.ts (corpus made by test/fixtures/shim-corpus/gen.go).

export type Scalar = 'string' | 'bytes' | 'bool' | 'uint32' | 'int32' | 'uint64' | 'int64' | 'enum';

export interface Field {
  no: number;
  name: string;
  type: Scalar | Schema;
  repeated?: boolean;
  /** map<string,string>: a repeated {key=1, value=2} entry on the wire. */
  map?: boolean;
  /** A message field Go always writes (gogo nullable=false): absent is encoded as `zero`. */
  zero?: Record<string, unknown>;
}

export interface Schema {
  name: string;
  fields: Field[];
  /** by field number, filled on first use */
  byNo?: Map<number, Field>;
}

export type Msg = Record<string, unknown>;

export class ProtoError extends Error {}

// ---- varints ----

const TWO_32 = 2 ** 32;

/** Appends the varint of an unsigned 64-bit value (negative int64 as two's complement). */
function pushVarint(out: number[], value: number | bigint): void {
  if (typeof value === 'number' && value >= 0 && value < TWO_32 && Number.isInteger(value)) {
    let v = value;
    while (v >= 0x80) { out.push((v & 0x7f) | 0x80); v = Math.floor(v / 128); }
    out.push(v);
    return;
  }
  let v = toUint64(value);
  while (v >= 0x80n) { out.push(Number(v & 0x7fn) | 0x80); v >>= 7n; }
  out.push(Number(v));
}

/** A number or bigint as uint64 bits; doubles ≥ 2^64 (a "max" read as a float) clamp to 2^64-1. */
function toUint64(value: number | bigint): bigint {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ProtoError(`not an integer: ${value}`);
    if (value >= 2 ** 64) return (1n << 64n) - 1n;
    value = BigInt(Math.trunc(value));
  }
  return BigInt.asUintN(64, value);
}

// ---- encoding ----

function isDefault(v: unknown): boolean {
  return v === undefined || v === null || v === '' || v === 0 || v === 0n || v === false || (v instanceof Uint8Array && v.length === 0);
}

function pushTag(out: number[], no: number, wire: number): void { pushVarint(out, no * 8 + wire); }

function pushBytes(out: number[], no: number, data: Uint8Array): void {
  pushTag(out, no, 2);
  pushVarint(out, data.length);
  for (let i = 0; i < data.length; i++) out.push(data[i]!);
}

function scalarValue(out: number[], type: Scalar, v: unknown, fieldName: string): void {
  switch (type) {
    case 'bool': pushVarint(out, v ? 1 : 0); return;
    case 'uint32': case 'enum': case 'uint64': case 'int64': pushVarint(out, v as number | bigint); return;
    case 'int32': pushVarint(out, BigInt(v as number)); return;
    default: throw new ProtoError(`field ${fieldName}: ${type} is not a varint`);
  }
}

function encodeInto(out: number[], schema: Schema, m: Msg): void {
  for (const f of schema.fields) {
    const v = m[f.name];
    if (f.map) {
      for (const [key, value] of Object.entries((v ?? {}) as Record<string, string>)) {
        const entry: number[] = [];
        if (key) pushBytes(entry, 1, Buffer.from(key));
        if (value) pushBytes(entry, 2, Buffer.from(value));
        pushBytes(out, f.no, Uint8Array.from(entry));
      }
      continue;
    }
    if (f.repeated) {
      const list = (v ?? []) as unknown[];
      if (!list.length) continue;
      if (typeof f.type === 'object') {
        for (const item of list) pushBytes(out, f.no, encode(f.type, item as Msg));
      } else if (f.type === 'string' || f.type === 'bytes') {
        for (const item of list) pushBytes(out, f.no, typeof item === 'string' ? Buffer.from(item) : (item as Uint8Array));
      } else {
        // proto3 packs repeated scalars
        const packed: number[] = [];
        for (const item of list) scalarValue(packed, f.type, item, f.name);
        pushBytes(out, f.no, Uint8Array.from(packed));
      }
      continue;
    }
    if (typeof f.type === 'object') {
      const sub = (v ?? f.zero) as Msg | undefined;
      if (sub !== undefined && sub !== null) pushBytes(out, f.no, encode(f.type, sub));
      continue;
    }
    if (isDefault(v)) continue;
    if (f.type === 'string') pushBytes(out, f.no, Buffer.from(v as string));
    else if (f.type === 'bytes') pushBytes(out, f.no, v as Uint8Array);
    else {
      pushTag(out, f.no, 0);
      scalarValue(out, f.type, v, f.name);
    }
  }
}

export function encode(schema: Schema, m: Msg): Buffer {
  const out: number[] = [];
  encodeInto(out, schema, m);
  return Buffer.from(out);
}

// ---- decoding ----

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer, private readonly what: string) {}

  varint(): number | bigint {
    let lo = 0;
    let shift = 0;
    // Fast path: up to 4 bytes fit a 28-bit value.
    for (; shift < 28; shift += 7) {
      const b = this.byte();
      lo |= (b & 0x7f) << shift;
      if (!(b & 0x80)) return lo >>> 0;
    }
    let v = BigInt(lo >>> 0);
    for (let s = 28n; ; s += 7n) {
      if (s > 63n) throw new ProtoError(`${this.what}: varint too long`);
      const b = this.byte();
      v |= BigInt(b & 0x7f) << s;
      if (!(b & 0x80)) break;
    }
    v = BigInt.asUintN(64, v);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  byte(): number {
    if (this.pos >= this.buf.length) throw new ProtoError(`${this.what}: truncated`);
    return this.buf[this.pos++]!;
  }

  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new ProtoError(`${this.what}: truncated field`);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  skip(wire: number): void {
    switch (wire) {
      case 0: this.varint(); return;
      case 1: this.advance(8); return;
      case 2: this.bytes(); return;
      case 5: this.advance(4); return;
      default: throw new ProtoError(`${this.what}: wire type ${wire} not supported`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new ProtoError(`${this.what}: truncated`);
    this.pos += n;
  }
}

function fieldsByNo(schema: Schema): Map<number, Field> {
  schema.byNo ??= new Map(schema.fields.map((f) => [f.no, f]));
  return schema.byNo;
}

function scalarFrom(type: Scalar, raw: number | bigint): unknown {
  switch (type) {
    case 'bool': return raw !== 0 && raw !== 0n;
    case 'int64': {
      const v = BigInt.asIntN(64, BigInt(raw));
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case 'int32': return Number(BigInt.asIntN(32, BigInt(raw)));
    case 'uint32': case 'enum': return Number(BigInt.asUintN(32, BigInt(raw)));
    default: return raw;
  }
}

export function decode<T = Msg>(schema: Schema, buf: Buffer | Uint8Array): T {
  const r = new Reader(Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength), schema.name);
  const m: Msg = {};
  const byNo = fieldsByNo(schema);
  while (r.pos < r.buf.length) {
    const key = Number(r.varint());
    const no = Math.floor(key / 8);
    const wire = key & 7;
    const f = byNo.get(no);
    if (!f || no === 0) { r.skip(wire); continue; }
    if (f.map) {
      if (wire !== 2) throw new ProtoError(`${schema.name}.${f.name}: bad wire type ${wire}`);
      const e = decode<{ key?: string; value?: string }>(MAP_ENTRY, r.bytes());
      const obj = (m[f.name] ??= {}) as Record<string, string>;
      obj[e.key ?? ''] = e.value ?? '';
      continue;
    }
    let value: unknown;
    if (typeof f.type === 'object') {
      if (wire !== 2) throw new ProtoError(`${schema.name}.${f.name}: bad wire type ${wire}`);
      value = decode(f.type, r.bytes());
    } else if (f.type === 'string' || f.type === 'bytes') {
      if (wire !== 2) throw new ProtoError(`${schema.name}.${f.name}: bad wire type ${wire}`);
      const b = r.bytes();
      value = f.type === 'string' ? b.toString('utf8') : Buffer.from(b);
    } else if (wire === 2 && f.repeated) {
      // packed scalars
      const inner = new Reader(r.bytes(), `${schema.name}.${f.name}`);
      const list = (m[f.name] ??= []) as unknown[];
      while (inner.pos < inner.buf.length) list.push(scalarFrom(f.type, inner.varint()));
      continue;
    } else {
      if (wire !== 0) throw new ProtoError(`${schema.name}.${f.name}: bad wire type ${wire}`);
      value = scalarFrom(f.type, r.varint());
    }
    if (f.repeated) ((m[f.name] ??= []) as unknown[]).push(value);
    else m[f.name] = value;
  }
  return m as T;
}

const MAP_ENTRY: Schema = { name: 'MapEntry', fields: [{ no: 1, name: 'key', type: 'string' }, { no: 2, name: 'value', type: 'string' }] };

/** Shorthand for schema tables: [no, name, type, options]. */
export function message(name: string, fields: [number, string, Scalar | Schema, Partial<Field>?][]): Schema {
  return { name, fields: fields.map(([no, n, type, opts]) => ({ no, name: n, type, ...opts })) };
}
