// Process confinement, as root with real containers: capability sets,
// no_new_privs, oom_score_adj, rlimits, umask, supplementary groups and LSM
// labels. Every expectation is read back from the kernel — /proc/<pid>/status
// of the waiting init (the credentials capsa-init set before execve) and
// testinit's reports from inside (what the kernel's exec rules made of them).
import * as fs from 'node:fs';
import * as assert from 'uvu/assert';

import { capabilityMask, CAPABILITY_NAMES } from '../../src/spec/capabilities';
import { detectLsm } from '../../src/security/lsm';
import type { Process } from '../../src/spec/types';
import { makeBundle } from '../helpers/bundle';
import { assertOneLineError, CAPSA_BIN, oneLine, runCommand } from '../helpers/capsa';
import { securitySuite, all, cmd, hexMask, ID_PREFIX, procStatus, securityHarness, securityRootfs, statusLines, type Config } from '../helpers/hostile-rootfs';
import { skipUnless } from '../helpers/skip';

// 2^64-1 as configs write it; as a double it is 2^64, which JSON.stringify writes as 18446744073709552000.
const UINT64_MAX = 2 ** 64 - 1;

const suite = securitySuite('security-process');
const { test, capsa } = suite;
const { runIn, runOk, withCreated, withRunning } = securityHarness(suite);

type CapSet = keyof NonNullable<Process['capabilities']>;
const SETS: CapSet[] = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'];

const mask = (names: readonly string[]) => capabilityMask(names, 'test').mask;
const caps = (sets: Partial<Record<CapSet, string[]>>): Config => (s) => {
  s.process!.capabilities = Object.fromEntries(SETS.map((k) => [k, sets[k] ?? []]));
};
const user = (uid: number, gid: number, extra: Partial<Process['user']> = {}): Config => (s) => { s.process!.user = { uid, gid, ...extra }; };

/** CapXxx values from /proc/<pid>/status. */
function capsOf(pid: number): Record<string, string> {
  const st = procStatus(pid);
  return { CapInh: st.CapInh!, CapPrm: st.CapPrm!, CapEff: st.CapEff!, CapBnd: st.CapBnd!, CapAmb: st.CapAmb! };
}

const capLines = (text: string) => {
  const l = statusLines(text);
  return { CapInh: l.CapInh, CapPrm: l.CapPrm, CapEff: l.CapEff, CapBnd: l.CapBnd, CapAmb: l.CapAmb };
};

// ---- capabilities ----

// Five different sets, so a set applied in the wrong place shows.
const ROOT_SETS = {
  bounding: ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_KILL', 'CAP_NET_RAW', 'CAP_SETUID'],
  permitted: ['CAP_CHOWN', 'CAP_FOWNER', 'CAP_KILL', 'CAP_NET_RAW'],
  effective: ['CAP_CHOWN', 'CAP_KILL'],
  inheritable: ['CAP_KILL', 'CAP_NET_RAW'],
  ambient: ['CAP_KILL', 'CAP_SETUID'], // CAP_SETUID is not permitted+inheritable: never raised
};

test('capabilities: each of the five sets is applied exactly (init in created state, before execve)', async () => {
  await withCreated(all(caps(ROOT_SETS), cmd('true')), async ({ pid }) => {
    assert.equal(capsOf(pid), {
      CapInh: hexMask(mask(ROOT_SETS.inheritable)),
      CapPrm: hexMask(mask(ROOT_SETS.permitted)),
      CapEff: hexMask(mask(ROOT_SETS.effective)),
      CapBnd: hexMask(mask(ROOT_SETS.bounding)),
      CapAmb: hexMask(mask(['CAP_KILL'])),
    });
  });
});

// For root the kernel treats the entrypoint as fully privileged: P' =
// bounding | inheritable | ambient, unless no_new_privs forbids gaining
// anything (then P' is also limited to what was permitted before execve).
for (const nnp of [false, true]) {
  test(`capabilities: root after execve gets what the kernel's exec rules give (noNewPrivileges ${nnp})`, async () => {
    const out = await runOk(all(caps(ROOT_SETS), (s) => { s.process!.noNewPrivileges = nnp; }, cmd('caps')));
    const amb = mask(['CAP_KILL']);
    let prm = mask(ROOT_SETS.bounding) | mask(ROOT_SETS.inheritable) | amb;
    if (nnp) prm &= mask(ROOT_SETS.permitted);
    assert.equal(capLines(out), {
      CapInh: hexMask(mask(ROOT_SETS.inheritable)), CapPrm: hexMask(prm), CapEff: hexMask(prm),
      CapBnd: hexMask(mask(ROOT_SETS.bounding)), CapAmb: hexMask(amb),
    });
  });
}

