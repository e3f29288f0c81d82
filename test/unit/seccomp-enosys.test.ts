// The ENOSYS stub, run through the BPF interpreter: a syscall newer than every
// syscall the profile names answers ENOSYS (so glibc falls back: clone3 ->
// clone, faccessat2 -> faccessat, close_range, openat2), per ABI, while
// everything the profile names, and every older unnamed call, keeps its action.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AUDIT_ARCH, SECCOMP_RET, X32_SYSCALL_BIT, compileSeccomp } from '../../src/seccomp';
import { X86_64_SYSCALLS } from '../../src/seccomp/tables/x86_64';
import type { Seccomp } from '../../src/spec/types';
import { disassemble, runFilter } from '../helpers/bpf-interpreter';

const ALLOW = SECCOMP_RET.ALLOW;
const EPERM = SECCOMP_RET.ERRNO | 1;
const ENOSYS = SECCOMP_RET.ERRNO | 38;

// Kernel table numbers, written out so the generated tables are checked too.
const X86_64 = { read: 0, mount: 165, io_pgetevents: 333, rseq: 334, clone3: 435, close_range: 436, openat2: 437, faccessat2: 439, file_setattr: 469 };
const I386 = { read: 3, mount: 21, statx: 383, rseq: 386, clone3: 435, openat2: 437 };
const AARCH64 = { read: 63, mount: 40, rseq: 293, clone3: 435, openat2: 437 };
const ARM = { read: 3, mount: 21, rseq: 398, clone3: 435, openat2: 437, cacheflush: 0x0f0002, set_tls: 0x0f0005, get_tls: 0x0f0006 };
const X32 = { read: 0, mount: 165, rseq: 334, clone3: 435, openat2: 437, execve: 520, readv: 515, pwritev2: 547 };

function decide(program: Buffer, arch: number, nr: number): number {
  return runFilter(program, { nr, arch });
}

function expect(program: Buffer, cases: Array<[string, number, number, number]>): void {
  for (const [what, arch, nr, want] of cases) {
    const got = decide(program, arch, nr);
    if (got !== want) assert.unreachable(`${what}: got 0x${got.toString(16)}, want 0x${want.toString(16)}\n${disassemble(program)}`);
  }
}

// An allow-list of the 2019 kind: nothing newer than rseq (334 on x86_64).
const OLD_NAMES = ['read', 'write', 'openat', 'io_pgetevents', 'rseq', 'statx', 'execve', 'clone', 'exit_group'];
const oldProfile = (extra: Partial<Seccomp> = {}): Seccomp => ({
  defaultAction: 'SCMP_ACT_ERRNO',
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  syscalls: [{ names: OLD_NAMES, action: 'SCMP_ACT_ALLOW' }],
  ...extra,
});

test('x86_64: calls newer than the newest named one answer ENOSYS; older unnamed ones keep the default (EPERM)', () => {
  const { program } = compileSeccomp(oldProfile(), 'x64');
  expect(program, [
    ['read (named)', AUDIT_ARCH.X86_64, X86_64.read, ALLOW],
    ['rseq (named, the newest)', AUDIT_ARCH.X86_64, X86_64.rseq, ALLOW],
    ['mount (unnamed, older)', AUDIT_ARCH.X86_64, X86_64.mount, EPERM],
    ['333 io_pgetevents (named)', AUDIT_ARCH.X86_64, X86_64.io_pgetevents, ALLOW],
    ['335 (unnamed, newer)', AUDIT_ARCH.X86_64, 335, ENOSYS],
    ['clone3', AUDIT_ARCH.X86_64, X86_64.clone3, ENOSYS],
    ['close_range', AUDIT_ARCH.X86_64, X86_64.close_range, ENOSYS],
    ['openat2', AUDIT_ARCH.X86_64, X86_64.openat2, ENOSYS],
    ['faccessat2', AUDIT_ARCH.X86_64, X86_64.faccessat2, ENOSYS],
    ['file_setattr', AUDIT_ARCH.X86_64, X86_64.file_setattr, ENOSYS],
    ['a number no kernel has yet', AUDIT_ARCH.X86_64, 10_000, ENOSYS],
    ['nr -1 (cancelled by a tracer)', AUDIT_ARCH.X86_64, 0xffffffff, ENOSYS],
  ]);
});

