// A small runc-style flag parser: `--flag value`, `--flag=value`, `-f value`,
// boolean flags, repeatable flags; flags stop at the first positional argument
// (so `exec ID cmd --x` passes --x to cmd) or at `--`.
import { CapsaError } from '../errors';

export type FlagType = 'bool' | 'string' | 'int' | 'list';

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
}

export interface Parsed {
  flags: Record<string, string | boolean | number | string[] | undefined>;
  positional: string[];
}

export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): Parsed {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(s.name, s);
    if (s.short) byName.set(s.short, s);
  }
  const flags: Parsed['flags'] = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') { i++; break; }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = byName.get(name);
    if (!spec) throw new CapsaError('INVALID_ARGUMENT', `flag provided but not defined: -${name}`);
    if (spec.type === 'bool') {
      const v = eq >= 0 ? body.slice(eq + 1) : 'true';
      if (v !== 'true' && v !== 'false') throw new CapsaError('INVALID_ARGUMENT', `invalid boolean value "${v}" for -${name}`);
      flags[spec.name] = v === 'true';
      continue;
    }
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new CapsaError('INVALID_ARGUMENT', `flag needs an argument: -${name}`);
      value = argv[++i]!;
    }
    if (spec.type === 'int') {
      if (!/^-?\d+$/.test(value)) throw new CapsaError('INVALID_ARGUMENT', `invalid value "${value}" for flag -${name}: parse error`);
      flags[spec.name] = Number(value);
    } else if (spec.type === 'list') {
      flags[spec.name] = [...((flags[spec.name] as string[] | undefined) ?? []), value];
    } else {
      flags[spec.name] = value;
    }
  }
  return { flags, positional: argv.slice(i) };
}

/** Exactly `n` positional arguments, or runc's style of complaint. */
export function expectArgs(verb: string, positional: readonly string[], n: number, usage: string): void {
  if (positional.length < n) throw new CapsaError('INVALID_ARGUMENT', `"${verb}" requires ${n === 1 ? 'exactly 1 argument' : `${n} arguments`}: ${usage}`);
  if (positional.length > n) throw new CapsaError('INVALID_ARGUMENT', `"${verb}" requires ${n === 1 ? 'exactly 1 argument' : `${n} arguments`}: ${usage}`);
}
