// GVariant's text format, the subset systemd property annotations use
// (org.systemd.property.NAME=VALUE, as runc reads them with godbus's
// ParseVariant): booleans, numbers with an optional type keyword or @-type,
// quoted strings, object paths, signatures, arrays and tuples. The result is
// a D-Bus variant for dbus.ts: 64-bit integers as bigint, so none is rounded.
import type { Variant } from './dbus';

const NUMBER_KEYWORDS: Record<string, string> = {
  byte: 'y', int16: 'n', uint16: 'q', int32: 'i', uint32: 'u', int64: 'x', uint64: 't', double: 'd', handle: 'h',
};
const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  y: [0n, 255n], n: [-32768n, 32767n], q: [0n, 65535n], i: [-(2n ** 31n), 2n ** 31n - 1n], u: [0n, 2n ** 32n - 1n],
  h: [0n, 2n ** 32n - 1n], x: [-(2n ** 63n), 2n ** 63n - 1n], t: [0n, 2n ** 64n - 1n],
};

/** A parsed value; `sig` undefined for a number whose type comes from its neighbours (or its default). */
interface Parsed {
  sig: string | undefined;
  /** bigint for integers until the type is known, then the final value */
  value: unknown;
  kind: 'int' | 'float' | 'other';
}

class Parser {
  private i = 0;
  constructor(private readonly text: string) {}

  fail(msg: string): never {
    throw new Error(`${msg} at offset ${this.i} of "${this.text}"`);
  }

  private ws(): void {
    while (this.i < this.text.length && /\s/.test(this.text[this.i]!)) this.i++;
  }

  private peek(): string {
    this.ws();
    return this.text[this.i] ?? '';
  }

  private word(): string {
    this.ws();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.i));
    return m ? m[0] : '';
  }

  end(): void {
    this.ws();
    if (this.i < this.text.length) this.fail('unexpected text');
  }

  value(typeHint?: string): Parsed {
    const c = this.peek();
    if (c === '@') {
      this.i++;
      const sig = this.signatureToken();
      return finish(this.value(sig), sig, this);
    }
    if (c === '[') return this.array(typeHint);
    if (c === '(') return this.tuple(typeHint);
    if (c === "'" || c === '"') return { sig: 's', value: this.string(), kind: 'other' };
    const w = this.word();
    if (w === 'true' || w === 'false') {
      this.i += w.length;
      return { sig: 'b', value: w === 'true', kind: 'other' };
    }
    if (w in NUMBER_KEYWORDS) {
      this.i += w.length;
      return finish(this.number(), NUMBER_KEYWORDS[w]!, this);
    }
    if (w === 'objectpath' || w === 'signature' || w === 'string') {
      this.i += w.length;
      this.ws();
      return { sig: w === 'objectpath' ? 'o' : w === 'signature' ? 'g' : 's', value: this.string(), kind: 'other' };
    }
    if (w !== '') this.fail(`unsupported word "${w}"`);
    return this.number();
  }

  private number(): Parsed {
    this.ws();
    const m = /^[-+]?(0x[0-9a-fA-F]+|\d+(\.\d*)?([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|inf|nan)/.exec(this.text.slice(this.i));
    if (!m) this.fail('expected a value');
    this.i += m[0].length;
    const t = m[0];
    if (/^[-+]?(\d+|0x[0-9a-fA-F]+)$/.test(t)) {
      const neg = t.startsWith('-');
      const body = t.replace(/^[-+]/, '');
      const n = BigInt(body);
      return { sig: undefined, value: neg ? -n : n, kind: 'int' };
    }
    return { sig: undefined, value: Number(t), kind: 'float' };
  }

  private string(): string {
    this.ws();
    const q = this.text[this.i];
    if (q !== "'" && q !== '"') this.fail('expected a quoted string');
    this.i++;
    let out = '';
    for (;;) {
      const ch = this.text[this.i++];
      if (ch === undefined) this.fail('unterminated string');
      if (ch === q) return out;
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      const e = this.text[this.i++];
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"' };
      if (e !== undefined && e in simple) out += simple[e];
      else if (e === 'u' || e === 'U') {
        const len = e === 'u' ? 4 : 8;
        const hex = this.text.slice(this.i, this.i + len);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) this.fail('bad unicode escape');
        out += String.fromCodePoint(parseInt(hex, 16));
        this.i += len;
      } else this.fail(`bad escape "\\${e ?? ''}"`);
    }
  }

  private signatureToken(): string {
    this.ws();
    const start = this.i;
    let depth = 0;
    while (this.i < this.text.length) {
      const ch = this.text[this.i]!;
      if (ch === '(' || ch === '{') depth++;
      else if (ch === ')' || ch === '}') depth--;
      else if (ch === 'a' || ch === 'm') { this.i++; continue; }
      this.i++;
      if (depth === 0) break;
    }
    const sig = this.text.slice(start, this.i);
    if (!/^[ybnqiuxtdsoghva(){}m]+$/.test(sig)) this.fail(`bad type "${sig}"`);
    return sig;
  }

  private array(typeHint?: string): Parsed {
    this.i++; // [
    const elemHint = typeHint?.startsWith('a') ? typeHint.slice(1) : undefined;
    const items: Parsed[] = [];
    if (this.peek() !== ']') {
      for (;;) {
        items.push(this.value(elemHint));
        const c = this.peek();
        if (c === ',') { this.i++; continue; }
        if (c === ']') break;
        this.fail('expected "," or "]"');
      }
    }
    this.i++; // ]
    const elemSig = elemHint ?? items.find((p) => p.sig !== undefined)?.sig ?? (items.some((p) => p.kind === 'float') ? 'd' : items.length ? 'i' : undefined);
    if (elemSig === undefined) this.fail('an empty array needs a type, e.g. @as []');
    const values = items.map((p) => finish(p, elemSig, this));
    for (const v of values) if (v.sig !== elemSig) this.fail(`array elements of different types (${elemSig}, ${v.sig})`);
    return { sig: 'a' + elemSig, value: values.map((v) => v.value), kind: 'other' };
  }

  private tuple(typeHint?: string): Parsed {
    this.i++; // (
    const items: Parsed[] = [];
    if (this.peek() !== ')') {
      for (;;) {
        items.push(this.value());
        const c = this.peek();
        if (c === ',') { this.i++; if (this.peek() === ')') break; continue; }
        if (c === ')') break;
        this.fail('expected "," or ")"');
      }
    }
    this.i++; // )
    const fieldHints = typeHint?.startsWith('(') ? splitStruct(typeHint) : [];
    const fields = items.map((p, k) => finish(p, fieldHints[k] ?? p.sig ?? (p.kind === 'float' ? 'd' : 'i'), this));
    return { sig: `(${fields.map((f) => f.sig).join('')})`, value: fields.map((f) => f.value), kind: 'other' };
  }
}

