// What every bench script needs so it leaves nothing on the host, even when
// interrupted: its cleanup run once on exit, error, SIGINT, SIGTERM or
// SIGHUP, and a sweep of the cgroups its runtimes made. A runtime CLI
// interrupted mid-`create` (^C reaches it too: same process group) can leave
// a cgroup, and a `runc init` in it, without any state dir, so `delete
// --force` cannot find it; the sweep finds such cgroups by name instead.
import * as fs from 'node:fs';
import * as path from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
const TMPFS_MAGIC = 0x01021994;

/** Cgroup dirs (any hierarchy, v1 or v2) whose own name satisfies match, deepest first. */
export function cgroupsNamed(match, root = CGROUP_ROOT) {
  const found = [];
  const walk = (dir, depth) => {
    if (depth > 8) return;
    let entries;
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (match(e.name)) found.push(p);
      else walk(p, depth + 1);
    }
  };
  walk(root, 0);
  return found;
}

function subtree(dir) {
  const out = [dir];
  let entries = [];
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { /* gone */ }
  for (const e of entries) if (e.isDirectory()) out.push(...subtree(path.join(dir, e.name)));
  return out;
}

const pidsIn = (dir) => {
  try { return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number); } catch { return []; }
};

/**
 * Kills every process in the cgroups (and their children cgroups), thawing
 * frozen ones first, then removes them deepest first. Waits (bounded) for
 * the processes to go, since a cgroup is only removable once empty.
 * Returns the dirs that would not go.
 */
export function removeCgroupTrees(dirs) {
  // Where a cgroup mount is hidden (bench.mjs hides cgroup2 from crun in a
  // private mount namespace), a runtime writes plain directories and files
  // into the tmpfs beneath it: not cgroups, removed as files.
  const plain = dirs.filter((d) => { try { return fs.statfsSync(d).type === TMPFS_MAGIC; } catch { return false; } });
  for (const d of plain) fs.rmSync(d, { recursive: true, force: true });
  const all = [...new Set(dirs.filter((d) => !plain.includes(d)).flatMap(subtree))].sort((a, b) => b.length - a.length);
  for (const d of all) {
    for (const f of ['cgroup.freeze', 'freezer.state']) {
      try { fs.writeFileSync(path.join(d, f), f === 'cgroup.freeze' ? '0' : 'THAWED'); } catch { /* not that kind */ }
    }
  }
  for (const d of all) {
    try { fs.writeFileSync(path.join(d, 'cgroup.kill'), '1'); continue; } catch { /* v1, or a kernel before 5.14 */ }
    for (const pid of pidsIn(d)) if (pid !== process.pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  const left = [];
  for (const d of all) {
    const end = Date.now() + 3000;
    for (;;) {
      try { fs.rmdirSync(d); break; } catch (e) {
        if (e.code === 'ENOENT') break;
        if (e.code !== 'EBUSY' || Date.now() > end) { left.push(`${d} (${e.code})`); break; }
        for (const pid of pidsIn(d)) if (pid !== process.pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        sleepSync(20);
      }
    }
  }
  return left;
}

/** Blocks this thread: a cleanup run from a signal handler must not let the bench's own work resume meanwhile. */
function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };

/**
 * Cgroups of bench containers named `<prefix>…-<pid>-<n>` whose bench run
 * (pid) is this one or is dead: what this run made, and what an earlier run
 * killed outright (SIGKILL: no cleanup could run) left behind.
 */
export function benchCgroups(prefix) {
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[a-z-]*?-(\\d+)-\\d+$`);
  return cgroupsNamed((name) => {
    const m = re.exec(name);
    return !!m && (Number(m[1]) === process.pid || !alive(Number(m[1])));
  });
}

let stopping = false;
/** True once a signal asked the bench to stop: loops that start containers check it. */
export const interrupted = () => stopping;

/**
 * Runs cleanup once, however the script ends: at the end of main (call the
 * returned function), or on SIGINT / SIGTERM / SIGHUP, after which the
 * process exits 128 + the signal's number. A synchronous cleanup runs to the
 * end inside the signal handler, so the bench's own work cannot resume and
 * make a container after it; an async one (containerd's clients) relies on
 * the bench checking interrupted(). A second signal while cleaning does not
 * cut the cleanup short.
 */
export function cleanupOnExit(cleanup) {
  let running;
  const once = () => {
    if (!running) {
      try {
        running = Promise.resolve(cleanup()).catch((e) => { process.stderr.write(`cleanup: ${e instanceof Error ? e.message : e}\n`); });
      } catch (e) {
        process.stderr.write(`cleanup: ${e instanceof Error ? e.message : e}\n`);
        running = Promise.resolve();
      }
    }
    return running;
  };
  for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
    process.on(sig, () => {
      stopping = true;
      process.stderr.write(`\n${sig}: cleaning up…\n`);
      void once().finally(() => process.exit(128 + n));
    });
  }
  return once;
}
