// The systemd driver's translation work, without systemd: linux.resources →
// scope properties (cgroup v2 and legacy names, runc's conversions), device
// rules → DevicePolicy/DeviceAllow, org.systemd.property.* annotations
// (their GVariant text parsed as GLib parses it), systemd's version string.
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { parseGVariantText } from '../../src/cgroups/gvariant-text';
import { systemdPropertiesFromAnnotations } from '../../src/cgroups/systemd-annotations';
import { deviceProps, listToMask, pidsProperty, quotaPerSecUsec, resourcesToProperties, SYSTEMD_INFINITY } from '../../src/cgroups/systemd-properties';
import { systemdMajorVersion } from '../../src/cgroups/systemd-scope-client';

const INF = SYSTEMD_INFINITY;
const props = (r: Parameters<typeof resourcesToProperties>[0], layout: 'v1' | 'v2' | 'hybrid' = 'v2', version = 252, current?: { quota?: number; period?: number; memoryLimit?: number }) =>
  resourcesToProperties(r, { layout, version, ...(current ? { current } : {}) }, { devices: false });
const asMap = (p: ReturnType<typeof props>) => Object.fromEntries(p.properties.map(([k, v]) => [k, v]));

test('cpu masks: systemd\'s little-endian byte array, lowest cpu in the lowest bit', () => {
  assert.equal(listToMask('0-2,7'), [0b1000_0111]);
  assert.equal(listToMask('8'), [0, 1]);
  assert.equal(listToMask('0, 9-10'), [1, 0b110]);
  assert.equal(listToMask('0-15'), [255, 255]);
});

test('CPU quota per second: µs per CPU-second, rounded up to whole percents (as runc)', () => {
  assert.is(quotaPerSecUsec(50_000, 100_000), 500_000n);
  assert.is(quotaPerSecUsec(12_345, 100_000), 130_000n);
  assert.is(quotaPerSecUsec(20_000, 0), 200_000n, 'no period: the kernel default 100 ms');
  assert.is(quotaPerSecUsec(-1, 100_000), INF);
  assert.is(quotaPerSecUsec(0, 100_000), INF);
});

test('swap equal to the memory limit: MemorySwapMax=0 (swap off, kept across a daemon-reload)', () => {
  assert.equal(asMap(props({ memory: { limit: 64 << 20, swap: 64 << 20 } })), { MemoryMax: ['t', 64n << 20n], MemorySwapMax: ['t', 0n] });
});

test('cgroup v2 hosts: memory, cpu, cpuset and io become MemoryMax, CPUWeight, AllowedCPUs, IOWeight, ...', () => {
  const p = asMap(props({
    memory: { limit: 64 << 20, reservation: 32 << 20, swap: 96 << 20 },
    cpu: { shares: 512, quota: 50_000, period: 100_000, cpus: '0-1', mems: '0' },
    blockIO: { weight: 500, weightDevice: [{ major: 254, minor: 0, weight: 100 }], throttleReadBpsDevice: [{ major: 254, minor: 0, rate: 1 << 20 }], throttleWriteIOPSDevice: [{ major: 254, minor: 0, rate: 0 }] },
  }));
  assert.equal(p, {
    MemoryMax: ['t', 64n << 20n], MemoryLow: ['t', 32n << 20n], MemorySwapMax: ['t', 32n << 20n],
    CPUWeight: ['t', 20n], CPUQuotaPeriodUSec: ['t', 100_000n], CPUQuotaPerSecUSec: ['t', 500_000n],
    AllowedCPUs: ['ay', [3]], AllowedMemoryNodes: ['ay', [1]],
    IOWeight: ['t', 4950n], IODeviceWeight: ['a(st)', [['/dev/block/254:0', 910n]]],
    IOReadBandwidthMax: ['a(st)', [['/dev/block/254:0', 1n << 20n]]], IOWriteIOPSMax: ['a(st)', [['/dev/block/254:0', INF]]],
  });
});

test('cgroup v1/hybrid hosts: the legacy names (MemoryLimit, CPUShares, BlockIOWeight); nothing v2-only', () => {
  const p = asMap(props({ memory: { limit: 64 << 20, reservation: 1 << 20, swap: 128 << 20 }, cpu: { shares: 512, idle: 1 }, blockIO: { weight: 500 } }, 'hybrid'));
  assert.equal(p, { MemoryLimit: ['t', 64n << 20n], CPUShares: ['t', 512n], BlockIOWeight: ['t', 500n] });
});

