// Watches a container's cgroup for OOM kills: what `capsa events` reports as
// {"type":"oom"} and the shim publishes as TaskOOM.
//
// cgroup v1 offers only an eventfd on memory.oom_control, which Node cannot
// make: the kill counter is polled. cgroup v2 notifies memory.events
// (inotify), but not reliably enough on its own when systemd owns the cgroup:
// the kernel sends a file's notifications at most once per ~10 ms and defers
// the rest to a timer, and systemd removes an emptied scope's cgroup — with
// the deferred notification and the counter — often within that window. So
// on v2 this also
//   - re-reads memory.events every millisecond for a while after a read that
//     shows the limit was hit (max/oom grew) but no kill yet: the kill is
//     counted before the victim is even signalled;
//   - reads it when cgroup.events says the cgroup emptied (a different file,
//     so not held back by memory.events' rate limit);
//   - when the cgroup vanished before any read saw the kill, looks at the
//     parent's memory.events, whose counters include its children's: a kill
//     counted there while this container had memory events of its own (the
//     kernel notified its memory.events; that notification may arrive after
//     the cgroup is gone) is taken as this container's — a sibling's kill at
//     the moment this container hit its own limit would be misattributed;
//   - last, asks systemd whether it saw the scope OOM-killed (finish()).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseKeyValues } from './fsio';
import type { CgroupManager } from './manager';

/** How long and how often to re-read memory.events after the limit was hit. */
const CHASE_MS = 200;
const CHASE_STEP_MS = 1;
/**
 * How long finish() waits for memory.events' first notification when the
 * parent counted a kill: it can reach a busy process well after systemd
 * removed the cgroup (seen: 170 ms in a TCG guest).
 */
const NOTIFY_LATENCY_MS = 1000;

type Counters = Record<string, number>;

/** How a kill was seen: the cgroup's own counter, its parent's, or systemd's scope Result. */
export type OomEvidence = 'count' | 'parent' | 'systemd';

/** A memory.events file's counters; undefined when it cannot be read (the cgroup is gone). */
function readCounters(file: string): Counters | undefined {
  try { return parseKeyValues(fs.readFileSync(file, 'utf8')); } catch { return undefined; }
}

const limitHits = (c: Counters) => (c.max ?? 0) + (c.oom ?? 0);

export class OomKillWatch {
  private lastKills: number;
  private reported = false;
  private gone = false;
  private memoryEvent = false;
  private lastLimitHits = 0;
  private chaseUntil = 0;
  private chaseTimer?: NodeJS.Timeout;
  private onMemoryEvent?: () => void;
  private pollTimer?: NodeJS.Timeout;
  private readonly watchers: fs.FSWatcher[] = [];
  private readonly eventsFile?: string;
  private readonly parentFile?: string;
  private readonly parentKills0?: number;

  /**
   * onOom runs once per kill count growth seen, with how it was seen. pollMs:
   * how often to poll where nothing notifies; inotify false: poll only. A
   * container without a cgroup (cg undefined) has nothing to watch.
   */
  constructor(private readonly cg: CgroupManager | undefined, private readonly onOom: (seen: OomEvidence) => void, opts: { pollMs?: number; inotify?: boolean } = {}) {
    this.eventsFile = cg?.oomEventsFile?.();
    if (!cg) {
      this.lastKills = 0;
      return;
    }
    if (this.eventsFile) {
      const first = readCounters(this.eventsFile);
      this.lastKills = first?.oom_kill ?? 0;
      this.lastLimitHits = first ? limitHits(first) : 0;
      const parent = path.join(path.dirname(path.dirname(this.eventsFile)), 'memory.events');
      const parentCounters = readCounters(parent);
      if (parentCounters) {
        this.parentFile = parent;
        this.parentKills0 = parentCounters.oom_kill ?? 0;
      }
      const dir = path.dirname(this.eventsFile);
      const noticed = (type: string) => {
        if (type !== 'change') return;
        this.memoryEvent = true;
        this.onMemoryEvent?.();
      };
      if (opts.inotify !== false && this.watch(this.eventsFile, noticed) && this.watch(path.join(dir, 'cgroup.events'))) return;
      // no inotify for them: polling only
    } else {
      this.lastKills = this.safeCount() ?? 0;
    }
    this.pollTimer = setInterval(() => this.check(), opts.pollMs ?? 500);
    this.pollTimer.unref();
  }

  private watch(file: string, onEvent?: (type: string) => void): boolean {
    try {
      const w = fs.watch(file, { persistent: false }, (type) => {
        onEvent?.(type);
        this.check();
      });
      w.on('error', () => {
        w.close();
        this.watchers.splice(this.watchers.indexOf(w), 1);
      });
      this.watchers.push(w);
      return true;
    } catch {
      return false;
    }
  }

  private safeCount(): number | undefined {
    try { return this.cg?.oomKillCount?.() ?? 0; } catch { return undefined; }
  }

  private kills(now: number, seen: OomEvidence = 'count'): void {
    if (now > this.lastKills) {
      this.lastKills = now;
      this.reported = true;
      this.onOom(seen);
    }
  }

  /** Looks now; publishes when the kill count grew since the last look. */
  check(): void {
    if (this.gone) return;
    if (!this.eventsFile) {
      const n = this.safeCount();
      if (n !== undefined) this.kills(n);
      return;
    }
    const c = readCounters(this.eventsFile);
    if (!c) {
      this.gone = !fs.existsSync(this.eventsFile);
      return;
    }
    const hits = limitHits(c);
    const killed = (c.oom_kill ?? 0) > this.lastKills;
    this.kills(c.oom_kill ?? 0);
    if (hits > this.lastLimitHits) {
      this.lastLimitHits = hits;
      this.memoryEvent = true;
      if (!killed) this.chase();
    }
  }

  private chase(): void {
    this.chaseUntil = Date.now() + CHASE_MS;
    if (this.chaseTimer) return;
    const step = () => {
      this.chaseTimer = undefined;
      const before = this.lastKills;
      this.check();
      if (!this.gone && this.lastKills === before && Date.now() < this.chaseUntil) this.chaseTimer = setTimeout(step, CHASE_STEP_MS);
    };
    this.chaseTimer = setTimeout(step, CHASE_STEP_MS);
  }

  /**
   * The container has stopped: a last look and, if its cgroup vanished before
   * any read saw a kill, the parent's count and then systemd's word.
   */
  async finish(): Promise<void> {
    this.check();
    if (this.reported || !this.eventsFile || !this.gone) return;
    const parentKills = this.parentFile ? readCounters(this.parentFile)?.oom_kill ?? 0 : 0;
    if (parentKills > (this.parentKills0 ?? 0) && (this.memoryEvent || (await this.memoryEventWithin(NOTIFY_LATENCY_MS)))) {
      return this.kills(this.lastKills + 1, 'parent');
    }
    if (await this.cg?.oomKilledPerSystemd?.().catch(() => false)) this.kills(this.lastKills + 1, 'systemd');
  }

  /** Resolves true as soon as memory.events' notification arrives, false after ms (or at once with no watcher). */
  private memoryEventWithin(ms: number): Promise<boolean> {
    if (this.watchers.length === 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.onMemoryEvent = undefined; resolve(false); }, ms);
      this.onMemoryEvent = () => { clearTimeout(timer); this.onMemoryEvent = undefined; resolve(true); };
    });
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
    if (this.chaseTimer) clearTimeout(this.chaseTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.chaseTimer = this.pollTimer = undefined;
  }
}
