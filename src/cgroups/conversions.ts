// OCI (cgroup v1 units) → cgroup v2 values, using the formulas runc documents
// (docs/cgroup-v2.md in runc), so a config means the same on both.

/** cpu.shares [2, 262144] → cpu.weight [1, 10000]; 0 = not set. */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  const weight = 1 + Math.trunc(((shares - 2) * 9999) / 262142);
  return Math.min(10000, Math.max(1, weight));
}

/** blkio.weight [10, 1000] → io.weight [1, 10000]; 0 = not set. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  const w = 1 + Math.trunc(((weight - 10) * 9999) / 990);
  return Math.min(10000, Math.max(1, w));
}

/**
 * OCI memory.swap is memory+swap (v1 memsw); v2's memory.swap.max is swap
 * alone. Returns the memory.swap.max value (-1 = "max"), 0 for "leave unset",
 * or a string explaining why the pair makes no sense.
 */
export function swapToV2(swap: number | undefined, limit: number | undefined): number | string {
  const s = swap ?? 0;
  const m = limit ?? 0;
  // Unlimited memory with no swap setting means unlimited swap too (as on v1).
  if (m === -1 && s === 0) return -1;
  if (s === -1 || s === 0) return s;
  if (m === 0 || m === -1) return 'a swap limit needs a memory limit';
  if (s < m) return `memory+swap (${s}) must not be less than the memory limit (${m})`;
  return s - m;
}
