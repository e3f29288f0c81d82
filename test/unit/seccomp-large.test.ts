// Long programs: 8-bit branch offsets force trampolines. Also checks the
// assembler directly and that the test interpreter refuses bad programs.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ARCHES, AUDIT_ARCH, MAX_INSTRUCTIONS, SECCOMP_RET, compileSeccomp, syscallNumber } from '../../src/seccomp';
import { NEXT, OP, ProgramBuilder } from '../../src/seccomp/bpf';
import type { Seccomp, SeccompSyscall } from '../../src/spec/types';
import { decodeProgram, runFilter } from '../helpers/bpf-interpreter';

const X86_64 = ARCHES.SCMP_ARCH_X86_64!;

/** x86_64 names in syscall-number order. */
function x86_64Names(): string[] {
  return Object.entries(X86_64.table)
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => name);
}

/** Largest forward distance any conditional branch covers, to prove trampolines were needed. */
function hasJaOver255(program: Buffer): boolean {
  return decodeProgram(program).some((insn) => insn.code === OP.JA && insn.k > 255);
}

test('a ~350-name allow-list compiles; first, middle and last syscalls decide right', () => {
  const names = x86_64Names().slice(0, 350);
  // every other syscall gets its own errno so no ranges merge: the program stays long
  const syscalls: SeccompSyscall[] = names.map((name, i) =>
    i % 2 === 0 ? { names: [name], action: 'SCMP_ACT_ALLOW' } : { names: [name], action: 'SCMP_ACT_ERRNO', errnoRet: 1000 + i },
  );
  const profile: Seccomp = { defaultAction: 'SCMP_ACT_KILL_PROCESS', syscalls };
  const { program, warnings } = compileSeccomp(profile, 'x64');
  assert.equal(warnings, []);
  assert.ok(program.length / 8 > 600, `long program (${program.length / 8} instructions)`);
  assert.ok(hasJaOver255(program), 'trampolines were needed');
  const expectAt = (i: number): void => {
    const nr = syscallNumber(X86_64, names[i]!)!;
    const want = i % 2 === 0 ? SECCOMP_RET.ALLOW : SECCOMP_RET.ERRNO | (1000 + i);
    assert.is(runFilter(program, { nr, arch: AUDIT_ARCH.X86_64 }), want, `${names[i]} (#${i}, nr ${nr})`);
  };
  for (const i of [0, 1, 174, 175, 348, 349]) expectAt(i);
  for (let i = 0; i < names.length; i++) expectAt(i); // and all the others
  // numbers nobody listed: below the newest listed one, the default action;
  // above it, ENOSYS (the stub runc adds too)
  const nrs = names.map((n) => syscallNumber(X86_64, n)!);
  const newest = Math.max(...nrs);
  const gap = [...Array(newest).keys()].find((nr) => !nrs.includes(nr));
  if (gap !== undefined) assert.is(runFilter(program, { nr: gap, arch: AUDIT_ARCH.X86_64 }), SECCOMP_RET.KILL_PROCESS, `unlisted ${gap}`);
  assert.is(runFilter(program, { nr: newest + 1, arch: AUDIT_ARCH.X86_64 }), SECCOMP_RET.ERRNO | 38);
  assert.is(runFilter(program, { nr: 0x3fffffff, arch: AUDIT_ARCH.X86_64 }), SECCOMP_RET.ERRNO | 38);
});

test('docker-sized allow-list over x86_64, x86 and x32 stays within the kernel limit', () => {
  const all = new Set([
    ...Object.keys(ARCHES.SCMP_ARCH_X86_64!.table),
    ...Object.keys(ARCHES.SCMP_ARCH_X86!.table),
  ]);
  const names = [...all].sort().filter((n) => !['reboot', 'kexec_load', 'init_module'].includes(n)).slice(0, 360);
  names.push('not_a_syscall_anywhere');
  const profile: Seccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names, action: 'SCMP_ACT_ALLOW' },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0xffffffff, op: 'SCMP_CMP_EQ' }] },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, op: 'SCMP_CMP_MASKED_EQ', valueTwo: 0 }] },
    ],
  };
  const { program, warnings } = compileSeccomp(profile, 'x64');
  assert.equal(warnings, ['seccomp: syscall "not_a_syscall_anywhere" is not known on SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, ignoring it']);
  assert.ok(program.length / 8 <= MAX_INSTRUCTIONS);
  for (const archName of ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] as const) {
    const arch = ARCHES[archName]!;
    for (const name of names) {
      const nr = syscallNumber(arch, name);
      if (nr === undefined || name === 'personality' || name === 'clone') continue;
      assert.is(runFilter(program, { nr, arch: arch.auditArch }), SECCOMP_RET.ALLOW, `${archName} ${name}`);
    }
    const reboot = syscallNumber(arch, 'reboot')!;
    assert.is(runFilter(program, { nr: reboot, arch: arch.auditArch }), SECCOMP_RET.ERRNO | 1, `${archName} reboot`);
  }
});

