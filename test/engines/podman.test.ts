// podman drives capsa through conmon (`podman --runtime PATH`), on private
// storage under the test's temp dir. Every test is one thing a podman user
// does; on failure the message carries the runtime calls podman/conmon made.
// Containers use --network host unless the test is about networking: the
// network-none path is tested on its own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import {
  alive, callsSince, cgroupsContaining, describe, failedCapsaCalls, formatCalls, readCalls, runInPty, sleep, until, verbOf, type Result,
} from '../helpers/engines/common';
import { buildTestImage, PODMAN_IMAGE } from '../helpers/engines/image';
import { loadImage, makePodman, resetPodman, type Podman } from '../helpers/engines/podman';
import { engineGroup } from '../helpers/engines/suite';

/** Where capsa keeps state when podman gives no --root (runc's /run/runc equivalent). */
const CAPSA_DEFAULT_ROOT = '/run/capsa';

interface Ctx {
  pm: Podman;
  /** The same storage driven through a containers.conf entry for capsa (json log mode). */
  configured: Podman;
}

let seq = 0;
const newName = (tag: string) => `${tag}-${seq++}`;
/** Container ids (64 hex) capsa was asked to create since mark. */
const createdIds = (mark: number) => callsSince(mark).filter((c) => verbOf(c.args) === 'create').map((c) => c.args[c.args.length - 1]!);
let testMark = 0;

/** Runs cmd, then sleeps half a second, keeping cmd's exit status. */
const lingering = (cmd: string[]) => ['/bin/sh', '-c', '"$0" "$@"; rc=$?; sleep 0.5; exit $rc', ...cmd];

