// A minimal D-Bus client: enough of the wire protocol (EXTERNAL auth, method
// calls, replies, errors, signals) for the systemd cgroup driver to start and
// stop transient scopes on the system bus. Loaded only with --systemd-cgroup.
// Types: y b n q i u x t d s o g v a() {} — no fds.
import * as net from 'node:net';
import { CapsaError } from '../errors';
import { ByteWriter } from '../sys/byte-writer';

/** A variant value: its signature and the value. */
export type Variant = [string, unknown];

type Type =
  | { kind: 'basic'; code: string }
  | { kind: 'variant' }
  | { kind: 'array'; elem: Type }
  | { kind: 'struct'; fields: Type[] }
  | { kind: 'dict'; key: Type; value: Type };

/** Parses a signature into its complete types. */
export function parseSignature(sig: string): Type[] {
  let i = 0;
  const one = (): Type => {
    const c = sig[i++];
    if (c === undefined) throw new Error(`signature "${sig}" ends early`);
    if ('ybnqiuxtdsogh'.includes(c)) return { kind: 'basic', code: c };
    if (c === 'v') return { kind: 'variant' };
    if (c === 'a') return { kind: 'array', elem: one() };
    if (c === '(') {
      const fields: Type[] = [];
      while (sig[i] !== ')') fields.push(one());
      i++;
      return { kind: 'struct', fields };
    }
    if (c === '{') {
      const key = one();
      const value = one();
      if (sig[i++] !== '}') throw new Error(`signature "${sig}": bad dict entry`);
      return { kind: 'dict', key, value };
    }
    throw new Error(`signature "${sig}": unknown type "${c}"`);
  };
  const out: Type[] = [];
  while (i < sig.length) out.push(one());
  return out;
}

const ALIGN: Record<string, number> = { y: 1, b: 4, n: 2, q: 2, i: 4, u: 4, x: 8, t: 8, d: 8, s: 4, o: 4, g: 1, h: 4 };
const alignOf = (t: Type): number =>
  t.kind === 'basic' ? ALIGN[t.code]! : t.kind === 'variant' ? 1 : t.kind === 'array' ? 4 : 8;

/** Little-endian marshalling into a growing buffer; offsets count from the message start. */
class Writer extends ByteWriter {
  constructor() {
    super(256);
  }

  align(n: number): void {
    this.zeros((n - (this.length % n)) % n);
  }

  write(t: Type, v: unknown): void {
    this.align(alignOf(t));
    if (t.kind === 'basic') return this.basic(t.code, v);
    if (t.kind === 'variant') {
      const [sig, value] = v as Variant;
      const types = parseSignature(sig);
      if (types.length !== 1) throw new Error(`variant signature "${sig}" must be one complete type`);
      this.basic('g', sig);
      return this.write(types[0]!, value);
    }
    if (t.kind === 'struct') {
      const values = v as unknown[];
      t.fields.forEach((f, i) => this.write(f, values[i]));
      return;
    }
    if (t.kind === 'dict') {
      const [key, value] = v as [unknown, unknown];
      this.write(t.key, key);
      this.write(t.value, value);
      return;
    }
    // array: u32 byte length (without the padding to the first element), elements
    const lenAt = this.length;
    this.basic('u', 0);
    this.align(alignOf(t.elem));
    const start = this.length;
    for (const e of v as unknown[]) this.write(t.elem, e);
    this.u32At(lenAt, this.length - start);
  }

