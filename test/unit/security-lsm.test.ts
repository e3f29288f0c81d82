import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { detectLsm, planContainerLsm, planProcessLsm, type LsmFacts } from '../../src/security/lsm';
import type { Spec } from '../../src/spec/types';

const NONE: LsmFacts = { apparmor: false, selinux: false };
const BOTH: LsmFacts = { apparmor: true, selinux: true };

function throwsConfig(fn: () => unknown, configPath: string, text: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).code, 'INVALID_CONFIG');
    assert.is((e as CapsaError).configPath, configPath);
    assert.match((e as CapsaError).message, text);
    assert.ok(!(e as CapsaError).message.includes('\n'), 'one line');
    return;
  }
  assert.unreachable(`expected an INVALID_CONFIG error for ${configPath}`);
}

test('no labels: nothing to do, no warnings, on any host', () => {
  for (const facts of [NONE, BOTH]) assert.equal(planProcessLsm({}, facts), { warnings: [] });
});

test('apparmorProfile without AppArmor: ignored with one warning naming the field', () => {
  const plan = planProcessLsm({ apparmorProfile: 'docker-default' }, NONE);
  assert.is(plan.apparmorExec, undefined);
  assert.equal(plan.warnings, ['process.apparmorProfile: AppArmor is not enabled on this host, ignoring profile "docker-default"']);
});

test('apparmorProfile "unconfined" without AppArmor: ignored silently', () => {
  assert.equal(planProcessLsm({ apparmorProfile: 'unconfined' }, NONE), { warnings: [] });
});

test('apparmorProfile with AppArmor: applied at exec', () => {
  assert.equal(planProcessLsm({ apparmorProfile: 'docker-default' }, BOTH), { apparmorExec: 'docker-default', warnings: [] });
});

test('selinuxLabel without SELinux: runc\'s error, naming the field', () => {
  throwsConfig(() => planProcessLsm({ selinuxLabel: 'system_u:system_r:container_t:s0' }, NONE), 'process.selinuxLabel',
    /^config\.process\.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported$/);
});

test('selinuxLabel with SELinux: applied at exec; levels may hold colons', () => {
  assert.equal(planProcessLsm({ selinuxLabel: 'system_u:system_r:container_t:s0:c1,c2' }, BOTH), { selinuxExec: 'system_u:system_r:container_t:s0:c1,c2', warnings: [] });
});

test('an empty selinuxLabel means none', () => {
  assert.equal(planProcessLsm({ selinuxLabel: '' }, NONE), { warnings: [] });
});

test('malformed labels fail whether or not the LSM is enabled', () => {
  for (const facts of [NONE, BOTH]) {
    throwsConfig(() => planProcessLsm({ apparmorProfile: '' }, facts), 'process.apparmorProfile', /must not be empty/);
    throwsConfig(() => planProcessLsm({ apparmorProfile: 'a\nchangeprofile b' }, facts), 'process.apparmorProfile', /not an AppArmor profile name/);
    throwsConfig(() => planProcessLsm({ apparmorProfile: 'two words' }, facts), 'process.apparmorProfile', /not an AppArmor profile name/);
    throwsConfig(() => planProcessLsm({ selinuxLabel: 'container_t' }, facts), 'process.selinuxLabel', /not an SELinux label/);
    throwsConfig(() => planProcessLsm({ selinuxLabel: 'u::t:s0' }, facts), 'process.selinuxLabel', /not an SELinux label/);
    throwsConfig(() => planProcessLsm({ selinuxLabel: 'u:r:t:s0\u0000' }, facts), 'process.selinuxLabel', /not an SELinux label/);
  }
});

test('exec processes are named by the prefix given', () => {
  throwsConfig(() => planProcessLsm({ selinuxLabel: 'u:r:t' }, NONE, 'exec.process'), 'exec.process.selinuxLabel', /selinux is disabled/);
});

test('linux.mountLabel: ignored without SELinux, used with it, checked on both', () => {
  const spec = (mountLabel: string): Spec => ({ ociVersion: '1.2.0', linux: { mountLabel } }) as Spec;
  assert.equal(planContainerLsm(spec('system_u:object_r:container_file_t:s0'), NONE), { warnings: [] });
  assert.equal(planContainerLsm(spec('system_u:object_r:container_file_t:s0'), BOTH), { mountLabel: 'system_u:object_r:container_file_t:s0', warnings: [] });
  throwsConfig(() => planContainerLsm(spec('nonsense'), NONE), 'linux.mountLabel', /not an SELinux label/);
});

test('detectLsm reads securityfs/module and selinuxfs paths', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-lsm-'));
  try {
    const paths = {
      apparmorSecurityfs: path.join(dir, 'security/apparmor'),
      apparmorEnabled: path.join(dir, 'apparmor-enabled'),
      selinuxEnforce: path.join(dir, 'selinux/enforce'),
    };
    assert.equal(detectLsm(paths), NONE);
    fs.mkdirSync(paths.apparmorSecurityfs, { recursive: true });
    fs.writeFileSync(paths.apparmorEnabled, 'N\n');
    assert.equal(detectLsm(paths), NONE, 'module present but disabled');
    fs.writeFileSync(paths.apparmorEnabled, 'Y\n');
    assert.equal(detectLsm(paths), { apparmor: true, selinux: false });
    fs.mkdirSync(path.dirname(paths.selinuxEnforce), { recursive: true });
    fs.writeFileSync(paths.selinuxEnforce, '1');
    assert.equal(detectLsm(paths), BOTH);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
