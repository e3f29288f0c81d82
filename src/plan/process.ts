// The process part of the Plan: rlimits, capabilities, credentials, seccomp
// placement, cwd, environment and the final exec.
import { CapsaError } from '../errors';
import { capabilityMask, capabilityNumber, splitByHostSupport } from '../spec/capabilities';
import type { Process } from '../spec/types';
import { NO_FD, type Op } from './schema';

export const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

const CAP_SYS_ADMIN = 21;
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function rlimitOps(proc: Process): Op[] {
  const seen = new Set<string>();
  return (proc.rlimits ?? []).map((r, i) => {
    const configPath = `process.rlimits[${i}]`;
    const resource = RLIMITS[r.type];
    if (resource === undefined) throw new CapsaError('INVALID_CONFIG', `config.${configPath}.type: unknown rlimit "${r.type}"`, { configPath: `${configPath}.type` });
    if (seen.has(r.type)) throw new CapsaError('INVALID_CONFIG', `config.${configPath}.type: duplicate rlimit "${r.type}"`, { configPath: `${configPath}.type` });
    if (r.soft > r.hard) throw new CapsaError('INVALID_CONFIG', `config.${configPath}: soft limit ${r.soft} is above hard limit ${r.hard}`, { configPath });
    seen.add(r.type);
    // 2^64-1 is RLIM_INFINITY; JSON numbers above 2^53 arrive rounded.
    const big = (n: number) => (n >= 2 ** 63 ? 0xffffffffffffffffn : BigInt(n));
    return { op: 'rlimit', resource, soft: big(r.soft), hard: big(r.hard), configPath, what: `setrlimit ${r.type}` } as Op;
  });
}

export interface CapabilitySets {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
  warnings: string[];
}

export function capabilitySets(proc: Process, lastCap: number): CapabilitySets {
  const caps = proc.capabilities ?? {};
  const warnings: string[] = [];
  const set = (name: keyof NonNullable<Process['capabilities']>): bigint => {
    const field = `process.capabilities.${name}`;
    // runtime-spec config.md: a capability that cannot be mapped to a kernel
    // interface MUST be logged as a warning, and the runtime SHOULD NOT fail
    // (runc: "ignoring unknown or unavailable capabilities").
    const known = (caps[name] ?? []).filter((n) => {
      if (capabilityNumber(n) !== undefined) return true;
      const shown = typeof n === 'string' && n.length > 64 ? `${n.slice(0, 64)}...` : n;
      warnings.push(`${field}: unknown capability ${JSON.stringify(shown)}, skipping`);
      return false;
    });
    const { supported, unsupported } = splitByHostSupport(known, lastCap);
    for (const n of unsupported) warnings.push(`${field}: capability ${n} is not supported by this kernel, skipping`);
    return capabilityMask(supported, field).mask;
  };
  const result = {
    bounding: set('bounding'), effective: set('effective'), permitted: set('permitted'),
    inheritable: set('inheritable'), ambient: set('ambient'), warnings,
  };
  // The kernel only raises ambient caps that are permitted and inheritable;
  // runc skips the others silently (its default spec lists some), and so do we.
  // Inheritable is never promoted to ambient on its own (CVE-2022-29162).
  result.ambient &= result.permitted & result.inheritable;
  return result;
}

export function keepsSysAdmin(sets: CapabilitySets): boolean {
  return (sets.effective & (1n << BigInt(CAP_SYS_ADMIN))) !== 0n;
}

/** A compiled filter for the plan; notifySocket: capsa-init's fd to pass a notify listener on. */
export interface PlanSeccomp {
  program: Buffer;
  flags: number;
  notifySocket?: number;
}

/**
 * Where the seccomp filter goes, and what must happen before it.
 *
 * Loading a filter without no_new_privs needs CAP_SYS_ADMIN: when the process
 * will not keep it, the filter is loaded before the credentials ("early"),
 * else just before execve. After an early filter capsa-init makes only the
 * syscalls runc makes after its own load (credentials, fchdir, close, the
 * exec fifo's openat/write, execve), because old allow-list profiles know
 * nothing newer: the cwd is resolved (openat2) and inherited fds are marked
 * close-on-exec (close_range) before the filter, in every placement.
 *
 * A filter with a notify listener is loaded before the container is reported
 * created (as runc does): the runtime must still be there to hand the
 * listener to the seccomp agent.
 */
export function seccompPlacement(proc: Process, caps: CapabilitySets, seccomp: PlanSeccomp | undefined) {
  const late = !!proc.noNewPrivileges || keepsSysAdmin(caps);
  const load: Op | undefined = seccomp && {
    op: 'seccomp', flags: seccomp.flags, program: seccomp.program, notifySocket: seccomp.notifySocket ?? NO_FD,
    configPath: 'linux.seccomp', what: 'load seccomp filter',
  };
  const nnp: Op[] = proc.noNewPrivileges ? [{ op: 'noNewPrivs', configPath: 'process.noNewPrivileges', what: 'set no_new_privs' }] : [];
  const beforeReporting = seccomp?.notifySocket !== undefined;
  return {
    beforeCreds(cwd: string, firstInheritedFd: number): Op[] {
      const ops: Op[] = [
        { op: 'openCwd', path: cwd, configPath: 'process.cwd', what: `chdir to ${cwd}` },
        { op: 'closeFds', first: firstInheritedFd, what: 'close inherited fds' },
      ];
      if (load && !late) ops.push(load);
      return ops;
    },
    beforeReport(): Op[] {
      return load && late && beforeReporting ? [...nnp, load] : [];
    },
    beforeExec(): Op[] {
      if (load && late && beforeReporting) return [];
      return load && late ? [...nnp, load] : nnp;
    },
  };
}

/** LSM labels to apply just before execve (see src/security/lsm.ts). */
export interface LsmExec {
  apparmorExec?: string;
  selinuxExec?: string;
}

export function lsmOps(lsm: LsmExec | undefined): Op[] {
  const ops: Op[] = [];
  if (lsm?.apparmorExec) ops.push({ op: 'writeProc', path: 'thread-self/attr/apparmor/exec', content: `exec ${lsm.apparmorExec}`, configPath: 'process.apparmorProfile', what: 'set the AppArmor profile' });
  if (lsm?.selinuxExec) ops.push({ op: 'writeProc', path: 'thread-self/attr/exec', content: lsm.selinuxExec, configPath: 'process.selinuxLabel', what: 'set the SELinux label' });
  return ops;
}

export function envPath(env: readonly string[]): string {
  const entry = env.findLast((e) => e.startsWith('PATH='));
  return entry === undefined ? DEFAULT_PATH : entry.slice(5);
}

/** runc sets HOME from the container's passwd file when the config has none. */
export function withHome(env: readonly string[], home: string | undefined): string[] {
  if (env.some((e) => e.startsWith('HOME='))) return [...env];
  return [...env, `HOME=${home ?? '/'}`];
}