test('capabilities: a non-root user keeps exactly its ambient set across execve', async () => {
  const sets = {
    bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
    permitted: ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
    effective: ['CAP_NET_BIND_SERVICE'],
    inheritable: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
    ambient: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
  };
  const out = await runOk(all(caps(sets), user(1000, 1000), cmd('caps')));
  const amb = hexMask(mask(sets.ambient));
  assert.equal(capLines(out), { CapInh: hexMask(mask(sets.inheritable)), CapPrm: amb, CapEff: amb, CapBnd: hexMask(mask(sets.bounding)), CapAmb: amb });
  // and the uid really is 1000 (the caps did not come from being root)
  assert.is(await runOk(all(caps(sets), user(1000, 1000), cmd('id'))), 'uid=1000 gid=1000 euid=1000 egid=1000 groups=\n');
});

test('capabilities: a non-root user without ambient caps has none after execve, whatever else is set', async () => {
  const sets = { bounding: ['CAP_CHOWN', 'CAP_NET_RAW'], permitted: ['CAP_CHOWN', 'CAP_NET_RAW'], effective: ['CAP_CHOWN', 'CAP_NET_RAW'] };
  const out = capLines(await runOk(all(caps(sets), user(1000, 1000), cmd('caps'))));
  assert.equal([out.CapPrm, out.CapEff, out.CapAmb, out.CapInh], Array(4).fill(hexMask(0n)));
  assert.is(out.CapBnd, hexMask(mask(sets.bounding)));
});

test('capabilities: inheritable does not leak into ambient (CVE-2022-29162 class)', async () => {
  const sets = { bounding: ['CAP_NET_RAW', 'CAP_SYS_PTRACE'], permitted: ['CAP_NET_RAW', 'CAP_SYS_PTRACE'], inheritable: ['CAP_NET_RAW', 'CAP_SYS_PTRACE'] };
  const out = capLines(await runOk(all(caps(sets), user(1000, 1000), cmd('caps'))));
  assert.is(out.CapAmb, hexMask(0n), 'nothing raised into ambient');
  assert.is(out.CapPrm, hexMask(0n), 'so a non-root process gains nothing at execve');
  assert.is(out.CapEff, hexMask(0n));
  assert.is(out.CapInh, hexMask(mask(sets.inheritable)));
});

test('capabilities: root with every set empty has no capabilities at all', async () => {
  const out = capLines(await runOk(all(caps({}), cmd('caps'))));
  assert.equal(out, { CapInh: hexMask(0n), CapPrm: hexMask(0n), CapEff: hexMask(0n), CapBnd: hexMask(0n), CapAmb: hexMask(0n) });
  // and really cannot do what root normally can
  assert.is(await runOk(all(caps({}), cmd('syscall', 'sethostname'))), 'EPERM\n', 'sethostname needs CAP_SYS_ADMIN');
  assert.is(await runOk(all(caps({}), cmd('mknod', '/dev/capsa-null', 'c', '1', '3'))), 'EPERM\n', 'mknod needs CAP_MKNOD');
  assert.is(await runOk(all(caps({ bounding: ['CAP_MKNOD'], permitted: ['CAP_MKNOD'], effective: ['CAP_MKNOD'] }), cmd('mknod', '/dev/capsa-null', 'c', '1', '3'))), 'ok\n', 'and with it, it works');
});

// runtime-spec config.md, capabilities: a value that cannot be mapped to a
// kernel interface MUST be logged as a warning; the runtime SHOULD NOT fail
// (runc 1.1: "ignoring unknown or unavailable capabilities").
const warnedUnknown = (stderr: string, set: CapSet, name: string) =>
  assert.match(stderr, `level=warning msg="process.capabilities.${set}: unknown capability \\"${name}\\", skipping"`, stderr);

for (const set of SETS) {
  test(`capabilities: an unknown name in ${set} is skipped with a warning naming process.capabilities.${set}; the known ones are applied (runtime-spec: SHOULD NOT fail; runc warns alike)`, async () => {
    const sets = Object.fromEntries(SETS.map((k) => [k, k === set ? ['CAP_KILL', 'CAP_NOT_A_CAP'] : ['CAP_KILL']]));
    const r = await runIn(all(caps(sets), cmd('caps')));
    assert.is(r.code, 0, r.stderr);
    warnedUnknown(r.stderr, set, 'CAP_NOT_A_CAP');
    const kill = hexMask(mask(['CAP_KILL']));
    assert.equal(capLines(r.stdout), { CapInh: kill, CapPrm: kill, CapEff: kill, CapBnd: kill, CapAmb: kill });
  });
}

