// Profile handling: action encodings, errnoRet, flags, warnings, and errors
// that name the offending config field.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CapsaError } from '../../src/errors';
import { AUDIT_ARCH, FILTER_FLAG, SECCOMP_RET, compileSeccomp } from '../../src/seccomp';
import type { Seccomp } from '../../src/spec/types';
import { runFilter } from '../helpers/bpf-interpreter';

const X86_64 = AUDIT_ARCH.X86_64;
const GETPID = 39;
const READ = 0;

function decisionFor(profile: Seccomp, nr = GETPID): number {
  return runFilter(compileSeccomp(profile, 'x64').program, { nr, arch: X86_64 });
}

function expectConfigError(profile: unknown, configPath: string, messagePart: string): void {
  try {
    compileSeccomp(profile as Seccomp, 'x64');
  } catch (e) {
    assert.instance(e, CapsaError);
    const err = e as CapsaError;
    assert.is(err.code, 'INVALID_CONFIG');
    assert.is(err.configPath, configPath);
    assert.ok(err.message.startsWith(`${configPath}: `), err.message);
    assert.match(err.message, messagePart);
    assert.not.match(err.message, '\n');
    return;
  }
  assert.unreachable(`expected an error at ${configPath}`);
}

test('every action encodes to its SECCOMP_RET value', () => {
  const table: Array<[string, number | undefined, number]> = [
    ['SCMP_ACT_KILL', undefined, 0x00000000],
    ['SCMP_ACT_KILL_THREAD', undefined, 0x00000000],
    ['SCMP_ACT_KILL_PROCESS', undefined, 0x80000000],
    ['SCMP_ACT_TRAP', undefined, 0x00030000],
    ['SCMP_ACT_ERRNO', undefined, 0x00050001], // EPERM by default
    ['SCMP_ACT_ERRNO', 38, 0x00050026],
    ['SCMP_ACT_ERRNO', 0, 0x00050000],
    ['SCMP_ACT_TRACE', undefined, 0x7ff00001],
    ['SCMP_ACT_TRACE', 0x1234, 0x7ff01234],
    ['SCMP_ACT_ALLOW', undefined, 0x7fff0000],
    ['SCMP_ACT_LOG', undefined, 0x7ffc0000],
    ['SCMP_ACT_NOTIFY', undefined, 0x7fc00000],
  ];
  for (const [action, errnoRet, want] of table) {
    const rule = errnoRet === undefined ? { names: ['getpid'], action } : { names: ['getpid'], action, errnoRet };
    const profile: Seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', syscalls: [rule] };
    const defaultAllowGot = decisionFor(profile);
    const expected = action === 'SCMP_ACT_ALLOW' ? SECCOMP_RET.ALLOW : want;
    assert.is(defaultAllowGot >>> 0, expected >>> 0, `${action} ${errnoRet}`);
    // and as the default action (NOTIFY cannot be one)
    if (action === 'SCMP_ACT_NOTIFY') continue;
    const asDefault: Seccomp = errnoRet === undefined ? { defaultAction: action } : { defaultAction: action, defaultErrnoRet: errnoRet };
    assert.is(decisionFor(asDefault) >>> 0, want >>> 0, `default ${action} ${errnoRet}`);
  }
});

test('defaultErrnoRet sets the default errno', () => {
  const profile: Seccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 38, // ENOSYS
    syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }],
  };
  assert.is(decisionFor(profile, GETPID), SECCOMP_RET.ERRNO | 38);
  assert.is(decisionFor(profile, READ), SECCOMP_RET.ALLOW);
  assert.is(decisionFor(profile, 0x3ffffff0), SECCOMP_RET.ERRNO | 38, 'numbers above every table get the default too');
});

test('rule errnoRet and default errnoRet differ: both are kept', () => {
  const profile: Seccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 38,
    syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
  assert.is(decisionFor(profile, GETPID), SECCOMP_RET.ERRNO | 1);
  assert.is(decisionFor(profile, READ), SECCOMP_RET.ERRNO | 38);
});

