// `capsa exec` into real containers, as root. Every assertion is about what
// the kernel did to the exec'd process (its namespaces, cgroup, credentials,
// capabilities, seccomp mode — read from /proc on the host or by testinit
// inside) or about runc's observable contract (exit codes, error wording).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Spec } from '../../src/spec/types';
import { makeBundle, type TestBundle } from '../helpers/bundle';
import { CAPSA_BIN, capsaSuite, capsaToFilesIn, oneLine } from '../helpers/capsa';
import { alive, cgroupProcs } from '../helpers/proc';
import { makeTestRootfs, removeTestDir, tempDir } from '../helpers/rootfs';
import { until, waitReaped } from '../helpers/wait';
import { V2 } from '../helpers/cgroupfs';

const { test, root, capsa, capsaOk } = capsaSuite('exec');
const capsaToFiles = capsaToFilesIn(root);

// ---- local helpers ----

interface Running {
  id: string;
  bundle: TestBundle;
  /** Host pid of the container's init. */
  pid: number;
  /** A scratch dir for this test, removed afterwards. */
  dir: string;
}

/**
 * A running container (entrypoint `testinit sleep forever` unless the config
 * changes it), removed with everything it made when fn returns or throws.
 */
async function withRunning(config: ((s: Spec) => void) | undefined, fn: (c: Running) => Promise<void>, opts: { mayStop?: boolean } = {}): Promise<void> {
  const bundle = makeBundle({
    config: (s) => {
      s.process!.args = ['/bin/testinit', 'sleep', 'forever'];
      config?.(s);
    },
  });
  const dir = tempDir('exec');
  try {
    const r = await capsaToFiles(['run', '-d', '--bundle', bundle.dir, bundle.id], dir);
    assert.is(r.code, 0, `run -d: ${r.stderr}`);
    const st = JSON.parse((await capsaOk(['state', bundle.id])).stdout) as { pid: number; status: string };
    // An entrypoint that exits at once may already be stopped.
    assert.ok(st.status === 'running' || (st.status === 'stopped' && opts.mayStop), `status ${st.status}`);
    await fn({ id: bundle.id, bundle, pid: st.pid, dir });
  } finally {
    await capsa(['delete', '--force', bundle.id]);
    bundle.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
    await waitReaped(bundle.id);
  }
}

const NS = ['mnt', 'uts', 'ipc', 'net', 'pid', 'cgroup', 'user', 'time'];

const capMask = (status: string, set: string) => BigInt('0x' + new RegExp(`^Cap${set}:\\s+([0-9a-f]+)$`, 'm').exec(status)![1]);
const CAP = { KILL: 5n, NET_BIND_SERVICE: 10n, NET_RAW: 13n, SYS_ADMIN: 21n, AUDIT_WRITE: 29n };
const bit = (n: bigint) => 1n << n;

// ---- what an exec'd process sees ----

test('exec sees the container: hostname, its pid namespace (pid != 1, PID 1 is the entrypoint), mounts, namespaces, cgroup', async () => {
  await withRunning((s) => {
    s.hostname = 'capsa-exec-host';
    s.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
  }, async (c) => {
    assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'hostname'])).stdout, 'capsa-exec-host\n');

    const pid = Number((await capsaOk(['exec', c.id, '/bin/testinit', 'pid'])).stdout.trim());
    assert.ok(pid > 1, `exec'd pid inside the container is ${pid}`);
    assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'cat', '/proc/1/cmdline'])).stdout, '/bin/testinit\0sleep\0forever\0');

    // The same mount table as the init, read by the kernel for each process.
    const mounts = (await capsaOk(['exec', c.id, '/bin/testinit', 'mounts'])).stdout;
    assert.is(mounts, fs.readFileSync(`/proc/${c.pid}/mountinfo`, 'utf8'));
    assert.match(mounts, / \/scratch .* - tmpfs /);

    for (const ns of NS) {
      if (!fs.existsSync(`/proc/self/ns/${ns}`)) continue;
      const inside = (await capsaOk(['exec', c.id, '/bin/testinit', 'readlink', `/proc/self/ns/${ns}`])).stdout.trim();
      assert.is(inside, fs.readlinkSync(`/proc/${c.pid}/ns/${ns}`), `${ns} namespace of the exec'd process`);
    }
    assert.is.not(fs.readlinkSync(`/proc/${c.pid}/ns/pid`), fs.readlinkSync('/proc/self/ns/pid'), 'the container has its own pid namespace');

    // The same cgroups as the init (no cgroup namespace: paths are the host's).
    const cg = (await capsaOk(['exec', c.id, '/bin/testinit', 'cgroup'])).stdout;
    assert.is(cg, fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8'));
    assert.match(cg, new RegExp(c.id));
    // Nothing is left in the container once the exec'd processes exited.
    assert.equal(cgroupProcs(c.pid), [c.pid]);
  });
});

