// ppc64le, s390x, riscv64 and loong64 filters, through the BPF interpreter
// (this host is x86_64: no kernel here runs them). Syscall numbers are
// written out from the kernel's tables so the generated tables are checked
// too; s390x is big-endian, so its program and seccomp_data are read as the
// kernel there would.

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { AUDIT_ARCH, SECCOMP_RET, compileSeccomp } from '../../src/seccomp';
import type { Seccomp } from '../../src/spec/types';
import { decodeProgram, disassemble, runFilter } from '../helpers/bpf-interpreter';
import { DOCKER_DEFAULT_CAPS, load, toOci } from '../helpers/seccomp-profiles';

const ALLOW = SECCOMP_RET.ALLOW;
const EPERM = SECCOMP_RET.ERRNO | 1;
const ENOSYS = SECCOMP_RET.ERRNO | 38;
const KILL_PROCESS = SECCOMP_RET.KILL_PROCESS;

interface Case {
  node: NodeJS.Architecture;
  scmp: string;
  token: number;
  bigEndian: boolean;
  nr: { read: number; write: number; mkdir: number; clone: number; personality: number; rseq: number; clone3: number; openat2: number };
}

const CASES: Case[] = [
  { node: 'ppc64', scmp: 'SCMP_ARCH_PPC64LE', token: AUDIT_ARCH.PPC64LE, bigEndian: false, nr: { read: 3, write: 4, mkdir: 39, clone: 120, personality: 136, rseq: 387, clone3: 435, openat2: 437 } },
  { node: 's390x', scmp: 'SCMP_ARCH_S390X', token: AUDIT_ARCH.S390X, bigEndian: true, nr: { read: 3, write: 4, mkdir: 39, clone: 120, personality: 136, rseq: 383, clone3: 435, openat2: 437 } },
  { node: 'riscv64', scmp: 'SCMP_ARCH_RISCV64', token: AUDIT_ARCH.RISCV64, bigEndian: false, nr: { read: 63, write: 64, mkdir: -1, clone: 220, personality: 92, rseq: 293, clone3: 435, openat2: 437 } },
  { node: 'loong64', scmp: 'SCMP_ARCH_LOONGARCH64', token: AUDIT_ARCH.LOONGARCH64, bigEndian: false, nr: { read: 63, write: 64, mkdir: -1, clone: 220, personality: 92, rseq: 293, clone3: 435, openat2: 437 } },
];

const old: Seccomp = {
  defaultAction: 'SCMP_ACT_ERRNO',
  syscalls: [
    { names: ['read', 'write', 'mkdir', 'mkdirat', 'rseq'], action: 'SCMP_ACT_ALLOW' },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0xffffffff, op: 'SCMP_CMP_EQ' }] },
    { names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
  ],
};

for (const c of CASES) {
  test(`${c.scmp} as the native ABI: its audit token, its numbers, 64-bit argument words, the ENOSYS stub`, () => {
    const { program } = compileSeccomp(old, c.node, { specAllowSupported: true });
    const run = (nr: number, args: bigint[] = [], arch = c.token) => runFilter(program, { nr, arch, args }, { bigEndian: c.bigEndian });
    const expect = (what: string, got: number, want: number) => {
      if (got !== want) assert.unreachable(`${c.scmp} ${what}: got 0x${got.toString(16)}, want 0x${want.toString(16)}\n${disassemble(program, c.bigEndian)}`);
    };
    expect('read', run(c.nr.read), ALLOW);
    expect('write', run(c.nr.write), ALLOW);
    if (c.nr.mkdir >= 0) expect('mkdir', run(c.nr.mkdir), ALLOW);
    expect('clone (named, EPERM)', run(c.nr.clone), EPERM);
    expect('rseq (the newest named)', run(c.nr.rseq), ALLOW);
    expect('clone3 (newer: stub)', run(c.nr.clone3), ENOSYS);
    expect('openat2 (newer: stub)', run(c.nr.openat2), ENOSYS);
    // personality(0xffffffff) only: the high word is compared too
    expect('personality(0xffffffff)', run(c.nr.personality, [0xffffffffn]), ALLOW);
    expect('personality(0x1ffffffff)', run(c.nr.personality, [0x1ffffffffn]), EPERM);
    expect('personality(0)', run(c.nr.personality, [0n]), EPERM);
    expect('an x86_64 call under this filter', run(0, [], AUDIT_ARCH.X86_64), KILL_PROCESS);
  });
}