test('flags map to SECCOMP_FILTER_FLAG_* bits', () => {
  const base: Seccomp = { defaultAction: 'SCMP_ACT_ALLOW' };
  const flagsOf = (flags: string[], extra: Partial<Seccomp> = {}) => compileSeccomp({ ...base, ...extra, flags }, 'x64');
  // no flags field at all: SPEC_ALLOW where the kernel has it (runc >= 1.2, crun); an empty list: none
  assert.is(compileSeccomp(base, 'x64', { specAllowSupported: true }).flags, FILTER_FLAG.SPEC_ALLOW);
  assert.is(compileSeccomp(base, 'x64', { specAllowSupported: false }).flags, 0);
  assert.is(compileSeccomp({ ...base, flags: [] }, 'x64', { specAllowSupported: true }).flags, 0);
  assert.is(flagsOf(['SECCOMP_FILTER_FLAG_TSYNC']).flags, 1);
  assert.is(flagsOf(['SECCOMP_FILTER_FLAG_LOG']).flags, 2);
  assert.is(flagsOf(['SECCOMP_FILTER_FLAG_SPEC_ALLOW']).flags, 4);
  assert.is(flagsOf(['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW']).flags, 7);
  assert.is(FILTER_FLAG.WAIT_KILLABLE_RECV, 32);

  // WAIT_KILLABLE_RECV is accepted; without a listener the kernel would refuse it, so it is dropped
  const noListener = flagsOf(['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV']);
  assert.is(noListener.flags, 0);
  assert.is(noListener.warnings.length, 1);
  assert.match(noListener.warnings[0]!, 'WAIT_KILLABLE_RECV');

  const notify: Partial<Seccomp> = { listenerPath: '/run/agent.sock', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_NOTIFY' }] };
  const withListener = flagsOf(['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'], notify);
  assert.is(withListener.needsNotifyListener, true);
  assert.is(withListener.flags, FILTER_FLAG.WAIT_KILLABLE_RECV | FILTER_FLAG.NEW_LISTENER);
  // TSYNC with NEW_LISTENER needs TSYNC_ESRCH or seccomp() fails with EINVAL
  assert.is(flagsOf(['SECCOMP_FILTER_FLAG_TSYNC'], notify).flags, FILTER_FLAG.TSYNC | FILTER_FLAG.NEW_LISTENER | FILTER_FLAG.TSYNC_ESRCH);
});

test('needsNotifyListener only when a reachable rule notifies', () => {
  assert.is(compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW' }] }, 'x64').needsNotifyListener, false);
  const unknownOnly = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['no_such_call'], action: 'SCMP_ACT_NOTIFY' }] }, 'x64');
  assert.is(unknownOnly.needsNotifyListener, false);
  assert.is(unknownOnly.flags & FILTER_FLAG.NEW_LISTENER, 0);
  const args = compileSeccomp(
    { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', listenerMetadata: 'm', syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_NOTIFY', args: [{ index: 1, value: 0x5401, op: 'SCMP_CMP_EQ' }] }] },
    'x64',
  );
  assert.is(args.needsNotifyListener, true);
  assert.equal(args.listener, { path: '/run/agent.sock', metadata: 'm' });
  assert.is(runFilter(args.program, { nr: 16, arch: X86_64, args: [0n, 0x5401n] }), SECCOMP_RET.USER_NOTIF);
  assert.is(runFilter(args.program, { nr: 16, arch: X86_64, args: [0n, 0x5402n] }), SECCOMP_RET.ALLOW);
});

