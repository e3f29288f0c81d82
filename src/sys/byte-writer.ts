// Little-endian values written into one growing buffer at an offset, never a
// Buffer each: the plan encoder and the D-Bus marshaller. DataView setters are
// V8 builtins, fast even before the JIT has seen the caller (a cold CLI run),
// unlike Buffer's write* methods (JS with argument checks).

/**
 * Buffer's own utf8Write (what buf.write calls after normalising its
 * arguments) is several times faster for many short strings; buf.write where
 * a Node lacks it.
 */
const fastUtf8Write = (Buffer.prototype as unknown as { utf8Write?: (s: string, offset: number) => number }).utf8Write;

export class ByteWriter {
  protected buf: Buffer;
  private view: DataView;
  length = 0;

  constructor(initialSize = 4096) {
    this.buf = Buffer.allocUnsafe(initialSize);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /**
   * Makes room for n more bytes; returns the offset they start at. It may
   * replace buf and view: call it before reading either (not inside
   * `this.buf.x(this.reserve(n))`, where this.buf is read first).
   */
  protected reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
      this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
    }
    return this.length;
  }
  u8(v: number): void {
    const at = this.reserve(1);
    this.view.setUint8(at, v);
    this.length += 1;
  }
  u16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
    this.length += 2;
  }
  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v >>> 0, true);
    this.length += 4;
  }
  /** Overwrites a u32 written earlier (a length known only afterwards). */
  u32At(offset: number, v: number): void {
    this.view.setUint32(offset, v >>> 0, true);
  }
  u64(v: bigint | number): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
    this.length += 8;
  }
  bytes(b: Buffer): void {
    const at = this.reserve(b.length);
    b.copy(this.buf, at);
    this.length += b.length;
  }
  zeros(n: number): void {
    const at = this.reserve(n);
    this.buf.fill(0, at, at + n);
    this.length += n;
  }
  /** s as UTF-8, then a NUL; byteLength is Buffer.byteLength(s, 'utf8'), which the caller needed first. */
  cstring(s: string, byteLength: number): void {
    const at = this.reserve(byteLength + 1);
    if (fastUtf8Write) fastUtf8Write.call(this.buf, s, at);
    else this.buf.write(s, at, 'utf8');
    this.buf[at + byteLength] = 0;
    this.length += byteLength + 1;
  }
  /** The bytes written so far (a view, not a copy). */
  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}