void engineGroup<Ctx>('engines/podman', {
  async setup(sb) {
    const pm = makePodman(sb);
    await loadImage(pm, buildTestImage(sb.dir).archive);
    const configured = makePodman(sb, { name: 'podman-conf', configured: true });
    await loadImage(configured, path.join(sb.dir, 'image.tar'));
    return { pm, configured };
  },
  async leftovers({ pm, configured }) {
    const left: string[] = [];
    for (const p of [pm, configured]) {
      const ids = (await p.podman(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length) {
        left.push(...ids.map((id) => `podman container ${id}`));
        await p.podman(['rm', '-f', '-t', '0', ...ids]);
      }
    }
    // What capsa must have removed once podman deleted the container.
    for (const id of createdIds(testMark)) {
      if (fs.existsSync(path.join(CAPSA_DEFAULT_ROOT, id))) left.push(`capsa state dir ${path.join(CAPSA_DEFAULT_ROOT, id)}`);
      for (const cg of cgroupsContaining(id)) left.push(`cgroup ${cg}`);
    }
    testMark = readCalls().length;
    return left;
  },
  async teardown({ pm, configured }) {
    const forced = [...(await resetPodman(pm)), ...(await resetPodman(configured))];
    return forced.map((f) => `had to clean up at teardown: ${f}`);
  },
  hostLeftovers() {
    const all = createdIds(0);
    return all.filter((id) => fs.existsSync(path.join(CAPSA_DEFAULT_ROOT, id))).map((id) => `capsa state dir ${CAPSA_DEFAULT_ROOT}/${id}`);
  },
  daemonPids: () => [],
}, ({ test, ctx, sb }) => {
  const { pm, configured } = ctx;
  const sbDir = () => sb.dir;

  const expectOk = (r: Result, mark: number, what: string) => {
    if (r.code !== 0 || r.timedOut) assert.unreachable(`${what} failed: ${describe(r)}\n${failedCapsaCalls(mark)}\nruntime calls:\n${formatCalls(callsSince(mark))}`);
  };

  /** `podman run` with our cgroup parent and (unless given) host networking. */
  const runArgs = (flags: string[], cmd: string[], network = 'host', p: Podman = pm) =>
    ['run', ...p.runFlags, '--cgroup-parent', pm.cgroupParent, '--network', network, ...flags, PODMAN_IMAGE, ...cmd];

  const prun = (flags: string[], cmd: string[], network?: string, p: Podman = pm) => p.podman(runArgs(flags, cmd, network, p));

  /**
   * Runs --rm, asserts success, returns stdout. The process lingers a moment
   * after its output, so these tests measure the option they are about and
   * not how `start` copes with a process that has already exited (that has
   * tests of its own: the short-lived ones).
   */
  const output = async (flags: string[], cmd: string[], network?: string): Promise<string> => {
    const mark = readCalls().length;
    const r = await prun(['--rm', ...flags], lingering(cmd), network);
    expectOk(r, mark, `podman run ${flags.join(' ')}`);
    return r.stdout;
  };

  const inspect = async (name: string, format: string, p: Podman = pm): Promise<string> => {
    const r = await p.podman(['inspect', name, '--format', format]);
    if (r.code !== 0) throw new Error(describe(r));
    return r.stdout.trim();
  };

  /** A detached container running `cmd` (default: sleep forever); waits until running. */
  const detached = async (name: string, cmd: string[] = ['/bin/testinit', 'sleep', 'forever'], flags: string[] = []) => {
    const mark = readCalls().length;
    const r = await prun(['-d', '--name', name, ...flags], cmd);
    expectOk(r, mark, 'podman run -d');
    await until(`${name} to run`, async () => ((await inspect(name, '{{.State.Status}}')) === 'running' ? true : undefined));
    return Number(await inspect(name, '{{.State.Pid}}'));
  };

  const rmf = (name: string) => pm.podman(['rm', '-f', '-t', '0', name]);

  test('podman run --rm: output, exit 0, and conmon\'s create/start/delete calls', async () => {
    const mark = readCalls().length;
    const r = await prun(['--rm'], ['/bin/testinit', 'echo', 'hello from capsa']);
    expectOk(r, mark, 'podman run --rm');
    assert.is(r.stdout, 'hello from capsa\n');
    assert.not.match(r.stderr, /level=(warning|error)/, `capsa printed nothing: ${r.stderr}`);
    const calls = callsSince(mark).filter((c) => c.runtime === 'capsa');
    const verbs = calls.map((c) => verbOf(c.args));
    assert.equal(verbs.slice(0, 2), ['create', 'start'], formatCalls(calls));
    assert.ok(verbs.includes('delete'), formatCalls(calls));
    assert.ok(calls.every((c) => c.rc === 0), formatCalls(calls));
  });

  test('podman run: the exit status of the process is podman\'s', async () => {
    const r = await prun(['--rm'], lingering(['/bin/testinit', 'exit', '7']));
    assert.is(r.code, 7, describe(r));
  });

  test('podman run -d: running, with the pid capsa reported', async () => {
    const name = newName('detach');
    const pid = await detached(name);
    try {
      assert.ok(pid > 0 && alive(pid), `pid ${pid}`);
      assert.is(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0], '/bin/testinit');
      const ps = await pm.podman(['ps', '--format', '{{.Names}} {{.Status}}']);
      assert.match(ps.stdout, new RegExp(`${name} Up`), ps.stdout);
    } finally {
      await rmf(name);
    }
  });

  test('podman run -t: the process gets a terminal', async () => {
    const mark = readCalls().length;
    const r = await runInPty(pm.line(runArgs(['--rm', '-t'], lingering(['/bin/testinit', 'tty']))), { timeoutMs: 90_000 });
    assert.match(r.stdout, /stdin=1 stdout=1 stderr=1 ttyname=\/dev\/pts\/\d+/, `${describe(r)}\n${formatCalls(callsSince(mark))}`);
  });

  test('podman run -e: environment', async () => {
    const out = await output(['-e', 'GREETING=hello', '-e', 'EMPTY='], ['/bin/testinit', 'env']);
    const env = out.split('\n');
    assert.ok(env.includes('GREETING=hello'), out);
    assert.ok(env.includes('EMPTY='), out);
    assert.ok(env.includes('PATH=/bin'), out);
  });

  test('podman run -w: working directory', async () => {
    assert.is((await output(['-w', '/tmp'], ['/bin/testinit', 'cwd'])).trim(), '/tmp');
    assert.is((await output(['-w', '/home/tester'], ['/bin/testinit', 'cwd'])).trim(), '/home/tester');
  });

  test('podman run -u: user and group (numeric and by name)', async () => {
    assert.match(await output(['-u', '1000:1000'], ['/bin/testinit', 'id']), /^uid=1000 gid=1000 euid=1000 egid=1000/);
    assert.match(await output(['-u', 'tester'], ['/bin/testinit', 'id']), /^uid=1000 gid=1000/);
  });

  test('podman run --read-only: / is read-only, the tmpfs mounts stay writable', async () => {
    const r = await prun(['--rm', '--read-only'], lingering(['/bin/testinit', 'touch', '/x']));
    assert.is(r.code, 1, describe(r));
    assert.match(r.stderr, /EROFS/);
    assert.is((await output(['--read-only'], ['/bin/testinit', 'touch', '/tmp/x'])), '');
  });

  test('podman run --tmpfs: the image\'s files show through (tmpcopyup, as runc does)', async () => {
    // podman marks its tmpfs mounts "tmpcopyup" (also /run, /tmp, /var/tmp with
    // --read-only): the runtime copies what the image has there into the tmpfs.
    const out = await output(['--tmpfs', '/home'], ['/bin/testinit', 'ls', '/home']);
    assert.equal(out.split('\n').filter(Boolean), ['tester']);
  });

  test('podman run -v: bind-mounted host directories (rw and ro)', async () => {
    const host = fs.mkdtempSync(path.join(sbDir(), 'vol-'));
    fs.writeFileSync(path.join(host, 'from-host'), 'hello\n');
    const out = await output(['-v', `${host}:/data`, '-v', `${host}:/ro:ro`], ['/bin/sh', '-c', 'cat /data/from-host; echo written > /data/from-container; touch /ro/x 2>&1 || echo ro-refused']);
    assert.match(out, /^hello\n/, out);
    assert.match(out, /ro-refused|Read-only/, out);
    assert.is(fs.readFileSync(path.join(host, 'from-container'), 'utf8'), 'written\n');
  });

  test('podman run --cap-drop/--cap-add: the capability sets', async () => {
    const caps = await output(['--cap-drop', 'all', '--cap-add', 'NET_ADMIN'], ['/bin/testinit', 'caps']);
    assert.match(caps, /CapEff:\s+0000000000001000/, caps);
    assert.match(caps, /CapBnd:\s+0000000000001000/, caps);
    const noChown = await output(['--cap-drop', 'CHOWN'], ['/bin/testinit', 'caps']);
    const eff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(noChown)![1]}`);
    assert.is(eff & 1n, 0n, `CAP_CHOWN dropped: ${noChown}`);
    assert.is.not(eff, 0n, noChown);
  });

  test('podman run --privileged (how CI runners run docker-in-docker): every capability and the host\'s devices (was refused: fileMode 8630 over 0o7777)', async () => {
    // Every capability this host has to give: our own bounding set (no CAP_SYS_RESOURCE on some CI machines).
    const all = /CapBnd:\s+([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]!;
    const out = await output(['--privileged'], ['/bin/sh', '-c', '/bin/testinit caps; /bin/testinit stat /dev/null; /bin/testinit stat /dev/loop-control']);
    assert.match(out, new RegExp(`CapEff:\\s+${all}`), out);
    assert.match(out, new RegExp(`CapBnd:\\s+${all}`), out);
    assert.match(out, /type=char mode=0666 uid=0 gid=0 major=1 minor=3/, out);
    // a host device podman passes only with --privileged, with the host's mode
    const host = fs.statSync('/dev/loop-control');
    assert.match(out, new RegExp(`type=char mode=${(host.mode & 0o7777).toString(8).padStart(4, '0')} uid=0 gid=0 major=10 minor=237`), out);
  });

  test('podman run --device: the host device in the container, with the host\'s mode, usable (was refused: fileMode 8630 over 0o7777)', async () => {
    const host = fs.statSync('/dev/full');
    const out = await output(['--device', '/dev/full:/dev/capsa-full'], ['/bin/sh', '-c', '/bin/testinit stat /dev/capsa-full; /bin/testinit write /dev/capsa-full x; echo "write: $?"']);
    assert.match(out, new RegExp(`type=char mode=${(host.mode & 0o7777).toString(8).padStart(4, '0')} uid=0 gid=0 major=1 minor=7`), out);
    assert.match(out, /ENOSPC/, `writing /dev/full inside fails as /dev/full does: ${out}`);
  });

  test('podman run --memory: the memory cgroup limit', async () => {
    const out = await output(['--memory', '64m'], ['/bin/sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max']);
    assert.is(out.trim(), String(64 << 20));
  });

  test('podman run --pids-limit: the pids cgroup limit', async () => {
    const out = await output(['--pids-limit', '50'], ['/bin/sh', '-c', 'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max']);
    assert.is(out.trim(), '50');
  });

  test('podman run --network none: only loopback (private netns, podman\'s default sysctls)', async () => {
    const out = await output([], ['/bin/testinit', 'ls', '/sys/class/net'], 'none');
    assert.equal(out.split('\n').filter(Boolean), ['lo']);
  });

  test('podman run --network host: the host\'s interfaces', async () => {
    const out = await output([], ['/bin/testinit', 'ls', '/sys/class/net'], 'host');
    assert.equal(out.split('\n').filter(Boolean).sort(), fs.readdirSync('/sys/class/net').sort());
  });

  test('podman run --uidmap/--gidmap: a user namespace (root inside is 100000 outside)', async () => {
    const out = await output(['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536'], ['/bin/sh', '-c', '/bin/testinit id; cat /proc/self/uid_map; /bin/testinit stat /home/tester']);
    assert.match(out, /^uid=0 gid=0 /, out);
    assert.match(out, /^\s*0\s+100000\s+65536$/m, out);
    assert.match(out, /uid=1000 gid=1000/, `image files keep their ids inside: ${out}`);
  });

  test('podman exec (no tty): output and exit status', async () => {
    const name = newName('exec');
    await detached(name);
    try {
      const mark = readCalls().length;
      const r = await pm.podman(['exec', name, '/bin/testinit', 'echo', 'from exec']);
      expectOk(r, mark, 'podman exec');
      assert.is(r.stdout, 'from exec\n');
      const exec = callsSince(mark).find((c) => verbOf(c.args) === 'exec');
      assert.ok(exec?.args.includes('--process') && exec.args.includes('--detach'), formatCalls(callsSince(mark)));
      const bad = await pm.podman(['exec', name, '/bin/testinit', 'exit', '3']);
      assert.is(bad.code, 3, describe(bad));
      const env = await pm.podman(['exec', '-e', 'X=1', '-u', '1000', '-w', '/tmp', name, '/bin/sh', '-c', 'echo $X; /bin/testinit id; /bin/testinit cwd']);
      assert.match(env.stdout, /^1\nuid=1000 .*\n\/tmp\n$/, describe(env));
    } finally {
      await rmf(name);
    }
  });

  test('podman exec -t: a terminal for the exec\'d process', async () => {
    const name = newName('exec-tty');
    await detached(name);
    try {
      const mark = readCalls().length;
      const r = await runInPty(pm.line(['exec', '-t', name, '/bin/testinit', 'tty']), { timeoutMs: 90_000 });
      assert.match(r.stdout, /stdin=1 stdout=1 stderr=1 ttyname=\/dev\/pts\/\d+/, `${describe(r)}\n${formatCalls(callsSince(mark))}`);
      const exec = callsSince(mark).find((c) => verbOf(c.args) === 'exec');
      assert.ok(exec?.args.includes('--tty') && exec.args.includes('--console-socket'), formatCalls(callsSince(mark)));
    } finally {
      await rmf(name);
    }
  });

  test('podman pause / unpause', async () => {
    const name = newName('pause');
    await detached(name);
    try {
      const mark = readCalls().length;
      expectOk(await pm.podman(['pause', name]), mark, 'podman pause');
      assert.is(await inspect(name, '{{.State.Status}}'), 'paused');
      expectOk(await pm.podman(['unpause', name]), mark, 'podman unpause');
      assert.is(await inspect(name, '{{.State.Status}}'), 'running');
      const r = await pm.podman(['exec', name, '/bin/testinit', 'true']);
      assert.is(r.code, 0, `runs again after unpause: ${describe(r)}`);
    } finally {
      await rmf(name);
    }
  });

  test('podman kill -s: the signal (by number) reaches the process', async () => {
    const name = newName('kill');
    await detached(name, ['/bin/testinit', 'signals']);
    try {
      await until('the handler to be ready', async () => ((await pm.podman(['logs', name])).stdout.includes('ready') ? true : undefined));
      const mark = readCalls().length;
      expectOk(await pm.podman(['kill', '-s', 'USR1', name]), mark, 'podman kill -s USR1');
      await until(`${name} to exit`, async () => ((await inspect(name, '{{.State.Status}}')) === 'exited' ? true : undefined));
      assert.is(await inspect(name, '{{.State.ExitCode}}'), '110');
      assert.match((await pm.podman(['logs', name])).stdout, /got SIGUSR1/);
      const kill = callsSince(mark).find((c) => verbOf(c.args) === 'kill');
      assert.is(kill?.args[kill.args.length - 1], '10', `signal passed by number: ${formatCalls(callsSince(mark))}`);
    } finally {
      await rmf(name);
    }
  });

  test('podman stop: SIGTERM first; SIGKILL after the timeout when TERM is ignored', async () => {
    const polite = newName('stop-term');
    await detached(polite, ['/bin/testinit', 'signals']);
    const stubborn = newName('stop-kill');
    await detached(stubborn); // PID 1 without a handler ignores SIGTERM
    try {
      await until('the handler to be ready', async () => ((await pm.podman(['logs', polite])).stdout.includes('ready') ? true : undefined));
      let mark = readCalls().length;
      expectOk(await pm.podman(['stop', '-t', '10', polite]), mark, 'podman stop');
      assert.is(await inspect(polite, '{{.State.ExitCode}}'), '115', 'exited through its SIGTERM handler');
      assert.equal(callsSince(mark).filter((c) => verbOf(c.args) === 'kill').map((c) => c.args[c.args.length - 1]), ['15']);

      mark = readCalls().length;
      const started = Date.now();
      expectOk(await pm.podman(['stop', '-t', '2', stubborn]), mark, 'podman stop -t 2');
      const took = Date.now() - started;
      assert.ok(took >= 1900 && took < 15_000, `took ${took} ms`);
      assert.is(await inspect(stubborn, '{{.State.ExitCode}}'), '137');
      assert.equal(callsSince(mark).filter((c) => verbOf(c.args) === 'kill').map((c) => c.args[c.args.length - 1]), ['15', '9']);
    } finally {
      await rmf(polite);
      await rmf(stubborn);
    }
  });

  test('podman top: the container\'s processes', async () => {
    const name = newName('top');
    await detached(name);
    try {
      const r = await pm.podman(['top', name]);
      assert.is(r.code, 0, describe(r));
      assert.match(r.stdout, /\/bin\/testinit sleep forever/, r.stdout);
    } finally {
      await rmf(name);
    }
  });

  test('podman update: new resources reach the cgroup (update --resources=FILE)', async () => {
    const name = newName('update');
    await detached(name, undefined, ['--memory', '64m']);
    try {
      const mark = readCalls().length;
      const r = await pm.podman(['update', '--memory', '128m', name]);
      expectOk(r, mark, 'podman update');
      const limit = await pm.podman(['exec', name, '/bin/sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max']);
      assert.is(limit.stdout.trim(), String(128 << 20), describe(limit));
      const update = callsSince(mark).find((c) => verbOf(c.args) === 'update');
      assert.ok(update?.args.some((a) => a.startsWith('--resources')), formatCalls(callsSince(mark)));
    } finally {
      await rmf(name);
    }
  });

  test('podman logs: stdout and stderr of a detached container', async () => {
    const name = newName('logs');
    const mark = readCalls().length;
    try {
      const r = await prun(['-d', '--name', name], ['/bin/sh', '-c', 'echo to-stdout; echo to-stderr >&2; sleep 0.5']);
      expectOk(r, mark, 'podman run -d');
      const w = await pm.podman(['wait', name]);
      assert.is(w.stdout.trim(), '0', describe(w));
      const logs = await pm.podman(['logs', name]);
      assert.is(logs.stdout, 'to-stdout\n');
      assert.is(logs.stderr, 'to-stderr\n');
    } finally {
      await rmf(name);
    }
  });

  test('podman inspect: created → running → exited, with the exit code', async () => {
    const name = newName('inspect');
    const mark = readCalls().length;
    const c = await pm.podman(['create', ...pm.runFlags, '--cgroup-parent', pm.cgroupParent, '--network', 'host', '--name', name, PODMAN_IMAGE, '/bin/sh', '-c', 'sleep 1; exit 5']);
    expectOk(c, mark, 'podman create');
    try {
      assert.is(await inspect(name, '{{.State.Status}}'), 'created');
      expectOk(await pm.podman(['start', name]), mark, 'podman start');
      assert.is(await inspect(name, '{{.State.Status}}'), 'running');
      const w = await pm.podman(['wait', name]);
      assert.is(w.stdout.trim(), '5', describe(w));
      assert.is(await inspect(name, '{{.State.Status}} {{.State.ExitCode}}'), 'exited 5');
    } finally {
      await rmf(name);
    }
  });

  test('podman rm -f: a running container is killed and every trace removed', async () => {
    const name = newName('rmf');
    const mark = readCalls().length;
    const pid = await detached(name);
    const id = await inspect(name, '{{.Id}}');
    const r = await pm.podman(['rm', '-f', '-t', '0', name]);
    expectOk(r, mark, 'podman rm -f');
    await until('the process to be gone', () => (alive(pid) ? undefined : true), 5000);
    assert.not.ok(fs.existsSync(path.join(CAPSA_DEFAULT_ROOT, id)), 'capsa state removed');
    assert.equal(cgroupsContaining(id), [], 'cgroup removed');
    assert.ok(callsSince(mark).some((c) => verbOf(c.args) === 'delete' && c.args.includes('--force')), formatCalls(callsSince(mark)));
  });

  test('podman info: the runtime\'s --version (runc-style lines)', async () => {
    const r = await pm.podman(['info', '--format', '{{.Host.OCIRuntime.Name}}|{{.Host.OCIRuntime.Version}}']);
    assert.is(r.code, 0, describe(r));
    assert.match(r.stdout, /^(\S*\/)?capsa\|capsa version \S+/m, r.stdout);
    assert.match(r.stdout, /spec: 1\.\d+\.\d+/, r.stdout);
  });

  test('containers.conf runtime entry (json log mode): run, exec, and a clean one-line error', async () => {
    const name = newName('conf');
    const mark = readCalls().length;
    const r = await configured.podman(runArgs(['--rm'], lingering(['/bin/testinit', 'echo', 'configured']), 'host', configured));
    expectOk(r, mark, 'podman run (runtime from containers.conf)');
    assert.is(r.stdout, 'configured\n');
    const create = callsSince(mark).find((c) => verbOf(c.args) === 'create');
    assert.ok(create?.args.some((a) => a === '--log-format=json' || a === 'json'), `json log mode: ${formatCalls(callsSince(mark))}`);

    const d = await configured.podman(['run', '-d', '--cgroup-parent', pm.cgroupParent, '--network', 'host', '--name', name, PODMAN_IMAGE, '/bin/testinit', 'sleep', 'forever']);
    expectOk(d, mark, 'podman run -d (configured)');
    try {
      const e = await configured.podman(['exec', name, '/bin/testinit', 'echo', 'exec ok']);
      expectOk(e, mark, 'podman exec (configured)');
      assert.is(e.stdout, 'exec ok\n');
    } finally {
      await configured.podman(['rm', '-f', '-t', '0', name]);
    }

    const bad = await configured.podman(runArgs(['--rm'], ['/no/such/binary'], 'host', configured));
    assert.is.not(bad.code, 0);
    const msg = bad.stderr.trim();
    assert.match(msg, /\/no\/such\/binary/, msg);
    assert.not.match(msg, /\n\s+at /, `no stack trace: ${msg}`);
    assert.ok(msg.split('\n').length <= 2, `one line: ${msg}`);
  });

  test('podman run --rm: short-lived containers start reliably (5 runs)', async () => {
    const failures: string[] = [];
    for (let i = 0; i < 5; i++) {
      const mark = readCalls().length;
      const r = await prun(['--rm'], ['/bin/testinit', 'true']);
      if (r.code !== 0) failures.push(`run ${i}: ${r.stderr.trim()}\n${failedCapsaCalls(mark)}`);
      await sleep(10);
    }
    assert.is(failures.length, 0, `${failures.length}/5 runs failed:\n${failures.join('\n')}`);
  });
});
