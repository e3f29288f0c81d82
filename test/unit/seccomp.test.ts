// Decisions of compiled filters, run through the BPF interpreter: per
// architecture, the x32 guard, every comparison operator with 64-bit values.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AUDIT_ARCH, BAD_ARCH_ACTION, SECCOMP_RET, X32_SYSCALL_BIT, compileSeccomp } from '../../src/seccomp';
import type { Seccomp } from '../../src/spec/types';
import { disassemble, runFilter } from '../helpers/bpf-interpreter';

const ALLOW = SECCOMP_RET.ALLOW;
const EPERM = SECCOMP_RET.ERRNO | 1;
const KILL_PROCESS = SECCOMP_RET.KILL_PROCESS;

// Numbers from the kernel's tables, written out so the generated tables are checked too.
const NR = {
  x86_64: { read: 0, write: 1, getpid: 39, personality: 135, mmap: 9, socket: 41 },
  x86: { read: 3, write: 4, getpid: 20, personality: 136, mmap2: 192 },
  x32: { read: X32_SYSCALL_BIT + 0, write: X32_SYSCALL_BIT + 1, getpid: X32_SYSCALL_BIT + 39, execve: X32_SYSCALL_BIT + 520 },
  aarch64: { read: 63, write: 64, getpid: 172, personality: 92, mmap: 222 },
  arm: { read: 3, write: 4, getpid: 20, personality: 136, cacheflush: 0x0f0002 },
};

function run(program: Buffer, arch: number, nr: number, args: bigint[] = []): number {
  return runFilter(program, { nr, arch, args });
}

function expectAll(program: Buffer, cases: Array<[string, number, number, bigint[]?, number?]>): void {
  for (const [what, arch, nr, args, want] of cases) {
    const got = run(program, arch, nr, args ?? []);
    if (got !== want) {
      assert.unreachable(`${what}: got 0x${got.toString(16)}, want 0x${want!.toString(16)}\n${disassemble(program)}`);
    }
  }
}

// clone3 (435 on every ABI here) is named so that unnamed numbers below it
// keep the default action; above it the ENOSYS stub answers (seccomp-enosys).
const allowReadWrite: Seccomp = {
  defaultAction: 'SCMP_ACT_ERRNO',
  syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }, { names: ['clone3'], action: 'SCMP_ACT_ERRNO' }],
};
const ENOSYS = SECCOMP_RET.ERRNO | 38;

test('native architecture only when none are listed', () => {
  const { program, warnings } = compileSeccomp(allowReadWrite, 'x64');
  assert.equal(warnings, []);
  expectAll(program, [
    ['x86_64 read', AUDIT_ARCH.X86_64, NR.x86_64.read, [], ALLOW],
    ['x86_64 write', AUDIT_ARCH.X86_64, NR.x86_64.write, [], ALLOW],
    ['x86_64 getpid', AUDIT_ARCH.X86_64, NR.x86_64.getpid, [], EPERM],
    ['i386 is not covered', AUDIT_ARCH.I386, NR.x86.read, [], KILL_PROCESS],
    ['aarch64 is not covered', AUDIT_ARCH.AARCH64, NR.aarch64.read, [], KILL_PROCESS],
    ['unknown token', 0x12345678, 0, [], KILL_PROCESS],
  ]);
  assert.is(BAD_ARCH_ACTION, KILL_PROCESS);
});

test('each native architecture uses its own numbers', () => {
  const cases: Array<[NodeJS.Architecture, number, { read: number; getpid: number }]> = [
    ['x64', AUDIT_ARCH.X86_64, NR.x86_64],
    ['ia32', AUDIT_ARCH.I386, NR.x86],
    ['arm64', AUDIT_ARCH.AARCH64, NR.aarch64],
    ['arm', AUDIT_ARCH.ARM, NR.arm],
  ];
  for (const [node, token, nr] of cases) {
    const { program } = compileSeccomp(allowReadWrite, node);
    expectAll(program, [
      [`${node} read`, token, nr.read, [], ALLOW],
      [`${node} getpid`, token, nr.getpid, [], EPERM],
    ]);
  }
});