test('SCMP_ACT_NOTIFY needs a listenerPath, and may not be used on the calls that hand the fd to the agent', () => {
  const rules = [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }];
  expectConfigError({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: rules }, 'linux.seccomp.listenerPath', 'listenerPath');
  expectConfigError({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '', syscalls: rules }, 'linux.seccomp.listenerPath', 'listenerPath');
  for (const name of ['sendmsg', 'sendto']) {
    expectConfigError(
      { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/a.sock', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }, { names: ['getpid', name], action: 'SCMP_ACT_NOTIFY' }] },
      'linux.seccomp.syscalls[1].action', name,
    );
  }
  // no NOTIFY rule: the listener fields are ignored, as the spec says
  assert.is(compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/a.sock' }, 'x64').listener, undefined);
});

test('unknown syscall names are skipped with one warning each', () => {
  const { program, warnings } = compileSeccomp(
    {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['read', 'not_a_syscall'], action: 'SCMP_ACT_ALLOW' },
        { names: ['not_a_syscall'], action: 'SCMP_ACT_ALLOW' },
      ],
    },
    'x64',
  );
  assert.equal(warnings, ['seccomp: syscall "not_a_syscall" is not known on SCMP_ARCH_X86_64, ignoring it']);
  assert.is(runFilter(program, { nr: READ, arch: X86_64 }), SECCOMP_RET.ALLOW);
});

test('a syscall only other ABIs have (arm\'s cacheflush, mips\' sysmips) is a debug note, not a warning; a name no ABI has is a warning', () => {
  const { warnings, notes } = compileSeccomp(
    { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'cacheflush', 'sysmips', 'not_a_syscall'], action: 'SCMP_ACT_ALLOW' }] },
    'x64',
  );
  assert.equal(warnings, ['seccomp: syscall "not_a_syscall" is not known on SCMP_ARCH_X86_64, ignoring it']);
  assert.equal(notes, [
    'seccomp: syscall "cacheflush" is not known on SCMP_ARCH_X86_64, ignoring it',
    'seccomp: syscall "sysmips" is not known on SCMP_ARCH_X86_64, ignoring it',
  ]);
});

test('a name known to one listed ABI but not another is not warned about', () => {
  // socketcall exists on i386 only; arch_prctl on x86_64 (and i386)
  const { program, warnings } = compileSeccomp(
    { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'], syscalls: [{ names: ['socketcall'], action: 'SCMP_ACT_ALLOW' }] },
    'x64',
  );
  assert.equal(warnings, []);
  assert.is(runFilter(program, { nr: 102, arch: AUDIT_ARCH.I386 }), SECCOMP_RET.ALLOW);
  assert.is(runFilter(program, { nr: 102, arch: X86_64 }), SECCOMP_RET.ERRNO | 1, 'x86_64 102 is getuid');
});

test('known architectures without a table are skipped with a warning', () => {
  const { warnings } = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_S390', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_S390X'] }, 'x64');
  assert.equal(warnings, [
    'seccomp: architecture SCMP_ARCH_S390 is not supported by capsa, ignoring it',
    'seccomp: architecture SCMP_ARCH_PPC64 is not supported by capsa, ignoring it',
  ]);
});

test('a default-action rule for every syscall compiles to just the default', () => {
  const { program } = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] }, 'x64');
  // ld arch, jeq, ret bad-arch, ld nr, jge x32, jeq -1, ret bad-arch, ret default
  assert.is(program.length / 8, 8);
});

test('negative and bigint argument values', () => {
  const profile = (value: unknown): Seccomp => ({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_TRAP', args: [{ index: 0, value: value as number, op: 'SCMP_CMP_EQ' }] }],
  });
  const at = (p: Seccomp, arg: bigint) => runFilter(compileSeccomp(p, 'x64').program, { nr: GETPID, arch: X86_64, args: [arg] });
  // -100 (AT_FDCWD) is its two's complement u64
  assert.is(at(profile(-100), 0xffffffffffffff9cn), SECCOMP_RET.TRAP);
  assert.is(at(profile(-100), 0xffffff9cn), SECCOMP_RET.ALLOW);
  // values past 2^53 survive as bigints
  assert.is(at(profile(0xfedcba9876543210n), 0xfedcba9876543210n), SECCOMP_RET.TRAP);
  assert.is(at(profile(0xfedcba9876543210n), 0xfedcba9876543211n), SECCOMP_RET.ALLOW);
});