test('a profile too big for the kernel is an INVALID_CONFIG error', () => {
  const syscalls: SeccompSyscall[] = x86_64Names()
    .slice(0, 350)
    .map((name) => ({
      names: [name],
      action: 'SCMP_ACT_ALLOW',
      args: [0, 1, 2].map((index) => ({ index, value: 0x1_0000_0000 + index, op: 'SCMP_CMP_EQ' })),
    }));
  try {
    compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls }, 'x64');
    assert.unreachable('should throw');
  } catch (e: any) {
    assert.is(e.code, 'INVALID_CONFIG');
    assert.is(e.configPath, 'linux.seccomp');
    assert.match(e.message, `at most ${MAX_INSTRUCTIONS}`);
  }
});

test('many argument rules spread far apart still decide right', () => {
  const names = x86_64Names().slice(0, 120);
  const syscalls: SeccompSyscall[] = names.map((name, i) => ({
    names: [name],
    action: 'SCMP_ACT_ERRNO',
    errnoRet: i + 1,
    args: [{ index: i % 6, value: BigInt(i) << 32n | 7n, op: 'SCMP_CMP_GE' } as any],
  }));
  const { program } = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls }, 'x64');
  assert.ok(hasJaOver255(program));
  names.forEach((name, i) => {
    const nr = syscallNumber(X86_64, name)!;
    const args = [0n, 0n, 0n, 0n, 0n, 0n];
    args[i % 6] = (BigInt(i) << 32n) | 7n;
    assert.is(runFilter(program, { nr, arch: AUDIT_ARCH.X86_64, args }), SECCOMP_RET.ERRNO | (i + 1), `${name} matches`);
    args[i % 6] = (BigInt(i) << 32n) | 6n;
    assert.is(runFilter(program, { nr, arch: AUDIT_ARCH.X86_64, args }), SECCOMP_RET.ALLOW, `${name} just below`);
  });
});

// ---- assembler ------------------------------------------------------------

function padding(b: ProgramBuilder, count: number, value: number): void {
  for (let i = 0; i < count; i++) b.ret(value);
}

test('assembler: near branches encode offsets directly', () => {
  const b = new ProgramBuilder();
  const yes = b.newLabel();
  b.loadWord(0);
  b.branch('jeq', 7, yes, NEXT);
  b.ret(1);
  b.place(yes);
  b.ret(2);
  const program = b.assemble();
  assert.is(program.length, 4 * 8);
  assert.is(program.readUInt16LE(8), OP.JEQ_K);
  assert.is(program.readUInt8(10), 1); // jt
  assert.is(program.readUInt8(11), 0); // jf
  assert.is(program.readUInt32LE(12), 7);
  assert.is(runFilter(program, { nr: 7, arch: 0 }), 2);
  assert.is(runFilter(program, { nr: 8, arch: 0 }), 1);
});

test('assembler: far targets on either or both sides go through trampolines', () => {
  for (const [trueFar, falseFar] of [[true, false], [false, true], [true, true]] as const) {
    for (const gap of [254, 255, 256, 300, 1000]) {
      const b = new ProgramBuilder();
      const farTrue = b.newLabel('far-true');
      const farFalse = b.newLabel('far-false');
      b.loadWord(0);
      b.branch('jgt', 100, trueFar ? farTrue : NEXT, falseFar ? farFalse : NEXT);
      b.ret(0xaaaa); // what NEXT reaches
      padding(b, gap, 0xdead);
      b.place(farTrue);
      b.ret(0x1111);
      b.place(farFalse);
      b.ret(0x2222);
      const program = b.assemble();
      const above = runFilter(program, { nr: 101, arch: 0 });
      const below = runFilter(program, { nr: 100, arch: 0 });
      assert.is(above, trueFar ? 0x1111 : 0xaaaa, `true side, gap ${gap}, ${trueFar}/${falseFar}`);
      assert.is(below, falseFar ? 0x2222 : 0xaaaa, `false side, gap ${gap}, ${trueFar}/${falseFar}`);
    }
  }
});

