// The ENOSYS stub: which unnamed syscall numbers answer ENOSYS rather than
// the default action. runc prepends a BPF stub for this (libcontainer's
// patchbpf); here the same rule only decides what the filter's number ranges
// return, so no extra program is needed.
//
// The rule, per ABI: a number above the highest one the profile names returns
// ENOSYS — unless the default action lets calls through anyway (ALLOW, LOG,
// TRACE: a tracer handles new calls itself) or already is ENOSYS, or the
// profile names nothing on that ABI (runc adds no stub there either).
//
// Two refinements over runc, both where its stub would otherwise be a no-op:
// some ABIs keep old calls in a block far above the main table (x32's compat
// entries 512-547, ARM's private calls at 0x0f0000); naming one of those does
// not make every real syscall "old", and unnamed numbers inside the block keep
// the default action.

import { SECCOMP_RET } from './actions';
import type { ArchInfo } from './arch';

const ENOSYS = 38;
export const ENOSYS_ACTION = (SECCOMP_RET.ERRNO | ENOSYS) >>> 0;
const ACTION_MASK = 0xffff0000;

/** From `start` up to the next zone's start, an unnamed number returns `action`. */
export interface Zone {
  start: number;
  action: number;
}

/** Old calls numbered apart from the main table (table numbers, inclusive). */
const SEPARATE_OLD_BLOCKS: Readonly<Record<string, readonly [number, number]>> = {
  SCMP_ARCH_X32: [512, 547],
  SCMP_ARCH_ARM: [0x0f0000, 0x0f07ff],
};

/**
 * s390(x) multiplexes syscall numbers above 255 through number 0 ("setup",
 * unused since long): a number the kernel does not know arrives as 0.
 */
const MULTIPLEXED_ZERO = new Set(['SCMP_ARCH_S390X', 'SCMP_ARCH_S390']);

/** Whether `defaultAction` gets an ENOSYS stub at all. */
export function stubApplies(defaultAction: number): boolean {
  const kind = (defaultAction & ACTION_MASK) >>> 0;
  if (kind === SECCOMP_RET.ALLOW || kind === SECCOMP_RET.LOG || kind === SECCOMP_RET.TRACE) return false;
  return defaultAction >>> 0 !== ENOSYS_ACTION;
}

/**
 * The zones covering 0..2^32-1 for `arch`, given the numbers (seccomp_data.nr,
 * offset included) the profile names on it.
 */
export function enosysZones(arch: ArchInfo, named: readonly number[], defaultAction: number, enabled: boolean): Zone[] {
  const everything: Zone[] = [{ start: 0, action: defaultAction }];
  if (!enabled || !stubApplies(defaultAction)) return everything;
  const block = SEPARATE_OLD_BLOCKS[arch.name];
  const blockFrom = block ? block[0] + arch.nrOffset : undefined;
  const blockTo = block ? block[1] + arch.nrOffset : undefined;
  const inBlock = (nr: number): boolean => blockFrom !== undefined && nr >= blockFrom && nr <= blockTo!;
  const main = named.filter((nr) => !inBlock(nr));
  if (main.length === 0) return everything;
  const newest = Math.max(...main);
  const zones: Zone[] = [];
  if (MULTIPLEXED_ZERO.has(arch.name) && newest > 0) zones.push({ start: 0, action: ENOSYS_ACTION }, { start: 1, action: defaultAction });
  else zones.push({ start: 0, action: defaultAction });
  if (newest < 0xffffffff) zones.push({ start: newest + 1, action: ENOSYS_ACTION });
  if (blockFrom !== undefined && blockFrom > newest) {
    zones.push({ start: blockFrom, action: defaultAction });
    if (blockTo! < 0xffffffff) zones.push({ start: blockTo! + 1, action: ENOSYS_ACTION });
  }
  return zones;
}
