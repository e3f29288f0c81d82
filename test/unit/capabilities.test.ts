import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CapsaError } from '../../src/errors';
import {
  CAPABILITY_NAMES,
  LAST_KNOWN_CAP,
  capabilityMask,
  capabilityNames,
  capabilityNumber,
  splitByHostSupport,
} from '../../src/spec/capabilities';

test('names and numbers follow linux/capability.h', () => {
  assert.is(CAPABILITY_NAMES.length, 41);
  assert.is(LAST_KNOWN_CAP, 40);
  const spot: Array<[string, number]> = [
    ['CAP_CHOWN', 0],
    ['CAP_KILL', 5],
    ['CAP_SETPCAP', 8],
    ['CAP_NET_BIND_SERVICE', 10],
    ['CAP_NET_RAW', 13],
    ['CAP_SYS_CHROOT', 18],
    ['CAP_SYS_ADMIN', 21],
    ['CAP_MKNOD', 27],
    ['CAP_AUDIT_WRITE', 29],
    ['CAP_SETFCAP', 31],
    ['CAP_MAC_OVERRIDE', 32],
    ['CAP_SYSLOG', 34],
    ['CAP_AUDIT_READ', 37],
    ['CAP_PERFMON', 38],
    ['CAP_BPF', 39],
    ['CAP_CHECKPOINT_RESTORE', 40],
  ];
  for (const [name, nr] of spot) assert.is(capabilityNumber(name), nr, name);
  assert.is(new Set(CAPABILITY_NAMES).size, 41, 'no duplicates');
  assert.is(capabilityNumber('CAP_NOPE'), undefined);
  assert.is(capabilityNumber('cap_chown'), undefined, 'names are exact');
  assert.is(capabilityNumber('toString'), undefined, 'no prototype lookups');
});

test('capabilityMask sets bit n for capability n', () => {
  assert.is(capabilityMask([], 'process.capabilities.bounding').mask, 0n);
  assert.is(capabilityMask(['CAP_CHOWN'], 'f').mask, 1n);
  assert.is(capabilityMask(['CAP_KILL', 'CAP_CHOWN', 'CAP_KILL'], 'f').mask, 0b100001n);
  assert.is(capabilityMask(['CAP_CHECKPOINT_RESTORE'], 'f').mask, 1n << 40n);
  assert.is(capabilityMask([...CAPABILITY_NAMES], 'f').mask, (1n << 41n) - 1n);
  // docker's default set
  const docker = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];
  assert.is(capabilityMask(docker, 'f').mask, 0xa80425fbn);
});

test('capabilityMask: an unknown name is an INVALID_CONFIG error naming the field', () => {
  const field = 'process.capabilities.effective';
  try {
    capabilityMask(['CAP_CHOWN', 'CAP_FLY'], field);
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, CapsaError);
    const err = e as CapsaError;
    assert.is(err.code, 'INVALID_CONFIG');
    assert.is(err.configPath, field);
    assert.is(err.message, 'process.capabilities.effective: unknown capability "CAP_FLY"');
  }
  assert.throws(() => capabilityMask([42 as unknown as string], field), /unknown capability "42"/);
});

test('capabilityNames inverts capabilityMask', () => {
  const names = ['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_BPF'];
  assert.equal(capabilityNames(capabilityMask(names, 'f').mask), names);
  assert.equal(capabilityNames(1n << 63n), [], 'bits beyond the table are ignored');
});

test('splitByHostSupport keeps caps up to the host last cap, in order', () => {
  const names = ['CAP_CHOWN', 'CAP_BPF', 'CAP_SYS_ADMIN', 'CAP_CHECKPOINT_RESTORE', 'CAP_PERFMON'];
  assert.equal(splitByHostSupport(names, 40), { supported: names, unsupported: [] });
  // a 5.4-era kernel: cap_last_cap is 37 (CAP_AUDIT_READ)
  assert.equal(splitByHostSupport(names, 37), {
    supported: ['CAP_CHOWN', 'CAP_SYS_ADMIN'],
    unsupported: ['CAP_BPF', 'CAP_CHECKPOINT_RESTORE', 'CAP_PERFMON'],
  });
  assert.equal(splitByHostSupport([], 37), { supported: [], unsupported: [] });
  assert.throws(() => splitByHostSupport(['CAP_NOPE'], 40, 'process.capabilities.bounding'), /process.capabilities.bounding: unknown capability "CAP_NOPE"/);
});

test.run();
