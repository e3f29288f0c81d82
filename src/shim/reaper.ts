// The shim is a child subreaper: processes orphaned inside containers that
// share the host's pid namespace are reparented to it and must be reaped,
// or they stay zombies. Three kinds of children exist in one process, each
// with its own reaper: the library's (inits, exec'd processes, capsa-init:
// pidfd watches), libuv's (child_process: mount, loggers) and these orphans.
// A status must never be stolen from the first two, so an orphan is a zombie
// child that is no one's known pid and was already a zombie at the previous
// look (the other reapers act within the same event-loop turn as its exit).
import * as fs from 'node:fs';
import { addon } from '../sys/addon';

export class OrphanReaper {
  private readonly known = new Set<number>();
  private seen = new Set<number>();
  private timer?: NodeJS.Timeout;
  reaped = 0;

  /** A pid some other reaper owns. */
  track(pid: number): void { this.known.add(pid); }

  start(): void {
    process.on('SIGCHLD', this.soon);
  }

  stop(): void {
    process.off('SIGCHLD', this.soon);
    if (this.timer) clearTimeout(this.timer);
  }

  private readonly soon = (): void => {
    if (this.timer) return;
    this.timer = setTimeout(() => { this.timer = undefined; this.sweep(); }, 100);
    this.timer.unref();
  };

  /** One look at our zombie children; a second look follows while some wait their turn. */
  sweep(): void {
    const zombies = new Set<number>();
    for (const pid of childrenOf(process.pid)) {
      if (this.known.has(pid)) continue;
      if (stateOf(pid) === 'Z') zombies.add(pid);
    }
    for (const pid of zombies) {
      if (!this.seen.has(pid)) continue;
      try {
        const fd = addon().pidfdOpen(pid);
        try { addon().reapPidfd(fd); this.reaped++; } finally { addon().closeFd(fd); }
      } catch { /* reaped meanwhile */ }
      zombies.delete(pid);
    }
    this.seen = zombies;
    if (zombies.size) this.soon();
    // Exited pids are forgotten so a reused pid is not mistaken for ours.
    for (const pid of this.known) if (!fs.existsSync(`/proc/${pid}`)) this.known.delete(pid);
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try { tasks = fs.readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const tid of tasks) {
    try {
      for (const c of fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
    } catch { /* thread gone */ }
  }
  return out;
}

function stateOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
  } catch {
    return undefined;
  }
}
