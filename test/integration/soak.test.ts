// Soak in CI: scripts/soak.mjs with N=100 sequential create/start/wait/delete
// cycles through the library in one long-lived process (the 1,000-cycle run is
// done by hand: node scripts/soak.mjs). Memory, fds, mounts and cgroup dirs
// must stay flat; the figures are printed for the CI log.
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { capsaSuite, runCommand } from '../helpers/capsa';
import { REPO_ROOT } from '../helpers/rootfs';
import { reapingTest } from '../helpers/kit';

const suite = capsaSuite('soak');
const test = reapingTest(suite.test);
const N = Number(process.env.SOAK_CYCLES ?? 100);

interface Checkpoint { cycle: number; rss: number; heap: number; fds: number; mounts: number; soakMounts: number; cgroupDirs: number; soakCgroups: number; stateDirs: number; procs: number }

function parse(line: string): Checkpoint | undefined {
  const m = /^soak: cycle\s+(\d+)\/\d+: rss ([\d.]+) MB, heap ([\d.]+) MB, external [\d.]+ MB, fds (\d+), mounts (\d+) \(soak (\d+)\), cgroup dirs (\d+) \(soak (\d+)\), state dirs (\d+), container processes (\d+)$/.exec(line);
  if (!m) return undefined;
  const n = m.slice(1).map(Number);
  return { cycle: n[0]!, rss: n[1]!, heap: n[2]!, fds: n[3]!, mounts: n[4]!, soakMounts: n[5]!, cgroupDirs: n[6]!, soakCgroups: n[7]!, stateDirs: n[8]!, procs: n[9]! };
}

test(`soak: ${N} create/start/wait/delete cycles leave memory, fds, mounts and cgroups flat`, async () => {
  const r = await runCommand(process.execPath, [path.join(REPO_ROOT, 'scripts', 'soak.mjs'), String(N)], { timeoutMs: 5 * 60_000, cwd: REPO_ROOT });
  process.stdout.write(`\n${r.stdout.split('\n').filter(Boolean).map((l) => `  ${l}`).join('\n')}\n`);
  const points = r.stdout.split('\n').map(parse).filter((p): p is Checkpoint => !!p);
  assert.equal(points.map((p) => p.cycle), [0, Math.floor(N / 2), N], 'figures printed at 0, N/2 and N');
  for (const p of points) {
    assert.is(p.soakMounts, 0, `cycle ${p.cycle}: mounts of soak containers`);
    assert.is(p.soakCgroups, 0, `cycle ${p.cycle}: cgroup dirs of soak containers`);
    assert.is(p.stateDirs, 0, `cycle ${p.cycle}: state dirs`);
    assert.is(p.procs, 0, `cycle ${p.cycle}: live container processes`);
  }
  assert.ok(points[2]!.fds - points[0]!.fds <= 2, `fds ${points[0]!.fds} → ${points[2]!.fds}`);
  assert.is(r.code, 0, `soak.mjs failed:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^soak: OK$/m);
});

suite.test.run();
