// OCI hooks (runtime-spec config.md "POSIX-platform Hooks"), as root with real
// containers. Every hook is one recording script: it appends a line with its
// kind, the mount namespace it ran in, what the process named by the state's
// pid is at that moment, and the state JSON it got on stdin — so the tests
// read back what ran, in which order, where, and with what state.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Hook, Spec } from '../../src/spec/types';
import { defaultSpec } from '../../src/spec/defaults';
import { makeBundle, type TestBundle } from '../helpers/bundle';
import { capsaSuite, capsaToFilesIn, runCommand } from '../helpers/capsa';
import { makeTestNet, netTestsUnavailable } from '../helpers/netns';
import { alive } from '../helpers/proc';
import { until, waitReaped } from '../helpers/wait';

const { test, root, capsa, capsaOk } = capsaSuite('hooks');
const capsaToFiles = capsaToFilesIn(root);

// ---- local helpers ----

/** The recording hook, usable on the host and (through a bind mount) inside the container. */
const RECORDER = `#!/bin/sh
# rec.sh KIND [fail CODE | sleep SECONDS]: logs one line, then acts.
# Only /bin/busybox is assumed, so the same script runs in the test rootfs.
bb=/bin/busybox
dir=$($bb dirname "$0")
kind=$1
state=$($bb cat)
pid=$(printf '%s' "$state" | $bb sed -n 's/.*"pid":\\([0-9][0-9]*\\).*/\\1/p')
comm=-
if [ -n "$pid" ] && [ "$pid" != 0 ]; then comm=$($bb cat /proc/$pid/comm 2>/dev/null || echo gone); fi
ns=$(for n in net uts ipc pid; do $bb readlink /proc/self/ns/$n; done | $bb tr '\\n' ' ')
printf '%s|%s|%s|%s|%s|%s|%s\\n' "$kind" "$($bb readlink /proc/self/ns/mnt)" "$ns" "$comm" "\${HOOK_VAR:-}" "$$" "$state" >> "$dir/hooks.log"
echo "hook-output:$kind"
case "\${2:-}" in
  fail) echo "hook $kind failing" >&2; exit "$3" ;;
  sleep) $bb sleep "$3" & echo $! > "$dir/$kind.sleeper"; wait ;;
esac
exit 0
`;

interface Rec {
  kind: string;
  mntNs: string;
  /** The net, uts, ipc and pid namespaces, space-separated. */
  otherNs: string;
  /** /proc/<state.pid>/comm as the hook saw it ("-" for no pid, "gone" when unreadable). */
  comm: string;
  env: string;
  pid: number;
  state: Record<string, unknown>;
}

interface HookEnv {
  dir: string;
  /** Host path of the recorder. */
  rec: string;
  /** The recorder's path inside the container (the dir is bind-mounted at /hookdir). */
  recInside: string;
  log(): Rec[];
  kinds(): string[];
}

function hookEnv(): HookEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-hooks-'));
  fs.chmodSync(dir, 0o755);
  const rec = path.join(dir, 'rec.sh');
  fs.writeFileSync(rec, RECORDER, { mode: 0o755 });
  const log = (): Rec[] => {
    const file = path.join(dir, 'hooks.log');
    if (!fs.existsSync(file)) return [];
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => {
      const [kind, mntNs, otherNs, comm, env, pid, ...rest] = line.split('|');
      return { kind: kind!, mntNs: mntNs!, otherNs: otherNs!.trim(), comm: comm!, env: env!, pid: Number(pid), state: JSON.parse(rest.join('|')) as Record<string, unknown> };
    });
  };
  return { dir, rec, recInside: '/hookdir/rec.sh', log, kinds: () => log().map((r) => r.kind) };
}

const PATH_ENV = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

function hook(env: HookEnv, kind: string, extra: string[] = [], more: Partial<Hook> = {}): Hook {
  const inside = kind.startsWith('startContainer');
  return { path: inside ? env.recInside : env.rec, args: ['rec.sh', kind, ...extra], env: [PATH_ENV, `HOOK_VAR=env-of-${kind}`], ...more };
}

const KINDS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;
type Kind = typeof KINDS[number];

interface Case {
  env: HookEnv;
  bundle: TestBundle;
  id: string;
}

/**
 * A bundle whose rootfs sees the hook dir at /hookdir, with the hooks that
 * `hooks` returns; everything (container, dirs) removed afterwards.
 */
