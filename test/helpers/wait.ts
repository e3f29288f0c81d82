// Bounded waiting for integration tests: poll for an event with a deadline,
// never sleep and hope.
import * as fs from 'node:fs';

export const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await tick(20);
  }
}

/** Pids of container `id`'s processes (any state, zombies included) still on the host, by cgroup. */
export function processesOf(id: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/${id}\n`)) out.push(Number(p));
    } catch { /* exited while we looked */ }
  }
  return out;
}

/**
 * Waits (15 s at most) until container `id` has no process left. Its orphans
 * are reaped by the host's init on its own schedule.
 */
export async function waitReaped(id: string): Promise<void> {
  await until(`processes of ${id} to be reaped`, () => (processesOf(id).length === 0 ? true : undefined), 15_000);
}
