import { CapsaError } from '../../errors';
import { parseFlags } from '../args';
import type { Verb } from '../context';
import { parseSignal } from '../../runtime/signals';

export const kill: Verb = async (args, ctx) => {
  const { flags, positional } = parseFlags(args, [{ name: 'all', short: 'a', type: 'bool' }]);
  if (positional.length < 1 || positional.length > 2) throw new CapsaError('INVALID_ARGUMENT', '"kill" requires 1 or 2 arguments: capsa kill [command options] <container-id> [signal]');
  const rt = ctx.runtime();
  let signal: number;
  try {
    signal = parseSignal(positional[1] ?? 'SIGTERM');
  } catch (e) {
    // runc reports a missing container before a bad signal.
    rt.state(positional[0]!);
    throw e;
  }
  // kill reads the state itself (and reports a missing container): one state.json read.
  await rt.kill(positional[0]!, signal, { all: !!flags.all });
  return 0;
};