test('unlimited is systemd\'s infinity; cpu.idle is CPUWeight=0 from systemd 252 (shares then not sent)', () => {
  assert.equal(asMap(props({ memory: { limit: -1 } })), { MemoryMax: ['t', INF], MemorySwapMax: ['t', INF] });
  const idle = props({ cpu: { idle: 1, shares: 1024 } });
  assert.equal(asMap(idle), { CPUWeight: ['t', 0n] });
  assert.match(idle.notes.join(), /cpu.shares is not sent/);
  assert.equal(asMap(props({ cpu: { idle: 1 } }, 'v2', 251)), {}, 'older systemd: cgroupfs only');
  assert.match(props({ cpu: { cpus: '1' } }, 'v2', 243).notes.join(), /AllowedCPUs needs 244/);
  assert.equal(asMap(props({ cpu: { quota: 20_000 } }, 'v2', 241)), { CPUQuotaPerSecUSec: ['t', 200_000n] }, 'no CPUQuotaPeriodUSec before 242');
});

test('update: the half of a quota/period or swap/limit pair not given comes from cgroupfs', () => {
  assert.equal(asMap(props({ cpu: { period: 50_000 } }, 'v2', 252, { quota: 25_000, period: 100_000 })), {
    CPUQuotaPeriodUSec: ['t', 50_000n], CPUQuotaPerSecUSec: ['t', 500_000n],
  });
  assert.equal(asMap(props({ memory: { swap: 96 << 20 } }, 'v2', 252, { memoryLimit: 64 << 20 })), { MemorySwapMax: ['t', 32n << 20n] });
});

test('unified keys systemd knows become properties too (runc\'s list); others stay cgroupfs-only', () => {
  const p = asMap(props({ unified: { 'memory.high': '1048576', 'memory.min': 'max', 'pids.max': '20', 'cpu.max': '25000 50000', 'cpuset.cpus': '1', 'memory.oom.group': '1', 'io.max': '8:0 rbps=1' } }));
  assert.equal(p, {
    MemoryHigh: ['t', 1048576n], MemoryMin: ['t', INF], TasksMax: ['t', 20n],
    CPUQuotaPeriodUSec: ['t', 50_000n], CPUQuotaPerSecUSec: ['t', 500_000n], AllowedCPUs: ['ay', [2]],
  });
});

test('pids: TasksMax; negative means none; 0 (a real limit in runtime-spec 1.3) is not sent, systemd refuses it', () => {
  assert.equal(pidsProperty(20), ['TasksMax', ['t', 20n]]);
  const notes: string[] = [];
  assert.is(pidsProperty(0, notes), undefined);
  assert.match(notes.join(), /systemd refuses TasksMax=0/);
  assert.equal(pidsProperty(-1), ['TasksMax', ['t', INF]]);
  assert.is(pidsProperty(undefined), undefined);
});

test('devices: an allow list systemd can say is DevicePolicy=strict with DeviceAllow entries', () => {
  const [policy, allow] = deviceProps([{ allow: true, type: 'c', major: 1, minor: 11, access: 'r' }, { allow: true, type: 'b', major: 8, minor: -1, access: 'rw' }]);
  assert.equal(policy, ['DevicePolicy', ['s', 'strict']]);
  const entries = (allow![1] as [string, [string, string][]])[1];
  assert.equal(allow![0], 'DeviceAllow');
  // the config's, then runc's defaults (mknod anything, the standard nodes, pts)
  for (const e of [['/dev/char/1:11', 'r'], ['block-8', 'rw'], ['char-*', 'm'], ['block-*', 'm'], ['/dev/char/1:3', 'rwm'], ['char-136', 'rwm'], ['/dev/char/10:200', 'rwm']]) {
    assert.ok(entries.some((x) => x[0] === e[0] && x[1] === e[1]), `${e.join(' ')} in ${JSON.stringify(entries)}`);
  }
  // a later deny of the same node takes it out again
  const denied = (deviceProps([{ allow: true, type: 'c', major: 1, minor: 11, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 11, access: 'rwm' }])[1]![1] as [string, [string, string][]])[1];
  assert.not.ok(denied.some((x) => x[0] === '/dev/char/1:11'));
});

test('devices: allow-all, a deny list, or a "c *:N" rule leave systemd at DevicePolicy=auto (capsa\'s eBPF filter enforces)', () => {
  const auto = [['DevicePolicy', ['s', 'auto']], ['DeviceAllow', ['a(ss)', []]]];
  assert.equal(deviceProps([{ allow: true, access: 'rwm' }]), auto);
  assert.equal(deviceProps([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 11, access: 'w' }]), auto);
  assert.equal(deviceProps([{ allow: true, type: 'c', major: -1, minor: 5, access: 'r' }]), auto);
});