test('errors name the field and the bad value', () => {
  expectConfigError({}, 'linux.seccomp.defaultAction', 'is required');
  expectConfigError(null, 'linux.seccomp', 'must be an object');
  expectConfigError({ defaultAction: 'SCMP_ACT_BOGUS' }, 'linux.seccomp.defaultAction', 'unknown action "SCMP_ACT_BOGUS"');
  expectConfigError({ defaultAction: 'SCMP_ACT_NOTIFY' }, 'linux.seccomp.defaultAction', 'SCMP_ACT_NOTIFY');
  expectConfigError({ defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 5 }, 'linux.seccomp.defaultErrnoRet', 'SCMP_ACT_ALLOW does not take an errno');
  expectConfigError({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 70000 }, 'linux.seccomp.defaultErrnoRet', '70000');
  expectConfigError({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: -1 }, 'linux.seccomp.defaultErrnoRet', '-1');
  expectConfigError({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_VAX'] }, 'linux.seccomp.architectures[0]', '"SCMP_ARCH_VAX"');
  expectConfigError({ defaultAction: 'SCMP_ACT_ALLOW', architectures: 'SCMP_ARCH_X86' }, 'linux.seccomp.architectures', 'array');
  expectConfigError({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_NOPE'] }, 'linux.seccomp.flags[1]', '"SECCOMP_FILTER_FLAG_NOPE"');
  expectConfigError({ defaultAction: 'SCMP_ACT_ALLOW', listenerMetadata: 'x' }, 'linux.seccomp.listenerMetadata', 'listenerPath');

  const rules = (...syscalls: unknown[]) => ({ defaultAction: 'SCMP_ACT_ALLOW', syscalls });
  const ok = { names: ['read'], action: 'SCMP_ACT_ERRNO' };
  expectConfigError(rules(ok, ok, ok, { names: ['read'], action: 'SCMP_ACT_FOO' }), 'linux.seccomp.syscalls[3].action', 'unknown action "SCMP_ACT_FOO"');
  expectConfigError(rules({ names: ['read'], action: 'SCMP_ACT_LOG', errnoRet: 1 }), 'linux.seccomp.syscalls[0].errnoRet', 'SCMP_ACT_LOG does not take an errno');
  expectConfigError(rules({ names: [], action: 'SCMP_ACT_LOG' }), 'linux.seccomp.syscalls[0].names', 'non-empty');
  expectConfigError(rules({ action: 'SCMP_ACT_LOG' }), 'linux.seccomp.syscalls[0].names', 'non-empty');
  expectConfigError(rules(ok, { names: ['read', 7], action: 'SCMP_ACT_LOG' }), 'linux.seccomp.syscalls[1].names[1]', '7');
  expectConfigError(rules('read'), 'linux.seccomp.syscalls[0]', 'object');
  const withArg = (arg: unknown) => rules({ names: ['read'], action: 'SCMP_ACT_LOG', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }, arg] });
  expectConfigError(withArg({ index: 6, value: 0, op: 'SCMP_CMP_EQ' }), 'linux.seccomp.syscalls[0].args[1].index', '6');
  expectConfigError(withArg({ index: 1.5, value: 0, op: 'SCMP_CMP_EQ' }), 'linux.seccomp.syscalls[0].args[1].index', '1.5');
  expectConfigError(withArg({ index: 0, value: 0, op: 'SCMP_CMP_ABOUT' }), 'linux.seccomp.syscalls[0].args[1].op', '"SCMP_CMP_ABOUT"');
  expectConfigError(withArg({ index: 0, value: 1.25, op: 'SCMP_CMP_EQ' }), 'linux.seccomp.syscalls[0].args[1].value', '1.25');
  expectConfigError(withArg({ index: 0, value: '5', op: 'SCMP_CMP_EQ' }), 'linux.seccomp.syscalls[0].args[1].value', '"5"');
  expectConfigError(withArg({ index: 0, value: 2 ** 64, op: 'SCMP_CMP_EQ' }), 'linux.seccomp.syscalls[0].args[1].value', '64 bits');
  expectConfigError(withArg({ index: 0, value: 0, valueTwo: 1n << 70n, op: 'SCMP_CMP_MASKED_EQ' }), 'linux.seccomp.syscalls[0].args[1].valueTwo', '64 bits');
});

test.run();