  private basic(code: string, v: unknown): void {
    const num = (n: number) => this.reserve(n);
    switch (code) {
      case 'y': { const o = num(1); this.buf.writeUInt8(Number(v), o); this.length += 1; return; }
      case 'b': { const o = num(4); this.buf.writeUInt32LE(v ? 1 : 0, o); this.length += 4; return; }
      case 'n': { const o = num(2); this.buf.writeInt16LE(Number(v), o); this.length += 2; return; }
      case 'q': { const o = num(2); this.buf.writeUInt16LE(Number(v), o); this.length += 2; return; }
      case 'i': { const o = num(4); this.buf.writeInt32LE(Number(v), o); this.length += 4; return; }
      case 'u': case 'h': { const o = num(4); this.buf.writeUInt32LE(Number(v), o); this.length += 4; return; }
      case 'x': { const o = num(8); this.buf.writeBigInt64LE(BigInt(v as number | bigint), o); this.length += 8; return; }
      case 't': { const o = num(8); this.buf.writeBigUInt64LE(BigInt(v as number | bigint), o); this.length += 8; return; }
      case 'd': { const o = num(8); this.buf.writeDoubleLE(Number(v), o); this.length += 8; return; }
      case 's': case 'o': case 'g': {
        const text = String(v);
        const n = Buffer.byteLength(text, 'utf8');
        this.basic(code === 'g' ? 'y' : 'u', n);
        this.cstring(text, n);
        return;
      }
      default: throw new Error(`cannot marshal type "${code}"`);
    }
  }

}

/** Little-endian unmarshalling from a message (offsets from its start). */
class Reader {
  constructor(private readonly buf: Buffer, public offset: number) {}

  private align(n: number): void {
    this.offset += (n - (this.offset % n)) % n;
  }

  read(t: Type): unknown {
    this.align(alignOf(t));
    if (t.kind === 'basic') return this.basic(t.code);
    if (t.kind === 'variant') {
      const sig = this.basic('g') as string;
      return [sig, this.read(parseSignature(sig)[0]!)] as Variant;
    }
    if (t.kind === 'struct') return t.fields.map((f) => this.read(f));
    if (t.kind === 'dict') return [this.read(t.key), this.read(t.value)];
    const len = this.basic('u') as number;
    this.align(alignOf(t.elem));
    const end = this.offset + len;
    const out: unknown[] = [];
    while (this.offset < end) out.push(this.read(t.elem));
    return out;
  }

  private basic(code: string): unknown {
    const b = this.buf;
    const at = this.offset;
    switch (code) {
      case 'y': this.offset += 1; return b.readUInt8(at);
      case 'b': this.offset += 4; return b.readUInt32LE(at) !== 0;
      case 'n': this.offset += 2; return b.readInt16LE(at);
      case 'q': this.offset += 2; return b.readUInt16LE(at);
      case 'i': this.offset += 4; return b.readInt32LE(at);
      case 'u': case 'h': this.offset += 4; return b.readUInt32LE(at);
      case 'x': this.offset += 8; return b.readBigInt64LE(at);
      case 't': this.offset += 8; return b.readBigUInt64LE(at);
      case 'd': this.offset += 8; return b.readDoubleLE(at);
      case 's': case 'o': {
        const len = b.readUInt32LE(at);
        this.offset = at + 4 + len + 1;
        return b.toString('utf8', at + 4, at + 4 + len);
      }
      case 'g': {
        const len = b.readUInt8(at);
        this.offset = at + 1 + len + 1;
        return b.toString('utf8', at + 1, at + 1 + len);
      }
      default: throw new Error(`cannot unmarshal type "${code}"`);
    }
  }
}

