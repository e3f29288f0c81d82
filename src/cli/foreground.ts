// Waiting for a foreground process (run, exec): forward signals, relay the
// terminal when there is one, and return the exit status runc would.
import { parseSignal } from './signals';
import { signalProcess } from '../runtime/process-exit';
import type { WaitResult } from '../runtime/runtime';

const FORWARDED: NodeJS.Signals[] = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGCONT',
  'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGPWR', 'SIGSYS',
];

export async function foreground(target: { pid: number; startTime: number }, wait: () => Promise<WaitResult>, ptyMaster?: number, beforeWait?: () => Promise<void>): Promise<number> {
  const forward = (sig: NodeJS.Signals) => { signalProcess(target, parseSignal(sig)); };
  // Without a terminal, window changes are just another signal (runc forwards it).
  const signals = ptyMaster === undefined ? [...FORWARDED, 'SIGWINCH' as NodeJS.Signals] : FORWARDED;
  for (const sig of signals) process.on(sig, forward);
  const relay = ptyMaster === undefined ? undefined : (await import('./terminal')).relayTerminal(ptyMaster);
  try {
    const exited = wait();
    if (beforeWait) await beforeWait();
    const { exitCode } = await exited;
    if (relay) await Promise.race([relay.drained, new Promise((r) => setTimeout(r, 1000).unref())]);
    return exitCode ?? 0;
  } finally {
    relay?.close();
    for (const sig of signals) process.off(sig, forward);
  }
}