test('each ABI has its own newest syscall: i386, and x32 (whose compat block 512-547 stays old)', () => {
  const { program } = compileSeccomp(oldProfile({ syscalls: [{ names: [...OLD_NAMES, 'readv'], action: 'SCMP_ACT_ALLOW' }] }), 'x64');
  expect(program, [
    ['i386 rseq (named, newest)', AUDIT_ARCH.I386, I386.rseq, ALLOW],
    ['i386 statx (named)', AUDIT_ARCH.I386, I386.statx, ALLOW],
    ['i386 mount', AUDIT_ARCH.I386, I386.mount, EPERM],
    ['i386 387 (newer)', AUDIT_ARCH.I386, 387, ENOSYS],
    ['i386 clone3', AUDIT_ARCH.I386, I386.clone3, ENOSYS],
    ['i386 openat2', AUDIT_ARCH.I386, I386.openat2, ENOSYS],
    ['x32 read', AUDIT_ARCH.X86_64, X32_SYSCALL_BIT + X32.read, ALLOW],
    ['x32 execve (520, named)', AUDIT_ARCH.X86_64, X32_SYSCALL_BIT + X32.execve, ALLOW],
    ['x32 readv (515, named)', AUDIT_ARCH.X86_64, X32_SYSCALL_BIT + X32.readv, ALLOW],
    ['x32 mount', AUDIT_ARCH.X86_64, X32_SYSCALL_BIT + X32.mount, EPERM],
    ['x32 pwritev2 (547, compat block, unnamed: old)', AUDIT_ARCH.X86_64, X32_SYSCALL_BIT + X32.pwritev2, EPERM],
    // naming readv (x32 515) does not make clone3 (435) "old"
    ['x32 clone3', AUDIT_ARCH.X86_64, X32_SYSCALL_BIT + X32.clone3, ENOSYS],
    ['x32 openat2', AUDIT_ARCH.X86_64, X32_SYSCALL_BIT + X32.openat2, ENOSYS],
    ['x32 past the compat block', AUDIT_ARCH.X86_64, X32_SYSCALL_BIT + 548, ENOSYS],
    ['x86_64 clone3', AUDIT_ARCH.X86_64, X86_64.clone3, ENOSYS],
  ]);
});

test('aarch64 and arm: arm private calls (0x0f0000) named do not hide newer syscalls', () => {
  const profile: Seccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    architectures: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
    syscalls: [{ names: [...OLD_NAMES, 'cacheflush', 'set_tls'], action: 'SCMP_ACT_ALLOW' }],
  };
  const { program } = compileSeccomp(profile, 'arm64');
  expect(program, [
    ['aarch64 read', AUDIT_ARCH.AARCH64, AARCH64.read, ALLOW],
    ['aarch64 mount', AUDIT_ARCH.AARCH64, AARCH64.mount, EPERM],
    ['aarch64 clone3', AUDIT_ARCH.AARCH64, AARCH64.clone3, ENOSYS],
    ['aarch64 openat2', AUDIT_ARCH.AARCH64, AARCH64.openat2, ENOSYS],
    ['arm read', AUDIT_ARCH.ARM, ARM.read, ALLOW],
    ['arm rseq', AUDIT_ARCH.ARM, ARM.rseq, ALLOW],
    ['arm mount', AUDIT_ARCH.ARM, ARM.mount, EPERM],
    ['arm clone3', AUDIT_ARCH.ARM, ARM.clone3, ENOSYS],
    ['arm openat2', AUDIT_ARCH.ARM, ARM.openat2, ENOSYS],
    ['arm cacheflush (named private call)', AUDIT_ARCH.ARM, ARM.cacheflush, ALLOW],
    ['arm get_tls (unnamed private call: old)', AUDIT_ARCH.ARM, ARM.get_tls, EPERM],
    ['arm past the private block', AUDIT_ARCH.ARM, 0x0f0800, ENOSYS],
  ]);
});

test('a profile that names clone3 (with its own action) keeps it; only calls above the newest name are stubbed', () => {
  const profile = oldProfile({
    syscalls: [
      { names: OLD_NAMES, action: 'SCMP_ACT_ALLOW' },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
    ],
  });
  const { program } = compileSeccomp(profile, 'x64');
  expect(program, [
    ['clone3 (named, EPERM)', AUDIT_ARCH.X86_64, X86_64.clone3, EPERM],
    ['rseq', AUDIT_ARCH.X86_64, X86_64.rseq, ALLOW],
    ['400 (older than clone3, unnamed)', AUDIT_ARCH.X86_64, 400, EPERM],
    ['close_range (newer than clone3)', AUDIT_ARCH.X86_64, X86_64.close_range, ENOSYS],
    ['openat2', AUDIT_ARCH.X86_64, X86_64.openat2, ENOSYS],
  ]);
});

