// config.json validation (src/spec/validate.ts) without root: a table of bad
// configs, each with the field the error must name, plus configs that must pass.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { parseSpec } from '../../src/spec/load';
import { defaultSpec } from '../../src/spec/defaults';
import { validateSpec } from '../../src/spec/validate';

type Raw = Record<string, any>;

function base(): Raw {
  const s = defaultSpec() as unknown as Raw;
  s.process.terminal = false;
  return JSON.parse(JSON.stringify(s)) as Raw;
}

function rejects(edit: (s: Raw) => void, configPath: string, msg?: RegExp | string): void {
  const s = base();
  edit(s);
  try {
    validateSpec(s, { requireProcess: true });
  } catch (e) {
    assert.instance(e, CapsaError);
    const err = e as CapsaError;
    assert.is(err.code, 'INVALID_CONFIG');
    assert.is(err.configPath, configPath, err.message);
    assert.ok(err.message.startsWith(`config.${configPath}: `), `message starts with the field: ${err.message}`);
    assert.not.match(err.message, '\n', 'one line');
    if (msg) assert.match(err.message, msg);
    return;
  }
  assert.unreachable(`accepted a config that should fail at ${configPath}`);
}

function accepts(edit: (s: Raw) => void): void {
  const s = base();
  edit(s);
  validateSpec(s, { requireProcess: true });
}

test('the default spec is valid', () => {
  accepts(() => {});
  const s = validateSpec(base());
  assert.is(s.ociVersion, defaultSpec().ociVersion);
});

