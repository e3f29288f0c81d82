import { out } from '../output';
import { expectArgs, parseFlags } from '../args';
import type { Verb } from '../context';

export const state: Verb = async (args, ctx) => {
  const { positional } = parseFlags(args, []);
  expectArgs('state', positional, 1, 'capsa state <container-id>');
  out(JSON.stringify(ctx.runtime().state(positional[0]!), null, 2) + '\n');
  return 0;
};
