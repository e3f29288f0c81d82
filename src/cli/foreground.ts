// Waiting for a foreground process (run, exec): forward signals, relay the
// terminal when there is one, and return the exit status runc would.
import { parseSignal } from '../runtime/signals';
import { signalProcess } from '../runtime/process-exit';
import type { WaitResult } from '../runtime/runtime';

const FORWARDED: NodeJS.Signals[] = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGCONT',
  'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGPWR', 'SIGSYS',
];

type Target = { pid: number; startTime: number };

/**
 * Catches the signals to forward from now on and queues them until the
 * target process is known. Armed before the process is started (as runc
 * sets up its handler first): a signal that arrives while it starts is
 * delivered, not lost (or, for SIGUSR1, taken by Node as "start the inspector").
 */
export class SignalForwarder {
  private target: Target | undefined;
  private readonly queued: NodeJS.Signals[] = [];
  private readonly signals: NodeJS.Signals[];
  private readonly handler = (sig: NodeJS.Signals) => {
    if (this.target) signalProcess(this.target, parseSignal(sig));
    else this.queued.push(sig);
  };

  /** `terminal`: a terminal is relayed, whose window changes are not forwarded as SIGWINCH. */
  constructor(terminal: boolean) {
    // Without a terminal, window changes are just another signal (runc forwards it).
    this.signals = terminal ? FORWARDED : [...FORWARDED, 'SIGWINCH'];
    for (const sig of this.signals) process.on(sig, this.handler);
  }

  forwardTo(target: Target): void {
    this.target = target;
    for (const sig of this.queued.splice(0)) signalProcess(target, parseSignal(sig));
  }

  close(): void {
    for (const sig of this.signals) process.off(sig, this.handler);
  }
}

export async function foreground(target: Target, wait: () => Promise<WaitResult>, ptyMaster?: number, beforeWait?: () => Promise<void>, armed?: SignalForwarder): Promise<number> {
  const forwarder = armed ?? new SignalForwarder(ptyMaster !== undefined);
  forwarder.forwardTo(target);
  const relay = ptyMaster === undefined ? undefined : (await import('./terminal')).relayTerminal(ptyMaster);
  try {
    const exited = wait();
    if (beforeWait) await beforeWait();
    const { exitCode } = await exited;
    if (relay) await Promise.race([relay.drained, new Promise((r) => setTimeout(r, 1000).unref())]);
    return exitCode ?? 0;
  } finally {
    relay?.close();
    forwarder.close();
  }
}
