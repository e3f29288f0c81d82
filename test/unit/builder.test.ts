// The spec builder: defaults, each with* method's effect on the Spec, and
// CapsaError INVALID_ARGUMENT (naming method and value) for bad values.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { spec, SpecBuilder } from '../../src/builder';
import { CapsaError } from '../../src/errors';
import { defaultSpec } from '../../src/spec/defaults';
import { validateSpec } from '../../src/spec/validate';
import type { Spec } from '../../src/spec/types';

/** Asserts fn throws CapsaError INVALID_ARGUMENT whose message contains every part. */
function rejects(fn: () => unknown, ...parts: string[]): CapsaError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CapsaError);
    const err = e as CapsaError;
    assert.is(err.code, 'INVALID_ARGUMENT', err.message);
    for (const p of parts) assert.ok(err.message.includes(p), `"${err.message}" should contain "${p}"`);
    return err;
  }
  assert.unreachable('expected a CapsaError');
  throw new Error('unreachable');
}

const env = (s: Spec) => s.process!.env!;

test('spec() starts from the default spec with terminal off', () => {
  const built = spec().build();
  const expected = defaultSpec();
  expected.process!.terminal = false;
  assert.equal(built, expected);
  assert.instance(new SpecBuilder(), SpecBuilder);
  assert.equal(new SpecBuilder().build(), expected);
});

test('build() returns independent validated copies', () => {
  const b = spec().withArgs('/bin/true');
  const one = b.build();
  one.process!.args!.push('mutated');
  one.mounts!.length = 0;
  const two = b.build();
  assert.equal(two.process!.args, ['/bin/true']);
  assert.is(two.mounts!.length, 7);
  assert.equal(validateSpec(JSON.parse(JSON.stringify(b))), two, 'JSON.stringify(builder) is the config');
  // defaults are not shared with later builders
  spec().withEnv('A', '1').addCapability('SYS_ADMIN');
  assert.equal(spec().build(), built());
  function built() { const s = defaultSpec(); s.process!.terminal = false; return s; }
});

test('SpecBuilder.from copies the base spec, terminal included', () => {
  const base = defaultSpec();
  base.hostname = 'base';
  const s = SpecBuilder.from(base).withHostname('other').build();
  assert.is(s.hostname, 'other');
  assert.is(s.process!.terminal, true);
  assert.is(base.hostname, 'base');
});

test('withArgs, withCwd, withUser, withTerminal', () => {
  const s = spec().withArgs('/bin/testinit', 'echo', '', 'x').withCwd('/tmp').withUser(1000, 1000, [5, 6]).withTerminal().build();
  assert.equal(s.process!.args, ['/bin/testinit', 'echo', '', 'x']);
  assert.is(s.process!.cwd, '/tmp');
  assert.equal(s.process!.user, { uid: 1000, gid: 1000, additionalGids: [5, 6] });
  assert.is(s.process!.terminal, true);
  assert.equal(spec().withUser(0, 0).build().process!.user, { uid: 0, gid: 0 });
});

test('withEnv replaces a variable in place of adding a duplicate; object form; withoutEnv', () => {
  const s = spec().withEnv('FOO', 'a').withEnv('FOO', 'b=c').withEnv({ BAR: '', PATH: '/bin' }).build();
  assert.equal(env(s).filter((e) => e.startsWith('FOO=')), ['FOO=b=c']);
  assert.ok(env(s).includes('BAR='));
  assert.equal(env(s).filter((e) => e.startsWith('PATH=')), ['PATH=/bin']);
  assert.ok(env(s).includes('TERM=xterm'));
  assert.not.ok(env(spec().withoutEnv('TERM').build()).some((e) => e.startsWith('TERM=')));
});

