import { expectArgs, parseFlags, type FlagSpec } from '../args';
import type { Verb } from '../context';

export const CREATE_FLAGS: FlagSpec[] = [
  { name: 'bundle', short: 'b', type: 'string' },
  { name: 'pid-file', type: 'string' },
  { name: 'console-socket', type: 'string' },
  { name: 'no-pivot', type: 'bool' },
  { name: 'no-new-keyring', type: 'bool' },
  { name: 'preserve-fds', type: 'int' },
  { name: 'pidfd-socket', type: 'string' },
];

/** systemd socket activation: LISTEN_FDS fds meant for us pass to the container (runc does). */
function listenFds(): number {
  const n = Number(process.env.LISTEN_FDS ?? 0);
  return Number.isInteger(n) && n > 0 && Number(process.env.LISTEN_PID) === process.pid ? n : 0;
}

export function createOptions(flags: Record<string, unknown>) {
  return {
    listenFds: listenFds(),
    bundle: (flags.bundle as string | undefined) ?? process.cwd(),
    pidFile: flags['pid-file'] as string | undefined,
    consoleSocket: flags['console-socket'] as string | undefined,
    noPivot: !!flags['no-pivot'],
    noNewKeyring: !!flags['no-new-keyring'],
    preserveFds: listenFds() + ((flags['preserve-fds'] as number | undefined) ?? 0),
    pidfdSocket: flags['pidfd-socket'] as string | undefined,
  };
}

export const create: Verb = async (args, ctx) => {
  const { flags, positional } = parseFlags(args, CREATE_FLAGS);
  expectArgs('create', positional, 1, 'capsa create [command options] <container-id>');
  await ctx.runtime().create(positional[0]!, createOptions(flags));
  return 0;
};
