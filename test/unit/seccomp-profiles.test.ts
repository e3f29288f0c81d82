// The real profiles of test/fixtures/seccomp-profiles, without root: the
// template filtering reproduces what podman really sent, every profile
// compiles within the kernel's limits, and the compiled filters decide the
// syscalls that matter as the engines meant (through the BPF interpreter).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { AUDIT_ARCH, MAX_INSTRUCTIONS, SECCOMP_RET, compileSeccomp } from '../../src/seccomp';
import { X86_64_SYSCALLS as NR } from '../../src/seccomp/tables/x86_64';
import { runFilter } from '../helpers/bpf-interpreter';
import { PODMAN_DEFAULT_CAPS, PROFILE_DIR, realProfiles, toOci } from '../helpers/seccomp-profiles';

const ALLOW = SECCOMP_RET.ALLOW;
const EPERM = SECCOMP_RET.ERRNO | 1;
const ENOSYS = SECCOMP_RET.ERRNO | 38;
const read = (f: string) => JSON.parse(fs.readFileSync(path.join(PROFILE_DIR, f), 'utf8'));

test('toOci filters podman\'s template into exactly what podman 4.3.1 wrote into config.json', () => {
  const normal = (p: any) => ({
    ...p,
    syscalls: p.syscalls.map((r: any) => ({ names: r.names, action: r.action, errnoRet: r.errnoRet, args: (r.args ?? []).map((a: any) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op })) })),
  });
  const mine = toOci(read('podman-containers-common-0.50.1.json'), { caps: PODMAN_DEFAULT_CAPS, kernel: [6, 18] });
  assert.equal(normal(mine), normal(read('podman-4.3.1-oci.json')));
});

const decide = (program: Buffer, name: string, args: bigint[] = []) => runFilter(program, { nr: NR[name]!, arch: AUDIT_ARCH.X86_64, args });

const WANT: Record<string, Record<string, number>> = {
  'docker 19.03': { read: ALLOW, openat: ALLOW, mount: EPERM, clone3: ENOSYS, openat2: ENOSYS, faccessat2: ENOSYS, close_range: ENOSYS },
  'docker 20.10': { read: ALLOW, mount: EPERM, clone3: ENOSYS, openat2: ALLOW, faccessat2: ALLOW, close_range: ALLOW },
  'docker current': { read: ALLOW, mount: EPERM, clone3: ENOSYS, openat2: ALLOW, close_range: ALLOW },
  // podman leaves mount, unshare and namespace flags to the capabilities; a call it does not list is ENOSYS
  'podman (containers-common 0.50.1)': { read: ALLOW, mount: ALLOW, kexec_load: EPERM, clone3: ALLOW, openat2: ALLOW, sethostname: EPERM, lookup_dcookie: EPERM },
  'containerd 1.6.20 RuntimeDefault': { read: ALLOW, mount: EPERM, clone3: ENOSYS, openat2: ALLOW },
};

for (const p of realProfiles()) {
  test(`${p.name}: compiles for x86_64 (+x86, x32) within the kernel limit and decides as meant`, () => {
    const { program, warnings, notes } = compileSeccomp(p.oci, 'x64', { specAllowSupported: true });
    assert.ok(program.length / 8 < MAX_INSTRUCTIONS, `${program.length / 8} instructions`);
    // every name these profiles list exists on some ABI: nothing to warn about, only debug notes
    assert.equal(warnings, []);
    assert.ok(notes.every((w) => /is not known on/.test(w)), notes.join('\n'));
    for (const [name, want] of Object.entries(WANT[p.name]!)) assert.is(decide(program, name), want, name);
    assert.is(decide(program, 'clone', [0x11n]), ALLOW, 'clone(SIGCHLD|...)');
    // docker and containerd: namespace flags on clone need CAP_SYS_ADMIN, which the container lacks
    if (!p.name.startsWith('podman')) assert.is(decide(program, 'clone', [0x20000n]), EPERM, 'clone(CLONE_NEWNS)');
  });
}

test.run();