test('unsupported host architecture is an UNSUPPORTED error', () => {
  try {
    compileSeccomp(allowReadWrite, 'mips');
    assert.unreachable('should throw');
  } catch (e: any) {
    assert.is(e.code, 'UNSUPPORTED');
    assert.match(e.message, 'mips');
  }
});

test('listed architectures: x86_64 + x86 + aarch64 + arm', () => {
  const { program } = compileSeccomp(
    { ...allowReadWrite, architectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] },
    'x64',
  );
  expectAll(program, [
    ['x86_64 read', AUDIT_ARCH.X86_64, NR.x86_64.read, [], ALLOW],
    ['i386 read (3)', AUDIT_ARCH.I386, NR.x86.read, [], ALLOW],
    ['i386 nr 0 is restart_syscall', AUDIT_ARCH.I386, 0, [], EPERM],
    ['i386 getpid', AUDIT_ARCH.I386, NR.x86.getpid, [], EPERM],
    ['aarch64 read (63)', AUDIT_ARCH.AARCH64, NR.aarch64.read, [], ALLOW],
    ['aarch64 write (64)', AUDIT_ARCH.AARCH64, NR.aarch64.write, [], ALLOW],
    ['aarch64 nr 0', AUDIT_ARCH.AARCH64, 0, [], EPERM],
    ['arm read (3)', AUDIT_ARCH.ARM, NR.arm.read, [], ALLOW],
    ['arm getpid', AUDIT_ARCH.ARM, NR.arm.getpid, [], EPERM],
  ]);
});

test('native arch is covered even when the list omits it', () => {
  const { program } = compileSeccomp({ ...allowReadWrite, architectures: ['SCMP_ARCH_X86'] }, 'x64');
  expectAll(program, [
    ['x86_64 read', AUDIT_ARCH.X86_64, NR.x86_64.read, [], ALLOW],
    ['i386 read', AUDIT_ARCH.I386, NR.x86.read, [], ALLOW],
  ]);
});

test('arm private syscalls (0x0f0000 range) resolve', () => {
  const { program, warnings } = compileSeccomp(
    { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['cacheflush', 'set_tls'], action: 'SCMP_ACT_ALLOW' }] },
    'arm',
  );
  assert.equal(warnings, []);
  expectAll(program, [
    ['arm cacheflush', AUDIT_ARCH.ARM, NR.arm.cacheflush, [], ALLOW],
    ['arm set_tls', AUDIT_ARCH.ARM, 0x0f0005, [], ALLOW],
    ['arm breakpoint', AUDIT_ARCH.ARM, 0x0f0001, [], EPERM],
  ]);
});