// ---- annotations

const PY = '/usr/bin/python3';
/** GLib's reading of GVariant text: [type string, value as JSON (64-bit integers as strings)]. */
function glibParse(text: string): [string, unknown] {
  const out = execFileSync(PY, ['-c', `
import json, sys
from gi.repository import GLib
v = GLib.Variant.parse(None, sys.argv[1], None, None)
def plain(x):
    if isinstance(x, (list, tuple)): return [plain(y) for y in x]
    if isinstance(x, bool): return x
    if isinstance(x, int): return str(x)
    return x
print(json.dumps([v.get_type_string(), plain(v.unpack())]))`, text], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out) as [string, unknown];
}
const plain = (x: unknown): unknown => (Array.isArray(x) ? x.map(plain) : typeof x === 'bigint' || (typeof x === 'number' && Number.isInteger(x)) ? String(x) : x);

test('GVariant text: the same types and values GLib reads', () => {
  for (const text of [
    'true', '42', '-7', '3.5', 'uint64 18446744073709551615', 'int64 -9223372036854775808', 'uint32 5', 'byte 0x7f', 'int16 -3',
    "'a string'", '"double \\"quoted\\""', "'tab\\there'", "objectpath '/org/x'", '@t 30', '@as []',
    "['a.service', 'b.service']", '[1, 2, 3]', '[uint64 1, 2]', "[('/dev/char/1:3', 'rwm')]", "(1, 'x', true)", '[@t 5, 6]',
  ]) {
    const [sig, value] = parseGVariantText(text);
    assert.equal([sig, plain(value)], glibParse(text), text);
  }
});

test('GVariant text: what GLib refuses is refused', () => {
  for (const text of ['[]', "[1, 'a']", 'byte 256', 'uint32 -1', "'unterminated", 'nonsense', '1 2', '[1,']) {
    assert.throws(() => parseGVariantText(text), undefined, text);
    assert.throws(() => glibParse(text), undefined, `GLib refuses ${text} too`);
  }
});

test('annotations: org.systemd.property.* become properties; ...Sec in seconds becomes ...USec in µs (as runc)', () => {
  const p = systemdPropertiesFromAnnotations({
    'org.systemd.property.CollectMode': "'inactive-or-failed'",
    'org.systemd.property.TimeoutStopSec': 'uint64 30',
    'org.systemd.property.RuntimeMaxSec': '1.5',
    'org.systemd.property.After': "['a.service']",
    'org.systemd.property.TimeoutStopUSec': 'uint64 7',
    'io.kubernetes.other': 'ignored',
  });
  assert.equal(p, [
    ['After', ['as', ['a.service']]],
    ['CollectMode', ['s', 'inactive-or-failed']],
    ['RuntimeMaxUSec', ['t', 1_500_000n]],
    ['TimeoutStopUSec', ['t', 30_000_000n]],
    ['TimeoutStopUSec', ['t', 7n]],
  ]);
});

test('annotations: a bad name or value is a one-line config error naming the annotation', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ 'org.systemd.property.Ab': '1' }, /annotation org\.systemd\.property\.Ab name incorrect: too short/],
    [{ 'org.systemd.property.Foo-Bar': '1' }, /name incorrect: contains non-alphabetic character/],
    [{ 'org.systemd.property.Foo': "'open" }, /annotation org\.systemd\.property\.Foo='open value parse error: unterminated string/],
    [{ 'org.systemd.property.TimeoutStopSec': "'soon'" }, /TimeoutStopSec='soon' value parse error: not a number/],
  ];
  for (const [a, re] of cases) {
    try {
      systemdPropertiesFromAnnotations(a);
      assert.unreachable(JSON.stringify(a));
    } catch (e) {
      assert.instance(e, CapsaError);
      assert.is((e as CapsaError).code, 'INVALID_CONFIG');
      assert.match((e as Error).message, re);
      assert.not.match((e as Error).message, /\n/);
      assert.is((e as CapsaError).configPath, `annotations["${Object.keys(a)[0]}"]`);
    }
  }
});

test('systemd\'s version string → its major number', () => {
  assert.is(systemdMajorVersion('252.39-1~deb12u2'), 252);
  assert.is(systemdMajorVersion('v245.4-1.fc32'), 245);
  assert.is(systemdMajorVersion('"249"'), 249);
  assert.is(systemdMajorVersion('unknown'), 0);
});

test.run();
