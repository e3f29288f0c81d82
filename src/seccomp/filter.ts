// From validated rules to BPF: resolve names per ABI, decide what each syscall
// number does, and emit the program.
//
// Program shape:
//   A = arch; one JEQ per audit token to that ABI's section; else KILL_PROCESS
//   section: A = nr; (x86_64 token: split x32 numbers off by X32_SYSCALL_BIT)
//            binary search over ranges of syscall numbers with one decision
//            each; a leaf returns an action, or tests argument rules in order
//            (first match wins) and falls back to the default action.
//
// The ENOSYS stub (what runc's patchbpf does, built into the ranges here): a
// syscall newer than every syscall the profile names on that ABI returns
// ENOSYS instead of the default action, so libc falls back to an older call
// (clone3 -> clone, faccessat2 -> faccessat, close_range, openat2) where an old
// allow-list would otherwise answer EPERM.

import { SECCOMP_RET, isNotifyAction } from './actions';
import { ArchInfo, ARCHES, AUDIT_ARCH, NAMES_ON_OTHER_ARCHES, X32_SYSCALL_BIT, syscallNumber } from './arch';
import { enosysZones, type Zone } from './enosys';
import { multiplexedCall, multiplexedRule } from './multiplexed';
import { NEXT, ProgramBuilder } from './bpf';
import { emitCondition, splitU64 } from './conditions';
import type { SyscallRule } from './profile';

const ARCH_OFFSET = 4; // offsetof(struct seccomp_data, arch)
const NR_OFFSET = 0; // offsetof(struct seccomp_data, nr)
/** Return value for a syscall made under an ABI the filter does not cover. */
export const BAD_ARCH_ACTION = SECCOMP_RET.KILL_PROCESS;
/** nr -1: a tracer cancelled the syscall; the kernel returns ENOSYS for it. */
const SKIPPED_SYSCALL_NR = 0xffffffff;

/** What a syscall number leads to: one action, or argument rules to test. */
type Decision = { kind: 'action'; action: number } | { kind: 'rules'; rules: SyscallRule[] };

interface Range {
  /** First syscall number of the range; it ends where the next one starts. */
  start: number;
  decision: Decision;
}

export interface ArchPlan {
  arch: ArchInfo;
  ranges: Range[];
}

export interface FilterPlan {
  arches: ArchPlan[];
  defaultAction: number;
  needsNotifyListener: boolean;
}

export function planFilter(
  rules: readonly SyscallRule[],
  arches: readonly ArchInfo[],
  defaultAction: number,
  report: { warnings: string[]; notes: string[] },
  enosysStub = true,
): FilterPlan {
  const { warnings } = report;
  const byArch = new Map<ArchInfo, Map<number, SyscallRule[]>>(arches.map((a) => [a, new Map()]));
  const unknown = new Set<string>();
  const add = (arch: ArchInfo, nr: number, rule: SyscallRule) => {
    const list = byArch.get(arch)!;
    const forNr = list.get(nr) ?? [];
    if (!forNr.includes(rule)) forNr.push(rule);
    list.set(nr, forNr);
  };
  // one derived rule per (rule, multiplexer, call), so a name listed twice adds it once
  const derived = new Map<SyscallRule, Map<string, SyscallRule>>();
  for (const rule of rules) {
    for (const name of rule.names) {
      let known = false;
      for (const arch of arches) {
        const nr = syscallNumber(arch, name);
        const mux = multiplexedCall(arch, name);
        if (mux) {
          known = true;
          const mine = derived.get(rule) ?? new Map<string, SyscallRule>();
          derived.set(rule, mine);
          const key = `${mux.via}:${mux.call}`;
          if (!mine.has(key)) mine.set(key, multiplexedRule(rule, mux.via, mux.call));
          add(arch, syscallNumber(arch, mux.via)!, mine.get(key)!);
        }
        if (nr === undefined) continue;
        known = true;
        add(arch, nr, rule);
        if (arch.args32) warnWideValues(rule, arch, warnings);
      }
      if (!known && !unknown.has(name)) {
        unknown.add(name);
        // Engines' profiles routinely list syscalls of ABIs the filter does
        // not cover (docker's lists arm-only ones): a note for the debug log.
        // A name no ABI knows is likely a typo: that one is a warning.
        const text = `seccomp: syscall "${name}" is not known on ${arches.map((a) => a.name).join(', ')}, ignoring it`;
        if (knownOnOtherArches(name)) report.notes.push(text);
        else warnings.push(text);
      }
    }
  }
  let needsNotifyListener = false;
  const plans = arches.map((arch) => {
    const decisions = new Map<number, Decision>();
    for (const [nr, list] of byArch.get(arch)!) {
      const decision = decide(list, defaultAction);
      decisions.set(nr, decision);
      if (usesNotify(decision)) needsNotifyListener = true;
    }
    const zones = enosysZones(arch, [...byArch.get(arch)!.keys()], defaultAction, enosysStub);
    return { arch, ranges: toRanges(decisions, zones) };
  });
  return { arches: plans, defaultAction, needsNotifyListener };
}

function knownOnOtherArches(name: string): boolean {
  return NAMES_ON_OTHER_ARCHES.has(name) || Object.values(ARCHES).some((a) => syscallNumber(a, name) !== undefined);
}

