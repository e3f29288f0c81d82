// The end-of-run leak check: runs after the unit, integration and engines
// groups (scripts/run-tests.mjs runs "final" last) and asserts the whole host
// is clean — not just the difference around one test, which the per-test
// check in test/helpers/capsa.ts covers. Anything a test file left behind
// after its own after-hooks ran shows up here.
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { describeLeaks, hostLeaks, settle } from '../helpers/host';

const test = suite('final-leaks');

// Orphaned container processes are reaped by the host's init on its own
// schedule (about 2 s here), so the scan settles for up to 10 s first.
const settled = settle(() => describeLeaks(hostLeaks()));

test('no mount mentioning capsa remains in /proc/self/mountinfo', async () => {
  await settled;
  assert.equal(hostLeaks().mounts, []);
});

test('no cgroup directory named *capsa* remains under /sys/fs/cgroup (any hierarchy, depth ≤ 4)', async () => {
  await settled;
  assert.equal(hostLeaks().cgroups, []);
});

test('no capsa-init process and no process in a capsa cgroup remains', async () => {
  await settled;
  assert.equal(hostLeaks().processes, []);
});

test('no /tmp/capsa-test-root-* state root with containers in it remains', async () => {
  await settled;
  assert.equal(hostLeaks().stateRoots, []);
});

test('no test container (capsa-test*) remains in /run/capsa', async () => {
  await settled;
  assert.equal(hostLeaks().runCapsa, []);
});

test.run();