test('conditional rules fall back to the default action, not ENOSYS, and still count as named', () => {
  const profile = oldProfile({
    syscalls: [
      { names: OLD_NAMES, action: 'SCMP_ACT_ALLOW' },
      { names: ['openat2'], action: 'SCMP_ACT_ALLOW', args: [{ index: 3, value: 24, op: 'SCMP_CMP_EQ' }] },
    ],
  });
  const { program } = compileSeccomp(profile, 'x64');
  assert.is(runFilter(program, { nr: X86_64.openat2, arch: AUDIT_ARCH.X86_64, args: [0n, 0n, 0n, 24n] }), ALLOW);
  assert.is(runFilter(program, { nr: X86_64.openat2, arch: AUDIT_ARCH.X86_64, args: [0n, 0n, 0n, 32n] }), EPERM);
  assert.is(decide(program, AUDIT_ARCH.X86_64, X86_64.clone3), EPERM, 'older than the newest name (openat2)');
  assert.is(decide(program, AUDIT_ARCH.X86_64, X86_64.faccessat2), ENOSYS);
});

test('no stub when the default action lets calls through (ALLOW, LOG, TRACE) or already is ENOSYS', () => {
  for (const defaultAction of ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'] as const) {
    const { program } = compileSeccomp({ defaultAction, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }, 'x64');
    const want = defaultAction === 'SCMP_ACT_ALLOW' ? ALLOW : defaultAction === 'SCMP_ACT_LOG' ? SECCOMP_RET.LOG : SECCOMP_RET.TRACE | 1;
    assert.is(decide(program, AUDIT_ARCH.X86_64, X86_64.clone3), want, defaultAction);
  }
  const enosys = compileSeccomp({ ...oldProfile(), defaultErrnoRet: 38 }, 'x64').program;
  assert.is(decide(enosys, AUDIT_ARCH.X86_64, X86_64.mount), ENOSYS);
  assert.is(decide(enosys, AUDIT_ARCH.X86_64, X86_64.clone3), ENOSYS);
});

test('KILL, KILL_PROCESS, TRAP and other errnos as default get the stub too (as in runc)', () => {
  for (const [extra, want] of [
    [{ defaultAction: 'SCMP_ACT_KILL_PROCESS' }, SECCOMP_RET.KILL_PROCESS],
    [{ defaultAction: 'SCMP_ACT_KILL' }, SECCOMP_RET.KILL_THREAD],
    [{ defaultAction: 'SCMP_ACT_TRAP' }, SECCOMP_RET.TRAP],
    [{ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 13 }, SECCOMP_RET.ERRNO | 13],
  ] as const) {
    const { program } = compileSeccomp(oldProfile(extra as Partial<Seccomp>), 'x64');
    assert.is(decide(program, AUDIT_ARCH.X86_64, X86_64.mount), want, `${extra.defaultAction} mount`);
    assert.is(decide(program, AUDIT_ARCH.X86_64, X86_64.clone3), ENOSYS, `${extra.defaultAction} clone3`);
  }
});

test('an ABI on which the profile names nothing gets no stub (runc skips it too)', () => {
  // execveat, process_madvise... only x86 names; the profile below names an arm-only call
  const profile: Seccomp = { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['breakpoint'], action: 'SCMP_ACT_ALLOW' }] };
  const { program } = compileSeccomp(profile, 'x64');
  assert.is(decide(program, AUDIT_ARCH.X86_64, X86_64.clone3), EPERM);
  assert.is(decide(program, AUDIT_ARCH.X86_64, X86_64.read), EPERM);
});

test('the stub costs a handful of instructions: a long old profile stays far below the kernel limit', () => {
  const names = Object.keys(X86_64_SYSCALLS).filter((n) => X86_64_SYSCALLS[n]! <= 334);
  const profile: Seccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names, action: 'SCMP_ACT_ALLOW' }] };
  const withStub = compileSeccomp(profile, 'x64').program.length / 8;
  const allowDefault = compileSeccomp({ ...profile, defaultAction: 'SCMP_ACT_LOG' }, 'x64').program.length / 8;
  assert.ok(withStub - allowDefault <= 4, `${withStub} vs ${allowDefault} instructions`);
  const prog = compileSeccomp(profile, 'x64').program;
  assert.is(decide(prog, AUDIT_ARCH.X86_64, 334), ALLOW);
  assert.is(decide(prog, AUDIT_ARCH.X86_64, X86_64.clone3), ENOSYS);
});

test.run();