const BAD: [string, (s: Raw) => void, string, (RegExp | string)?][] = [
  // top level
  ['ociVersion missing', (s) => { delete s.ociVersion; }, 'ociVersion', 'expected a string'],
  ['ociVersion not semver', (s) => { s.ociVersion = 'one'; }, 'ociVersion', 'not a semantic version'],
  ['ociVersion major 2', (s) => { s.ociVersion = '2.0.0'; }, 'ociVersion', '2.0.0'],
  ['ociVersion major 0', (s) => { s.ociVersion = '0.9.0'; }, 'ociVersion'],
  ['root missing', (s) => { delete s.root; }, 'root', 'expected an object'],
  ['root.path not a string', (s) => { s.root.path = 3; }, 'root.path', 'expected a string'],
  ['root.path empty', (s) => { s.root.path = ''; }, 'root.path', 'must not be empty'],
  ['root.readonly not a boolean', (s) => { s.root.readonly = 'yes'; }, 'root.readonly', 'expected a boolean'],
  ['hostname not a string', (s) => { s.hostname = 5; }, 'hostname'],
  ['hostname too long', (s) => { s.hostname = 'h'.repeat(65); }, 'hostname', '64'],
  ['domainname too long', (s) => { s.domainname = 'd'.repeat(65); }, 'domainname'],
  ['annotations value not a string', (s) => { s.annotations = { a: 1 }; }, 'annotations["a"]'],
  ['annotations an array', (s) => { s.annotations = ['a']; }, 'annotations', 'expected an object'],
  // process
  ['process missing (required for create)', (s) => { delete s.process; }, 'process', 'expected an object'],
  ['process.args missing', (s) => { delete s.process.args; }, 'process.args', 'at least one'],
  ['process.args empty', (s) => { s.process.args = []; }, 'process.args', 'at least one'],
  ['process.args[0] empty', (s) => { s.process.args = ['']; }, 'process.args[0]', 'must not be empty'],
  ['process.args[1] not a string', (s) => { s.process.args = ['sh', 1]; }, 'process.args[1]', 'expected a string'],
  ['process.args with a NUL byte', (s) => { s.process.args = ['sh\0x']; }, 'process.args[0]', 'NUL'],
  ['process.env entry without =', (s) => { s.process.env = ['PATH=/bin', 'NOEQUALS']; }, 'process.env[1]', 'KEY=VALUE'],
  ['process.env not an array', (s) => { s.process.env = 'PATH=/bin'; }, 'process.env', 'expected an array'],
  ['process.cwd missing', (s) => { delete s.process.cwd; }, 'process.cwd'],
  ['process.cwd relative', (s) => { s.process.cwd = 'tmp'; }, 'process.cwd', 'absolute'],
  ['process.user missing', (s) => { delete s.process.user; }, 'process.user', 'expected an object'],
  ['process.user.uid negative', (s) => { s.process.user.uid = -1; }, 'process.user.uid', 'out of range'],
  ['process.user.uid above 2^32-1', (s) => { s.process.user.uid = 2 ** 32; }, 'process.user.uid', 'out of range'],
  ['process.user.gid fractional', (s) => { s.process.user.gid = 1.5; }, 'process.user.gid', 'expected an integer'],
  ['process.user.umask above 0777', (s) => { s.process.user.umask = 0o1000; }, 'process.user.umask'],
  ['process.user.additionalGids[1] a string', (s) => { s.process.user.additionalGids = [1, 'two']; }, 'process.user.additionalGids[1]'],
  ['process.terminal not a boolean', (s) => { s.process.terminal = 1; }, 'process.terminal'],
  ['process.consoleSize.height negative', (s) => { s.process.consoleSize = { height: -1, width: 80 }; }, 'process.consoleSize.height'],
  ['process.capabilities.bounding not a list', (s) => { s.process.capabilities.bounding = 'CAP_KILL'; }, 'process.capabilities.bounding'],
  ['process.capabilities.effective[0] not a string', (s) => { s.process.capabilities.effective = [5]; }, 'process.capabilities.effective[0]'],
  ['process.rlimits[0].type missing', (s) => { s.process.rlimits = [{ soft: 1, hard: 1 }]; }, 'process.rlimits[0].type'],
  ['process.rlimits[0].soft negative', (s) => { s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: -1, hard: 1 }]; }, 'process.rlimits[0].soft'],
  ['process.rlimits[0].hard a string', (s) => { s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1, hard: '1' }]; }, 'process.rlimits[0].hard'],
  ['process.noNewPrivileges a string', (s) => { s.process.noNewPrivileges = 'true'; }, 'process.noNewPrivileges'],
  ['process.oomScoreAdj above 1000', (s) => { s.process.oomScoreAdj = 1001; }, 'process.oomScoreAdj', 'out of range'],
  ['process.oomScoreAdj below -1000', (s) => { s.process.oomScoreAdj = -1001; }, 'process.oomScoreAdj'],
  // mounts
  ['mounts not an array', (s) => { s.mounts = {}; }, 'mounts', 'expected an array'],
  ['mounts[0] not an object', (s) => { s.mounts[0] = 'proc'; }, 'mounts[0]'],
  ['mounts[2].destination relative', (s) => { s.mounts[2].destination = 'dev/pts'; }, 'mounts[2].destination', 'absolute'],
  ['mounts[1].destination missing', (s) => { delete s.mounts[1].destination; }, 'mounts[1].destination'],
  ['mounts[0].type a number', (s) => { s.mounts[0].type = 7; }, 'mounts[0].type'],
  ['mounts[0].options[1] a number', (s) => { s.mounts[0].options = ['ro', 1]; }, 'mounts[0].options[1]'],
  // linux
  ['linux a string', (s) => { s.linux = 'yes'; }, 'linux', 'expected an object'],
  ['unknown namespace type', (s) => { s.linux.namespaces.push({ type: 'bogus' }); }, 'linux.namespaces[5].type', 'bogus'],
  ['duplicate namespace type', (s) => { s.linux.namespaces.push({ type: 'pid' }); }, 'linux.namespaces[5]', 'duplicate'],
  ['namespace path relative', (s) => { s.linux.namespaces[1].path = 'proc/1/ns/net'; }, 'linux.namespaces[1].path', 'absolute'],
  ['uidMappings[0].size 0', (s) => { s.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 0 }]; }, 'linux.uidMappings[0].size'],
  ['gidMappings[0].hostID missing', (s) => { s.linux.gidMappings = [{ containerID: 0, size: 1 }]; }, 'linux.gidMappings[0].hostID'],
  ['devices[0].type unknown', (s) => { s.linux.devices = [{ type: 'x', path: '/dev/x', major: 1, minor: 1 }]; }, 'linux.devices[0].type', 'unknown device type'],
  ['devices[0].path relative', (s) => { s.linux.devices = [{ type: 'c', path: 'dev/x', major: 1, minor: 1 }]; }, 'linux.devices[0].path'],
  ['devices[0].major missing for a char device', (s) => { s.linux.devices = [{ type: 'c', path: '/dev/x', minor: 1 }]; }, 'linux.devices[0].major'],
  ['devices[0].minor too big', (s) => { s.linux.devices = [{ type: 'b', path: '/dev/x', major: 1, minor: 0x100000 }]; }, 'linux.devices[0].minor'],
  ['devices[0].fileMode with a fifo\'s file type on a char device', (s) => { s.linux.devices = [{ type: 'c', path: '/dev/x', major: 1, minor: 1, fileMode: 0o10000 }]; }, 'linux.devices[0].fileMode', 'do not match device type "c"'],
  ['devices[0].fileMode S_IFCHR on a block device', (s) => { s.linux.devices = [{ type: 'b', path: '/dev/x', major: 1, minor: 1, fileMode: 0o20660 }]; }, 'linux.devices[0].fileMode', 'do not match device type "b"'],
  ['devices[0].fileMode past st_mode', (s) => { s.linux.devices = [{ type: 'c', path: '/dev/x', major: 1, minor: 1, fileMode: 0o200000 }]; }, 'linux.devices[0].fileMode', 'out of range'],
  ['cgroupsPath with ..', (s) => { s.linux.cgroupsPath = '/a/../../b'; }, 'linux.cgroupsPath', '..'],
  ['rootfsPropagation a number', (s) => { s.linux.rootfsPropagation = 1; }, 'linux.rootfsPropagation'],
  ['sysctl value a number', (s) => { s.linux.sysctl = { 'net.ipv4.ip_forward': 1 }; }, 'linux.sysctl["net.ipv4.ip_forward"]'],
  ['sysctl key with ..', (s) => { s.linux.sysctl = { 'net..x': '1' }; }, 'linux.sysctl["net..x"]', 'invalid sysctl name'],
  ['sysctl key absolute', (s) => { s.linux.sysctl = { '/proc/sys/x': '1' }; }, 'linux.sysctl["/proc/sys/x"]'],
  ['maskedPaths[0] relative', (s) => { s.linux.maskedPaths = ['proc/kcore']; }, 'linux.maskedPaths[0]', 'absolute'],
  ['readonlyPaths[4] relative', (s) => { s.linux.readonlyPaths[4] = 'proc/sys'; }, 'linux.readonlyPaths[4]'],
  ['timeOffsets of an unknown clock', (s) => { s.linux.timeOffsets = { realtime: { secs: 1 } }; }, 'linux.timeOffsets.realtime', 'monotonic'],
  ['timeOffsets nanosecs out of range', (s) => { s.linux.timeOffsets = { boottime: { secs: 1, nanosecs: 1e9 } }; }, 'linux.timeOffsets.boottime.nanosecs'],
  // hooks
  ['hooks.prestart[0].path relative', (s) => { s.hooks = { prestart: [{ path: 'bin/hook' }] }; }, 'hooks.prestart[0].path', 'absolute'],
  ['hooks.poststop[0].timeout 0', (s) => { s.hooks = { poststop: [{ path: '/bin/hook', timeout: 0 }] }; }, 'hooks.poststop[0].timeout'],
  ['hooks.createRuntime[0].args[0] a number', (s) => { s.hooks = { createRuntime: [{ path: '/bin/hook', args: [1] }] }; }, 'hooks.createRuntime[0].args[0]'],
];

