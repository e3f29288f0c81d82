// docker drives capsa as an added runtime (`dockerd --add-runtime
// capsa=PATH`, `docker run --runtime capsa`), through its containerd and the
// runc v2 shim. This file starts a private containerd and a private dockerd
// (own data/exec roots, API socket in the temp dir, no bridge, no iptables).
// If dockerd cannot run on the machine the file is skipped and says why.
// Containers use --network host unless the test is about networking.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import {
  alive, callsSince, cgroupsContaining, describe, failedCapsaCalls, formatCalls, readCalls, runInPty, until, verbOf, type Result,
} from '../helpers/engines/common';
import { startContainerd, type Containerd } from '../helpers/engines/containerd';
import { dockerCli, startDockerd, type Dockerd } from '../helpers/engines/dockerd';
import { buildTestImage, DOCKER_IMAGE } from '../helpers/engines/image';
import { engineGroup } from '../helpers/engines/suite';
import { PROFILE_DIR } from '../helpers/seccomp-profiles';

interface Ctx {
  cd: Containerd;
  dk: Dockerd;
}

let seq = 0;
const newName = (tag: string) => `${tag}-${seq++}`;
const createdIds = (mark: number) => callsSince(mark).filter((c) => verbOf(c.args) === 'create').map((c) => c.args[c.args.length - 1]!);
let testMark = 0;
const keyJsonBefore = fs.existsSync('/etc/docker/key.json');
const lingering = (cmd: string[]) => ['/bin/sh', '-c', '"$0" "$@"; rc=$?; sleep 0.5; exit $rc', ...cmd];