/** "(sst)" → ["s", "s", "t"] (one level). */
function splitStruct(sig: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of sig.slice(1, -1)) {
    cur += ch;
    if (ch === '(' || ch === '{') depth++;
    else if (ch === ')' || ch === '}') depth--;
    if (depth === 0 && ch !== 'a' && ch !== 'm') { out.push(cur); cur = ''; }
  }
  return out;
}

/** Gives an untyped number its type (checking the range), or checks a typed value against `sig`. */
function finish(p: Parsed, sig: string, parser: Parser): Parsed {
  if (p.kind === 'other') {
    if (p.sig !== sig) parser.fail(`a ${p.sig} value where ${sig} was asked for`);
    return p;
  }
  if (p.sig !== undefined && p.sig !== sig) parser.fail(`a ${p.sig} value where ${sig} was asked for`);
  if (sig === 'd') return { sig, value: typeof p.value === 'bigint' ? Number(p.value) : p.value, kind: 'other' };
  const range = INTEGER_RANGES[sig];
  if (!range) parser.fail(`a number where ${sig} was asked for`);
  if (p.kind === 'float') parser.fail(`${String(p.value)} is not an integer`);
  const n = p.value as bigint;
  if (n < range[0] || n > range[1]) parser.fail(`${n} is out of range for type ${sig}`);
  return { sig, value: sig === 'x' || sig === 't' ? n : Number(n), kind: 'other' };
}

/** Parses one value in GVariant text format; untyped integers are int32, as in GLib. */
export function parseGVariantText(text: string): Variant {
  const p = new Parser(text);
  const v = p.value();
  p.end();
  const done = v.kind === 'other' ? v : finish(v, v.kind === 'float' ? 'd' : 'i', p);
  return [done.sig!, done.value];
}
