import { expectArgs, parseFlags } from '../args';
import type { Verb } from '../context';

export const del: Verb = async (args, ctx) => {
  const { flags, positional } = parseFlags(args, [{ name: 'force', short: 'f', type: 'bool' }]);
  expectArgs('delete', positional, 1, 'capsa delete [command options] <container-id>');
  await ctx.runtime().delete(positional[0]!, { force: !!flags.force });
  return 0;
};