test('x32 guard: x32 numbers are a foreign ABI unless SCMP_ARCH_X32 is listed', () => {
  const without = compileSeccomp(allowReadWrite, 'x64').program;
  expectAll(without, [
    ['x32 read', AUDIT_ARCH.X86_64, NR.x32.read, [], KILL_PROCESS],
    ['x32 getpid', AUDIT_ARCH.X86_64, NR.x32.getpid, [], KILL_PROCESS],
    ['bit alone', AUDIT_ARCH.X86_64, X32_SYSCALL_BIT, [], KILL_PROCESS],
    ['just below the bit (newer than clone3)', AUDIT_ARCH.X86_64, X32_SYSCALL_BIT - 1, [], ENOSYS],
    // nr -1 (syscall skipped by a tracer) is not an x32 call: the x86_64 rules answer
    ['nr -1', AUDIT_ARCH.X86_64, -1, [], ENOSYS],
    ['x86_64 read', AUDIT_ARCH.X86_64, NR.x86_64.read, [], ALLOW],
  ]);
  const withX32 = compileSeccomp({ ...allowReadWrite, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'] }, 'x64').program;
  expectAll(withX32, [
    ['x32 read', AUDIT_ARCH.X86_64, NR.x32.read, [], ALLOW],
    ['x32 write', AUDIT_ARCH.X86_64, NR.x32.write, [], ALLOW],
    ['x32 getpid', AUDIT_ARCH.X86_64, NR.x32.getpid, [], EPERM],
    ['x86_64 read', AUDIT_ARCH.X86_64, NR.x86_64.read, [], ALLOW],
    ['x86_64 getpid', AUDIT_ARCH.X86_64, NR.x86_64.getpid, [], EPERM],
    ['nr -1', AUDIT_ARCH.X86_64, -1, [], ENOSYS],
  ]);
});

test('x32-only numbers (512..547) use the x32 table', () => {
  const { program } = compileSeccomp(
    { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X32'], syscalls: [{ names: ['execve'], action: 'SCMP_ACT_KILL_PROCESS' }] },
    'x64',
  );
  expectAll(program, [
    ['x32 execve is 520|bit', AUDIT_ARCH.X86_64, NR.x32.execve, [], KILL_PROCESS],
    ['x32 59|bit is not execve on x32', AUDIT_ARCH.X86_64, X32_SYSCALL_BIT + 59, [], ALLOW],
    ['x86_64 execve (59)', AUDIT_ARCH.X86_64, 59, [], KILL_PROCESS],
  ]);
});

test('x32 listed on a non-x86_64 host: low numbers under that token are foreign', () => {
  const { program } = compileSeccomp({ ...allowReadWrite, architectures: ['SCMP_ARCH_X32'] }, 'ia32');
  expectAll(program, [
    ['i386 read', AUDIT_ARCH.I386, NR.x86.read, [], ALLOW],
    ['x32 read', AUDIT_ARCH.X86_64, NR.x32.read, [], ALLOW],
    ['x86_64 read', AUDIT_ARCH.X86_64, NR.x86_64.read, [], KILL_PROCESS],
  ]);
});

// ---- argument comparisons -------------------------------------------------

const HI = 1n << 32n; // a value with a nonzero high word
type OpCase = [op: string, value: bigint, valueTwo: bigint | undefined, arg: bigint, matches: boolean];

const OP_CASES: OpCase[] = [
  ['SCMP_CMP_EQ', 5n, undefined, 5n, true],
  ['SCMP_CMP_EQ', 5n, undefined, 6n, false],
  ['SCMP_CMP_EQ', 5n, undefined, HI + 5n, false], // same low word, different high word
  ['SCMP_CMP_EQ', HI + 5n, undefined, HI + 5n, true],
  ['SCMP_CMP_EQ', HI + 5n, undefined, 5n, false],
  ['SCMP_CMP_EQ', 0xffffffffffffffffn, undefined, 0xffffffffffffffffn, true],
  ['SCMP_CMP_NE', 5n, undefined, 5n, false],
  ['SCMP_CMP_NE', 5n, undefined, 4n, true],
  ['SCMP_CMP_NE', 5n, undefined, HI + 5n, true],
  ['SCMP_CMP_NE', HI + 5n, undefined, HI + 5n, false],
  ['SCMP_CMP_GT', 10n, undefined, 11n, true],
  ['SCMP_CMP_GT', 10n, undefined, 10n, false],
  ['SCMP_CMP_GT', 10n, undefined, 9n, false],
  ['SCMP_CMP_GT', 10n, undefined, HI, true], // high word decides although low word is 0
  ['SCMP_CMP_GT', HI + 10n, undefined, HI + 11n, true],
  ['SCMP_CMP_GT', HI + 10n, undefined, HI + 10n, false],
  ['SCMP_CMP_GT', HI + 10n, undefined, 0xffffffffn, false], // big low word, smaller high word
  ['SCMP_CMP_GE', 10n, undefined, 10n, true],
  ['SCMP_CMP_GE', 10n, undefined, 9n, false],
  ['SCMP_CMP_GE', HI, undefined, HI, true],
  ['SCMP_CMP_GE', HI, undefined, HI - 1n, false],
  ['SCMP_CMP_GE', HI + 10n, undefined, 2n * HI, true],
  ['SCMP_CMP_LT', 10n, undefined, 9n, true],
  ['SCMP_CMP_LT', 10n, undefined, 10n, false],
  ['SCMP_CMP_LT', 10n, undefined, HI + 1n, false],
  ['SCMP_CMP_LT', HI + 10n, undefined, HI + 9n, true],
  ['SCMP_CMP_LT', HI + 10n, undefined, 0xffffffffn, true],
  ['SCMP_CMP_LT', HI + 10n, undefined, HI + 10n, false],
  ['SCMP_CMP_LE', 10n, undefined, 10n, true],
  ['SCMP_CMP_LE', 10n, undefined, 11n, false],
  ['SCMP_CMP_LE', HI + 10n, undefined, HI + 10n, true],
  ['SCMP_CMP_LE', HI + 10n, undefined, HI + 11n, false],
  ['SCMP_CMP_LE', HI + 10n, undefined, 5n, true],
  ['SCMP_CMP_LE', 0n, undefined, 0n, true],
  // MASKED_EQ: (arg & value) == valueTwo
  ['SCMP_CMP_MASKED_EQ', 0xff00n, 0x1200n, 0x12abn, true],
  ['SCMP_CMP_MASKED_EQ', 0xff00n, 0x1200n, 0x13abn, false],
  ['SCMP_CMP_MASKED_EQ', 0xff00n, 0x1200n, HI + 0x12abn, true], // high bits outside the mask are ignored
  ['SCMP_CMP_MASKED_EQ', HI + 0xffn, HI + 1n, HI + 0x101n, true],
  ['SCMP_CMP_MASKED_EQ', HI + 0xffn, HI + 1n, 0x101n, false], // masked high bit missing
  ['SCMP_CMP_MASKED_EQ', 0x7e020000n, 0n, 0x00020000n, false], // docker's clone namespace-flags rule
  ['SCMP_CMP_MASKED_EQ', 0x7e020000n, 0n, 0x00000011n, true],
  ['SCMP_CMP_MASKED_EQ', 0xffffffffffffffffn, 7n, 7n, true],
  ['SCMP_CMP_MASKED_EQ', 0xffffffffffffffffn, 7n, HI + 7n, false],
];

function opProfile(op: string, value: bigint, valueTwo: bigint | undefined, index = 1): Seccomp {
  const arg: Record<string, unknown> = { index, op, value };
  if (valueTwo !== undefined) arg.valueTwo = valueTwo;
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 22, args: [arg as any] }],
  };
}