async function withHooks(hooks: (env: HookEnv) => Partial<Record<Kind, Hook[]>>, fn: (c: Case) => Promise<void>, config?: (s: Spec) => void): Promise<void> {
  const env = hookEnv();
  const bundle = makeBundle({
    config: (s) => {
      s.process!.args = ['/bin/testinit', 'sleep', 'forever'];
      s.mounts!.push({ destination: '/hookdir', type: 'bind', source: env.dir, options: ['rbind', 'rw'] });
      s.annotations = { 'org.capsa.test': 'hooks' };
      s.hooks = hooks(env);
      config?.(s);
    },
  });
  try {
    await fn({ env, bundle, id: bundle.id });
  } finally {
    await capsa(['delete', '--force', bundle.id]);
    bundle.cleanup();
    // A sleeper a killed host hook left would keep running: that is a failure
    // the tests report, but it must not outlive the test. (startContainer's
    // pid is of the container's pid namespace, which died with the container.)
    for (const f of fs.readdirSync(env.dir).filter((n) => n.endsWith('.sleeper') && !n.startsWith('startContainer'))) {
      const pid = Number(fs.readFileSync(path.join(env.dir, f), 'utf8'));
      let cmd = '';
      try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1'); } catch { /* gone */ }
      if (pid > 0 && alive(pid) && cmd.includes('sleep')) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    fs.rmSync(env.dir, { recursive: true, force: true });
    await waitReaped(bundle.id);
  }
}

/** The net, uts, ipc and pid namespaces of a process, as the recorder logs them. */
function nsOf(pid: number | 'self'): string {
  return ['net', 'uts', 'ipc', 'pid'].map((n) => fs.readlinkSync(`/proc/${pid}/ns/${n}`)).join(' ');
}

function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /level=error/.test(l));
}

/** Nothing of the container is left: no state, no cgroup dirs, no processes in them. */
async function assertGone(id: string): Promise<void> {
  const st = await capsa(['state', id]);
  assert.is(st.code, 1, `state of ${id}: ${st.stdout}`);
  assert.match(st.stderr, /container does not exist/);
  assert.not.ok(fs.existsSync(path.join(root, id)), 'state dir removed');
  // v1/hybrid: one dir per hierarchy; v2: the unified tree itself.
  for (const dir of ['', ...fs.readdirSync('/sys/fs/cgroup')]) {
    const cg = path.join('/sys/fs/cgroup', dir, id);
    assert.not.ok(fs.existsSync(cg), `cgroup ${cg} removed`);
  }
}

// ---- every kind, in order, with its state ----

