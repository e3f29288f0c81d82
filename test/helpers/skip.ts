// Tests that cannot run on this host are counted as skipped, with the reason,
// never as passed. uvu has no skip from inside a running test, so the test
// prints a marker line that scripts/run-tests.mjs counts (and moves the test
// from "passed" to "skipped") and then returns.
export const SKIP_MARKER = '[capsa-test-skipped]';

/**
 * Returns true, after printing why, when `canRun` is false: the caller returns
 * at once. `if (skipUnless(haveX, 'no X on this host')) return;`
 */
export function skipUnless(canRun: boolean, why: string): boolean {
  if (canRun) return false;
  process.stdout.write(`\n${SKIP_MARKER} ${why}\n`);
  return true;
}