test('exec -u 1000:1000 runs as that user (ids, and the kernel denies it root\'s 0700 dir); -g adds groups', async () => {
  await withRunning(undefined, async (c) => {
    assert.is((await capsaOk(['exec', '-u', '1000:1000', c.id, '/bin/testinit', 'id'])).stdout, 'uid=1000 gid=1000 euid=1000 egid=1000 groups=\n');
    assert.is((await capsaOk(['exec', '-u', '1000:1000', c.id, '/bin/testinit', 'open', '/root', 'r'])).stdout, 'EACCES\n');
    assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'open', '/root', 'r'])).stdout, 'ok\n');
    assert.is((await capsaOk(['exec', '-u', '1000:1000', '-g', '2000', '-g', '2001', c.id, '/bin/testinit', 'id'])).stdout, 'uid=1000 gid=1000 euid=1000 egid=1000 groups=2000,2001\n');
    assert.is((await capsaOk(['exec', '-u', '1000', c.id, '/bin/testinit', 'id'])).stdout, 'uid=1000 gid=0 euid=1000 egid=0 groups=\n');
  });
});

test('exec --process with reduced capabilities: the kernel reports exactly those; the init keeps its own', async () => {
  await withRunning(undefined, async (c) => {
    const procFile = path.join(c.dir, 'process.json');
    fs.writeFileSync(procFile, JSON.stringify({
      args: ['/bin/testinit', 'caps'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'],
      capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] },
    }));
    const caps = (await capsaOk(['exec', '--process', procFile, c.id])).stdout;
    for (const set of ['Bnd', 'Eff', 'Prm']) assert.is(capMask(caps, set), bit(CAP.KILL), `Cap${set}`);
    assert.is(capMask(caps, 'Inh'), 0n);
    assert.is(capMask(caps, 'Amb'), 0n);

    const initCaps = fs.readFileSync(`/proc/${c.pid}/status`, 'utf8');
    assert.is(capMask(initCaps, 'Bnd'), bit(CAP.KILL) | bit(CAP.NET_BIND_SERVICE) | bit(CAP.AUDIT_WRITE));

    // The container's set by default, and --cap adds one the kernel then honours.
    const dflt = (await capsaOk(['exec', c.id, '/bin/testinit', 'caps'])).stdout;
    assert.is(capMask(dflt, 'Eff'), capMask(initCaps, 'Eff'));
    assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'syscall', 'sethostname'])).stdout, 'EPERM\n');
    const added = (await capsaOk(['exec', '--cap', 'CAP_SYS_ADMIN', c.id, '/bin/testinit', 'caps'])).stdout;
    assert.ok((capMask(added, 'Eff') & bit(CAP.SYS_ADMIN)) !== 0n, 'CAP_SYS_ADMIN effective after --cap');
    assert.is((await capsaOk(['exec', '--cap', 'CAP_SYS_ADMIN', c.id, '/bin/testinit', 'syscall', 'sethostname'])).stdout, 'ok\n');
  });
});