test('every hook kind runs once, in lifecycle order, at its moment, with the state the spec says', async () => {
  await withHooks((e) => Object.fromEntries(KINDS.map((k) => [k, [hook(e, k)]])), async ({ env, bundle, id }) => {
    const hostMnt = fs.readlinkSync('/proc/self/ns/mnt');
    const created = await capsaToFiles(['create', '--bundle', bundle.dir, id], env.dir);
    assert.is(created.code, 0, created.stderr);
    assert.equal(env.kinds(), ['prestart', 'createRuntime', 'createContainer'], 'after create');
    const init = JSON.parse((await capsaOk(['state', id])).stdout) as { pid: number };
    const containerMnt = fs.readlinkSync(`/proc/${init.pid}/ns/mnt`);
    const containerNs = nsOf(init.pid);
    assert.is.not(containerMnt, hostMnt);

    const started = await capsaToFiles(['start', id], env.dir);
    assert.is(started.code, 0, started.stderr);
    assert.equal(env.kinds(), ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart'], 'after start');
    await capsaOk(['kill', id, 'KILL']);
    await until('the container to stop', async () => (JSON.parse((await capsaOk(['state', id])).stdout).status === 'stopped' ? true : undefined));
    assert.is(env.kinds().length, 5, 'nothing ran on kill');
    const deleted = await capsaToFiles(['delete', id], env.dir);
    assert.is(deleted.code, 0, deleted.stderr);
    assert.not.match(deleted.stderr, /level=(warning|error)/);
    assert.equal(env.kinds(), [...KINDS], 'after delete');

    const log = Object.fromEntries(env.log().map((r) => [r.kind, r])) as Record<Kind, Rec>;
    for (const k of KINDS) {
      const s = log[k].state;
      assert.is(s.id, id, `${k} state.id`);
      assert.is(s.bundle, bundle.dir, `${k} state.bundle`);
      assert.is(s.ociVersion, defaultSpec().ociVersion, `${k} state.ociVersion`);
      assert.equal(s.annotations, { 'org.capsa.test': 'hooks' }, `${k} state.annotations`);
      assert.is(log[k].env, `env-of-${k}`, `${k} got its env`);
    }
    // Status as runc reports it to each kind.
    for (const k of ['prestart', 'createRuntime', 'createContainer'] as const) assert.is(log[k].state.status, 'creating', `${k} status`);
    assert.is(log.startContainer.state.status, 'created');
    assert.is(log.poststart.state.status, 'running');
    assert.is(log.poststop.state.status, 'stopped');

    // Runtime-namespace hooks see the host pid of the init; createContainer
    // runs in the container's mount namespace (before pivot_root).
    for (const k of ['prestart', 'createRuntime', 'createContainer', 'poststart'] as const) assert.is(log[k].state.pid, init.pid, `${k} state.pid`);
    for (const k of ['prestart', 'createRuntime', 'poststart', 'poststop'] as const) assert.is(log[k].mntNs, hostMnt, `${k} runs in the runtime's mount namespace`);
    assert.is(log.createContainer.mntNs, containerMnt, 'createContainer runs in the container\'s mount namespace');
    // ...and in its other namespaces, as runc runs it from inside the container's init.
    assert.is(log.createContainer.otherNs, containerNs, 'createContainer: the container\'s net, uts, ipc and pid namespaces');
    for (const k of ['prestart', 'createRuntime', 'poststart', 'poststop'] as const) assert.is(log[k].otherNs, nsOf('self'), `${k}: the runtime's namespaces`);
    assert.is(log.startContainer.mntNs, containerMnt, 'startContainer runs in the container\'s mount namespace');
    // The init is still capsa-init for every create-time hook.
    for (const k of ['prestart', 'createRuntime', 'createContainer'] as const) assert.is(log[k].comm, 'capsa-init', `${k}: init not yet exec'd`);
    // poststart: after the user process was executed (spec lifecycle step 8 → 9).
    assert.is(log.poststart.comm, 'testinit', 'poststart runs after the entrypoint was exec\'d');
    // Hook output goes to capsa's stderr.
    assert.match(created.stderr, /hook-output:prestart/);
    assert.match(created.stderr, /hook-output:createContainer/);
    assert.match(started.stderr, /hook-output:poststart/);
    assert.match(deleted.stderr, /hook-output:poststop/);
  });
});

test('startContainer runs inside the container: its path resolves there and its state pid is the container\'s view', async () => {
  await withHooks((e) => ({ startContainer: [hook(e, 'startContainer')] }), async ({ env, bundle, id }) => {
    assert.not.ok(fs.existsSync(env.recInside), 'the hook path does not exist on the host');
    assert.is((await capsaToFiles(['create', '--bundle', bundle.dir, id], env.dir)).code, 0);
    assert.equal(env.kinds(), [], 'startContainer does not run at create');
    const started = await capsaToFiles(['start', id], env.dir);
    assert.is(started.code, 0, started.stderr);
    const [rec] = await until('the startContainer hook to run', () => (env.log().length ? env.log() : undefined));
    assert.ok(rec!.pid > 1 && rec!.pid < 100, `the hook (pid ${rec!.pid}) is a process of the container's pid namespace`);
    // Hooks in the container's namespaces get the pid as the container sees it
    // (runtime-spec state.pid), which is the init, still capsa-init.
    assert.is(rec!.state.pid, 1, 'state.pid for a hook in the container\'s pid namespace');
    assert.is(rec!.comm, 'capsa-init', 'the entrypoint has not been exec\'d yet');
  });
});

test('poststart waits for the startContainer hooks and the entrypoint\'s exec, even when a startContainer hook is slow', async () => {
  await withHooks((e) => ({
    startContainer: [hook(e, 'startContainer', ['sleep', '1'])],
    poststart: [hook(e, 'poststart')],
  }), async ({ env, bundle, id }) => {
    assert.is((await capsaToFiles(['create', '--bundle', bundle.dir, id], env.dir)).code, 0);
    const started = await capsaToFiles(['start', id], env.dir);
    assert.is(started.code, 0, started.stderr);
    const log = await until('both hooks to run', () => (env.log().length === 2 ? env.log() : undefined));
    assert.equal(log.map((r) => r.kind), ['startContainer', 'poststart']);
    assert.is(log[1]!.comm, 'testinit', 'the entrypoint was running when poststart ran');
  });
});

// ---- failures ----

for (const kind of ['prestart', 'createRuntime', 'createContainer'] as const) {
  test(`a failing ${kind} hook fails create: later hooks do not run, the container is torn down, poststop runs`, async () => {
    await withHooks((e) => ({
      createContainer: [hook(e, 'createContainer')],
      [kind]: [hook(e, `${kind}-0`), hook(e, `${kind}-1`, ['fail', '3']), hook(e, `${kind}-2`)],
      poststop: [hook(e, 'poststop')],
    }), async ({ env, bundle, id }) => {
      const r = await capsaToFiles(['create', '--bundle', bundle.dir, id], env.dir);
      assert.is(r.code, 1, r.stderr);
      const errs = errorLines(r.stderr);
      assert.is(errs.length, 1, r.stderr);
      assert.match(errs[0]!, new RegExp(`hooks\\.${kind}\\[1\\].*exited with status 3`));
      assert.match(r.stderr, new RegExp(`hook ${kind}-1 failing`), 'the hook\'s stderr is passed on');
      const ran = env.kinds();
      assert.equal(ran.slice(0, 2), [`${kind}-0`, `${kind}-1`]);
      assert.not.ok(ran.includes(`${kind}-2`), 'no hook after the failing one');
      if (kind !== 'createContainer') assert.not.ok(ran.includes('createContainer'));
      await assertGone(id);
      assert.ok(ran.includes('poststop'), `poststop hooks run after a failed create (lifecycle step 12 → 13); ran: ${ran.join(', ')}`);
    });
  });
}

test('a failing startContainer hook fails start; the entrypoint never runs; the container is stopped and removable', async () => {
  await withHooks((e) => ({
    startContainer: [hook(e, 'startContainer-0'), hook(e, 'startContainer-1', ['fail', '4']), hook(e, 'startContainer-2')],
    poststart: [hook(e, 'poststart')],
    poststop: [hook(e, 'poststop')],
  }), async ({ env, bundle, id }) => {
    assert.is((await capsaToFiles(['create', '--bundle', bundle.dir, id], env.dir)).code, 0);
    const { pid } = JSON.parse((await capsaOk(['state', id])).stdout) as { pid: number };
    const r = await capsaToFiles(['start', id], env.dir);
    await until('the init to exit', () => (alive(pid) ? undefined : true));
    const ran = env.kinds();
    assert.equal(ran.slice(0, 2), ['startContainer-0', 'startContainer-1']);
    assert.not.ok(ran.includes('startContainer-2'));
    assert.is(r.code, 1, `start must fail: exit ${r.code} ${r.stderr}`);
    assert.match(errorLines(r.stderr).join('\n'), /hooks\.startContainer\[1\].*status 4/);
    assert.not.ok(ran.includes('poststart'), 'no poststart when the container did not start');
    const st = await capsa(['state', id]);
    if (st.code === 0) {
      assert.is(JSON.parse(st.stdout).status, 'stopped');
      await capsaOk(['delete', id]);
    }
    await assertGone(id);
    assert.ok(env.kinds().includes('poststop'), 'poststop runs');
  });
});

test('a failing poststart hook fails start (spec 1.3): later poststart hooks do not run, the container is stopped and destroyed, poststop runs', async () => {
  await withHooks((e) => ({
    poststart: [hook(e, 'poststart-0'), hook(e, 'poststart-1', ['fail', '5']), hook(e, 'poststart-2')],
    poststop: [hook(e, 'poststop')],
  }), async ({ env, bundle, id }) => {
    assert.is((await capsaToFiles(['create', '--bundle', bundle.dir, id], env.dir)).code, 0);
    const { pid } = JSON.parse((await capsaOk(['state', id])).stdout) as { pid: number };
    const r = await capsaToFiles(['start', id], env.dir);
    assert.is(r.code, 1, `start must fail: exit ${r.code} ${r.stderr}`);
    const errs = errorLines(r.stderr);
    assert.is(errs.length, 1, r.stderr);
    assert.match(errs[0]!, /hooks\.poststart\[1\].*exited with status 5/);
    const ran = env.kinds();
    assert.equal(ran.slice(0, 2), ['poststart-0', 'poststart-1']);
    assert.is(env.log()[0]!.comm, 'testinit', 'the entrypoint was running when poststart ran');
    assert.not.ok(ran.includes('poststart-2'), 'no poststart hook after the failing one');
    // Stopped: the entrypoint (which would sleep forever) is dead when start returns.
    assert.not.ok(alive(pid), `the container's init (pid ${pid}) was killed`);
    // Lifecycle step 12 then 13: destroyed, poststop ran.
    await assertGone(id);
    assert.is(ran.at(-1), 'poststop', `poststop runs last; ran: ${ran.join(', ')}`);
    assert.is(env.log().at(-1)!.state.status, 'stopped');
  });
});

test('failing poststop hooks are warnings: delete succeeds, later poststop hooks still run, the container is gone', async () => {
  await withHooks((e) => ({
    poststop: [hook(e, 'poststop-0', ['fail', '6']), hook(e, 'poststop-1')],
  }), async ({ env, bundle, id }) => {
    assert.is((await capsaToFiles(['run', '-d', '--bundle', bundle.dir, id], env.dir)).code, 0);
    const r = await capsaToFiles(['delete', '--force', id], env.dir);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /level=warning.*hooks\.poststop\[0\].*status 6/);
    assert.equal(errorLines(r.stderr), []);
    assert.equal(env.kinds(), ['poststop-0', 'poststop-1']);
    await assertGone(id);
  });
});