test('withHostname; dropping uts clears the default hostname but conflicts with an explicit one', () => {
  assert.is(spec().withHostname('db-1.test').build().hostname, 'db-1.test');
  const noUts = spec().withoutNamespace('uts').build();
  assert.is(noUts.hostname, undefined);
  assert.not.ok(noUts.linux!.namespaces!.some((n) => n.type === 'uts'));
  rejects(() => spec().withHostname('h').withoutNamespace('uts').build(), 'build()', 'withHostname("h")', 'uts');
});

test('withMount, withBind and withTmpfs add mounts; the same destination replaces', () => {
  const s = spec()
    .withBind('/srv/data', '/data', { readonly: true })
    .withBind('/srv/logs', '/logs', { recursive: false, options: ['nosuid'] })
    .withTmpfs('/scratch', { size: '16m', mode: 0o1777 })
    .withTmpfs('/dev/shm', { size: 1 << 20 })
    .withMount({ destination: '/mnt', type: 'tmpfs', source: 'tmpfs', options: ['ro'] })
    .build();
  const by = (d: string) => s.mounts!.filter((m) => m.destination === d);
  assert.equal(by('/data'), [{ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] }]);
  assert.equal(by('/logs'), [{ destination: '/logs', type: 'bind', source: '/srv/logs', options: ['bind', 'rw', 'nosuid'] }]);
  assert.equal(by('/scratch'), [{ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=16777216', 'mode=1777'] }]);
  assert.equal(by('/dev/shm'), [{ destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=1048576'] }]);
  assert.equal(by('/mnt')[0]!.options, ['ro']);
  // /dev/shm replaced where it was (after /dev/pts), not appended
  assert.ok(s.mounts!.findIndex((m) => m.destination === '/dev/shm') < s.mounts!.findIndex((m) => m.destination === '/data'));
  assert.is(s.mounts!.length, 7 + 4);
  assert.not.ok(spec().withoutMount('/dev/mqueue').build().mounts!.some((m) => m.destination === '/dev/mqueue'));
});

test('resource limits', () => {
  const s = spec().withMemoryLimit('64m').withPidsLimit(20).withCpuQuota(50_000).build();
  assert.is(s.linux!.resources!.memory!.limit, 64 * 1024 * 1024);
  assert.equal(s.linux!.resources!.pids, { limit: 20 });
  assert.equal(s.linux!.resources!.cpu, { quota: 50_000, period: 100_000 });
  assert.equal(s.linux!.resources!.devices, [{ allow: false, access: 'rwm' }], 'default device rule kept');
  assert.is(spec().withMemoryLimit(1 << 30).build().linux!.resources!.memory!.limit, 1 << 30);
  assert.is(spec().withMemoryLimit('1.5g').build().linux!.resources!.memory!.limit, 1.5 * 1024 ** 3);
  assert.equal(spec().withCpuQuota(-1, 20_000).build().linux!.resources!.cpu, { quota: -1, period: 20_000 });
  const merged = spec().withMemoryLimit('8m').withResources({ memory: { swap: 16 << 20 }, unified: { 'memory.high': '1000000' } }).build();
  assert.equal(merged.linux!.resources!.memory, { limit: 8 << 20, swap: 16 << 20 });
  assert.equal(merged.linux!.resources!.unified, { 'memory.high': '1000000' });
});

test('capabilities: exact list, add, drop, short names', () => {
  const s = spec().withCapabilities(['net_admin', 'CAP_KILL', 'KILL']).build();
  const caps = s.process!.capabilities!;
  for (const set of ['bounding', 'effective', 'permitted', 'ambient'] as const) assert.equal(caps[set], ['CAP_NET_ADMIN', 'CAP_KILL'], set);
  const t = spec().addCapability('SYS_ADMIN').dropCapability('CAP_KILL').addCapability('CAP_SYS_ADMIN').build().process!.capabilities!;
  assert.equal(t.bounding, ['CAP_AUDIT_WRITE', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN']);
  assert.equal(t.effective, t.bounding);
  assert.equal(spec().withCapabilities([]).build().process!.capabilities!.bounding, []);
});

test('namespaces: add, join by path, replace, remove', () => {
  const s = spec().withNamespace('cgroup').withNamespace('network', '/proc/1/ns/net').withoutNamespace('ipc').build();
  assert.equal(s.linux!.namespaces, [{ type: 'pid' }, { type: 'network', path: '/proc/1/ns/net' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }]);
});

test('root, seccomp, no_new_privs, rlimits, annotations, sysctl, cgroupsPath', () => {
  const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
  const s = spec()
    .withRootfs('/srv/rootfs').withReadonlyRoot(false)
    .withSeccomp(profile).withNoNewPrivileges(false)
    .withRlimit('NOFILE', 100, 200).withRlimit('RLIMIT_CORE', 0)
    .withAnnotation('org.example/role', 'db')
    .withSysctl('net.ipv4.ip_forward', '1')
    .withCgroupsPath('/capsa-test/x')
    .build();
  assert.equal(s.root, { path: '/srv/rootfs', readonly: false });
  assert.equal(s.linux!.seccomp, profile);
  assert.is(s.process!.noNewPrivileges, false);
  assert.equal(s.process!.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 200, soft: 100 }, { type: 'RLIMIT_CORE', hard: 0, soft: 0 }]);
  assert.equal(s.annotations, { 'org.example/role': 'db' });
  assert.equal(s.linux!.sysctl, { 'net.ipv4.ip_forward': '1' });
  assert.is(s.linux!.cgroupsPath, '/capsa-test/x');
  profile.syscalls[0]!.names.push('later');
  assert.equal(spec().withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW' }).withoutSeccomp().build().linux!.seccomp, undefined);
  assert.is(spec().withNoNewPrivileges().build().process!.noNewPrivileges, true);
});

test('invalid values throw INVALID_ARGUMENT naming the method and the value', () => {
  rejects(() => spec().withArgs(), 'withArgs()', 'at least one');
  rejects(() => spec().withArgs(''), 'withArgs("")', 'must not be empty');
  rejects(() => spec().withArgs('/bin/x', 'a\0b'), 'withArgs', 'NUL');
  rejects(() => spec().withEnv('A=B', 'x'), 'withEnv("A=B", "x")', 'must not contain "="');
  rejects(() => spec().withEnv('', 'x'), 'withEnv("", "x")');
  rejects(() => spec().withEnv('A', 5 as unknown as string), 'withEnv("A", 5)', 'must be a string');
  rejects(() => spec().withCwd('tmp'), 'withCwd("tmp")', 'absolute');
  rejects(() => spec().withUser(-1, 0), 'withUser(-1, 0)', 'uid');
  rejects(() => spec().withUser(0, 1.5), 'withUser(0, 1.5)', 'gid');
  rejects(() => spec().withUser(0, 0, [2 ** 32]), 'additionalGids[0]');
  rejects(() => spec().withHostname('bad host'), 'withHostname("bad host")', 'not a valid host name');
  rejects(() => spec().withHostname('x'.repeat(65)), 'withHostname', 'longer than 64');
  rejects(() => spec().withMount({ destination: 'rel' }), 'withMount({"destination":"rel"})', 'absolute');
  rejects(() => spec().withMount(null as unknown as { destination: string }), 'withMount(null)');
  rejects(() => spec().withBind('relative', '/x'), 'withBind("relative", "/x", {})', 'source');
  rejects(() => spec().withBind('/x', '/y', { readonly: 'yes' as unknown as boolean }), 'withBind', 'readonly must be a boolean');
  rejects(() => spec().withTmpfs('/t', { size: '12 parsecs' }), 'withTmpfs("/t", {"size":"12 parsecs"})', 'is not a size');
  rejects(() => spec().withTmpfs('/t', { mode: 0o17777 }), 'withTmpfs', 'mode');
  rejects(() => spec().withMemoryLimit(-5), 'withMemoryLimit(-5)', 'positive');
  rejects(() => spec().withMemoryLimit(0), 'withMemoryLimit(0)');
  rejects(() => spec().withMemoryLimit(100), 'withMemoryLimit(100)', 'below one page');
  rejects(() => spec().withMemoryLimit('lots'), 'withMemoryLimit("lots")');
  rejects(() => spec().withMemoryLimit(NaN), 'withMemoryLimit(NaN)');
  rejects(() => spec().withEnv({ OK: '1', 'B=': 'x' }), 'withEnv({"OK":"1","B=":"x"})', 'must not contain');
  rejects(() => spec().withPidsLimit(0), 'withPidsLimit(0)');
  rejects(() => spec().withPidsLimit(2.5), 'withPidsLimit(2.5)', 'integer');
  rejects(() => spec().withCpuQuota(50_000, 10), 'withCpuQuota(50000, 10)', 'period');
  rejects(() => spec().withCpuQuota(0), 'withCpuQuota(0, 100000)', 'quota');
  rejects(() => spec().withCapabilities(['CAP_FLY']), 'withCapabilities(["CAP_FLY"])', 'unknown capability "CAP_FLY"');
  rejects(() => spec().withCapabilities('CAP_KILL' as unknown as string[]), 'withCapabilities("CAP_KILL")', 'array');
  rejects(() => spec().addCapability('TELEPORT'), 'addCapability("TELEPORT")', 'unknown capability');
  rejects(() => spec().dropCapability(''), 'dropCapability("")');
  rejects(() => spec().withNamespace('net' as never), 'withNamespace("net")', 'unknown namespace type "net"');
  rejects(() => spec().withNamespace('network', 'proc/1/ns/net'), 'withNamespace("network", "proc/1/ns/net")', 'absolute');
  rejects(() => spec().withoutNamespace('bogus' as never), 'withoutNamespace("bogus")');
  rejects(() => spec().withReadonlyRoot('no' as unknown as boolean), 'withReadonlyRoot("no")');
  rejects(() => spec().withRootfs(''), 'withRootfs("")', 'empty');
  rejects(() => spec().withSeccomp({ defaultAction: 'SCMP_ACT_SOMETIMES' }), 'withSeccomp({"defaultAction":"SCMP_ACT_SOMETIMES"})');
  rejects(() => spec().withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOPE' }] }), 'withSeccomp', 'SCMP_ACT_NOPE');
  rejects(() => spec().withRlimit('RLIMIT_WISHES', 1, 1), 'withRlimit("RLIMIT_WISHES", 1, 1)', 'unknown rlimit type');
  rejects(() => spec().withRlimit('NOFILE', 10, 5), 'withRlimit("NOFILE", 10, 5)', 'above the hard limit');
  rejects(() => spec().withRlimit('NOFILE', -1, 5), 'withRlimit("NOFILE", -1, 5)', 'soft');
  rejects(() => spec().withAnnotation('k', undefined as unknown as string), 'withAnnotation("k", undefined)');
  rejects(() => spec().withSysctl('../../etc', '1'), 'withSysctl("../../etc", "1")', 'invalid sysctl name');
  rejects(() => spec().withCgroupsPath('/a/../b'), 'withCgroupsPath("/a/../b")', '..');
});

test('a rejected call leaves the builder unchanged', () => {
  const b = spec().withMemoryLimit('8m').withEnv('A', '1');
  const before = b.build();
  rejects(() => b.withMemoryLimit(-1));
  rejects(() => b.withEnv('B=', 'x'));
  rejects(() => b.withEnv({ C: '1', 'D=': '2' }));
  rejects(() => b.withCapabilities(['CAP_KILL', 'CAP_NOPE']));
  rejects(() => b.withRlimit('NOFILE', 9, 1));
  assert.equal(b.build(), before);
});

test.run();
