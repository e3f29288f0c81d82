import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { defaultSpec, rootlessSpec, SPEC_OCI_VERSION } from '../../src/spec/defaults';
import { REPO_ROOT } from '../helpers/rootfs';

// Captured from `runc spec` (runc 1.1.5); only ociVersion differs by design.
const RUNC_SPEC_TEXT = fs.readFileSync(path.join(REPO_ROOT, 'test/fixtures/runc-spec.json'), 'utf8');

test('defaultSpec matches runc spec apart from ociVersion', () => {
  const expected = JSON.parse(RUNC_SPEC_TEXT);
  expected.ociVersion = SPEC_OCI_VERSION;
  assert.equal(defaultSpec(), expected);
});

test('defaultSpec serializes with runc key order', () => {
  const expectedText = RUNC_SPEC_TEXT.replace(/"ociVersion": "[^"]*"/, `"ociVersion": "${SPEC_OCI_VERSION}"`);
  assert.is(JSON.stringify(defaultSpec(), null, '\t'), expectedText.trimEnd());
});

test('defaultSpec returns an independent copy each call', () => {
  const a = defaultSpec();
  a.process!.capabilities!.bounding!.push('CAP_SYS_ADMIN');
  a.mounts!.pop();
  a.linux!.maskedPaths!.length = 0;
  const b = defaultSpec();
  assert.is(b.process!.capabilities!.bounding!.length, 3);
  assert.is(b.mounts!.length, 7);
  assert.is(b.linux!.maskedPaths!.length, 10);
});

test('rootlessSpec maps the given ids into a user namespace', () => {
  const spec = rootlessSpec(1234, 5678);
  assert.equal(spec.linux!.uidMappings, [{ containerID: 0, hostID: 1234, size: 1 }]);
  assert.equal(spec.linux!.gidMappings, [{ containerID: 0, hostID: 5678, size: 1 }]);
  assert.equal(spec.linux!.namespaces!.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount', 'user']);
  assert.is(spec.linux!.resources, undefined);
  assert.equal(spec.linux!.maskedPaths, defaultSpec().linux!.maskedPaths);
  assert.equal(spec.linux!.readonlyPaths, defaultSpec().linux!.readonlyPaths);
});

test('rootlessSpec binds /sys and drops devpts gid=5, like runc', () => {
  const spec = rootlessSpec(0, 0);
  const sys = spec.mounts!.find((m) => m.destination === '/sys')!;
  assert.equal(sys, { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
  const pts = spec.mounts!.find((m) => m.destination === '/dev/pts')!;
  assert.equal(pts.options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620']);
  assert.is(spec.mounts!.length, 7);
  // Everything outside mounts and linux is the same as the default spec.
  const { mounts: _m, linux: _l, ...rest } = spec;
  const { mounts: _dm, linux: _dl, ...defaultRest } = defaultSpec();
  assert.equal(rest, defaultRest);
});

test('rootlessSpec keys of linux follow runc order', () => {
  assert.equal(Object.keys(rootlessSpec(0, 0).linux!), ['uidMappings', 'gidMappings', 'namespaces', 'maskedPaths', 'readonlyPaths']);
});

test('on a pure cgroup v2 host runc spec adds a cgroup namespace (last; rootless: before user)', () => {
  assert.equal(defaultSpec({ cgroupNamespace: true }).linux!.namespaces!.map((n) => n.type), ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup']);
  assert.equal(rootlessSpec(1, 1, { cgroupNamespace: true }).linux!.namespaces!.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount', 'cgroup', 'user']);
  assert.not.ok(defaultSpec().linux!.namespaces!.some((n) => n.type === 'cgroup'));
});

test.run();