/** Rules in config order; drop those that cannot change the outcome. */
function decide(rules: readonly SyscallRule[], defaultAction: number): Decision {
  const firstCatchAll = rules.findIndex((r) => r.conditions.length === 0);
  const reachable = firstCatchAll === -1 ? [...rules] : rules.slice(0, firstCatchAll + 1);
  // trailing rules that return the default are the same as no rule
  while (reachable.length > 0 && reachable[reachable.length - 1]!.action === defaultAction) reachable.pop();
  if (reachable.length === 0) return { kind: 'action', action: defaultAction };
  if (reachable[0]!.conditions.length === 0) return { kind: 'action', action: reachable[0]!.action };
  return { kind: 'rules', rules: reachable };
}

function usesNotify(decision: Decision): boolean {
  if (decision.kind === 'action') return isNotifyAction(decision.action);
  return decision.rules.some((r) => isNotifyAction(r.action));
}

/**
 * Cover 0..2^32-1 with ranges: the named numbers with their decisions, the
 * rest with the action of the zone they fall in; neighbours that return the
 * same action merge.
 */
function toRanges(decisions: Map<number, Decision>, zones: readonly Zone[]): Range[] {
  const ranges: Range[] = [];
  const push = (start: number, decision: Decision): void => {
    const last = ranges[ranges.length - 1];
    if (last && last.decision.kind === 'action' && decision.kind === 'action' && last.decision.action === decision.action) return;
    ranges.push({ start, decision });
  };
  const starts = new Set<number>(zones.map((z) => z.start));
  for (const nr of decisions.keys()) {
    starts.add(nr);
    if (nr < 0xffffffff) starts.add(nr + 1);
  }
  let zone = 0;
  for (const start of [...starts].sort((a, b) => a - b)) {
    while (zone + 1 < zones.length && zones[zone + 1]!.start <= start) zone++;
    push(start, decisions.get(start) ?? { kind: 'action', action: zones[zone]!.action });
  }
  return ranges;
}

function warnWideValues(rule: SyscallRule, arch: ArchInfo, warnings: string[]): void {
  for (const cond of rule.conditions) {
    const values = cond.op === 'MASKED_EQ' ? [cond.value, cond.valueTwo] : [cond.value];
    for (const value of values) {
      const { hi, lo } = splitU64(value);
      const signExtended = hi === 0xffffffff && lo >= 0x80000000;
      if (hi === 0 || signExtended) continue;
      const text = `seccomp: ${cond.path} is wider than 32 bits; ${arch.name} compares only its low 32 bits`;
      if (!warnings.includes(text)) warnings.push(text);
    }
  }
}

/** `bigEndian`: the host's byte order (struct sock_filter is read in it). */
export function emitFilter(plan: FilterPlan, bigEndian = false): Buffer {
  const b = new ProgramBuilder();
  const tokens = [...new Set(plan.arches.map((p) => p.arch.auditArch))];
  const sections = tokens.map((token) => ({ token, label: b.newLabel(`arch-${token.toString(16)}`) }));
  b.loadWord(ARCH_OFFSET);
  for (const s of sections) b.branch('jeq', s.token, s.label, NEXT);
  b.ret(BAD_ARCH_ACTION);
  for (const s of sections) {
    b.place(s.label);
    b.loadWord(NR_OFFSET);
    const members = plan.arches.filter((p) => p.arch.auditArch === s.token);
    if (s.token === AUDIT_ARCH.X86_64) emitX86_64Section(b, members, plan.defaultAction);
    else emitRanges(b, members[0]!, plan.defaultAction);
  }
  return b.assemble(bigEndian);
}

/** x86_64 and x32 share a token; numbers with X32_SYSCALL_BIT are x32. */
function emitX86_64Section(b: ProgramBuilder, members: ArchPlan[], defaultAction: number): void {
  const native = members.find((p) => p.arch.nrOffset === 0);
  const x32 = members.find((p) => p.arch.nrOffset === X32_SYSCALL_BIT);
  if (native && !x32) {
    // x32 calls are a foreign ABI here; nr -1 has the bit set but is no x32
    // call, so it goes on to the rules (and the default), as in libseccomp
    const low = b.newLabel('x86_64-numbers');
    b.branch('jge', X32_SYSCALL_BIT, NEXT, low);
    b.branch('jeq', SKIPPED_SYSCALL_NR, low, NEXT);
    b.ret(BAD_ARCH_ACTION);
    b.place(low);
    return emitRanges(b, native, defaultAction);
  }
  const high = b.newLabel('x32-numbers');
  b.branch('jge', X32_SYSCALL_BIT, high, NEXT);
  if (native) emitRanges(b, native, defaultAction);
  else b.ret(BAD_ARCH_ACTION);
  b.place(high);
  emitRanges(b, x32!, defaultAction);
}

/** Binary search on the accumulator (nr) over the ranges. */
function emitRanges(b: ProgramBuilder, plan: ArchPlan, defaultAction: number): void {
  const emit = (from: number, to: number): void => {
    if (from === to) return emitDecision(b, plan.ranges[from]!.decision, plan.arch, defaultAction);
    const mid = (from + to + 1) >> 1;
    const upper = b.newLabel('nr-upper');
    b.branch('jge', plan.ranges[mid]!.start, upper, NEXT);
    emit(from, mid - 1);
    b.place(upper);
    emit(mid, to);
  };
  emit(0, plan.ranges.length - 1);
}

function emitDecision(b: ProgramBuilder, decision: Decision, arch: ArchInfo, defaultAction: number): void {
  if (decision.kind === 'action') return b.ret(decision.action);
  for (const rule of decision.rules) {
    if (rule.conditions.length === 0) return b.ret(rule.action);
    const nextRule = b.newLabel('next-rule');
    for (const cond of rule.conditions) emitCondition(b, cond, arch, nextRule);
    b.ret(rule.action);
    b.place(nextRule);
  }
  b.ret(defaultAction);
}