test('exec -e sets and overrides env; --cwd is a directory of the container\'s rootfs', async () => {
  await withRunning(undefined, async (c) => {
    const env = (await capsaOk(['exec', '-e', 'FOO=bar', '-e', 'PATH=/custom/bin', c.id, '/bin/testinit', 'env'])).stdout.split('\n');
    assert.ok(env.includes('FOO=bar'), env.join(' '));
    assert.ok(env.includes('PATH=/custom/bin'), env.join(' '));
    assert.is(env.filter((e) => e.startsWith('PATH=')).length, 1);
    // Without flags: the container's process env.
    const plain = (await capsaOk(['exec', c.id, '/bin/testinit', 'env'])).stdout.split('\n');
    assert.ok(plain.some((e) => e.startsWith('PATH=/usr/local/sbin')), plain.join(' '));
    assert.not.ok(plain.includes('FOO=bar'));

    assert.is((await capsaOk(['exec', '--cwd', '/etc', c.id, '/bin/testinit', 'cwd'])).stdout, '/etc\n');
    // Listing "." there shows the rootfs's /etc, not the host's.
    assert.is((await capsaOk(['exec', '--cwd', '/etc', c.id, '/bin/testinit', 'ls', '.'])).stdout, 'group\npasswd\n');

    const bad = await capsa(['exec', '--cwd', '/nonexistent-dir', c.id, '/bin/testinit', 'true']);
    assert.is.not(bad.code, 0);
    assert.match(oneLine(bad.stderr), /nonexistent-dir/);
    assert.equal(cgroupProcs(c.pid), [c.pid]);
  });
});

test('exec passes stdin/stdout/stderr and exits with the process\'s status (7, 128+15, 128+9)', async () => {
  await withRunning(undefined, async (c) => {
    assert.is((await capsa(['exec', c.id, '/bin/testinit', 'stdin'], { input: 'hello\nworld\n' })).stdout, 'hello\nworld\n');
    const err = await capsa(['exec', c.id, '/bin/testinit', 'cat', '/nonexistent']);
    assert.is(err.code, 1);
    assert.match(err.stderr, /testinit: cat: \/nonexistent: ENOENT/);
    assert.is((await capsa(['exec', c.id, '/bin/testinit', 'exit', '7'])).code, 7);
    assert.is((await capsa(['exec', c.id, '/bin/testinit', 'exit', '0'])).code, 0);
    assert.is((await capsa(['exec', c.id, '/bin/testinit', 'kill-self', 'TERM'])).code, 128 + 15);
    assert.is((await capsa(['exec', c.id, '/bin/testinit', 'kill-self', 'KILL'])).code, 128 + 9);
    // The container is unaffected.
    assert.ok(alive(c.pid));
  });
});

test('foreground exec forwards signals to the exec\'d process', async () => {
  await withRunning(undefined, async (c) => {
    const child = spawn(CAPSA_BIN, ['--root', root, 'exec', c.id, '/bin/testinit', 'signals'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until('"ready" from the exec\'d process', () => (out.includes('ready\n') ? true : undefined), 10_000);
      child.kill('SIGUSR1');
      assert.is(await exited, 100 + 10);
      assert.match(out, /got SIGUSR1/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

test('exec of a command that does not exist: one-line error naming it, exit 255 (runc), nothing left in the container', async () => {
  await withRunning(undefined, async (c) => {
    const r = await capsa(['exec', c.id, '/bin/no-such-command']);
    assert.is(r.code, 255);
    assert.match(oneLine(r.stderr), /no-such-command/);
    assert.equal(cgroupProcs(c.pid), [c.pid]);
  });
});

test('exec into a container that does not exist: exit 255 as runc, "container does not exist"; a missing id is a usage error (1)', async () => {
  const r = await capsa(['exec', 'capsa-test-nonexistent', '/bin/testinit', 'true']);
  assert.is(r.code, 255);
  assert.is((await capsa(['exec'])).code, 1);
  assert.match(oneLine(r.stderr), /container does not exist/);
});

test('exec gets the container\'s rlimits, and no fd of capsa\'s leaks into it', async () => {
  await withRunning((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 1021, soft: 1021 }, { type: 'RLIMIT_CORE', hard: 0, soft: 0 }]; }, async (c) => {
    assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'rlimit', 'NOFILE'])).stdout, '1021 1021\n');
    assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'rlimit', 'CORE'])).stdout, '0 0\n');
    const fds = (await capsaOk(['exec', c.id, '/bin/testinit', 'fds'])).stdout.trim().split('\n').map((l) => Number(l.split(' ')[0]));
    assert.equal(fds.sort(), [0, 1, 2], 'only stdio');
  });
});