test('capabilities: names must be exact: lower case or without CAP_ they are unknown (skipped with a warning, as runc does), and a non-string is refused', async () => {
  for (const bad of ['cap_kill', 'KILL']) {
    const r = await runIn(all(caps({ bounding: [bad] }), cmd('caps')));
    assert.is(r.code, 0, r.stderr);
    warnedUnknown(r.stderr, 'bounding', bad);
    assert.is(capLines(r.stdout).CapBnd, hexMask(0n), `${bad} is not CAP_KILL`);
  }
  const r = await runIn(all(caps({ bounding: [42] as unknown as string[] }), cmd('true')));
  assertOneLineError(r, 'process.capabilities.bounding');
});

test('capabilities: exec processes get their own sets (process.json), not the init\'s', async () => {
  await withRunning(all(caps(ROOT_SETS), cmd('sleep', 'forever')), async ({ b, id }) => {
    const proc: Process = {
      terminal: false, user: { uid: 1000, gid: 1000 }, args: ['/bin/testinit', 'caps'], cwd: '/', env: ['PATH=/bin'],
      capabilities: { bounding: ['CAP_KILL', 'CAP_NET_RAW'], permitted: ['CAP_NET_RAW'], effective: ['CAP_NET_RAW'], inheritable: ['CAP_NET_RAW'], ambient: ['CAP_NET_RAW'] },
    };
    const file = `${b.dir}/process.json`;
    fs.writeFileSync(file, JSON.stringify(proc));
    const r = await capsa(['exec', '-p', file, id]);
    assert.is(r.code, 0, r.stderr);
    const amb = hexMask(mask(['CAP_NET_RAW']));
    assert.equal(capLines(r.stdout), { CapInh: amb, CapPrm: amb, CapEff: amb, CapBnd: hexMask(mask(['CAP_KILL', 'CAP_NET_RAW'])), CapAmb: amb });
  });
});

// ---- no_new_privs ----

test('noNewPrivileges true: NoNewPrivs 1; false: NoNewPrivs 0', async () => {
  assert.is(await runOk(all((s) => { s.process!.noNewPrivileges = true; }, cmd('nnp'))), 'NoNewPrivs:\t1\n');
  assert.is(await runOk(all((s) => { s.process!.noNewPrivileges = false; }, cmd('nnp'))), 'NoNewPrivs:\t0\n');
});

test('exec --no-new-privs sets NoNewPrivs in a container that does not have it', async () => {
  await withRunning(all((s) => { s.process!.noNewPrivileges = false; }, cmd('sleep', 'forever')), async ({ id }) => {
    assert.is((await capsa(['exec', id, '/bin/testinit', 'nnp'])).stdout, 'NoNewPrivs:\t0\n');
    assert.is((await capsa(['exec', '--no-new-privs', id, '/bin/testinit', 'nnp'])).stdout, 'NoNewPrivs:\t1\n');
  });
});

// ---- oom_score_adj ----

test('oomScoreAdj: raising it is applied (500)', async () => {
  assert.is(await runOk(all((s) => { s.process!.oomScoreAdj = 500; }, cmd('oom'))), '500\n');
});

test('oomScoreAdj: lowering it below the runtime\'s needs CAP_SYS_RESOURCE (fails with one line when the host lacks it)', async () => {
  const current = Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));
  const want = Math.max(-1000, current - 100);
  const r = await runIn(all((s) => { s.process!.oomScoreAdj = want; }, cmd('oom')));
  const hasSysResource = (BigInt(`0x${procStatus('self').CapEff}`) & (1n << 24n)) !== 0n;
  if (hasSysResource) {
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, `${want}\n`);
  } else {
    assertOneLineError(r, 'process.oomScoreAdj');
  }
});

// ---- rlimits ----

const LIMITS_LABEL: Record<string, string> = {
  CPU: 'Max cpu time', FSIZE: 'Max file size', DATA: 'Max data size', STACK: 'Max stack size', CORE: 'Max core file size',
  RSS: 'Max resident set', NPROC: 'Max processes', NOFILE: 'Max open files', MEMLOCK: 'Max locked memory',
  AS: 'Max address space', LOCKS: 'Max file locks', SIGPENDING: 'Max pending signals', MSGQUEUE: 'Max msgqueue size',
  NICE: 'Max nice priority', RTPRIO: 'Max realtime priority', RTTIME: 'Max realtime timeout',
};

