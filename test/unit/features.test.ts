import { test } from 'uvu';
import * as assert from 'uvu/assert';

import * as os from 'node:os';
import { compileSeccomp } from '../../src/seccomp';
import { seccompSupportedFlags } from '../../src/seccomp/support';
import { CAPSA_VERSION, SECCOMP_ACTIONS, features } from '../../src/spec/features';
import { idmapSupport } from '../../src/spec/idmap-support';
import { parseSeccompProbe, seccompSupport } from '../../src/spec/seccomp-support';

test('version range and annotations', () => {
  const f = features();
  assert.is(f.ociVersionMin, '1.0.0');
  assert.is(f.ociVersionMax, '1.3.0');
  assert.equal(f.annotations, { 'io.github.capsa.version': CAPSA_VERSION });
  assert.equal(features('9.9.9').annotations, { 'io.github.capsa.version': '9.9.9' });
  assert.equal(features('9.9.9', { 'io.github.capsa.host.selinux': 'false' }).annotations, { 'io.github.capsa.version': '9.9.9', 'io.github.capsa.host.selinux': 'false' });
  assert.equal(f.potentiallyUnsafeConfigAnnotations, []);
});

test('hooks are the six runtime-spec hooks', () => {
  assert.equal(features().hooks, ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
});

test('mount options are sorted, unique and include the recursive variants', () => {
  const opts = features().mountOptions;
  assert.equal(opts, [...opts].sort());
  assert.is(new Set(opts).size, opts.length);
  for (const o of ['ro', 'rro', 'rbind', 'rprivate', 'rnosymfollow', 'tmpcopyup', 'defaults', 'idmap', 'ridmap']) assert.ok(opts.includes(o), o);
  assert.is(opts.length, 62);
});

test('linux namespaces and capabilities', () => {
  const { linux } = features();
  assert.equal(linux.namespaces, ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts']);
  assert.is(linux.capabilities.length, 41);
  assert.is(linux.capabilities[0], 'CAP_CHOWN');
  assert.is(linux.capabilities[21], 'CAP_SYS_ADMIN');
  assert.is(linux.capabilities[40], 'CAP_CHECKPOINT_RESTORE');
});

test('linux cgroup, seccomp and security modules', () => {
  const { linux } = features();
  assert.equal(linux.cgroup, { v1: true, v2: true, systemd: true, systemdUser: false, rdma: true });
  assert.is(linux.seccomp.enabled, true);
  assert.ok(linux.seccomp.actions.includes('SCMP_ACT_KILL_PROCESS'));
  assert.is(linux.seccomp.operators.length, 7);
  // every architecture with a syscall table, each one a filter compiles for
  assert.equal(linux.seccomp.archs, [
    'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_X86', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM',
    'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390X', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_LOONGARCH64',
  ]);
  for (const arch of linux.seccomp.archs) compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: [arch as never], syscalls: [{ names: ['read'], action: 'SCMP_ACT_LOG' }] }, 'x64');
  for (const flag of linux.seccomp.supportedFlags) assert.ok(linux.seccomp.knownFlags.includes(flag), flag);
  // supported: what this kernel accepts, asked of it by capsa-init (the filters
  // themselves load in security-seccomp's flag tests)
  const probed = seccompSupport();
  assert.is(probed.reason, undefined, 'capsa-init --probe-seccomp ran');
  assert.equal(linux.seccomp.supportedFlags, probed.flags);
  assert.equal(linux.seccomp.actions, SECCOMP_ACTIONS.filter((a) => probed.actions!.includes(a)));
  // every flag and action capsa knows was asked about, and the answers agree with the kernel version (6.18 here: all)
  assert.equal(probed.flags, seccompSupportedFlags(os.release()));
  assert.is(linux.seccomp.actions.length, SECCOMP_ACTIONS.length);
  // the version table, used only when the probe cannot run
  assert.equal(seccompSupportedFlags('4.16.0'), ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG']);
  assert.equal(seccompSupportedFlags('5.19.2-foo'), linux.seccomp.knownFlags);
  // What capsa implements, whatever this host has (features-linux.md: "irrelevant to the availability
  // ... on the host"); the host's side is in the io.github.capsa.host.* annotations (spec13 test).
  assert.equal(linux.apparmor, { enabled: true });
  assert.equal(linux.selinux, { enabled: true });
  assert.equal(linux.intelRdt, { enabled: true, schemata: true, monitoring: true });
  assert.equal(linux.netDevices, { enabled: true });
  assert.equal(linux.memoryPolicy.modes, ['MPOL_DEFAULT', 'MPOL_PREFERRED', 'MPOL_BIND', 'MPOL_INTERLEAVE', 'MPOL_LOCAL', 'MPOL_PREFERRED_MANY', 'MPOL_WEIGHTED_INTERLEAVE']);
  assert.equal(linux.memoryPolicy.flags, ['MPOL_F_STATIC_NODES', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_NUMA_BALANCING']);
});

test('the seccomp probe\'s answer is read as it says: a kernel without NOTIFY or WAIT_KILLABLE_RECV, a kernel without seccomp', () => {
  const older = 'enabled 1\nflag SECCOMP_FILTER_FLAG_TSYNC 1\nflag SECCOMP_FILTER_FLAG_LOG 1\nflag SECCOMP_FILTER_FLAG_SPEC_ALLOW 1\n' +
    'flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV 0\naction SCMP_ACT_ALLOW 1\naction SCMP_ACT_LOG 1\naction SCMP_ACT_NOTIFY 0\n';
  assert.equal(parseSeccompProbe(older), {
    enabled: true, flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'], actions: ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG'],
  });
  assert.equal(parseSeccompProbe('enabled 0\nflag SECCOMP_FILTER_FLAG_TSYNC 0\naction SCMP_ACT_ALLOW 0\n'), { enabled: false, flags: [], actions: [] });
  assert.is(parseSeccompProbe(''), undefined);
});

test('mountExtensions.idmap.enabled is what capsa-init\'s probe found on this host', () => {
  // The probe itself is checked against real idmapped mounts in idmap-mounts.test.
  assert.equal(features().linux.mountExtensions, { idmap: { enabled: idmapSupport().enabled } });
});

test('top-level keys follow features.md order and serialize', () => {
  const f = features();
  assert.equal(Object.keys(f), ['ociVersionMin', 'ociVersionMax', 'hooks', 'mountOptions', 'linux', 'annotations', 'potentiallyUnsafeConfigAnnotations']);
  assert.equal(Object.keys(f.linux), ['namespaces', 'capabilities', 'cgroup', 'seccomp', 'apparmor', 'selinux', 'memoryPolicy', 'intelRdt', 'mountExtensions', 'netDevices']);
  assert.equal(JSON.parse(JSON.stringify(f)), f);
});

test('each call returns a fresh object', () => {
  features().hooks.length = 0;
  features().linux.capabilities.pop();
  assert.is(features().hooks.length, 6);
  assert.is(features().linux.capabilities.length, 41);
});

test.run();