test('exec --preserve-fds 1 passes fd 3 (and only with the flag)', async () => {
  await withRunning(undefined, async (c) => {
    const file = path.join(c.dir, 'passed-fd');
    fs.writeFileSync(file, 'through fd 3\n');
    const withFd3 = async (args: string[]) => {
      const fd = fs.openSync(file, 'r');
      try {
        const child = spawn(CAPSA_BIN, ['--root', root, ...args], { stdio: ['ignore', 'pipe', 'pipe', fd] });
        let out = '';
        let err = '';
        child.stdout!.on('data', (d) => { out += d; });
        child.stderr!.on('data', (d) => { err += d; });
        const code = await new Promise<number | null>((resolve) => child.on('close', (cd) => resolve(cd)));
        return { code, out, err };
      } finally {
        fs.closeSync(fd);
      }
    };
    const passed = await withFd3(['exec', '--preserve-fds', '1', c.id, '/bin/testinit', 'cat', '/proc/self/fd/3']);
    assert.is(passed.code, 0, passed.err);
    assert.is(passed.out, 'through fd 3\n');
    const closed = await withFd3(['exec', c.id, '/bin/testinit', 'fds']);
    assert.is(closed.code, 0, closed.err);
    assert.equal(closed.out.trim().split('\n').map((l) => Number(l.split(' ')[0])).sort(), [0, 1, 2]);
  });
});

