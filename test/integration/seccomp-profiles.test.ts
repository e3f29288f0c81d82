// The engines' real default seccomp profiles (test/fixtures/seccomp-profiles:
// Docker 19.03, 20.10.24, current; podman 4.3's containers-common; containerd
// 1.6's RuntimeDefault), each with noNewPrivileges true and false, as root
// with real containers. Inside, `testinit glibc` makes the new syscalls raw
// (clone3, openat2, faccessat2, close_range) and through this host's glibc
// (2.36: pthread_create and posix_spawn try clone3 first, faccessat(AT_EACCESS)
// faccessat2, closefrom close_range), so a profile that breaks programs built
// against a recent glibc fails here, not for a user.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Seccomp } from '../../src/spec/types';
import { makeBundle } from '../helpers/bundle';
import { runCommand } from '../helpers/capsa';
import { findRunc } from '../helpers/engines/common';
import { securitySuite, all, cmd, securityHarness, securityRootfs, ID_PREFIX, type Config } from '../helpers/hostile-rootfs';
import { PROFILE_DIR, realProfiles } from '../helpers/seccomp-profiles';

const suite = securitySuite('seccomp-profiles');
const { test } = suite;
const { runOk } = securityHarness(suite);

const seccomp = (profile: Seccomp): Config => (s) => { s.linux!.seccomp = profile; };
const nnp = (on: boolean): Config => (s) => { s.process!.noNewPrivileges = on; };
const tester: Config = (s) => { s.process!.user = { uid: 1000, gid: 1000 }; s.process!.cwd = '/home/tester'; };

const FALLBACKS_WORK = 'thread=ok\nspawn=ok\nfaccessat=ok\nclosefrom=ok\n';
// What the kernel answers, per profile, on this (x86_64) host.
const EXPECTED: Record<string, string> = {
  // 2019 allow-list: all four unknown to it; the ENOSYS stub lets glibc fall back
  'docker 19.03': 'clone3=ENOSYS\nopenat2=ENOSYS\nfaccessat2=ENOSYS\nclose_range=ENOSYS\n' + FALLBACKS_WORK,
  // clone3 has an explicit ERRNO(ENOSYS) rule (no CAP_SYS_ADMIN); the others are allowed
  'docker 20.10': 'clone3=ENOSYS\nopenat2=ok\nfaccessat2=ok\nclose_range=ok\n' + FALLBACKS_WORK,
  'docker current': 'clone3=ENOSYS\nopenat2=ok\nfaccessat2=ok\nclose_range=ok\n' + FALLBACKS_WORK,
  // clone3 allowed: EINVAL is the kernel's answer to clone3(NULL, 0)
  'podman (containers-common 0.50.1)': 'clone3=EINVAL\nopenat2=ok\nfaccessat2=ok\nclose_range=ok\n' + FALLBACKS_WORK,
  'containerd 1.6.20 RuntimeDefault': 'clone3=ENOSYS\nopenat2=ok\nfaccessat2=ok\nclose_range=ok\n' + FALLBACKS_WORK,
};

const PROFILES = realProfiles();

test('every profile in the fixture dir has an expectation here', () => {
  assert.equal(PROFILES.map((p) => p.name).sort(), Object.keys(EXPECTED).sort());
  for (const p of PROFILES) assert.ok(fs.existsSync(path.join(PROFILE_DIR, p.file)), p.file);
});

for (const p of PROFILES) {
  for (const on of [false, true]) {
    test(`${p.name} profile, noNewPrivileges ${on}: the container starts (root and a user in its home), new syscalls and glibc's fallbacks answer as expected`, async () => {
      const base = all(nnp(on), seccomp(p.oci));
      assert.is(await runOk(all(base, cmd('glibc'))), EXPECTED[p.name]);
      assert.is(await runOk(all(base, tester, cmd('glibc'))), EXPECTED[p.name], 'as uid 1000');
      assert.is(await runOk(all(base, tester, cmd('cwd'))), '/home/tester\n');
      assert.is(await runOk(all(base, cmd('seccomp'))), 'Seccomp:\t2\n');
    });
  }
}

// The same containers under runc, when the host has it: capsa must answer as runc does.
const runc = findRunc();
const haveRunc = fs.existsSync(runc);
(haveRunc ? test : test.skip)(`every profile, both noNewPrivileges settings: capsa's answers are runc's${haveRunc ? '' : ' [SKIPPED: runc is not installed]'}`, async () => {
  const root = `${suite.root}-runc`;
  try {
    for (const p of PROFILES) {
      for (const on of [false, true]) {
        const config = all(nnp(on), seccomp(p.oci), cmd('glibc'));
        const b = makeBundle({ config, rootfs: securityRootfs(), idPrefix: ID_PREFIX });
        try {
          const r = await runCommand(runc, ['--root', root, 'run', '-b', b.dir, b.id]);
          assert.is(r.code, 0, `runc: ${r.stderr}`);
          assert.is(await runOk(config), r.stdout, `${p.name}, noNewPrivileges ${on}`);
        } finally {
          await runCommand(runc, ['--root', root, 'delete', '--force', b.id]);
          b.cleanup();
        }
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test.run();
