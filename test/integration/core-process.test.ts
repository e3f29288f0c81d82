// config.process and the process-level parts of config.linux, as root with
// real containers: args and PATH lookup, env, cwd, user and groups, umask,
// rlimits, oomScoreAdj, noNewPrivileges, capabilities, sysctl, maskedPaths,
// readonlyPaths, annotations. Each is checked by what testinit reports.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { makeBundle } from '../helpers/bundle';
import { CAPSA_BIN, capsaSuite } from '../helpers/capsa';
import { all, cmd, type Config } from '../helpers/config';
import { snapshot } from '../helpers/leaks';
import { withRootfsCopy } from '../helpers/rootfs';
import { runnersFor } from '../helpers/run';
import { until } from '../helpers/wait';

const { test, root, capsa, capsaOk } = capsaSuite('core-process');
const { runIn, runOk } = runnersFor(capsa);

// ---- local helpers ----

const writable: Config = (s) => { s.root!.readonly = false; };

// ---- args ----

test('args: a bare name is looked up in the container\'s PATH', async () => {
  assert.is(await runOk((s) => { s.process!.args = ['testinit', 'echo', 'found']; s.process!.env = ['PATH=/nonexistent:/bin']; }), 'found\n');
});

test('args: PATH lookup uses the container\'s filesystem, in PATH order', async () => {
  await withRootfsCopy(async (rootfs) => {
    const config: Config = (s) => { s.process!.args = ['tool', 'echo', 'from tools']; s.process!.env = ['PATH=/opt/empty:/opt/tools:/bin'];  };
    assert.is(await runOk(config, { rootfs }), 'from tools\n');
  }, (r) => {
    fs.mkdirSync(path.join(r, 'opt/tools'), { recursive: true });
    fs.mkdirSync(path.join(r, 'opt/empty'), { recursive: true });
    fs.copyFileSync(path.join(r, 'bin/testinit'), path.join(r, 'opt/tools/tool'));
    fs.chmodSync(path.join(r, 'opt/tools/tool'), 0o755);
  });
});

test('args: without PATH in env the default PATH is searched', async () => {
  assert.is(await runOk((s) => { s.process!.args = ['testinit', 'echo', 'default path']; s.process!.env = ['TERM=xterm']; }), 'default path\n');
});

test('args: a relative path with a slash is taken from the cwd', async () => {
  assert.is(await runOk((s) => { s.process!.args = ['bin/testinit', 'echo', 'relative']; s.process!.cwd = '/'; }), 'relative\n');
});

test('args: every argument arrives unchanged (spaces, quotes, empty, unicode)', async () => {
  const argv = ['a b', '"q"', '', 'ünï', '$HOME', '--flag=x'];
  assert.is(await runOk(cmd('echo', ...argv)), `${argv.join(' ')}\n`);
});

// ---- env ----

test('env: exactly the configured variables, plus HOME from the rootfs passwd', async () => {
  const out = await runOk(all((s) => { s.process!.env = ['PATH=/bin', 'FOO=bar', 'EMPTY=', 'WITH_EQ=a=b']; }, cmd('env')));
  assert.equal(out.trim().split('\n').sort(), ['EMPTY=', 'FOO=bar', 'HOME=/root', 'PATH=/bin', 'WITH_EQ=a=b']);
});

test('env: HOME follows the process user, and a configured HOME wins', async () => {
  const tester = await runOk(all((s) => { s.process!.user = { uid: 1000, gid: 1000 }; s.process!.env = ['PATH=/bin']; }, cmd('env')));
  assert.ok(tester.split('\n').includes('HOME=/home/tester'), tester);
  const given = await runOk(all((s) => { s.process!.env = ['PATH=/bin', 'HOME=/custom']; }, cmd('env')));
  assert.equal(given.trim().split('\n').sort(), ['HOME=/custom', 'PATH=/bin']);
});

test('env: nothing leaks in from capsa\'s own environment', async () => {
  const b = makeBundle({ config: all((s) => { s.process!.env = ['PATH=/bin']; }, cmd('env')) });
  try {
    const r = await capsa(['run', '-b', b.dir, b.id], { env: { ...process.env, CAPSA_TEST_SECRET: 'leaked' } });
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stdout, 'CAPSA_TEST_SECRET');
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
});

// ---- cwd ----

test('cwd: the process starts in process.cwd', async () => {
  assert.is(await runOk(all((s) => { s.process!.cwd = '/home/tester'; }, cmd('cwd'))), '/home/tester\n');
});

test('cwd: a missing cwd is created (in the rootfs)', async () => {
  await withRootfsCopy(async (rootfs) => {
    assert.is(await runOk(all((s) => { s.process!.cwd = '/does/not/exist'; }, cmd('cwd')), { rootfs }), '/does/not/exist\n');
    assert.ok(fs.statSync(path.join(rootfs, 'does/not/exist')).isDirectory());
  });
});

// ---- user ----

