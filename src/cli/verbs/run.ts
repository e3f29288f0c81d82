import { parseFlags, expectArgs } from '../args';
import type { Verb } from '../context';
import { CREATE_FLAGS, createOptions } from './create';

// Signals a foreground `run` passes on to the container (runc forwards all
// catchable signals except SIGCHLD, SIGURG and, without a tty, SIGWINCH).
const FORWARDED: NodeJS.Signals[] = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGCONT',
  'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGVTALRM', 'SIGPROF', 'SIGXCPU', 'SIGXFSZ', 'SIGPWR', 'SIGSYS', 'SIGWINCH',
];

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
  const container = await rt.create(id, createOptions(flags));
  if (flags.detach) {
    try {
      await container.start();
    } catch (e) {
      await rt.delete(id, { force: true }).catch(() => {});
      throw e;
    }
    return 0;
  }
  const { signalProcess } = await import('../../runtime/process-exit');
  const { parseSignal } = await import('../signals');
  const init = { pid: container.pid, startTime: rt.store.open(id).read()!.initStartTime };
  const forward = (sig: NodeJS.Signals) => { signalProcess(init, parseSignal(sig)); };
  for (const sig of FORWARDED) process.on(sig, forward);
  try {
    const exited = container.wait();
    await container.start();
    const { exitCode } = await exited;
    return exitCode ?? 0;
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
    if (!flags.keep) await rt.delete(id, { force: true }).catch((e: Error) => ctx.warn(e.message));
  }
};