test('assembler: trampolines pushing other branches out of range are fixed too', () => {
  // a chain of branches each just within range of a shared far label
  const b = new ProgramBuilder();
  const done = b.newLabel('done');
  b.loadWord(0);
  for (let i = 0; i < 40; i++) b.branch('jeq', i, done, NEXT);
  for (let i = 0; i < 250; i++) b.branch('jeq', 1000 + i, NEXT, NEXT);
  b.ret(0xbbbb);
  b.place(done);
  b.ret(0xcccc);
  const program = b.assemble();
  for (let i = 0; i < 40; i++) assert.is(runFilter(program, { nr: i, arch: 0 }), 0xcccc, `nr ${i}`);
  assert.is(runFilter(program, { nr: 40, arch: 0 }), 0xbbbb);
});

test('assembler: refuses unplaced labels and backward jumps', () => {
  const unplaced = new ProgramBuilder();
  unplaced.jump(unplaced.newLabel());
  assert.throws(() => unplaced.assemble(), /never placed/);
  const backward = new ProgramBuilder();
  const start = backward.newLabel();
  backward.place(start);
  backward.ret(0);
  backward.jump(start);
  assert.throws(() => backward.assemble(), /backward/);
});

// ---- the interpreter fails loudly -----------------------------------------

function raw(...insns: Array<[number, number, number, number]>): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach(([code, jt, jf, k], i) => {
    buf.writeUInt16LE(code, i * 8);
    buf.writeUInt8(jt, i * 8 + 2);
    buf.writeUInt8(jf, i * 8 + 3);
    buf.writeUInt32LE(k, i * 8 + 4);
  });
  return buf;
}

test('interpreter: rejects unknown opcodes, bad jumps, bad loads, missing RET', () => {
  const data = { nr: 0, arch: 0 };
  assert.throws(() => runFilter(raw([0x84, 0, 0, 0], [0x06, 0, 0, 0]), data), /unknown opcode/); // ALU NEG
  assert.throws(() => runFilter(raw([0x15, 5, 0, 0], [0x06, 0, 0, 0]), data), /out of range/);
  assert.throws(() => runFilter(raw([0x05, 0, 0, 1], [0x06, 0, 0, 0]), data), /out of range/);
  assert.throws(() => runFilter(raw([0x20, 0, 0, 64], [0x06, 0, 0, 0]), data), /bad load offset/);
  assert.throws(() => runFilter(raw([0x20, 0, 0, 2], [0x06, 0, 0, 0]), data), /bad load offset/);
  assert.throws(() => runFilter(raw([0x20, 0, 0, 0]), data), /not RET/);
  assert.throws(() => runFilter(Buffer.alloc(12), data), /multiple of 8/);
  assert.throws(() => runFilter(Buffer.alloc(0), data), /multiple of 8/);
});

test('interpreter: reads nr, arch, ip and args little-endian', () => {
  const loadAndRet = (offset: number) => raw([0x20, 0, 0, offset], [0x16, 0, 0, 0]);
  const data = { nr: -1, arch: 0xc000003e, instructionPointer: 0x1122334455667788n, args: [0x0102030405060708n, 0n, 0n, 0n, 0n, 0xaabbccdd00000001n] };
  assert.is(runFilter(loadAndRet(0), data), 0xffffffff);
  assert.is(runFilter(loadAndRet(4), data), 0xc000003e);
  assert.is(runFilter(loadAndRet(8), data), 0x55667788);
  assert.is(runFilter(loadAndRet(12), data), 0x11223344);
  assert.is(runFilter(loadAndRet(16), data), 0x05060708);
  assert.is(runFilter(loadAndRet(20), data), 0x01020304);
  assert.is(runFilter(loadAndRet(56), data), 0x00000001);
  assert.is(runFilter(loadAndRet(60), data), 0xaabbccdd);
});

test.run();
