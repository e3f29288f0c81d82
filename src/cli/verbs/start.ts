import { expectArgs, parseFlags } from '../args';
import type { Verb } from '../context';

export const start: Verb = async (args, ctx) => {
  const { positional } = parseFlags(args, []);
  expectArgs('start', positional, 1, 'capsa start <container-id>');
  await ctx.runtime().start(positional[0]!);
  return 0;
};