// What each limit is set to (soft, hard): low enough to be allowed without
// CAP_SYS_RESOURCE, high enough for testinit to run.
const WANT: Record<string, [number, number]> = {
  CPU: [3600, 7200], FSIZE: [1 << 30, 2 ** 31], DATA: [2 ** 32, 2 ** 33], STACK: [8 << 20, 16 << 20], CORE: [0, 1 << 20],
  RSS: [1 << 30, 2 ** 31], NPROC: [4096, 8192], NOFILE: [256, 512], MEMLOCK: [64 << 10, 128 << 10], AS: [2 ** 34, 2 ** 35],
  LOCKS: [1000, 2000], SIGPENDING: [1000, 2000], MSGQUEUE: [409600, 819200], NICE: [0, 0], RTPRIO: [0, 0], RTTIME: [1_000_000, 2_000_000],
};

/** The host's hard limit (we may only lower it), Infinity for unlimited. */
function hostHard(name: string): number {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(LIMITS_LABEL[name]!))!;
  const hard = line.slice(26).trim().split(/\s+/)[1]!;
  return hard === 'unlimited' ? Infinity : Number(hard);
}

const RLIMITS = Object.keys(WANT).map((name) => {
  const cap = hostHard(name);
  const hard = Math.min(WANT[name]![1], cap);
  return { name, soft: Math.min(WANT[name]![0], hard), hard };
});
const allRlimits: Config = (s) => { s.process!.rlimits = RLIMITS.map((r) => ({ type: `RLIMIT_${r.name}`, soft: r.soft, hard: r.hard })); };

test('rlimits: every RLIMIT_* name is applied, all sixteen in one container (read from /proc/<pid>/limits of the waiting init)', async () => {
  assert.is(RLIMITS.length, 16);
  await withCreated(all(allRlimits, cmd('true')), async ({ pid }) => {
    const limits = fs.readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n');
    for (const r of RLIMITS) {
      const line = limits.find((l) => l.startsWith(LIMITS_LABEL[r.name]!))!;
      const [soft, hard] = line.slice(26).trim().split(/\s+/);
      assert.equal([soft, hard], [String(r.soft), String(r.hard)], `RLIMIT_${r.name}`);
    }
  });
});

for (const r of RLIMITS) {
  test(`rlimits: RLIMIT_${r.name} is what the entrypoint sees (testinit rlimit ${r.name})`, async () => {
    assert.is(await runOk(all(allRlimits, cmd('rlimit', r.name))), `${r.soft} ${r.hard}\n`);
  });
}

test('rlimits: 2^64-1 means unlimited', async () => {
  if (skipUnless(hostHard('CORE') === Infinity, 'the host caps RLIMIT_CORE: a hard limit cannot be raised without CAP_SYS_RESOURCE')) return;
  const out = await runOk(all((s) => { s.process!.rlimits = [{ type: 'RLIMIT_CORE', soft: 0, hard: UINT64_MAX }]; }, cmd('rlimit', 'CORE')));
  assert.is(out, '0 unlimited\n');
});

test('rlimits: an unknown name, a duplicate, and soft > hard fail create with one line naming the field', async () => {
  assertOneLineError(await runIn(all((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOPE', soft: 1, hard: 1 }]; }, cmd('true'))), 'process.rlimits[0].type');
  assertOneLineError(await runIn(all((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 10 }, { type: 'RLIMIT_NOFILE', soft: 10, hard: 10 }]; }, cmd('true'))), 'process.rlimits[1].type');
  assertOneLineError(await runIn(all((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 20, hard: 10 }]; }, cmd('true'))), 'process.rlimits[0]');
});

// ---- umask, groups ----

test('user.umask is applied (0077), and defaults to 0022', async () => {
  assert.is(await runOk(all(user(0, 0, { umask: 0o077 }), cmd('umask'))), '0077\n');
  assert.is(await runOk(cmd('umask')), '0022\n');
});

test('additionalGids become the supplementary groups', async () => {
  assert.is(await runOk(all(user(1000, 1000, { additionalGids: [10, 20, 1000] }), cmd('id'))), 'uid=1000 gid=1000 euid=1000 egid=1000 groups=10,20,1000\n');
});