// ---- timeouts ----

test('a prestart hook over its timeout is killed with everything it started, and create fails promptly', async () => {
  await withHooks((e) => ({ prestart: [hook(e, 'prestart', ['sleep', '60'], { timeout: 1 })] }), async ({ env, bundle, id }) => {
    const r = await capsaToFiles(['create', '--bundle', bundle.dir, id], env.dir);
    assert.is(r.code, 1, r.stderr);
    const errs = errorLines(r.stderr);
    assert.is(errs.length, 1, r.stderr);
    assert.match(errs[0]!, /hooks\.prestart\[0\].*timed out after 1s/);
    assert.ok(r.ms < 10_000, `create took ${r.ms} ms for a 1 s hook timeout`);
    const [rec] = env.log();
    assert.not.ok(alive(rec!.pid), `the hook (pid ${rec!.pid}) was killed`);
    const sleeper = Number(fs.readFileSync(path.join(env.dir, 'prestart.sleeper'), 'utf8'));
    assert.not.ok(alive(sleeper), `the hook's child (pid ${sleeper}) was killed`);
    await assertGone(id);
  });
});

test('a poststart hook over its timeout is killed with what it started, start fails promptly and the container is destroyed', async () => {
  await withHooks((e) => ({ poststart: [hook(e, 'poststart-0', ['sleep', '60'], { timeout: 1 }), hook(e, 'poststart-1')] }), async ({ env, bundle, id }) => {
    assert.is((await capsaToFiles(['create', '--bundle', bundle.dir, id], env.dir)).code, 0);
    const r = await capsaToFiles(['start', id], env.dir);
    assert.is(r.code, 1, r.stderr);
    assert.match(errorLines(r.stderr).join('\n'), /hooks\.poststart\[0\].*timed out after 1s/);
    assert.ok(r.ms < 10_000, `start took ${r.ms} ms`);
    assert.equal(env.kinds(), ['poststart-0']);
    const sleeper = Number(fs.readFileSync(path.join(env.dir, 'poststart-0.sleeper'), 'utf8'));
    assert.not.ok(alive(sleeper), `the hook's child (pid ${sleeper}) was killed`);
    await assertGone(id);
  });
});

