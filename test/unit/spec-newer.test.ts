// ociVersion handling for runtime-spec 1.3 (src/spec/known-fields.ts,
// src/spec/validate.ts): 1.3.0 is accepted as it is; a config that claims a
// newer minor version and names fields capsa does not know gets one warning
// naming them; unknown fields of a version capsa knows are ignored silently
// (config.md: runtimes MUST ignore unknown properties).
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { defaultSpec, SPEC_OCI_VERSION } from '../../src/spec/defaults';
import { newerSpecWarning, unknownFields } from '../../src/spec/known-fields';
import { validateSpec } from '../../src/spec/validate';

type Raw = Record<string, any>;

function config(version: string, edit: (s: Raw) => void = () => {}): Raw {
  const s = JSON.parse(JSON.stringify(defaultSpec())) as Raw;
  s.ociVersion = version;
  edit(s);
  return s;
}

test('capsa implements runtime-spec 1.3.0, and a 1.3.0 config with every 1.3 field validates', () => {
  assert.is(SPEC_OCI_VERSION, '1.3.0');
  const s = config('1.3.0', (c) => {
    c.linux.netDevices = { eth1: { name: 'ctr0' } };
    c.linux.intelRdt = { closID: 'gold', schemata: ['L3:0=ff'], enableMonitoring: true };
    c.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_STATIC_NODES'] };
    c.process.scheduler = { policy: 'SCHED_OTHER', nice: 1 };
    c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 4 };
    c.process.execCPUAffinity = { initial: '0', final: '0' };
    c.linux.resources = { memory: { useHierarchy: true, checkBeforeUpdate: true }, cpu: { idle: 0, burst: 0 } };
    c.mounts.push({ destination: '/m', source: '/tmp', type: 'bind', options: ['bind', 'idmap'], uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] });
  });
  validateSpec(s, { requireProcess: true });
  assert.equal(unknownFields(s), [], 'every field of that config is a 1.3 field');
  assert.is(newerSpecWarning(s), undefined);
});

test('unknown fields are found at any depth, in arrays (once per property) and maps', () => {
  const s = config('1.3.0', (c) => {
    c.fancy = 1;
    c.process.capabilities.extraSet = [];
    c.mounts[0].shiny = true;
    c.mounts[1].shiny = true;
    c.linux.resources = { memory: { limit: 1, future: 2 }, rdma: { mlx: { hcaHandles: 1, other: 3 } } };
    c.linux.sysctl = { 'any.key.at.all': '1' };
    c.annotations = { 'whatever.key': 'v' };
    c.linux.netDevices = { eth0: { name: 'x', mtu: 9000 } };
  });
  assert.equal(unknownFields(s).sort(), [
    'fancy', 'linux.netDevices["eth0"].mtu', 'linux.resources.memory.future', 'linux.resources.rdma["mlx"].other',
    'mounts[].shiny', 'process.capabilities.extraSet',
  ]);
});

test('a newer minor version with unknown fields: one line naming them; without unknown fields or for 1.3 and older: nothing', () => {
  const w = newerSpecWarning(config('1.4.0', (c) => { c.linux.fancyThing = {}; c.process.newKnob = 1; }));
  assert.ok(w, 'a warning');
  assert.not.match(w!, '\n');
  assert.match(w!, /^config\.ociVersion: 1\.4\.0 is newer than the runtime-spec 1\.3\.0 capsa implements; ignoring the fields it does not know: /);
  assert.match(w!, /linux\.fancyThing/);
  assert.match(w!, /process\.newKnob/);
  assert.is(newerSpecWarning(config('1.4.0')), undefined, 'nothing unknown: nothing to say');
  assert.is(newerSpecWarning(config('1.3.0', (c) => { c.linux.fancyThing = {}; })), undefined, 'a known version: ignored silently');
  assert.is(newerSpecWarning(config('1.0.2', (c) => { c.linux.fancyThing = {}; })), undefined);
  assert.is(newerSpecWarning(config('1.3.1', (c) => { c.linux.fancyThing = {}; })), undefined, 'a patch release adds no fields');
});

test('a long list of unknown fields is cut to ten', () => {
  const w = newerSpecWarning(config('1.9.0', (c) => { for (let i = 0; i < 14; i++) c[`f${i}`] = i; }))!;
  assert.match(w, /f9 and 4 more$/);
});

test('a newer config still validates (1.x), and a 2.x one is refused naming ociVersion', () => {
  validateSpec(config('1.4.0', (c) => { c.linux.fancyThing = {}; }), { requireProcess: true });
  assert.throws(() => validateSpec(config('2.0.0'), { requireProcess: true }), /config\.ociVersion: unsupported major version/);
});

test.run();