test('user: uid, gid and additionalGids', async () => {
  assert.is(await runOk(all((s) => { s.process!.user = { uid: 1000, gid: 1000, additionalGids: [2000, 5] }; }, cmd('id'))), 'uid=1000 gid=1000 euid=1000 egid=1000 groups=5,2000\n');
});

test('user: root without additionalGids has no supplementary groups', async () => {
  assert.is(await runOk(cmd('id')), 'uid=0 gid=0 euid=0 egid=0 groups=\n');
});

test('user: a uid with no passwd entry works (HOME=/)', async () => {
  assert.is(await runOk(all((s) => { s.process!.user = { uid: 4321, gid: 8765 }; }, cmd('id'))), 'uid=4321 gid=8765 euid=4321 egid=8765 groups=\n');
  const env = await runOk(all((s) => { s.process!.user = { uid: 4321, gid: 8765 }; s.process!.env = ['PATH=/bin']; }, cmd('env')));
  assert.ok(env.split('\n').includes('HOME=/'), env);
});

test('user: a non-root process cannot read root-only files', async () => {
  assert.is(await runOk(all((s) => { s.process!.user = { uid: 1000, gid: 1000 }; }, cmd('open', '/root', 'r'))), 'EACCES\n');
});

// ---- umask ----

test('umask: default 0022, and process.user.umask', async () => {
  assert.is(await runOk(cmd('umask')), '0022\n');
  assert.is(await runOk(all((s) => { s.process!.user.umask = 0o077; }, cmd('umask'))), '0077\n');
  assert.is(await runOk(all((s) => { s.process!.user.umask = 0; }, cmd('umask'))), '0000\n');
});

// ---- rlimits ----

test('rlimits: the default spec sets NOFILE 1024/1024', async () => {
  assert.is(await runOk(cmd('rlimit', 'NOFILE')), '1024 1024\n');
});

test('rlimits: soft and hard NOFILE, and several limits at once', async () => {
  const config: Config = (s) => {
    s.process!.rlimits = [
      { type: 'RLIMIT_NOFILE', soft: 512, hard: 2048 },
      { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
      { type: 'RLIMIT_NPROC', soft: 300, hard: 400 },
    ];
  };
  assert.is(await runOk(all(config, cmd('rlimit', 'NOFILE'))), '512 2048\n');
  assert.is(await runOk(all(config, cmd('rlimit', 'CORE'))), '0 0\n');
  assert.is(await runOk(all(config, cmd('rlimit', 'NPROC'))), '300 400\n');
});

// ---- oomScoreAdj ----

test('oomScoreAdj: raised to 500', async () => {
  assert.is(await runOk(all((s) => { s.process!.oomScoreAdj = 500; }, cmd('oom'))), '500\n');
});

test('oomScoreAdj: unset keeps the inherited value', async () => {
  const mine = fs.readFileSync('/proc/self/oom_score_adj', 'utf8');
  assert.is(await runOk(cmd('oom')), mine);
});

// ---- noNewPrivileges ----

test('noNewPrivileges: true sets NoNewPrivs, false leaves it clear', async () => {
  assert.match(await runOk(all((s) => { s.process!.noNewPrivileges = true; }, cmd('nnp'))), /^NoNewPrivs:\s+1$/m);
  assert.match(await runOk(all((s) => { s.process!.noNewPrivileges = false; }, cmd('nnp'))), /^NoNewPrivs:\s+0$/m);
});

// ---- capabilities (default set) ----

test('capabilities: the default spec leaves exactly AUDIT_WRITE, KILL and NET_BIND_SERVICE', async () => {
  const out = await runOk(cmd('caps'));
  const want = ((1n << 29n) | (1n << 5n) | (1n << 10n)).toString(16).padStart(16, '0');
  for (const set of ['CapEff', 'CapPrm', 'CapBnd']) assert.match(out, new RegExp(`^${set}:\\s+${want}$`, 'm'));
  assert.match(out, /^CapInh:\s+0000000000000000$/m);
});

// ---- sysctl ----

test('linux.sysctl: net.ipv4.ip_forward=1 in a new network namespace', async () => {
  const host = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
  const want = host.trim() === '1' ? '0' : '1';
  assert.is(await runOk(all((s) => { s.linux!.sysctl = { 'net.ipv4.ip_forward': want }; }, cmd('sysctl', 'net.ipv4.ip_forward'))), `${want}\n`);
  assert.is(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), host, 'the host value is unchanged');
});