test('a startContainer hook over its timeout is killed; the entrypoint never runs', async () => {
  await withHooks((e) => ({ startContainer: [hook(e, 'startContainer', ['sleep', '60'], { timeout: 1 })] }), async ({ env, bundle, id }) => {
    assert.is((await capsaToFiles(['create', '--bundle', bundle.dir, id], env.dir)).code, 0);
    const { pid } = JSON.parse((await capsaOk(['state', id])).stdout) as { pid: number };
    const r = await capsaToFiles(['start', id], env.dir);
    await until('the init to exit', () => (alive(pid) ? undefined : true), 10_000);
    assert.equal(env.kinds(), ['startContainer']);
    const sleeper = Number(fs.readFileSync(path.join(env.dir, 'startContainer.sleeper'), 'utf8'));
    assert.ok(sleeper > 0);
    assert.is(r.code, 1, `start must fail: exit ${r.code} ${r.stderr}`);
    assert.match(r.stderr, /hooks\.startContainer\[0\].*timed out after 1s/);
  });
});

// ---- bad hook paths ----

for (const kind of ['prestart', 'createRuntime', 'createContainer', 'poststart'] as const) {
  test(`a ${kind} hook path that is not executable: one-line error naming it, exit 1, nothing left`, async () => {
    await withHooks((e) => {
      const plain = path.join(e.dir, 'not-executable.sh');
      fs.writeFileSync(plain, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
      return { [kind]: [{ path: plain }] };
    }, async ({ env, bundle, id }) => {
      const create = await capsaToFiles(['create', '--bundle', bundle.dir, id], env.dir);
      let r = create;
      if (kind === 'poststart') {
        // Found at start, when poststart runs: start fails and the container is destroyed (spec 1.3).
        assert.is(create.code, 0);
        r = await capsaToFiles(['start', id], env.dir);
      }
      assert.is(r.code, 1);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`hooks\\.${kind}\\[0\\].*not-executable\\.sh.*(permission denied|EACCES)`, 'i'));
      await assertGone(id);
    });
  });
}