test('exec into a container with a user namespace joins it: root inside, the mapped uid on the host', async () => {
  const HOST_ID = 100000;
  const rootfs = tempDir('exec-userns-rootfs');
  fs.chmodSync(rootfs, 0o755); // mkdtemp makes it 0700: uid 1000 inside could not chdir to /
  makeTestRootfs(rootfs);
  spawnSync('chown', ['-R', `${HOST_ID}:${HOST_ID}`, rootfs]);
  try {
    await withRunning((s) => {
      s.root!.path = rootfs;
      s.linux!.namespaces = [...s.linux!.namespaces!, { type: 'user' }];
      s.linux!.uidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
    }, async (c) => {
      assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'id'])).stdout, 'uid=0 gid=0 euid=0 egid=0 groups=\n');
      assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'readlink', '/proc/self/ns/user'])).stdout.trim(), fs.readlinkSync(`/proc/${c.pid}/ns/user`));
      const pidFile = path.join(c.dir, 'exec.pid');
      const r = await capsaToFiles(['exec', '-d', '-u', '1000:1000', '--pid-file', pidFile, c.id, '/bin/testinit', 'sleep', 'forever'], c.dir);
      assert.is(r.code, 0, r.stderr);
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      assert.match(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${HOST_ID + 1000}\\s+${HOST_ID + 1000}\\s`, 'm'));
      assert.is(fs.readlinkSync(`/proc/${pid}/ns/user`), fs.readlinkSync(`/proc/${c.pid}/ns/user`));
    });
  } finally {
    removeTestDir(rootfs);
  }
});

test('exec --cgroup puts the process in a sub-cgroup of the container\'s (runc: "controller:path" on v1, "path" on v2)', async () => {
  await withRunning(undefined, async (c) => {
    const lines = fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8').trim().split('\n');
    const v1 = lines.find((l) => /^\d+:pids:/.test(l));
    const base = v1 ? v1.split(':').slice(2).join(':') : lines.find((l) => l.startsWith('0::'))!.slice(3);
    const subDir = path.join(v1 ? '/sys/fs/cgroup/pids' : '/sys/fs/cgroup', base, 'capsa-sub');
    fs.mkdirSync(subDir);
    let pid = 0;
    try {
      const pidFile = path.join(c.dir, 'exec.pid');
      const r = await capsaToFiles(['exec', '-d', '--pid-file', pidFile, '--cgroup', v1 ? 'pids:capsa-sub' : 'capsa-sub', c.id, '/bin/testinit', 'sleep', 'forever'], c.dir);
      assert.is(r.code, 0, r.stderr);
      pid = Number(fs.readFileSync(pidFile, 'utf8'));
      const mine = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      assert.match(mine, new RegExp(`^\\d+:${v1 ? 'pids' : ''}:${base}/capsa-sub$`, 'm'), mine);
      if (v1) assert.match(mine, new RegExp(`^\\d+:memory:${base}$`, 'm'), 'other controllers stay at the container\'s cgroup');
    } finally {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
      await until('the sub-cgroup to empty', () => (fs.readFileSync(path.join(subDir, 'cgroup.procs'), 'utf8').trim() === '' ? true : undefined));
      fs.rmdirSync(subDir);
    }
  });
});

// ---- detached exec ----

test('exec -d --pid-file returns while the process runs; the pid is a host pid in the container\'s cgroup and namespaces', async () => {
  await withRunning(undefined, async (c) => {
    const pidFile = path.join(c.dir, 'exec.pid');
    const r = await capsaToFiles(['exec', '-d', '--pid-file', pidFile, c.id, '/bin/testinit', 'sleep', 'forever'], c.dir);
    assert.is(r.code, 0, r.stderr);
    const text = fs.readFileSync(pidFile, 'utf8');
    assert.match(text, /^\d+$/, 'pid file holds just the pid (runc writes no newline)');
    const pid = Number(text);
    assert.ok(alive(pid), `exec'd process ${pid} is running on the host`);
    assert.is(fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1'), '/bin/testinit\0sleep\0forever\0');
    assert.is(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8'));
    assert.ok(cgroupProcs(c.pid).includes(pid), 'listed in the container cgroup\'s cgroup.procs');
    for (const ns of ['mnt', 'pid', 'net', 'uts', 'ipc']) assert.is(fs.readlinkSync(`/proc/${pid}/ns/${ns}`), fs.readlinkSync(`/proc/${c.pid}/ns/${ns}`), ns);
    // Its pid inside the container's pid namespace is not 1.
    const nspid = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!.trim().split(/\s+/).map(Number);
    assert.is(nspid.length, 2);
    assert.is(nspid[0], pid);
    assert.ok(nspid[1]! > 1);
    process.kill(pid, 'SIGKILL');
    await until(`exec'd process ${pid} to die`, () => (alive(pid) ? undefined : true));
  });
});

for (const [label, pidNs] of [['with its own pid namespace', true], ['sharing the host pid namespace', false]] as const) {
  test(`delete --force kills exec'd processes (${label}) and their children`, async () => {
    await withRunning((s) => {
      if (!pidNs) s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid');
    }, async (c) => {
      const pidFile = path.join(c.dir, 'exec.pid');
      assert.is((await capsaToFiles(['exec', '-d', '--pid-file', pidFile, c.id, '/bin/testinit', 'sleep', 'forever'], c.dir)).code, 0);
      assert.is((await capsaToFiles(['exec', '-d', c.id, '/bin/testinit', 'fork-sleep', '1000'], c.dir)).code, 0);
      const execPid = Number(fs.readFileSync(pidFile, 'utf8'));
      const procs = await until('4 processes in the container cgroup', () => {
        const p = cgroupProcs(c.pid);
        return p.length === 4 ? p : undefined;
      });
      assert.ok(procs.includes(execPid));
      const r = await capsa(['delete', '--force', c.id]);
      assert.is(r.code, 0, r.stderr);
      for (const p of procs) assert.not.ok(alive(p), `process ${p} (${fs.existsSync(`/proc/${p}/cmdline`) ? fs.readFileSync(`/proc/${p}/cmdline`, 'latin1') : '?'}) survived delete --force`);
      assert.is((await capsa(['state', c.id])).code, 1);
    });
  });
}

