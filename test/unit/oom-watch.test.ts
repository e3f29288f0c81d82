// OomKillWatch against files that stand in for cgroupfs: the v2 memory.events
// of a container and of its parent, the v1 polled counter, and the fallbacks
// used when systemd removed the container's cgroup before a read saw the kill.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { CgroupManager } from '../../src/cgroups/manager';
import { OomKillWatch, type OomEvidence } from '../../src/cgroups/oom-watch';
import { until } from '../helpers/wait';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-oom-watch-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** parent/child dirs with memory.events files; returns the child's file and writers. */
function tree(): { file: string; child: (max: number, kills: number) => void; parent: (kills: number) => void; removeChild: () => void; moveChild: () => string } {
  const parentDir = path.join(tmp, `parent-${++n}`);
  const childDir = path.join(parentDir, 'child.scope');
  fs.mkdirSync(childDir, { recursive: true });
  const events = (max: number, kills: number) => `low 0\nhigh 0\nmax ${max}\noom ${kills}\noom_kill ${kills}\n`;
  const file = path.join(childDir, 'memory.events');
  fs.writeFileSync(file, events(0, 0));
  fs.writeFileSync(path.join(childDir, 'cgroup.events'), 'populated 1\nfrozen 0\n');
  fs.writeFileSync(path.join(parentDir, 'memory.events'), events(0, 0));
  return {
    file,
    child: (max, kills) => fs.writeFileSync(file, events(max, kills)),
    parent: (kills) => fs.writeFileSync(path.join(parentDir, 'memory.events'), events(kills, kills)),
    removeChild: () => fs.rmSync(childDir, { recursive: true }),
    // gone from its path while the watched inode lives on (as a removed cgroup's file can still be notified)
    moveChild: () => {
      fs.renameSync(childDir, `${childDir}.gone`);
      return path.join(`${childDir}.gone`, 'memory.events');
    },
  };
}

function fakeV2(file: string, systemdSaw = false): CgroupManager {
  return {
    oomEventsFile: () => file,
    oomKillCount: () => Number(/oom_kill (\d+)/.exec(fs.readFileSync(file, 'utf8'))![1]),
    oomKilledPerSystemd: async () => systemdSaw,
  } as Partial<CgroupManager> as CgroupManager;
}

test('cgroup v2: a change of memory.events (inotify) with a higher oom_kill publishes once per kill', async () => {
  const t = tree();
  const seen: OomEvidence[] = [];
  const w = new OomKillWatch(fakeV2(t.file), (s) => seen.push(s), { pollMs: 60_000 });
  try {
    t.child(0, 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen, [], 'a change without a new kill publishes nothing');
    t.child(1, 1);
    await until('the first kill published', () => (seen.length === 1 ? true : undefined), 3000);
    t.child(3, 3);
    await until('the second kill published', () => (seen.length === 2 ? true : undefined), 3000);
    w.check();
    assert.equal(seen, ['count', 'count'], 'no kill since: nothing more');
  } finally { w.stop(); }
});

test('cgroup v2: after a read shows the limit hit without a kill, memory.events is re-read until the kill is counted, with no notification', async () => {
  const t = tree();
  const seen: OomEvidence[] = [];
  // inotify off: only the re-reads can see the kill written below
  const w = new OomKillWatch(fakeV2(t.file), (s) => seen.push(s), { pollMs: 60_000, inotify: false });
  try {
    t.child(1, 0);
    w.check();
    t.child(1, 1);
    await until('the kill found by a re-read', () => (seen.length === 1 ? true : undefined), 3000); // only the re-reads can: nothing polls (60 s) or notifies
    assert.equal(seen, ['count']);
  } finally { w.stop(); }
});

