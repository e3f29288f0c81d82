// Masked and read-only paths, /proc and /sys, and privileged containers, as
// root with real containers. The container attacks its own confinement with
// secprobe (umount, remount read-write, mount over) and the test asserts the
// errno the kernel gave and that the confinement is still in place after.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as assert from 'uvu/assert';

import { capabilityNames } from '../../src/spec/capabilities';
import type { Spec } from '../../src/spec/types';
import {
  all, cmd, hexMask, makeHostileRootfs, procStatus, securityHarness, securitySuite, statusLines, type Config,
} from '../helpers/hostile-rootfs';

const suite = securitySuite('security-mounts');
const { test, capsa } = suite;
const { runIn, runOk, withRunning } = securityHarness(suite);

/** mountinfo line fields: mount point -> per-mount options, fs type. */
function mountsOf(text: string): Map<string, { opts: string[]; fstype: string; root: string }> {
  const m = new Map<string, { opts: string[]; fstype: string; root: string }>();
  for (const line of text.split('\n').filter(Boolean)) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    m.set(f[4]!, { root: f[3]!, opts: f[5]!.split(','), fstype: f[dash + 1]! });
  }
  return m;
}

async function exec(id: string, ...args: string[]): Promise<string> {
  const r = await capsa(['exec', id, ...args]);
  assert.is(r.code, 0, `exec ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

// Files this host has for the default maskedPaths (e.g. /proc/kcore is absent here).
const MASKED_FILES = ['/proc/keys', '/proc/timer_list', '/proc/kcore', '/proc/sched_debug', '/proc/latency_stats', '/proc/timer_stats'].filter((p) => fs.existsSync(p));
const MASKED_DIRS = ['/proc/acpi', '/sys/firmware', '/proc/scsi', '/proc/asound'].filter((p) => fs.existsSync(p));

const SECRET = 'capsa-test: this must be masked\n';

// ---- masked paths ----

test('maskedPaths: this host has masked files and dirs to test (precondition)', () => {
  assert.ok(MASKED_FILES.length > 0, 'no default masked file exists on this host');
  assert.ok(MASKED_DIRS.length > 0, 'no default masked dir exists on this host');
});

test('maskedPaths: a masked file reads empty and is the real null device (char 1:3)', async () => {
  for (const p of MASKED_FILES) {
    assert.is(await runOk(cmd('cat', p)), '', p);
    assert.match(await runOk(cmd('stat', p)), /^type=char .* major=1 minor=3$/m, p);
  }
});

test('maskedPaths: a masked directory is an empty read-only tmpfs', async () => {
  for (const p of MASKED_DIRS) {
    assert.is(await runOk(cmd('ls', p)), '', p);
    const m = mountsOf(await runOk(cmd('mounts'))).get(p);
    assert.ok(m, `${p} is a mount point`);
    assert.is(m!.fstype, 'tmpfs');
    assert.ok(m!.opts.includes('ro'), `${p} is ro: ${m!.opts}`);
  }
});

test('maskedPaths: files and dirs of the rootfs itself are masked too (content hidden)', async () => {
  const h = makeHostileRootfs('masked', ({ rootfs }) => {
    fs.mkdirSync(`${rootfs}/etc/capsa-dir`);
    fs.writeFileSync(`${rootfs}/etc/capsa-dir/secret`, SECRET);
    fs.writeFileSync(`${rootfs}/etc/capsa-secret`, SECRET);
  });
  try {
    const mask: Config = (s) => { s.linux!.maskedPaths = [...s.linux!.maskedPaths!, '/etc/capsa-dir', '/etc/capsa-secret']; };
    assert.is(await runOk(all(mask, cmd('cat', '/etc/capsa-secret')), { rootfs: h.rootfs }), '');
    assert.is(await runOk(all(mask, cmd('ls', '/etc/capsa-dir')), { rootfs: h.rootfs }), '');
    const r = await runIn(all(mask, cmd('cat', '/etc/capsa-dir/secret')), { rootfs: h.rootfs });
    assert.is(r.code, 1);
    assert.match(r.stderr, 'ENOENT');
    // a masked path that does not exist is skipped, not created
    assert.is(await runOk(all((s) => { s.linux!.maskedPaths = ['/etc/capsa-nothing-here']; }, cmd('ls', '/etc')), { rootfs: h.rootfs }), 'capsa-dir\ncapsa-secret\ngroup\npasswd\n');
  } finally {
    h.cleanup();
  }
});

test('maskedPaths: with default capabilities the container cannot unmount, remount or cover its masks (EPERM), and they stay', async () => {
  await withRunning(cmd('sleep', 'forever'), async ({ id }) => {
    for (const p of [...MASKED_FILES, ...MASKED_DIRS]) {
      assert.is(await exec(id, '/bin/secprobe', 'umount', p), 'EPERM\n', `umount ${p}`);
      assert.is(await exec(id, '/bin/secprobe', 'umount', p, 'detach'), 'EPERM\n', `umount -l ${p}`);
      assert.is(await exec(id, '/bin/secprobe', 'mount-tmpfs', p), 'EPERM\n', `mount over ${p}`);
    }
    for (const p of MASKED_DIRS) assert.is(await exec(id, '/bin/secprobe', 'remount-rw', p), 'bind-remount=EPERM sb-remount=EPERM setattr=EPERM\n', `remount ${p}`);
    // still masked afterwards
    for (const p of MASKED_FILES) assert.is(await exec(id, '/bin/testinit', 'cat', p), '', p);
    for (const p of MASKED_DIRS) assert.is(await exec(id, '/bin/testinit', 'ls', p), '', p);
  });
});

// ---- read-only paths, /proc/sys ----

test('readonlyPaths: /proc/sys is a read-only bind; writing a sysctl fails with EROFS', async () => {
  const r = await runIn(cmd('write', '/proc/sys/kernel/domainname', 'capsa-test'));
  assert.is(r.code, 1);
  assert.is(r.stdout, 'EROFS\n');
  const m = mountsOf(await runOk(cmd('mounts'))).get('/proc/sys');
  assert.ok(m && m.fstype === 'proc' && m.opts.includes('ro'), `/proc/sys: ${JSON.stringify(m)}`);
});

test('readonlyPaths: with default capabilities the container cannot remount /proc/sys (or the others) read-write, nor unmount them', async () => {
  await withRunning(cmd('sleep', 'forever'), async ({ id }) => {
    for (const p of ['/proc/sys', '/proc/bus', '/proc/fs', '/proc/irq'].filter((x) => fs.existsSync(x))) {
      assert.is(await exec(id, '/bin/secprobe', 'remount-rw', p), 'bind-remount=EPERM sb-remount=EPERM setattr=EPERM\n', p);
      assert.is(await exec(id, '/bin/secprobe', 'umount', p, 'detach'), 'EPERM\n', p);
    }
    assert.is(await exec(id, '/bin/testinit', 'open', '/proc/sys/kernel/domainname', 'w'), 'EROFS\n', 'still read-only');
  });
});

test('readonlyPaths: /proc/sys is writable when the config leaves it out (and the write stays in the container\'s uts namespace)', async () => {
  const hostDomain = fs.readFileSync('/proc/sys/kernel/domainname', 'utf8');
  const rw: Config = (s) => { s.linux!.readonlyPaths = s.linux!.readonlyPaths!.filter((p) => p !== '/proc/sys'); };
  await withRunning(all(rw, cmd('sleep', 'forever')), async ({ id }) => {
    const m = mountsOf(await exec(id, '/bin/testinit', 'mounts'));
    assert.ok(!m.has('/proc/sys'), '/proc/sys is not a separate read-only mount');
    assert.is(await exec(id, '/bin/testinit', 'write', '/proc/sys/kernel/domainname', 'capsa-test.example'), '');
    assert.is(await exec(id, '/bin/testinit', 'domainname'), 'capsa-test.example\n');
  });
  assert.is(fs.readFileSync('/proc/sys/kernel/domainname', 'utf8'), hostDomain, 'host domainname unchanged');
});

// ---- /proc, /sys, / ----

test('/sys is mounted read-only with nosuid,nodev,noexec; writes fail with EROFS; it cannot be remounted', async () => {
  await withRunning(cmd('sleep', 'forever'), async ({ id }) => {
    const m = mountsOf(await exec(id, '/bin/testinit', 'mounts'));
    const sys = m.get('/sys')!;
    assert.is(sys.fstype, 'sysfs');
    for (const o of ['ro', 'nosuid', 'nodev', 'noexec']) assert.ok(sys.opts.includes(o), `/sys ${o}: ${sys.opts}`);
    assert.ok(m.get('/sys/fs/cgroup')!.opts.includes('ro'), '/sys/fs/cgroup ro');
    // the container's own lo (sysfs shows the mounter's network namespace)
    assert.is(await exec(id, '/bin/testinit', 'ls', '/sys/class/net'), 'lo\n');
    assert.is(await exec(id, '/bin/testinit', 'open', '/sys/class/net/lo/tx_queue_len', 'w'), 'EROFS\n');
    assert.is(await exec(id, '/bin/secprobe', 'remount-rw', '/sys'), 'bind-remount=EPERM sb-remount=EPERM setattr=EPERM\n');
    assert.is(await exec(id, '/bin/secprobe', 'umount', '/sys/fs/cgroup', 'detach'), 'EPERM\n');
  });
});

test('/proc is a fresh procfs of the container\'s pid namespace, mounted as the config says', async () => {
  const m = mountsOf(await runOk(cmd('mounts'))).get('/proc')!;
  assert.is(m.fstype, 'proc');
  assert.is(m.root, '/');
});

test('root.readonly: the rootfs cannot be written or remounted read-write', async () => {
  await withRunning(cmd('sleep', 'forever'), async ({ id }) => {
    assert.is(await exec(id, '/bin/testinit', 'open', '/etc/passwd', 'w'), 'EROFS\n');
    assert.is(await exec(id, '/bin/secprobe', 'remount-rw', '/'), 'bind-remount=EPERM sb-remount=EPERM setattr=EPERM\n');
    assert.is(await exec(id, '/bin/testinit', 'open', '/etc/passwd', 'w'), 'EROFS\n');
  });
});

// ---- privileged ----

/** What docker --privileged asks of the runtime: every capability the host has, no seccomp, nothing masked, rw /sys. */
function privileged(s: Spec): void {
  const hostCaps = capabilityNames(BigInt(`0x${procStatus('self').CapBnd}`));
  s.process!.capabilities = { bounding: [...hostCaps], effective: [...hostCaps], permitted: [...hostCaps] };
  s.process!.noNewPrivileges = false;
  delete s.linux!.seccomp;
  s.linux!.maskedPaths = [];
  s.linux!.readonlyPaths = [];
  for (const m of s.mounts!) {
    if (m.destination === '/sys' || m.destination === '/sys/fs/cgroup') m.options = m.options!.filter((o) => o !== 'ro');
  }
}

test('privileged: every capability the host has (CapEff = CapBnd = host bounding set), no seccomp, no no_new_privs', async () => {
  const host = BigInt(`0x${procStatus('self').CapBnd}`);
  const l = statusLines(await runOk(all(privileged, cmd('status'))));
  assert.is(l.CapEff, hexMask(host));
  assert.is(l.CapPrm, hexMask(host));
  assert.is(l.CapBnd, hexMask(host));
  assert.is(l.Seccomp, '0');
  assert.is(l.NoNewPrivs, '0');
  const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  const missing = [...Array(last + 1).keys()].filter((n) => ((host >> BigInt(n)) & 1n) === 0n);
  assert.equal(capabilityNames(BigInt(`0x${l.CapEff}`)).length, last + 1 - missing.length, 'all caps <= cap_last_cap the host has');
});

test('privileged: /sys is read-write (the container\'s own lo can be tuned), mounts and /proc/sys writes work (docker:dind)', async () => {
  const hostDomain = fs.readFileSync('/proc/sys/kernel/domainname', 'utf8');
  const hostLo = fs.readFileSync('/sys/class/net/lo/tx_queue_len', 'utf8');
  await withRunning(all(privileged, cmd('sleep', 'forever')), async ({ id }) => {
    const m = mountsOf(await exec(id, '/bin/testinit', 'mounts'));
    assert.ok(m.get('/sys')!.opts.includes('rw'), `/sys: ${m.get('/sys')!.opts}`);
    assert.is(await exec(id, '/bin/testinit', 'ls', '/sys/class/net'), 'lo\n', 'only the container netns is visible');
    assert.is(await exec(id, '/bin/testinit', 'write', '/sys/class/net/lo/tx_queue_len', '777'), '');
    assert.is(await exec(id, '/bin/testinit', 'cat', '/sys/class/net/lo/tx_queue_len'), '777\n');
    assert.is(await exec(id, '/bin/secprobe', 'mount-tmpfs', '/tmp'), 'ok\n');
    assert.is(await exec(id, '/bin/testinit', 'write', '/proc/sys/kernel/domainname', 'capsa-test.privileged'), '');
    assert.not.equal(await exec(id, '/bin/testinit', 'cat', '/proc/keys'), '', 'nothing masked');
  });
  assert.is(fs.readFileSync('/sys/class/net/lo/tx_queue_len', 'utf8'), hostLo, 'host lo untouched');
  assert.is(fs.readFileSync('/proc/sys/kernel/domainname', 'utf8'), hostDomain, 'host domainname untouched');
  assert.is(os.hostname().length > 0, true);
});

test.run();