test('linux.sysctl: a net.* key without a network namespace is refused, naming the key', async () => {
  const r = await runIn(all((s) => {
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network');
    s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
  }));
  assert.is(r.code, 1);
  assert.match(r.stderr, 'linux.sysctl');
  assert.match(r.stderr, 'net.ipv4.ip_forward');
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('linux.sysctl: a host-wide key (not namespaced) is refused', async () => {
  const r = await runIn((s) => { s.linux!.sysctl = { 'vm.swappiness': '10' }; });
  assert.is(r.code, 1);
  assert.match(r.stderr, 'vm.swappiness');
});

// ---- maskedPaths ----

test('maskedPaths: a masked file reads empty, a masked dir lists empty', async () => {
  await withRootfsCopy(async (rootfs) => {
    const config: Config = (s) => { s.linux!.maskedPaths = ['/etc/secret', '/secretdir', '/etc/not-here']; };
    assert.is(await runOk(all(config, cmd('cat', '/etc/secret')), { rootfs }), '');
    assert.is(await runOk(all(config, cmd('ls', '/secretdir')), { rootfs }), '');
    // unmasked, the content is there
    assert.is(await runOk(cmd('cat', '/etc/secret'), { rootfs }), 'top secret\n');
    assert.is(await runOk(cmd('ls', '/secretdir'), { rootfs }), 'a\nb\n');
  }, (r) => {
    fs.writeFileSync(path.join(r, 'etc/secret'), 'top secret\n');
    fs.mkdirSync(path.join(r, 'secretdir'));
    fs.writeFileSync(path.join(r, 'secretdir/a'), '');
    fs.writeFileSync(path.join(r, 'secretdir/b'), '');
  });
});

test('maskedPaths: a path whose parent does not resolve in the rootfs fails closed (the container does not start), in one line naming it', async () => {
  const r = await runIn(all((s) => { s.linux!.maskedPaths = ['/does/not/exist']; }, cmd('true')));
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /maskedPaths\[0\].*parent of masked path \/does\/not\/exist does not resolve/);
  assert.is(r.stderr.trim().split('\n').length, 1);
});

test('maskedPaths: the default spec masks /proc/keys (file) and /sys/firmware (dir)', async () => {
  assert.is(await runOk(cmd('cat', '/proc/keys')), '');
  assert.is(await runOk(cmd('ls', '/sys/firmware')), '');
  assert.is(await runOk(cmd('cat', '/proc/timer_list')), '');
});

test('maskedPaths: writes to a masked file never reach the file', async () => {
  await withRootfsCopy(async (rootfs) => {
    // runc masks a file with /dev/null, so the write itself may succeed
    await runIn(all(writable, (s) => { s.linux!.maskedPaths = ['/etc/secret']; }, cmd('write', '/etc/secret', 'x')), { rootfs });
    assert.is(fs.readFileSync(path.join(rootfs, 'etc/secret'), 'utf8'), 'top secret\n');
  }, (r) => fs.writeFileSync(path.join(r, 'etc/secret'), 'top secret\n'));
});

// ---- readonlyPaths ----

test('readonlyPaths: writes under a read-only path fail with EROFS, elsewhere they work', async () => {
  await withRootfsCopy(async (rootfs) => {
    const config = all(writable, (s) => { s.linux!.readonlyPaths = ['/data']; });
    const ro = await runIn(all(config, cmd('write', '/data/x', 'no')), { rootfs });
    assert.is(ro.code, 1);
    assert.is(ro.stdout, 'EROFS\n');
    assert.is(await runOk(all(config, cmd('write', '/other', 'yes')), { rootfs }), '');
    assert.is(fs.readFileSync(path.join(rootfs, 'other'), 'utf8'), 'yes');
    assert.not.ok(fs.existsSync(path.join(rootfs, 'data/x')));
    // and it is still readable
    assert.is(await runOk(all(config, cmd('cat', '/data/f')), { rootfs }), 'data\n');
  }, (r) => {
    fs.mkdirSync(path.join(r, 'data'));
    fs.writeFileSync(path.join(r, 'data/f'), 'data\n');
  });
});

test('readonlyPaths: the default spec makes /proc/sys read-only', async () => {
  const r = await runIn(cmd('write', '/proc/sys/kernel/hostname', 'changed'));
  assert.is(r.code, 1);
  assert.is(r.stdout, 'EROFS\n');
});

// ---- annotations ----

test('annotations are carried into state', async () => {
  const b = makeBundle({ config: all((s) => { s.annotations = { 'org.opencontainers.test': 'value', 'capsa.empty': '' }; }, cmd('sleep', 'forever')) });
  const before = new Set(snapshot([]).processes);
  try {
    const out = fs.openSync(path.join(b.dir, 'out'), 'w');
    const child = spawn(CAPSA_BIN, ['--root', root, 'create', '-b', b.dir, b.id], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const code = await new Promise<number | null>((resolve, reject) => { child.on('exit', resolve); child.on('error', reject); });
    assert.is(code, 0, fs.readFileSync(path.join(b.dir, 'out'), 'utf8'));
    const st = JSON.parse((await capsaOk(['state', b.id])).stdout) as { annotations?: Record<string, string> };
    assert.equal(st.annotations, { 'org.opencontainers.test': 'value', 'capsa.empty': '' });
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
    await until('container processes to be reaped', () => (snapshot([]).processes.every((p) => before.has(p)) ? true : undefined), 15_000);
  }
});

test.run();