// ---- states exec refuses ----

test('exec into a created container runs in its namespaces and cgroup (as runc), and leaves it created: start still works', async () => {
  const b = makeBundle({ config: (s) => { s.process!.args = ['/bin/testinit', 'sleep', 'forever']; } });
  const dir = tempDir('exec');
  try {
    assert.is((await capsaToFiles(['create', '--bundle', b.dir, b.id], dir)).code, 0);
    const init = (JSON.parse((await capsaOk(['state', b.id])).stdout) as { pid: number }).pid;
    for (const ns of ['pid', 'mnt', 'net']) {
      const r = await capsa(['exec', b.id, '/bin/testinit', 'readlink', `/proc/self/ns/${ns}`]);
      assert.is(r.code, 0, r.stderr);
      assert.is(r.stdout.trim(), fs.readlinkSync(`/proc/${init}/ns/${ns}`), `${ns} namespace of the exec'd process`);
    }
    // /proc/1 inside is the init: the exec'd process is in the same cgroups.
    const [own, ofInit] = await Promise.all(['self', '1'].map((p) => capsaOk(['exec', b.id, '/bin/testinit', 'cat', `/proc/${p}/cgroup`])));
    assert.is(own!.stdout, ofInit!.stdout);
    assert.match(own!.stdout, V2 ? /^0::\/\S+$/m : /:pids:/);
    const st = JSON.parse((await capsaOk(['state', b.id])).stdout) as { status: string; pid: number };
    assert.is(st.status, 'created');
    assert.equal(cgroupProcs(st.pid), [st.pid], 'the exec\'d processes are gone; only the init is left');
    await capsaOk(['start', b.id]);
    assert.is(JSON.parse((await capsaOk(['state', b.id])).stdout).status, 'running');
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
    await waitReaped(b.id);
  }
});

test('exec into a stopped container: exit 255 (runc), "cannot exec in a stopped container"', async () => {
  await withRunning((s) => { s.process!.args = ['/bin/testinit', 'true']; }, async (c) => {
    await until('the container to stop', async () => (JSON.parse((await capsaOk(['state', c.id])).stdout).status === 'stopped' ? true : undefined));
    const r = await capsa(['exec', c.id, '/bin/testinit', 'true']);
    assert.is(r.code, 255);
    assert.match(oneLine(r.stderr), /cannot exec in a stopped container/);
  }, { mayStop: true });
});

test('exec into a paused container: exit 255 with runc\'s words; after resume exec works', async () => {
  await withRunning(undefined, async (c) => {
    await capsaOk(['pause', c.id]);
    try {
      assert.is(JSON.parse((await capsaOk(['state', c.id])).stdout).status, 'paused');
      const r = await capsa(['exec', c.id, '/bin/testinit', 'true']);
      assert.is(r.code, 255);
      assert.match(oneLine(r.stderr), /cannot exec in a paused container \(use --ignore-paused to override\)/);
      assert.equal(cgroupProcs(c.pid), [c.pid]);
    } finally {
      await capsa(['resume', c.id]);
    }
    assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'echo', 'resumed'])).stdout, 'resumed\n');
  });
});

// ---- bad input ----