test('cgroup v2: the cgroup removed before any read saw the kill: a kill counted in the parent while the child had a memory event is the child\'s', async () => {
  const t = tree();
  const seen: OomEvidence[] = [];
  const w = new OomKillWatch(fakeV2(t.file), (s) => seen.push(s), { pollMs: 60_000, inotify: false });
  try {
    t.child(1, 0); // the limit hit, as the kernel's first (immediate) notification shows it
    w.check();
    w.stop(); // no re-read wins the race
    t.parent(1);
    t.removeChild();
    await w.finish();
    assert.equal(seen, ['parent']);
  } finally { w.stop(); }
});

test('cgroup v2: the cgroup removed with no memory event of its own: a kill in the parent is a sibling\'s, not reported', async () => {
  const t = tree();
  const seen: OomEvidence[] = [];
  const w = new OomKillWatch(fakeV2(t.file), (s) => seen.push(s), { pollMs: 60_000, inotify: false });
  try {
    t.parent(1);
    t.removeChild();
    await w.finish();
    assert.equal(seen, []);
  } finally { w.stop(); }
});

test('cgroup v2: the cgroup removed and a kill in the parent before the child\'s own notification arrived: finish() waits for it and reports', async () => {
  const t = tree();
  const seen: OomEvidence[] = [];
  const w = new OomKillWatch(fakeV2(t.file), (s) => seen.push(s), { pollMs: 60_000 });
  try {
    t.parent(1);
    const moved = t.moveChild();
    const finished = w.finish();
    fs.writeFileSync(moved, 'max 1\n'); // the late notification (IN_MODIFY) of the gone cgroup's memory.events
    await finished;
    assert.equal(seen, ['parent']);
  } finally { w.stop(); }
});

test('cgroup v2: the cgroup removed and a kill in the parent, but no notification of the child\'s own: not reported (finish() gives up after its wait)', async () => {
  const t = tree();
  const seen: OomEvidence[] = [];
  const w = new OomKillWatch(fakeV2(t.file), (s) => seen.push(s), { pollMs: 60_000 });
  try {
    t.parent(1);
    t.moveChild();
    await w.finish();
    assert.equal(seen, []);
  } finally { w.stop(); }
});

test('cgroup v2: the cgroup removed, the limit hit but no kill in the parent: only systemd\'s "oom-kill" Result reports it', async () => {
  for (const systemdSaw of [false, true]) {
    const t = tree();
    const seen: OomEvidence[] = [];
    const w = new OomKillWatch(fakeV2(t.file, systemdSaw), (s) => seen.push(s), { pollMs: 60_000, inotify: false });
    try {
      t.child(1, 0);
      w.check();
      w.stop();
      t.removeChild();
      await w.finish();
      assert.equal(seen, systemdSaw ? ['systemd'] : [], `systemd saw an OOM kill: ${systemdSaw}`);
    } finally { w.stop(); }
  }
});

test('cgroup v2: a kill already seen is not reported again by finish()', async () => {
  const t = tree();
  const seen: OomEvidence[] = [];
  const w = new OomKillWatch(fakeV2(t.file, true), (s) => seen.push(s), { pollMs: 60_000, inotify: false });
  try {
    t.child(1, 1);
    w.check();
    t.parent(1);
    t.removeChild();
    await w.finish();
    assert.equal(seen, ['count']);
  } finally { w.stop(); }
});

test('cgroup v1: the counter is polled; check() at exit catches a kill between polls', () => {
  let kills = 0;
  const seen: OomEvidence[] = [];
  const w = new OomKillWatch({ oomKillCount: () => kills } as Partial<CgroupManager> as CgroupManager, (s) => seen.push(s), { pollMs: 60_000 });
  kills = 1;
  w.check();
  w.check();
  assert.equal(seen, ['count']);
  w.stop();
});

test('a container without a cgroup: nothing watched, nothing reported, finish() and stop() are no-ops', async () => {
  const seen: OomEvidence[] = [];
  const w = new OomKillWatch(undefined, (s) => seen.push(s), { pollMs: 1 });
  w.check();
  await w.finish();
  w.stop();
  assert.equal(seen, []);
});

test.run();