void engineGroup<Ctx>('engines/docker', {
  skipWhenSetupFails: true,
  async setup(sb) {
    const cd = await startContainerd(sb, { name: 'containerd-docker', namespace: 'moby' });
    let dk: Dockerd;
    try {
      dk = await startDockerd(sb, cd, { capsa: sb.capsa, 'runc-logged': sb.runc });
    } catch (e) {
      await cd.stop();
      throw e;
    }
    const load = await dk.docker(['load', '-i', buildTestImage(sb.dir).archive], { timeoutMs: 120_000 });
    if (load.code !== 0) {
      await dk.stop();
      await cd.stop();
      throw new Error(`docker load failed: ${describe(load)}`);
    }
    return { cd, dk };
  },
  async leftovers({ dk }) {
    const left: string[] = [];
    const ids = (await dk.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length) {
      left.push(...ids.map((id) => `docker container ${id}`));
      await dk.docker(['rm', '-f', ...ids]);
    }
    for (const id of createdIds(testMark)) {
      if (fs.existsSync(path.join(dk.runtimeRoot, id))) left.push(`capsa state dir ${path.join(dk.runtimeRoot, id)}`);
      for (const cg of cgroupsContaining(id)) left.push(`cgroup ${cg}`);
    }
    testMark = readCalls().length;
    return left;
  },
  async teardown({ cd, dk }) {
    const forced = [...(await dk.stop()), ...(await cd.stop())];
    return forced.map((f) => `had to clean up at teardown: ${f}`);
  },
  hostLeftovers: () => (!keyJsonBefore && fs.existsSync('/etc/docker/key.json') ? ['dockerd wrote /etc/docker/key.json'] : []),
  daemonPids: ({ cd, dk }) => [dk.pid, cd.pid],
}, ({ test, ctx, sb }) => {
  const { dk } = ctx;

  const expectOk = (r: Result, mark: number, what: string) => {
    if (r.code !== 0 || r.timedOut) assert.unreachable(`${what} failed: ${describe(r)}\n${failedCapsaCalls(mark)}\nruntime calls:\n${formatCalls(callsSince(mark))}`);
  };
  const runArgs = (flags: string[], cmd: string[], network = 'host', runtime = 'capsa') =>
    ['run', '--runtime', runtime, '--network', network, ...flags, DOCKER_IMAGE, ...cmd];
  const drun = (flags: string[], cmd: string[], network?: string) => dk.docker(runArgs(flags, cmd, network));
  const output = async (flags: string[], cmd: string[], network?: string): Promise<string> => {
    const mark = readCalls().length;
    const r = await drun(['--rm', ...flags], lingering(cmd), network);
    expectOk(r, mark, `docker run ${flags.join(' ')}`);
    return r.stdout;
  };
  const inspect = async (name: string, format: string): Promise<string> => {
    const r = await dk.docker(['inspect', name, '--format', format]);
    if (r.code !== 0) throw new Error(describe(r));
    return r.stdout.trim();
  };
  const detached = async (name: string, cmd: string[] = ['/bin/testinit', 'sleep', 'forever'], flags: string[] = []) => {
    const mark = readCalls().length;
    const r = await drun(['-d', '--name', name, ...flags], cmd);
    expectOk(r, mark, 'docker run -d');
    await until(`${name} to run`, async () => ((await inspect(name, '{{.State.Status}}')) === 'running' ? true : undefined));
    return Number(await inspect(name, '{{.State.Pid}}'));
  };
  const rmf = (name: string) => dk.docker(['rm', '-f', name]);

  test('docker run --runtime capsa --rm: output and the shim\'s calls', async () => {
    const mark = readCalls().length;
    const r = await drun(['--rm'], ['/bin/testinit', 'echo', 'hello from capsa']);
    expectOk(r, mark, 'docker run --rm');
    assert.is(r.stdout, 'hello from capsa\n');
    const calls = callsSince(mark).filter((c) => c.runtime === 'capsa');
    assert.equal(calls.map((c) => verbOf(c.args)), ['create', 'start', 'delete', 'delete'], formatCalls(calls));
    assert.ok(calls[0]!.args.includes('--root') && calls[0]!.args[calls[0]!.args.indexOf('--root') + 1]!.startsWith(dk.dir), `--root under the exec root: ${formatCalls(calls)}`);
  });

  test('docker run: the exit status of the process is docker\'s', async () => {
    const r = await drun(['--rm'], lingering(['/bin/testinit', 'exit', '7']));
    assert.is(r.code, 7, describe(r));
  });

  test('docker run -d: running, with the pid capsa reported; docker ps', async () => {
    const name = newName('detach');
    try {
      const pid = await detached(name);
      assert.ok(pid > 0 && alive(pid), `pid ${pid}`);
      assert.is(await inspect(name, '{{.HostConfig.Runtime}}'), 'capsa');
      const ps = await dk.docker(['ps', '--format', '{{.Names}} {{.Status}}']);
      assert.match(ps.stdout, new RegExp(`${name} Up`), ps.stdout);
    } finally {
      await rmf(name);
    }
  });

  test('docker run -e -w -u: environment, working directory, user', async () => {
    const out = await output(['-e', 'GREETING=hello', '-w', '/tmp', '-u', '1000:1000'], ['/bin/sh', '-c', 'echo $GREETING; /bin/testinit cwd; /bin/testinit id']);
    assert.match(out, /^hello\n\/tmp\nuid=1000 gid=1000 /, out);
  });

  test('docker run -t: the process gets a terminal', async () => {
    const mark = readCalls().length;
    const line = [dockerCli(), '-H', dk.host, ...runArgs(['--rm', '-t'], lingering(['/bin/testinit', 'tty']))].map((a) => `'${a}'`).join(' ');
    const r = await runInPty(line, { timeoutMs: 90_000 });
    assert.match(r.stdout, /stdin=1 stdout=1 stderr=1 ttyname=\/dev\/pts\/\d+/, `${describe(r)}\n${formatCalls(callsSince(mark))}`);
  });

  test('docker run --read-only, --cap-drop, --memory, --pids-limit', async () => {
    const ro = await drun(['--rm', '--read-only'], lingering(['/bin/testinit', 'touch', '/x']));
    assert.match(ro.stderr, /EROFS/, describe(ro));
    const caps = await output(['--cap-drop', 'all', '--cap-add', 'NET_ADMIN'], ['/bin/testinit', 'caps']);
    assert.match(caps, /CapEff:\s+0000000000001000/, caps);
    const limits = await output(['--memory', '64m', '--pids-limit', '50'], ['/bin/sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max']);
    assert.equal(limits.split('\n').filter(Boolean), [String(64 << 20), '50']);
  });

  test('docker run -v (rw, ro), --tmpfs, --init (docker-init bind-mounted as PID 1)', async () => {
    const host = fs.mkdtempSync(path.join(sb.dir, 'vol-'));
    fs.writeFileSync(path.join(host, 'from-host'), 'hello\n');
    const out = await output(['-v', `${host}:/data`, '-v', `${host}:/ro:ro`, '--tmpfs', '/scratch'], ['/bin/sh', '-c', 'cat /data/from-host; echo written > /data/from-container; touch /ro/x 2>&1 || echo ro-refused; touch /scratch/ok && echo tmpfs-ok']);
    assert.match(out, /^hello\n/, out);
    assert.match(out, /ro-refused|Read-only/, out);
    assert.match(out, /tmpfs-ok/, out);
    assert.is(fs.readFileSync(path.join(host, 'from-container'), 'utf8'), 'written\n');
    const init = await output(['--init'], ['/bin/testinit', 'cat', '/proc/1/cmdline']);
    assert.match(init, /docker-init/, `the command runs under docker-init (PID 1): ${JSON.stringify(init)}`);
  });

  test('docker run --network none: only loopback (private netns, docker\'s sysctls)', async () => {
    const out = await output([], ['/bin/testinit', 'ls', '/sys/class/net'], 'none');
    assert.equal(out.split('\n').filter(Boolean), ['lo']);
  });

  test('docker exec (no tty) and exec -t', async () => {
    const name = newName('exec');
    try {
      await detached(name);
      const mark = readCalls().length;
      const r = await dk.docker(['exec', name, '/bin/testinit', 'echo', 'from exec']);
      expectOk(r, mark, 'docker exec');
      assert.is(r.stdout, 'from exec\n');
      const bad = await dk.docker(['exec', name, '/bin/testinit', 'exit', '3']);
      assert.is(bad.code, 3, describe(bad));
      const line = [dockerCli(), '-H', dk.host, 'exec', '-t', name, '/bin/testinit', 'tty'].map((a) => `'${a}'`).join(' ');
      const t = await runInPty(line, { timeoutMs: 90_000 });
      assert.match(t.stdout, /stdin=1 stdout=1 stderr=1 ttyname=\/dev\/pts\/\d+/, `${describe(t)}\n${formatCalls(callsSince(mark))}`);
    } finally {
      await rmf(name);
    }
  });

  test('docker pause / unpause', async () => {
    const name = newName('pause');
    try {
      await detached(name);
      const mark = readCalls().length;
      expectOk(await dk.docker(['pause', name]), mark, 'docker pause');
      assert.is(await inspect(name, '{{.State.Status}}'), 'paused');
      expectOk(await dk.docker(['unpause', name]), mark, 'docker unpause');
      assert.is(await inspect(name, '{{.State.Status}}'), 'running');
    } finally {
      await rmf(name);
    }
  });

  test('docker kill -s, docker stop (TERM, then KILL after the timeout)', async () => {
    const sig = newName('kill');
    const stubborn = newName('stop');
    try {
      await detached(sig, ['/bin/testinit', 'signals']);
      await until('the handler to be ready', async () => ((await dk.docker(['logs', sig])).stdout.includes('ready') ? true : undefined));
      let mark = readCalls().length;
      expectOk(await dk.docker(['kill', '-s', 'USR1', sig]), mark, 'docker kill -s USR1');
      const w = await dk.docker(['wait', sig]);
      assert.is(w.stdout.trim(), '110', describe(w));

      await detached(stubborn);
      mark = readCalls().length;
      const started = Date.now();
      expectOk(await dk.docker(['stop', '-t', '2', stubborn]), mark, 'docker stop -t 2');
      const took = Date.now() - started;
      assert.ok(took >= 1900 && took < 20_000, `took ${took} ms`);
      assert.is(await inspect(stubborn, '{{.State.ExitCode}}'), '137');
      assert.equal(callsSince(mark).filter((c) => verbOf(c.args) === 'kill').map((c) => c.args[c.args.length - 1]), ['15', '9']);
    } finally {
      await rmf(sig);
      await rmf(stubborn);
    }
  });

  test('docker top, docker stats, docker update', async () => {
    const name = newName('top');
    try {
      await detached(name, undefined, ['--memory', '64m']);
      const mark = readCalls().length;
      const top = await dk.docker(['top', name]);
      expectOk(top, mark, 'docker top');
      assert.match(top.stdout, /\/bin\/testinit sleep forever/);
      const stats = await dk.docker(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}} {{.PIDs}}', name]);
      expectOk(stats, mark, 'docker stats');
      assert.match(stats.stdout, new RegExp(`^${name} \\S+ / 64MiB 1$`, 'm'), stats.stdout);
      const up = await dk.docker(['update', '--memory', '128m', '--memory-swap', '256m', name]);
      expectOk(up, mark, 'docker update');
      const limit = await dk.docker(['exec', name, '/bin/testinit', 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes']);
      assert.is(limit.stdout.trim(), String(128 << 20), describe(limit));
    } finally {
      await rmf(name);
    }
  });

  test('docker logs: stdout and stderr, nothing from the runtime', async () => {
    const name = newName('logs');
    try {
      const mark = readCalls().length;
      const r = await drun(['-d', '--name', name], ['/bin/sh', '-c', 'echo to-stdout; echo to-stderr >&2; sleep 0.5']);
      expectOk(r, mark, 'docker run -d');
      await dk.docker(['wait', name]);
      const logs = await dk.docker(['logs', name]);
      assert.is(logs.stdout, 'to-stdout\n');
      assert.is(logs.stderr, 'to-stderr\n');
    } finally {
      await rmf(name);
    }
  });

  test('docker run --memory: an OOM-killed container is reported (OOMKilled, 137)', async () => {
    const name = newName('oom');
    try {
      const r = await drun(['--name', name, '--memory', '32m', '--memory-swap', '32m'], ['/bin/sh', '-c', 'sleep 1; exec /bin/testinit hog 256']);
      assert.is(r.code, 137, describe(r));
      assert.is(await inspect(name, '{{.State.OOMKilled}} {{.State.ExitCode}}'), 'true 137');
    } finally {
      await rmf(name);
    }
  });

  test('docker run with docker\'s own default profile: clone3 answers ENOSYS (its rule), the newer calls it allows work, glibc runs threads and spawns', async () => {
    assert.is(await output([], ['/bin/testinit', 'glibc']), 'clone3=ENOSYS\nopenat2=ok\nfaccessat2=ok\nclose_range=ok\nthread=ok\nspawn=ok\nfaccessat=ok\nclosefrom=ok\n');
  });

  test('docker rm -f: every trace removed', async () => {
    const name = newName('rmf');
    const mark = readCalls().length;
    const pid = await detached(name);
    const id = await inspect(name, '{{.Id}}');
    expectOk(await rmf(name), mark, 'docker rm -f');
    await until('the process to be gone', () => (alive(pid) ? undefined : true), 5000);
    assert.not.ok(fs.existsSync(path.join(dk.runtimeRoot, id)), 'capsa state removed');
    assert.equal(cgroupsContaining(id), [], 'cgroup removed');
  });

  test('a failing create shows capsa\'s one-line error', async () => {
    const r = await drun(['--rm'], ['/no/such/binary']);
    assert.is.not(r.code, 0);
    const msg = r.stderr.trim();
    assert.match(msg, /\/no\/such\/binary/, msg);
    assert.not.match(msg, /\n\s+at /, `no stack trace: ${msg}`);
    const ref = await dk.docker(runArgs(['--rm'], ['/no/such/binary'], 'host', 'runc'));
    process.stdout.write(`\n    capsa: ${msg}\n    runc:  ${ref.stderr.trim()}\n`);
  });

  test('docker run --security-opt seccomp=<Docker 19.03\'s default profile> (an old allow-list: no openat2, clone3, faccessat2, close_range; noNewPrivileges false, docker\'s default): the container runs, exec works, and glibc falls back (issue 19 items 1, 2)', async () => {
    const name = newName('oldprofile');
    try {
      const mark = readCalls().length;
      await detached(name, ['/bin/testinit', 'sleep', 'forever'], ['--security-opt', `seccomp=${path.join(PROFILE_DIR, 'docker-19.03.json')}`]);
      const create = callsSince(mark).find((c) => c.runtime === 'capsa' && verbOf(c.args) === 'create');
      assert.ok(create, formatCalls(callsSince(mark)));
      const config = JSON.parse(fs.readFileSync(path.join(create!.args[create!.args.indexOf('--bundle') + 1]!, 'config.json'), 'utf8')) as {
        process: { noNewPrivileges?: boolean }; linux: { seccomp: { defaultAction: string; syscalls: { names: string[] }[] } };
      };
      assert.not.ok(config.process.noNewPrivileges, 'docker leaves noNewPrivileges off');
      assert.is(config.linux.seccomp.defaultAction, 'SCMP_ACT_ERRNO');
      const named = new Set(config.linux.seccomp.syscalls.flatMap((r) => r.names));
      for (const n of ['openat2', 'clone3', 'faccessat2', 'close_range']) assert.not.ok(named.has(n), `${n} is not in the profile docker sent`);
      const glibc = 'clone3=ENOSYS\nopenat2=ENOSYS\nfaccessat2=ENOSYS\nclose_range=ENOSYS\nthread=ok\nspawn=ok\nfaccessat=ok\nclosefrom=ok\n';
      for (const user of [[], ['-u', '1000:1000', '-w', '/tmp']]) {
        const r = await dk.docker(['exec', ...user, name, '/bin/testinit', 'glibc']);
        expectOk(r, mark, `docker exec ${user.join(' ')} under the old profile`);
        assert.is(r.stdout, glibc, `${user.join(' ') || 'root'}: ${describe(r)}`);
      }
      const out = await output(['--security-opt', `seccomp=${path.join(PROFILE_DIR, 'docker-19.03.json')}`, '-u', '1000:1000', '-w', '/tmp'], ['/bin/testinit', 'glibc']);
      assert.is(out, glibc, 'docker run as a user, the process itself under the filter');
    } finally {
      await rmf(name);
    }
  });

  test('docker run --rm: short-lived containers start reliably (5 runs)', async () => {
    const failures: string[] = [];
    for (let i = 0; i < 5; i++) {
      const mark = readCalls().length;
      const r = await drun(['--rm'], ['/bin/testinit', 'true']);
      if (r.code !== 0) failures.push(`run ${i}: ${r.stderr.trim()}\n${failedCapsaCalls(mark)}`);
    }
    assert.is(failures.length, 0, `${failures.length}/5 runs failed:\n${failures.join('\n')}`);
  });
});
