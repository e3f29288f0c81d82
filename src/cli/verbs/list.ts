import { out } from '../output';
import { CapsaError } from '../../errors';
import { parseFlags } from '../args';
import type { Verb } from '../context';

export const list: Verb = async (args, ctx) => {
  const { flags } = parseFlags(args, [
    { name: 'format', short: 'f', type: 'string' },
    { name: 'quiet', short: 'q', type: 'bool' },
  ]);
  const format = (flags.format as string | undefined) ?? 'table';
  if (format !== 'table' && format !== 'json') throw new CapsaError('INVALID_ARGUMENT', `invalid format option: ${format}`);
  const states = ctx.runtime().list();
  if (flags.quiet) {
    out(states.map((s) => s.id + '\n').join(''));
    return 0;
  }
  if (format === 'json') {
    out(JSON.stringify(states) + '\n');
    return 0;
  }
  const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'],
    ...states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created ?? '', s.owner ?? 'root'])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  out(rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]! + 3))).join('') + '\n').join(''));
  return 0;
};