for (const [label, edit, configPath, msg] of BAD) {
  test(`rejects: ${label} → config.${configPath}`, () => rejects(edit, configPath, msg));
}

test('accepts: optional fields absent or null', () => {
  accepts((s) => { delete s.hostname; delete s.mounts; delete s.linux; delete s.annotations; });
  accepts((s) => { s.mounts = null; s.linux.namespaces = null; s.process.env = null; });
  accepts((s) => { delete s.process.capabilities; delete s.process.rlimits; });
});

test('accepts: boundary values', () => {
  accepts((s) => { s.ociVersion = '1.0.0'; });
  accepts((s) => { s.ociVersion = '1.9.99-dev'; });
  accepts((s) => { s.hostname = 'h'.repeat(64); });
  accepts((s) => { s.process.user.uid = 0xffffffff; s.process.user.umask = 0o777; });
  accepts((s) => { s.process.oomScoreAdj = -1000; });
  accepts((s) => { s.process.oomScoreAdj = 1000; });
  accepts((s) => { s.linux.devices = [{ type: 'p', path: '/dev/fifo' }]; });
  // podman sends the whole st_mode: 8630 = S_IFCHR|0666
  accepts((s) => { s.linux.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 8630 }, { type: 'u', path: '/dev/u', major: 1, minor: 3, fileMode: 0o20600 }]; });
  accepts((s) => { s.linux.devices = [{ type: 'b', path: '/dev/loop0', major: 7, minor: 0, fileMode: 0o60660 }, { type: 'p', path: '/dev/f', fileMode: 0o10644 }]; });
  accepts((s) => { s.linux.timeOffsets = { boottime: { secs: -5, nanosecs: 999999999 }, monotonic: {} }; });
  accepts((s) => { s.process.env = ['EMPTY=', 'A=b=c']; });
});

test('a config without process is valid for validateSpec, but not for create (parseSpec)', () => {
  const s = base();
  delete s.process;
  validateSpec(s);
  try {
    parseSpec(JSON.stringify(s));
    assert.unreachable('parseSpec requires a process');
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).configPath, 'process');
  }
});