export const MESSAGE = { CALL: 1, RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;
const FIELD = { PATH: 1, INTERFACE: 2, MEMBER: 3, ERROR_NAME: 4, REPLY_SERIAL: 5, DESTINATION: 6, SENDER: 7, SIGNATURE: 8 } as const;
const FIELD_SIG: Record<number, string> = { 1: 'o', 2: 's', 3: 's', 4: 's', 5: 'u', 6: 's', 7: 's', 8: 'g' };
const HEADER = parseSignature('yyyyuua(yv)');

export interface Message {
  type: number;
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature?: string;
  body: unknown[];
}

/** Encodes one message (the header's flags are 0: replies expected). */
export function encodeMessage(m: Omit<Message, 'body'> & { body?: unknown[] }): Buffer {
  const fields: [number, Variant][] = [];
  const add = (code: number, v: unknown) => { if (v !== undefined) fields.push([code, [FIELD_SIG[code]!, v]]); };
  add(FIELD.PATH, m.path);
  add(FIELD.INTERFACE, m.interface);
  add(FIELD.MEMBER, m.member);
  add(FIELD.ERROR_NAME, m.errorName);
  add(FIELD.REPLY_SERIAL, m.replySerial);
  add(FIELD.DESTINATION, m.destination);
  add(FIELD.SENDER, m.sender);
  if (m.signature) add(FIELD.SIGNATURE, m.signature);
  const body = new Writer();
  const types = parseSignature(m.signature ?? '');
  types.forEach((t, i) => body.write(t, (m.body ?? [])[i]));
  const w = new Writer();
  const header: unknown[] = ['l'.charCodeAt(0), m.type, 0, 1, body.length, m.serial, fields];
  HEADER.forEach((t, i) => w.write(t, header[i]));
  w.align(8);
  w.bytes(body.result());
  return w.result();
}

/** Length of the first complete message in buf, or 0 when more bytes are needed. */
export function messageLength(buf: Buffer): number {
  if (buf.length < 16) return 0;
  if (buf[0] !== 'l'.charCodeAt(0)) throw new Error('big-endian D-Bus messages are not supported');
  const bodyLen = buf.readUInt32LE(4);
  const fieldsLen = buf.readUInt32LE(12);
  const headerEnd = 16 + fieldsLen;
  const total = headerEnd + ((8 - (headerEnd % 8)) % 8) + bodyLen;
  return buf.length >= total ? total : 0;
}

export function decodeMessage(buf: Buffer): Message {
  const r = new Reader(buf, 0);
  const [, type, , , , serial, fields] = HEADER.map((t) => r.read(t)) as [number, number, number, number, number, number, [number, Variant][]];
  const m: Message = { type, serial, body: [] };
  for (const [code, [, v]] of fields) {
    if (code === FIELD.PATH) m.path = v as string;
    else if (code === FIELD.INTERFACE) m.interface = v as string;
    else if (code === FIELD.MEMBER) m.member = v as string;
    else if (code === FIELD.ERROR_NAME) m.errorName = v as string;
    else if (code === FIELD.REPLY_SERIAL) m.replySerial = v as number;
    else if (code === FIELD.DESTINATION) m.destination = v as string;
    else if (code === FIELD.SENDER) m.sender = v as string;
    else if (code === FIELD.SIGNATURE) m.signature = v as string;
  }
  const body = new Reader(buf, r.offset + ((8 - (r.offset % 8)) % 8));
  m.body = parseSignature(m.signature ?? '').map((t) => body.read(t));
  return m;
}

/** The system bus socket: DBUS_SYSTEM_BUS_ADDRESS (unix:path=...) or the standard path. */
export function systemBusPath(env: NodeJS.ProcessEnv = process.env): string {
  const addr = env.DBUS_SYSTEM_BUS_ADDRESS;
  if (!addr) return '/run/dbus/system_bus_socket';
  for (const one of addr.split(';')) {
    if (!one.startsWith('unix:')) continue;
    for (const kv of one.slice(5).split(',')) if (kv.startsWith('path=')) return decodeURIComponent(kv.slice(5));
  }
  throw new CapsaError('UNSUPPORTED', `DBUS_SYSTEM_BUS_ADDRESS "${addr}": only unix:path= addresses are supported`);
}

export interface CallOptions {
  destination: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
}

/** One connection to a message bus. */
export class BusConnection {
  private serial = 1;
  private pending = Buffer.alloc(0);
  private readonly waiting = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  private readonly signalHandlers: ((m: Message) => void)[] = [];
  private closedError: Error | undefined;

  private constructor(private readonly sock: net.Socket) {}

  static async connect(socketPath: string, timeoutMs: number): Promise<BusConnection> {
    const sock = net.createConnection(socketPath);
    const fail = (what: string, e?: Error) => new CapsaError('SYSTEMD', `D-Bus ${socketPath}: ${what}${e ? `: ${e.message}` : ''}`);
    const timer = setTimeout(() => sock.destroy(fail(`no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', (e) => reject(fail('connect', e))); });
      // EXTERNAL authentication as our uid, then the binary protocol.
      const uid = Buffer.from(String(process.getuid?.() ?? 0)).toString('hex');
      sock.write(Buffer.concat([Buffer.from([0]), Buffer.from(`AUTH EXTERNAL ${uid}\r\n`)]));
      const line = await new Promise<string>((resolve, reject) => {
        let got = '';
        const onData = (d: Buffer) => {
          got += d.toString('latin1');
          const end = got.indexOf('\r\n');
          if (end < 0) return;
          sock.off('data', onData);
          resolve(got.slice(0, end));
        };
        sock.on('data', onData);
        sock.once('error', (e) => reject(fail('authenticate', e)));
        sock.once('close', () => reject(fail('closed during authentication')));
      });
      if (!line.startsWith('OK ')) throw fail(`authentication refused (${line})`);
      sock.write('BEGIN\r\n');
    } catch (e) {
      sock.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    const c = new BusConnection(sock);
    sock.removeAllListeners('error');
    sock.removeAllListeners('close');
    sock.on('data', (d: Buffer) => c.onData(d));
    sock.on('error', (e) => c.shut(e));
    sock.on('close', () => c.shut(new Error('connection closed')));
    await c.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'Hello' }, timeoutMs);
    return c;
  }

  private onData(d: Buffer): void {
    this.pending = Buffer.concat([this.pending, d]);
    for (;;) {
      let len: number;
      let m: Message;
      try {
        len = messageLength(this.pending);
        if (len === 0) return;
        m = decodeMessage(this.pending.subarray(0, len));
      } catch (e) {
        this.shut(e as Error);
        this.sock.destroy();
        return;
      }
      this.pending = this.pending.subarray(len);
      if (m.type === MESSAGE.SIGNAL) {
        for (const h of this.signalHandlers) h(m);
        continue;
      }
      if ((m.type === MESSAGE.RETURN || m.type === MESSAGE.ERROR) && m.replySerial !== undefined) {
        const w = this.waiting.get(m.replySerial);
        if (!w) continue;
        this.waiting.delete(m.replySerial);
        if (m.type === MESSAGE.RETURN) w.resolve(m);
        else w.reject(new CapsaError('SYSTEMD', `${m.errorName}: ${typeof m.body[0] === 'string' ? m.body[0] : 'error'}`));
      }
    }
  }

  private shut(e: Error): void {
    if (this.closedError) return;
    this.closedError = e;
    for (const w of this.waiting.values()) w.reject(new CapsaError('SYSTEMD', `D-Bus: ${e.message}`));
    this.waiting.clear();
  }

  onSignal(handler: (m: Message) => void): void {
    this.signalHandlers.push(handler);
  }

  /** A method call; resolves with the reply's body, rejects with the D-Bus error. */
  async call(c: CallOptions, timeoutMs: number): Promise<unknown[]> {
    if (this.closedError) throw new CapsaError('SYSTEMD', `D-Bus: ${this.closedError.message}`);
    const serial = this.serial++;
    const reply = new Promise<Message>((resolve, reject) => this.waiting.set(serial, { resolve, reject }));
    this.sock.write(encodeMessage({ type: MESSAGE.CALL, serial, ...c }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.waiting.delete(serial);
        reject(new CapsaError('TIMEOUT', `D-Bus ${c.interface}.${c.member}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return (await Promise.race([reply, timeout])).body;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.shut(new Error('closed'));
    this.sock.destroy();
  }
}