test('a malformed --process file: one-line error, exit 255 as every runc exec failure, nothing joined the container', async () => {
  await withRunning(undefined, async (c) => {
    const cases: [string, string, RegExp][] = [
      ['truncated JSON', '{"args": ["/bin/testinit", ', /process file .*invalid JSON/],
      ['not an object', '[1, 2, 3]', /process/],
      ['args not an array', JSON.stringify({ args: '/bin/testinit true', cwd: '/', user: { uid: 0, gid: 0 } }), /args/],
      ['no cwd', JSON.stringify({ args: ['/bin/testinit', 'true'], user: { uid: 0, gid: 0 } }), /cwd/],
      ['relative cwd', JSON.stringify({ args: ['/bin/testinit', 'true'], cwd: 'tmp', user: { uid: 0, gid: 0 } }), /cwd/],
    ];
    for (const [label, text, re] of cases) {
      const file = path.join(c.dir, 'process.json');
      fs.writeFileSync(file, text);
      const r = await capsa(['exec', '--process', file, c.id]);
      assert.is(r.code, 255, `${label}: exit ${r.code} ${r.stderr}`);
      assert.match(oneLine(r.stderr), re, label);
      assert.equal(cgroupProcs(c.pid), [c.pid], label);
    }
    const missing = await capsa(['exec', '--process', path.join(c.dir, 'nope.json'), c.id]);
    assert.is(missing.code, 255);
    assert.match(oneLine(missing.stderr), /nope\.json.*no such file or directory/);
    assert.ok(alive(c.pid));
  });
});

// ---- seccomp and no_new_privs ----

// testinit syscall mkdir makes (and removes) /tmp/testinit-syscall: /tmp is
// a tmpfs so the read-only rootfs does not answer before seccomp does.
const TMPFS_TMP = (s: Spec) => { s.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }); };

const DENY_MKDIR = (s: Spec) => {
  TMPFS_TMP(s);
  s.linux!.seccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64'],
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
};

test('the container\'s seccomp filter applies to exec (mkdir → EPERM), also with --no-new-privs and with CAP_SYS_ADMIN', async () => {
  await withRunning(DENY_MKDIR, async (c) => {
    assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'syscall', 'mkdir'])).stdout, 'EPERM\n');
    assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'syscall', 'getpid'])).stdout, 'ok\n');
    assert.match((await capsaOk(['exec', c.id, '/bin/testinit', 'seccomp'])).stdout, /^Seccomp:\s+2$/m);
    // The filter is loaded at a different point when the process keeps
    // CAP_SYS_ADMIN or sets no_new_privs: both must still filter.
    assert.is((await capsaOk(['exec', '--no-new-privs', c.id, '/bin/testinit', 'syscall', 'mkdir'])).stdout, 'EPERM\n');
    assert.is((await capsaOk(['exec', '--cap', 'CAP_SYS_ADMIN', c.id, '/bin/testinit', 'syscall', 'mkdir'])).stdout, 'EPERM\n');
    assert.is((await capsaOk(['exec', '-u', '1000:1000', c.id, '/bin/testinit', 'syscall', 'mkdir'])).stdout, 'EPERM\n');
  });
  // Without a filter the same call succeeds.
  await withRunning(TMPFS_TMP, async (c) => {
    assert.is((await capsaOk(['exec', c.id, '/bin/testinit', 'syscall', 'mkdir'])).stdout, 'ok\n');
    assert.match((await capsaOk(['exec', c.id, '/bin/testinit', 'seccomp'])).stdout, /^Seccomp:\s+0$/m);
  });
});

test('exec --no-new-privs sets no_new_privs; without it the process has the container\'s setting', async () => {
  await withRunning((s) => { s.process!.noNewPrivileges = false; }, async (c) => {
    assert.match((await capsaOk(['exec', '--no-new-privs', c.id, '/bin/testinit', 'nnp'])).stdout, /^NoNewPrivs:\s+1$/m);
    assert.match((await capsaOk(['exec', c.id, '/bin/testinit', 'nnp'])).stdout, /^NoNewPrivs:\s+0$/m);
  });
  await withRunning((s) => { s.process!.noNewPrivileges = true; }, async (c) => {
    assert.match((await capsaOk(['exec', c.id, '/bin/testinit', 'nnp'])).stdout, /^NoNewPrivs:\s+1$/m);
  });
});

test.run();
