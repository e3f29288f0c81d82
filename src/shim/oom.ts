// OOM kills of a task's cgroup → TaskOOM events (CRI's OOMKilled reason comes
// only from these). On cgroup v2 the kernel notifies changes of
// memory.events, so the shim watches that file (inotify) and publishes when
// oom_kill grows, as runc's shim does. cgroup v1 offers only an eventfd on
// memory.oom_control (cgroup.event_control), which Node cannot make; there
// the counter is polled, and checked once more when the task's init exits,
// so its TaskOOM always precedes its TaskExit.
import * as fs from 'node:fs';

export interface OomSource {
  /** OOM kills so far. */
  count(): number;
  /** v2: the memory.events file to watch. */
  eventsFile?: string;
}

export class OomWatch {
  private last: number;
  private watcher?: fs.FSWatcher;
  private timer?: NodeJS.Timeout;

  constructor(private readonly source: OomSource, private readonly onOom: () => void, pollMs = 500) {
    this.last = this.safeCount();
    if (source.eventsFile) {
      try {
        this.watcher = fs.watch(source.eventsFile, { persistent: false }, () => this.check());
        this.watcher.on('error', () => this.stopWatcher());
        return;
      } catch { /* fall back to polling */ }
    }
    this.timer = setInterval(() => this.check(), pollMs);
    this.timer.unref();
  }

  private safeCount(): number {
    try { return this.source.count(); } catch { return this.last ?? 0; }
  }

  /** Publishes one event when the counter grew since the last look. */
  check(): void {
    const now = this.safeCount();
    if (now > this.last) {
      this.last = now;
      this.onOom();
    }
  }

  private stopWatcher(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  stop(): void {
    this.stopWatcher();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
