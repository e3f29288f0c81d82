// socketcall(2) and ipc(2): on i386 (and s390x, ppc64le) one syscall carries
// every socket or SysV IPC call, chosen by its first argument. A rule on
// `socket` must also decide `socketcall(SYS_SOCKET, …)`, or a 32-bit program
// reaches the call around it. libseccomp (so runc) adds that rule; so does
// capsa. The real arguments sit behind a pointer the filter cannot read, so
// the multiplexed rule keeps only the call number, as libseccomp's does.
import type { ArchInfo } from './arch';
import type { SyscallRule } from './profile';

// linux/net.h SYS_*
const SOCKETCALL: Readonly<Record<string, number>> = {
  socket: 1, bind: 2, connect: 3, listen: 4, accept: 5, getsockname: 6, getpeername: 7, socketpair: 8,
  send: 9, recv: 10, sendto: 11, recvfrom: 12, shutdown: 13, setsockopt: 14, getsockopt: 15, sendmsg: 16,
  recvmsg: 17, accept4: 18, recvmmsg: 19, sendmmsg: 20,
};

// linux/ipc.h call numbers
const IPC: Readonly<Record<string, number>> = {
  semop: 1, semget: 2, semctl: 3, semtimedop: 4, msgsnd: 11, msgrcv: 12, msgget: 13, msgctl: 14,
  shmat: 21, shmdt: 22, shmget: 23, shmctl: 24,
};

/** The multiplexer syscall and call number through which `arch` also reaches `name`, if any. */
export function multiplexedCall(arch: ArchInfo, name: string): { via: string; call: number } | undefined {
  for (const [via, calls] of [['socketcall', SOCKETCALL], ['ipc', IPC]] as const) {
    if (Object.hasOwn(calls, name) && Object.hasOwn(arch.table, via)) return { via, call: calls[name]! };
  }
  return undefined;
}

/** `rule` as it applies to the multiplexer: same action, only `arg0 == call`. */
export function multiplexedRule(rule: SyscallRule, via: string, call: number): SyscallRule {
  return {
    names: [via],
    action: rule.action,
    conditions: [{ index: 0, op: 'EQ', value: BigInt(call), valueTwo: 0n, path: rule.path }],
    path: rule.path,
  };
}
