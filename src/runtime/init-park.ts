// One capsa-init started ahead for the next exec. Spawning capsa-init costs a
// busy process 1-3 ms before it even runs (a pool thread's posix_spawn, then
// the event loop's turn to hear of it); a shim pays it between containerd's
// Exec and Start. A parked capsa-init has already run its first steps (sealed
// copy, fds closed, not dumpable) and waits on /dev/null stdio for a plan,
// which brings the process's real fds with it (protocol.h, step 1).
// It waits in the host, in this process's cgroup, and dies with this process.
// The next one is parked a while after an exec took one (fillSoon), not at
// once: its spawn would otherwise take CPU from that exec's own start and
// exit, and from its client's next calls (a shim's exec ends ~15 ms after
// Start through containerd here, on 2 cores).
import { dismissParked, parkInit, type InitProcess } from './init-process';

/** How long after an exec the next capsa-init is parked. */
export const PARK_REFILL_DELAY_MS = 50;

export class InitPark {
  private parked?: InitProcess;
  /** A spawn on its way to be parked. */
  private filling?: Promise<void>;
  /** A fill waiting for PARK_REFILL_DELAY_MS to pass. */
  private refill?: NodeJS.Timeout;
  private closed = false;

  /**
   * The parked capsa-init, now the caller's (for InitOptions.parked). One on
   * its way is awaited: its spawn is already paid for. None when none was
   * started since the last take (a fill still waiting is dropped: the
   * caller spawns its own, at the same cost).
   */
  async take(): Promise<InitProcess | undefined> {
    this.cancelRefill();
    if (!this.parked && this.filling) await this.filling;
    const p = this.parked;
    this.parked = undefined;
    if (p && !p.exit.running) {
      dismissParked(p);
      return undefined;
    }
    return p;
  }

  /** Parks one in the background unless one is parked or on its way. */
  fill(): void {
    if (this.parked || this.filling || this.closed) return;
    this.filling = parkInit().then(
      (p) => { if (this.closed) dismissParked(p); else this.parked = p; },
      () => { /* none parked: execs spawn their own, and report what fails */ },
    ).finally(() => { this.filling = undefined; });
  }

  /** fill() after PARK_REFILL_DELAY_MS (the timer does not hold the process open). */
  fillSoon(): void {
    if (this.parked || this.filling || this.refill || this.closed) return;
    this.refill = setTimeout(() => {
      this.refill = undefined;
      this.fill();
    }, PARK_REFILL_DELAY_MS);
    this.refill.unref();
  }

  private cancelRefill(): void {
    if (this.refill) clearTimeout(this.refill);
    this.refill = undefined;
  }

  /** Ends the parked capsa-init, now or when the one on its way arrives. */
  close(): void {
    this.closed = true;
    this.cancelRefill();
    const p = this.parked;
    this.parked = undefined;
    if (p) dismissParked(p);
  }
}