test('every comparison operator on 64-bit values (x86_64 and aarch64)', () => {
  const einval = SECCOMP_RET.ERRNO | 22;
  for (const [node, token, nr, otherNr] of [
    ['x64', AUDIT_ARCH.X86_64, NR.x86_64.personality, NR.x86_64.read],
    ['arm64', AUDIT_ARCH.AARCH64, NR.aarch64.personality, NR.aarch64.read],
  ] as const) {
    for (const [op, value, valueTwo, arg, matches] of OP_CASES) {
      const { program } = compileSeccomp(opProfile(op, value, valueTwo), node);
      const got = run(program, token, nr, [0n, arg]);
      const want = matches ? einval : ALLOW;
      if (got !== want) {
        assert.unreachable(`${node} ${op} value=${value} two=${valueTwo} arg=${arg}: got 0x${got.toString(16)}\n${disassemble(program)}`);
      }
      // other syscalls are untouched, whatever their arguments
      assert.is(run(program, token, otherNr, [0n, arg]), ALLOW);
    }
  }
});

test('32-bit ABIs compare the low word only (args are zero-extended there)', () => {
  const einval = SECCOMP_RET.ERRNO | 22;
  const cases: Array<[string, bigint, bigint | undefined, bigint, boolean]> = [
    ['SCMP_CMP_EQ', 5n, undefined, 5n, true],
    ['SCMP_CMP_EQ', 5n, undefined, 6n, false],
    ['SCMP_CMP_NE', 5n, undefined, 5n, false],
    ['SCMP_CMP_GT', 10n, undefined, 11n, true],
    ['SCMP_CMP_GT', 10n, undefined, 10n, false],
    ['SCMP_CMP_GE', 10n, undefined, 10n, true],
    ['SCMP_CMP_LT', 10n, undefined, 10n, false],
    ['SCMP_CMP_LT', 10n, undefined, 0n, true],
    ['SCMP_CMP_LE', 10n, undefined, 10n, true],
    ['SCMP_CMP_LE', 10n, undefined, 0xffffffffn, false],
    ['SCMP_CMP_MASKED_EQ', 0xf0n, 0x30n, 0x3fn, true],
    ['SCMP_CMP_MASKED_EQ', 0xf0n, 0x30n, 0x4fn, false],
    // -1 written as a sign-extended u64 means 0xffffffff on a 32-bit ABI
    ['SCMP_CMP_EQ', 0xffffffffffffffffn, undefined, 0xffffffffn, true],
  ];
  for (const [op, value, valueTwo, arg, matches] of cases) {
    const { program, warnings } = compileSeccomp(opProfile(op, value, valueTwo), 'ia32');
    assert.equal(warnings, [], `${op} ${value}`);
    assert.is(run(program, AUDIT_ARCH.I386, NR.x86.personality, [0n, arg]), matches ? einval : ALLOW, `${op} ${value} ${arg}`);
  }
  const wide = compileSeccomp(opProfile('SCMP_CMP_EQ', HI + 5n, undefined), 'arm');
  assert.is(wide.warnings.length, 1);
  assert.match(wide.warnings[0]!, 'linux.seccomp.syscalls[0].args[0] is wider than 32 bits; SCMP_ARCH_ARM');
  assert.is(run(wide.program, AUDIT_ARCH.ARM, NR.arm.personality, [0n, 5n]), einval);
});

