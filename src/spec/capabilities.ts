// Linux capability names and numbers (linux/capability.h), and the checks
// the runtime-spec asks for: unknown names are an error; names the host
// kernel is too old for are the caller's to warn about and skip.

import { CapsaError } from '../errors';

/** Index = capability number. */
export const CAPABILITY_NAMES = Object.freeze([
  'CAP_CHOWN', // 0
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL', // 5
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE', // 10
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER', // 15
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', // 20
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', // 25
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL', // 30
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM', // 35
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE', // 40
] as const);

export type CapabilityName = (typeof CAPABILITY_NAMES)[number];

/** The highest capability number capsa knows (CAP_LAST_CAP of its table). */
export const LAST_KNOWN_CAP = CAPABILITY_NAMES.length - 1;

const NUMBER_BY_NAME: ReadonlyMap<string, number> = new Map(CAPABILITY_NAMES.map((name, nr) => [name, nr]));

/** The capability's number, or undefined if the name is not a capability. */
export function capabilityNumber(name: string): number | undefined {
  return NUMBER_BY_NAME.get(name);
}

function numberOrThrow(name: unknown, field: string): number {
  const nr = typeof name === 'string' ? capabilityNumber(name) : undefined;
  if (nr === undefined) {
    const shown = typeof name === 'string' ? name : JSON.stringify(name);
    throw new CapsaError('INVALID_CONFIG', `${field}: unknown capability "${shown}"`, { configPath: field });
  }
  return nr;
}

/**
 * Bit mask (bit n = capability n) of `names`, e.g. for capset(2) or the
 * bounding set. `field` names the config field, e.g. "process.capabilities.bounding".
 */
export function capabilityMask(names: readonly string[], field: string): { mask: bigint } {
  let mask = 0n;
  for (const name of names) mask |= 1n << BigInt(numberOrThrow(name, field));
  return { mask };
}

/** Names of the bits set in `mask`, lowest first; bits above LAST_KNOWN_CAP are ignored. */
export function capabilityNames(mask: bigint): CapabilityName[] {
  return CAPABILITY_NAMES.filter((_, nr) => ((mask >> BigInt(nr)) & 1n) === 1n);
}

/**
 * Split `names` by whether the host kernel has them (`lastCap` is the host's
 * /proc/sys/kernel/cap_last_cap). Like runc, the caller warns about and
 * skips the unsupported ones. Unknown names throw, as in capabilityMask.
 */
export function splitByHostSupport(
  names: readonly string[],
  lastCap: number,
  field = 'process.capabilities',
): { supported: string[]; unsupported: string[] } {
  const supported: string[] = [];
  const unsupported: string[] = [];
  for (const name of names) {
    (numberOrThrow(name, field) <= lastCap ? supported : unsupported).push(name);
  }
  return { supported, unsupported };
}
