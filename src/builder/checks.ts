// Argument checks for the spec builder. Each failure is a CapsaError
// INVALID_ARGUMENT whose message names the builder method and the value, e.g.
// `withMemoryLimit(-5): expected a positive number of bytes`.
import { CapsaError } from '../errors';

const MAX_U32 = 0xffffffff;

/** Renders a value the way it was passed, short enough for one line. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v);
  if (typeof v === 'number') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  if (v === undefined) return 'undefined';
  try {
    const s = JSON.stringify(v);
    if (s === undefined) return String(v);
    return s.length > 80 ? s.slice(0, 80) + '…' : s;
  } catch {
    return String(v);
  }
}

export function bad(method: string, args: readonly unknown[], why: string): never {
  throw new CapsaError('INVALID_ARGUMENT', `${method}(${args.map(show).join(', ')}): ${why}`);
}

/** Checks one argument; `all` are the call's arguments, for the message. */
export class Check {
  constructor(private readonly method: string, private readonly all: readonly unknown[]) {}

  fail(why: string): never {
    return bad(this.method, this.all, why);
  }

  string(v: unknown, what: string, opts: { empty?: boolean } = {}): string {
    if (typeof v !== 'string') this.fail(`${what} must be a string, got ${show(v)}`);
    if (!opts.empty && v === '') this.fail(`${what} must not be empty`);
    if (v.includes('\0')) this.fail(`${what} contains a NUL byte`);
    return v;
  }

  absPath(v: unknown, what: string): string {
    const s = this.string(v, what);
    if (!s.startsWith('/')) this.fail(`${what} ${show(s)} must be an absolute path`);
    return s;
  }

  int(v: unknown, what: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(`${what} must be an integer, got ${show(v)}`);
    if (v < min || v > max) this.fail(`${what} ${v} is out of range [${min}, ${max}]`);
    return v;
  }

  u32(v: unknown, what: string): number {
    return this.int(v, what, 0, MAX_U32);
  }

  bool(v: unknown, what: string): boolean {
    if (typeof v !== 'boolean') this.fail(`${what} must be a boolean, got ${show(v)}`);
    return v;
  }

  strings(v: unknown, what: string): string[] {
    if (!Array.isArray(v)) this.fail(`${what} must be an array of strings, got ${show(v)}`);
    return v.map((s, i) => this.string(s, `${what}[${i}]`));
  }
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** Bytes from a number or a size string like "64m", "1.5G", "512KiB". */
export function parseBytes(c: Check, v: unknown, what: string): number {
  let n: number;
  if (typeof v === 'number') {
    n = v;
  } else if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
    const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) c.fail(`${what} ${show(v)} is not a size (bytes, or a number with k, m or g)`);
    n = Math.floor(Number(m[1]) * unit);
  } else {
    c.fail(`${what} must be a number of bytes or a size string like "64m", got ${show(v)}`);
  }
  if (!Number.isSafeInteger(n) || n <= 0) c.fail(`${what} must be a positive whole number of bytes`);
  return n;
}

/** Hostnames as sethostname(2) and RFC 1123 allow: labels of letters, digits and '-'. */
export function checkHostname(c: Check, v: unknown, what: string): string {
  const s = c.string(v, what);
  if (s.length > 64) c.fail(`${what} is longer than 64 characters`);
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(s)) {
    c.fail(`${what} ${show(s)} is not a valid host name (letters, digits, '-' and '.')`);
  }
  return s;
}
