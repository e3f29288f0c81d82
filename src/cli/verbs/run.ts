import { CapsaError } from '../../errors';
import { parseFlags, expectArgs } from '../args';
import type { Verb } from '../context';
import { foreground } from '../foreground';
import { CREATE_FLAGS, createOptions } from './create';

export const run: Verb = async (args, ctx) => {
  const { flags, positional } = parseFlags(args, [
    ...CREATE_FLAGS,
    { name: 'detach', short: 'd', type: 'bool' },
    { name: 'keep', type: 'bool' },
    { name: 'no-subreaper', type: 'bool' },
  ]);
  expectArgs('run', positional, 1, 'capsa run [command options] <container-id>');
  const id = positional[0]!;
  const rt = ctx.runtime();
  const opts = createOptions(flags);
  const detach = !!flags.detach;
  if (opts.consoleSocket && !detach) throw new CapsaError('INVALID_ARGUMENT', 'cannot use console socket if capsa will not detach or allocate tty');
  const container = await rt.create(id, { ...opts, foregroundTerminal: !detach && !opts.consoleSocket });
  if (detach) {
    try {
      await container.start();
    } catch (e) {
      await rt.delete(id, { force: true }).catch(() => {});
      throw e;
    }
    return 0;
  }
  try {
    return await foreground(container.handle(), () => container.wait(), container.io.ptyMaster, () => container.start());
  } finally {
    if (!flags.keep) await rt.delete(id, { force: true }).catch((e: Error) => ctx.warn(e.message));
  }
};