test('s390x: the program is big-endian (what an s390x kernel reads), number 0 (the multiplexer for unknown calls) answers ENOSYS', () => {
  const { program } = compileSeccomp(old, 's390x');
  assert.equal([...program.subarray(0, 8)], [0x00, 0x20, 0, 0, 0, 0, 0, 4], 'ld [4] (arch), big-endian');
  assert.throws(() => runFilter(program, { nr: 3, arch: AUDIT_ARCH.S390X }), /bpf/, 'read as little-endian it is not a valid program');
  assert.is(runFilter(program, { nr: 0, arch: AUDIT_ARCH.S390X }, { bigEndian: true }), ENOSYS);
  // a little-endian host's filter stays little-endian
  assert.equal([...compileSeccomp(old, 'riscv64').program.subarray(0, 2)], [0x20, 0x00]);
  assert.ok(decodeProgram(compileSeccomp(old, 'ppc64').program).length > 5);
});

test('ABI-specific calls resolve: riscv_flush_icache, s390_runtime_instr, ppc64le switch_endian; ppc/s390 64-bit rows', () => {
  const profile = (names: string[]): Seccomp => ({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names, action: 'SCMP_ACT_ERRNO', errnoRet: 38 }] });
  const cases: [NodeJS.Architecture, number, boolean, string, number][] = [
    ['riscv64', AUDIT_ARCH.RISCV64, false, 'riscv_flush_icache', 259],
    ['riscv64', AUDIT_ARCH.RISCV64, false, 'riscv_hwprobe', 258],
    ['s390x', AUDIT_ARCH.S390X, true, 's390_runtime_instr', 342],
    ['s390x', AUDIT_ARCH.S390X, true, 'getrlimit', 191], // the "64" row, not the 31-bit ugetrlimit
    ['s390x', AUDIT_ARCH.S390X, true, 'newfstatat', 293],
    ['ppc64', AUDIT_ARCH.PPC64LE, false, 'switch_endian', 363],
    ['ppc64', AUDIT_ARCH.PPC64LE, false, 'newfstatat', 291],
    ['ppc64', AUDIT_ARCH.PPC64LE, false, 'sync_file_range2', 308],
    ['loong64', AUDIT_ARCH.LOONGARCH64, false, 'openat', 56],
  ];
  for (const [node, token, bigEndian, name, nr] of cases) {
    const { program, warnings } = compileSeccomp(profile([name]), node);
    assert.equal(warnings, [], `${node} ${name}`);
    assert.is(runFilter(program, { nr, arch: token }, { bigEndian }), ENOSYS, `${node} ${name} = ${nr}`);
    assert.is(runFilter(program, { nr: nr + 1, arch: token }, { bigEndian }), ALLOW, `${node} ${nr + 1}`);
  }
  // loongarch64 has no fstat/newfstatat, renameat or getrlimit (statx, renameat2, prlimit64 instead)
  // (other ABIs have them: skipped with a debug note each, not a warning)
  const { warnings, notes } = compileSeccomp(profile(['newfstatat', 'renameat', 'getrlimit']), 'loong64');
  assert.equal(warnings, []);
  assert.is(notes.length, 3, notes.join('\n'));
});

test('Docker\'s current profile on s390x: the clone rule reads the flags from the second argument there', () => {
  const oci = toOci(load('docker-current.json') as never, { goarch: 's390x', caps: DOCKER_DEFAULT_CAPS, kernel: [6, 18] });
  assert.equal(oci.architectures, ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390']);
  const { program, warnings } = compileSeccomp(oci, 's390x');
  assert.ok(warnings.some((w) => w.includes('SCMP_ARCH_S390 is not supported')), warnings.join('\n'));
  const clone = (arg0: bigint, arg1: bigint) => runFilter(program, { nr: 120, arch: AUDIT_ARCH.S390X, args: [arg0, arg1] }, { bigEndian: true });
  assert.is(clone(0n, 0x11n), ALLOW, 'plain fork-like clone');
  assert.is(clone(0n, 0x20011n), EPERM, 'CLONE_NEWNS in the flags (second argument on s390)');
  assert.is(clone(0x20000n, 0x11n), ALLOW, 'the first argument (the stack on s390) does not matter');
});

test('the numbers every ABI shares from 424 on resolve on the new ABIs too', () => {
  for (const c of CASES) {
    const { program } = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['pidfd_send_signal', 'futex_waitv', 'cachestat'], action: 'SCMP_ACT_ERRNO' }] }, c.node);
    for (const nr of [424, 449, 451]) assert.is(runFilter(program, { nr, arch: c.token }, { bigEndian: c.bigEndian }), EPERM, `${c.scmp} ${nr}`);
  }
});

test.run();