test('arguments are read from the right index', () => {
  for (let index = 0; index < 6; index++) {
    const { program } = compileSeccomp(opProfile('SCMP_CMP_EQ', HI + 7n, undefined, index), 'x64');
    const args = [0n, 0n, 0n, 0n, 0n, 0n];
    args[index] = HI + 7n;
    assert.is(run(program, AUDIT_ARCH.X86_64, NR.x86_64.personality, args), SECCOMP_RET.ERRNO | 22, `index ${index}`);
    const shifted = [0n, 0n, 0n, 0n, 0n, 0n];
    shifted[(index + 1) % 6] = HI + 7n;
    assert.is(run(program, AUDIT_ARCH.X86_64, NR.x86_64.personality, shifted), ALLOW, `index ${index} shifted`);
  }
});

test('conditions in one rule are ANDed', () => {
  const { program } = compileSeccomp(
    {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        {
          names: ['mmap'],
          action: 'SCMP_ACT_ALLOW',
          args: [
            { index: 0, value: 0, op: 'SCMP_CMP_EQ' },
            { index: 2, value: 4, op: 'SCMP_CMP_MASKED_EQ', valueTwo: 0 }, // no PROT_EXEC
            { index: 1, value: 0x10000, op: 'SCMP_CMP_LE' },
          ],
        },
      ],
    },
    'x64',
  );
  const mmap = NR.x86_64.mmap;
  expectAll(program, [
    ['all hold', AUDIT_ARCH.X86_64, mmap, [0n, 0x1000n, 3n], ALLOW],
    ['first fails', AUDIT_ARCH.X86_64, mmap, [HI, 0x1000n, 3n], EPERM],
    ['second fails', AUDIT_ARCH.X86_64, mmap, [0n, 0x1000n, 7n], EPERM],
    ['third fails', AUDIT_ARCH.X86_64, mmap, [0n, 0x10001n, 3n], EPERM],
  ]);
});

test('rules for one syscall are ORed; the first match in config order wins', () => {
  const profile: Seccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
      { names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      { names: ['personality'], action: 'SCMP_ACT_LOG', args: [{ index: 0, value: 0, op: 'SCMP_CMP_GE' }] },
      { names: ['personality'], action: 'SCMP_ACT_TRAP' }, // unreachable: the rule above matches everything
    ],
  };
  const { program } = compileSeccomp(profile, 'x64');
  const p = NR.x86_64.personality;
  expectAll(program, [
    ['first rule', AUDIT_ARCH.X86_64, p, [0n], ALLOW],
    ['second rule', AUDIT_ARCH.X86_64, p, [8n], SECCOMP_RET.ERRNO | 38],
    ['third rule', AUDIT_ARCH.X86_64, p, [0xffffffffn], SECCOMP_RET.LOG],
  ]);
  const noCatchAll = compileSeccomp({ ...profile, syscalls: profile.syscalls!.slice(0, 2) }, 'x64').program;
  assert.is(run(noCatchAll, AUDIT_ARCH.X86_64, p, [3n]), EPERM, 'no rule matches -> default');
  const unconditionalFirst = compileSeccomp({ ...profile, syscalls: [profile.syscalls![3]!, profile.syscalls![0]!] }, 'x64').program;
  assert.is(run(unconditionalFirst, AUDIT_ARCH.X86_64, p, [0n]), SECCOMP_RET.TRAP, 'an unconditional rule first wins');
});