test('parseSpec: invalid JSON is one line naming the file', () => {
  try {
    parseSpec('{"ociVersion": ', '/b/config.json');
    assert.unreachable('invalid JSON accepted');
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).code, 'INVALID_CONFIG');
    assert.match((e as Error).message, /^\/b\/config\.json: invalid JSON: /);
    assert.not.match((e as Error).message, '\n');
  }
});

test('parseSpec: a non-object document is refused', () => {
  for (const doc of ['[]', '"x"', 'null', '42']) {
    try {
      parseSpec(doc);
      assert.unreachable(`${doc} accepted`);
    } catch (e) {
      assert.instance(e, CapsaError, doc);
      assert.match((e as Error).message, 'expected an object');
    }
  }
});

test('linux.netDevices (runtime-spec 1.3): link names as the kernel allows them, each target name once', () => {
  const net = (d: unknown) => (s: Raw) => { s.linux.netDevices = d; };
  accepts(net({ eth1: {}, dummy0: { name: 'ctr0' }, veth9: { name: 'eth%d' } }));
  rejects(net([]), 'linux.netDevices', /expected an object/);
  rejects(net({ eth1: 'ctr0' }), 'linux.netDevices["eth1"]', /expected an object/);
  rejects(net({ 'a/b': {} }), 'linux.netDevices["a/b"]', /not a valid network device name/);
  rejects(net({ '': {} }), 'linux.netDevices[""]', /1 to 15 bytes/);
  rejects(net({ eth1: { name: 'x'.repeat(16) } }), 'linux.netDevices["eth1"].name', /1 to 15 bytes/);
  rejects(net({ eth1: { name: 'a b' } }), 'linux.netDevices["eth1"].name', /whitespace/);
  rejects(net({ eth1: { name: 'a:b' } }), 'linux.netDevices["eth1"].name', /":"/);
  rejects(net({ eth1: { name: '..' } }), 'linux.netDevices["eth1"].name');
  rejects(net({ eth1: { name: 'e%s' } }), 'linux.netDevices["eth1"].name', /"%d"/);
  rejects(net({ eth1: { name: 'e%d%d' } }), 'linux.netDevices["eth1"].name', /"%d"/);
  rejects(net({ 'e%d': {} }), 'linux.netDevices["e%d"]', /host device/);
  rejects(net({ eth1: { name: 'ctr0' }, eth2: { name: 'ctr0' } }), 'linux.netDevices["eth2"].name', /also the name of linux\.netDevices\["eth1"\]/);
  rejects(net({ eth1: {}, eth2: { name: 'eth1' } }), 'linux.netDevices["eth2"].name');
  rejects(net({ eth1: { name: 7 } }), 'linux.netDevices["eth1"].name', /expected a string/);
});

test('linux.intelRdt: closID a group name or "/", schemata lines without newlines, memBwSchema "MB:"', () => {
  const rdt = (d: unknown) => (s: Raw) => { s.linux.intelRdt = d; };
  accepts(rdt({ closID: 'gold', l3CacheSchema: 'L3:0=ff', memBwSchema: 'MB:0=50', schemata: ['L2:0=f'], enableMonitoring: true }));
  accepts(rdt({ closID: '/' }));
  accepts(rdt({}));
  for (const bad of ['', '.', '..', 'a/b', '/x', 'a b']) rejects(rdt({ closID: bad }), 'linux.intelRdt.closID', /not a resctrl group name/);
  rejects(rdt({ memBwSchema: 'L3:0=ff' }), 'linux.intelRdt.memBwSchema', /must start with "MB:"/);
  rejects(rdt({ l3CacheSchema: 'L3:0=ff\nMB:0=1' }), 'linux.intelRdt.l3CacheSchema', /newline/);
  rejects(rdt({ schemata: ['L3:0=ff', 'MB:0=1\nL2:0=1'] }), 'linux.intelRdt.schemata[1]', /newline/);
  rejects(rdt({ schemata: 'L3:0=ff' }), 'linux.intelRdt.schemata', /expected an array/);
  rejects(rdt({ enableMonitoring: 'yes' }), 'linux.intelRdt.enableMonitoring', /expected a boolean/);
});

test('a long wrong value is cut in the message', () => {
  const s = base();
  s.process.user.uid = 'x'.repeat(500);
  try {
    validateSpec(s);
    assert.unreachable('a string uid accepted');
  } catch (e) {
    assert.match((e as Error).message, /^config\.process\.user\.uid: expected an integer, got "x{40}…"$/);
  }
});

test.run();