test('supplementary groups of the caller are cleared when the config gives none', async () => {
  // capsa itself runs with groups 4 and 27 (as if started by a user in adm/sudo)
  const check = await runCommand('setpriv', ['--groups', '4,27', '--', 'cat', '/proc/self/status']);
  assert.match(check.stdout, /^Groups:\s+4 27\s*$/m, 'setpriv gives the caller groups');
  const b = makeBundle({ rootfs: securityRootfs(), config: all(user(1000, 1000), cmd('id')), idPrefix: ID_PREFIX });
  try {
    const r = await runCommand('setpriv', ['--groups', '4,27', '--', CAPSA_BIN, '--root', suite.root, 'run', '-b', b.dir, b.id]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'uid=1000 gid=1000 euid=1000 egid=1000 groups=\n');
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
});

// ---- AppArmor / SELinux on this host ----

const lsm = detectLsm();

test('LSM: this host\'s state is what the tests below assume (no /sys/kernel/security/lsm => neither module)', () => {
  if (skipUnless(!fs.existsSync('/sys/kernel/security/lsm'), 'an LSM host: the tests below adapt to it')) return;
  assert.equal(lsm, { apparmor: false, selinux: false });
});

test('AppArmor: process.apparmorProfile on a host without AppArmor is ignored, like an engine would (container runs)', async () => {
  const r = await runIn(all((s) => { s.process!.apparmorProfile = 'capsa-test-profile'; }, cmd('echo', 'ran')));
  if (skipUnless(!lsm.apparmor, 'an AppArmor host: applying an unloaded profile fails there')) return;
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'ran\n');
  for (const line of r.stderr.split('\n').filter(Boolean)) assert.match(line, /warn/, `only a warning may be printed: ${line}`);
});

test('AppArmor: exec --apparmor on a host without AppArmor runs the process too', async () => {
  if (skipUnless(!lsm.apparmor, 'an AppArmor host')) return;
  await withRunning(cmd('sleep', 'forever'), async ({ id }) => {
    const r = await capsa(['exec', '--apparmor', 'capsa-test-profile', id, '/bin/testinit', 'echo', 'ran']);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'ran\n');
  });
});

test('SELinux: process.selinuxLabel on a host without SELinux fails create like runc, one line naming the field', async () => {
  if (skipUnless(!lsm.selinux, 'an SELinux host')) return;
  const r = await runIn(all((s) => { s.process!.selinuxLabel = 'system_u:system_r:container_t:s0:c1,c2'; }, cmd('true')));
  assertOneLineError(r, 'process.selinuxLabel');
  assert.match(r.stderr, 'selinux label is specified in config, but selinux is disabled or not supported');
});

test('SELinux: exec --process-label on a host without SELinux fails with one line', async () => {
  if (skipUnless(!lsm.selinux, 'an SELinux host')) return;
  await withRunning(cmd('sleep', 'forever'), async ({ id }) => {
    const r = await capsa(['exec', '--process-label', 'system_u:system_r:container_t:s0', id, '/bin/testinit', 'true']);
    // runc's rule, which capsa follows: a failing exec exits 255
    assert.is(r.code, 255, r.stderr);
    assert.match(oneLine(r.stderr), 'selinuxLabel');
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  });
});

test('SELinux: linux.mountLabel on a host without SELinux is ignored, like runc (container runs)', async () => {
  if (skipUnless(!lsm.selinux, 'an SELinux host')) return;
  const r = await runIn(all((s) => { s.linux!.mountLabel = 'system_u:object_r:container_file_t:s0:c1,c2'; }, cmd('echo', 'ran')));
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'ran\n');
});

test('LSM: malformed label strings fail create with one line naming the field, LSM or not', async () => {
  assertOneLineError(await runIn(all((s) => { s.process!.selinuxLabel = 'not-a-label'; }, cmd('true'))), 'process.selinuxLabel');
  assertOneLineError(await runIn(all((s) => { s.process!.apparmorProfile = 'bad\nprofile'; }, cmd('true'))), 'process.apparmorProfile');
  assertOneLineError(await runIn(all((s) => { s.linux!.mountLabel = 'nonsense'; }, cmd('true'))), 'linux.mountLabel');
});

// ---- all capability names known ----

test('capabilities: capsa\'s table covers the host kernel (cap_last_cap)', () => {
  const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  assert.ok(CAPABILITY_NAMES.length - 1 >= last, `kernel knows ${last + 1} caps, capsa ${CAPABILITY_NAMES.length}`);
});

test.run();