test('a rule equal to the default action still shadows later rules', () => {
  const { program } = compileSeccomp(
    {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['socket'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 40, op: 'SCMP_CMP_EQ' }] },
        { names: ['socket'], action: 'SCMP_ACT_ALLOW' },
      ],
    },
    'x64',
  );
  expectAll(program, [
    ['AF_VSOCK refused', AUDIT_ARCH.X86_64, NR.x86_64.socket, [40n], EPERM],
    ['AF_INET allowed', AUDIT_ARCH.X86_64, NR.x86_64.socket, [2n], ALLOW],
  ]);
});

test('the same name in several entries and several names per entry', () => {
  const { program } = compileSeccomp(
    {
      defaultAction: 'SCMP_ACT_KILL_PROCESS',
      syscalls: [
        { names: ['read', 'write', 'getpid'], action: 'SCMP_ACT_ALLOW' },
        { names: ['read'], action: 'SCMP_ACT_TRAP' }, // shadowed by the first entry
      ],
    },
    'x64',
  );
  expectAll(program, [
    ['read', AUDIT_ARCH.X86_64, 0, [], ALLOW],
    ['write', AUDIT_ARCH.X86_64, 1, [], ALLOW],
    ['getpid', AUDIT_ARCH.X86_64, 39, [], ALLOW],
    ['open', AUDIT_ARCH.X86_64, 2, [], KILL_PROCESS],
    // newer than getpid, the newest named: the ENOSYS stub
    ['highest x86_64 number', AUDIT_ARCH.X86_64, 0x3fffffff, [], ENOSYS],
  ]);
});


// i386 socketcall (102) and ipc (117): a rule on socket or shmget also decides
// the multiplexed call, as libseccomp (runc) does; otherwise a 32-bit program
// calls around it. Found by the issue-18 red-team round.
test('i386: a deny rule on socket and shmget also denies socketcall(SYS_SOCKET) and ipc(SHMGET); other calls through them stay allowed', () => {
  const { program } = compileSeccomp(
    {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [{ names: ['socket', 'shmget'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
    },
    'x64',
  );
  expectAll(program, [
    ['i386 socketcall(SYS_SOCKET=1)', AUDIT_ARCH.I386, 102, [1n], EPERM],
    ['i386 socketcall(SYS_CONNECT=3)', AUDIT_ARCH.I386, 102, [3n], ALLOW],
    ['i386 socket (359)', AUDIT_ARCH.I386, 359, [], EPERM],
    ['i386 ipc(SHMGET=23)', AUDIT_ARCH.I386, 117, [23n], EPERM],
    ['i386 ipc(SHMAT=21)', AUDIT_ARCH.I386, 117, [21n], ALLOW],
    ['i386 shmget (395)', AUDIT_ARCH.I386, 395, [], EPERM],
    ['x86_64 socket', AUDIT_ARCH.X86_64, NR.x86_64.socket, [], EPERM],
    ['x86_64 nr 102 is getuid, not socketcall', AUDIT_ARCH.X86_64, 102, [1n], ALLOW],
  ]);
});

test('i386: an allow-list naming socket (no socketcall) lets socketcall(SYS_SOCKET) through and nothing else; argument conditions cannot follow it behind the pointer', () => {
  const { program } = compileSeccomp(
    {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86'],
      syscalls: [{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] }],
    },
    'x64',
  );
  expectAll(program, [
    ['i386 socket(AF_UNIX) direct', AUDIT_ARCH.I386, 359, [1n], ALLOW],
    ['i386 socket(AF_INET) direct', AUDIT_ARCH.I386, 359, [2n], EPERM],
    ['i386 socketcall(SYS_SOCKET)', AUDIT_ARCH.I386, 102, [1n], ALLOW],
    ['i386 socketcall(SYS_BIND)', AUDIT_ARCH.I386, 102, [2n], EPERM],
    ['i386 ipc', AUDIT_ARCH.I386, 117, [23n], EPERM],
  ]);
});

test.run();
