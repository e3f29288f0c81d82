// Before a whole-suite run: removes what an earlier test or bench run left on
// this host when it was killed before its cleanup could run (a SIGKILLed
// test file, a machine stopped mid-run). Without this the final leak check
// would report an old run's debris as this run's leak; with it, that check
// still sees everything this run leaves. Only test- and bench-made things
// (names carrying capsa-test or capsa-bench) are touched, and only while the
// caller holds the host-wide test lock, so no other test file is running.
// Prints one line per thing removed.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const MADE_BY_TESTS = /capsa-(test|bench)/;
const CGROUP_ROOT = '/sys/fs/cgroup';

function subdirs(dir) {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** `/tmp/capsa-test-root-<pid>-<name>`: the test process that made it, if its name says. */
function creatorPid(name) {
  const m = /^capsa-test-root-(\d+)-/.exec(name);
  return m ? Number(m[1]) : undefined;
}

function capsa(cli, args) {
  try {
    execFileSync(cli, args, { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** Containers in state roots of test processes that are gone: force-deleted, then the root removed. */
function sweepStateRoots(cli, say) {
  for (const name of fs.readdirSync('/tmp')) {
    const pid = creatorPid(name);
    if (pid === undefined || pidAlive(pid)) continue;
    const root = path.join('/tmp', name);
    for (const id of subdirs(root)) {
      capsa(cli, ['--root', root, 'delete', '--force', id]);
      say(`container ${id} in ${root}`);
    }
    if (subdirs(root).length === 0) fs.rmSync(root, { recursive: true, force: true });
  }
  for (const id of subdirs('/run/capsa').filter((n) => MADE_BY_TESTS.test(n))) {
    capsa(cli, ['delete', '--force', id]);
    say(`container ${id} in /run/capsa`);
  }
}

/** Test-made cgroups: their processes killed, then the directories removed, deepest first. */
function sweepCgroups(say) {
  const found = [];
  const walk = (dir, depth, inside) => {
    if (depth > 6) return;
    for (const name of subdirs(dir)) {
      const full = path.join(dir, name);
      const mine = inside || MADE_BY_TESTS.test(name);
      walk(full, depth + 1, mine);
      if (mine) found.push(full);
    }
  };
  walk(CGROUP_ROOT, 1, false);
  for (const dir of found) {
    let procs = [];
    try {
      procs = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      /* gone already */
    }
    for (const pid of procs) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* exited */
      }
    }
    // A frozen cgroup's killed processes cannot exit until it thaws.
    for (const f of ['cgroup.freeze', 'freezer.state']) {
      try {
        fs.writeFileSync(path.join(dir, f), f === 'cgroup.freeze' ? '0' : 'THAWED');
      } catch {
        /* not this hierarchy */
      }
    }
  }
  for (const dir of found) {
    // found lists children before their parents; a dying process may hold a cgroup a moment.
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(dir);
        say(`cgroup ${dir}`);
        break;
      } catch (e) {
        if (e.code === 'ENOENT') break;
        if (e.code !== 'EBUSY') break;
        execFileSync('sleep', ['0.1']);
      }
    }
  }
}

/** Mounts under test-made paths (image overlays, bundles), unmounted lazily, deepest first. */
function sweepMounts(say) {
  let lines = [];
  try {
    lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  } catch {
    return;
  }
  const points = lines.map((l) => l.split(' ')[4]).filter((p) => MADE_BY_TESTS.test(p));
  for (const p of points.sort((a, b) => b.length - a.length)) {
    try {
      execFileSync('umount', ['-l', p], { stdio: 'ignore' });
      say(`mount ${p}`);
    } catch {
      /* gone with its parent */
    }
  }
}

export function sweepStaleLeftovers(cli, log) {
  const say = (what) => log(`[run-tests] removed a leftover of an earlier, interrupted run: ${what}`);
  if (fs.existsSync(cli)) sweepStateRoots(cli, say);
  sweepCgroups(say);
  sweepMounts(say);
}