test('a hook path that does not exist: one-line error naming it, exit 1, nothing left', async () => {
  await withHooks(() => ({ createRuntime: [{ path: '/nonexistent/capsa-hook' }] }), async ({ env, bundle, id }) => {
    const r = await capsaToFiles(['create', '--bundle', bundle.dir, id], env.dir);
    assert.is(r.code, 1);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /hooks\.createRuntime\[0\].*\/nonexistent\/capsa-hook.*no such file or directory/i);
    await assertGone(id);
  });
});

// ---- networking through a createRuntime hook ----

const noNet = netTestsUnavailable();
(noNet ? test.skip : test)(`a createRuntime hook gives the container a veth on a private test net; it pings the host end${noNet ? ` [SKIPPED: ${noNet}]` : ''}`, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-net-'));
  const net = makeTestNet(dir);
  const bundle = makeBundle({
    config: (s) => {
      s.process!.args = ['/bin/testinit', 'sleep', 'forever'];
      s.hooks = { createRuntime: [{ path: net.hook, args: ['net-hook.sh'], env: [PATH_ENV] }] };
    },
  });
  try {
    const r = await capsaToFiles(['run', '-d', '--bundle', bundle.dir, bundle.id], dir);
    assert.is(r.code, 0, `${r.stderr}\n${fs.existsSync(path.join(dir, 'net-hook.log')) ? fs.readFileSync(path.join(dir, 'net-hook.log'), 'utf8') : ''}`);
    assert.ok(net.exists(), 'host end of the veth exists');
    const { pid } = JSON.parse((await capsaOk(['state', bundle.id])).stdout) as { pid: number };
    // The peer is in the container's network namespace, not the host's.
    assert.is.not(fs.readlinkSync(`/proc/${pid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'));
    const links = (await capsaOk(['exec', bundle.id, '/bin/busybox', 'ip', '-o', 'addr'])).stdout;
    assert.match(links, new RegExp(`${net.peer}.*inet ${net.containerAddr.replace(/\./g, '\\.')}/24`));
    assert.not.match(fs.readFileSync('/proc/net/dev', 'utf8'), new RegExp(`${net.peer}:`), 'the peer left the host namespace');
    // Container → host over the veth (ping needs CAP_NET_RAW: exec adds it).
    const ping = await capsa(['exec', '--cap', 'CAP_NET_RAW', bundle.id, '/bin/busybox', 'ping', '-c', '1', '-W', '5', net.hostAddr]);
    assert.is(ping.code, 0, ping.stdout + ping.stderr);
    assert.match(ping.stdout, /1 packets received/);
    // And host → container, from the host's own namespace.
    const back = await runCommand('/bin/busybox', ['ping', '-c', '1', '-W', '5', net.containerAddr]);
    assert.is(back.code, 0, back.stdout + back.stderr);
    // Deleting the container takes the veth pair with its namespace.
    await capsaOk(['delete', '--force', bundle.id]);
    await until('the veth pair to disappear with the container\'s namespace', () => (net.exists() ? undefined : true));
  } finally {
    await capsa(['delete', '--force', bundle.id]);
    net.cleanup();
    bundle.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
    await waitReaped(bundle.id);
  }
});

test.run();
