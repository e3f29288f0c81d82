// Device access rules: the OCI list, runc's default set, and a model of the
// cgroup v1 devices controller that reduces any rule list to "a default
// (allow or deny) plus exceptions". Both drivers start from that reduced form,
// so v1 (devices.allow/deny) and v2 (eBPF) enforce exactly the same thing:
// rules apply in order, so the last rule that touches a device wins.
import type { DeviceCgroup } from '../spec/types';
import { invalid } from './fsio';

export type DeviceType = 'a' | 'b' | 'c';

export interface DeviceRule {
  allow: boolean;
  type: DeviceType;
  /** -1 is the wildcard "*" */
  major: number;
  minor: number;
  /** a non-empty subset of "rwm", in that order */
  access: string;
}

export const WILDCARD = -1;
const FIELD = 'linux.resources.devices';

const rule = (allow: boolean, type: DeviceType, major: number, minor: number, access: string): DeviceRule => ({ allow, type, major, minor, access });

/** The rules runc appends after the config's own: mknod anything, use the standard devices. */
export function defaultAllowRules(): DeviceRule[] {
  return [
    rule(true, 'c', WILDCARD, WILDCARD, 'm'),
    rule(true, 'b', WILDCARD, WILDCARD, 'm'),
    rule(true, 'c', 1, 3, 'rwm'), // /dev/null
    rule(true, 'c', 1, 8, 'rwm'), // /dev/random
    rule(true, 'c', 1, 7, 'rwm'), // /dev/full
    rule(true, 'c', 5, 0, 'rwm'), // /dev/tty
    rule(true, 'c', 1, 5, 'rwm'), // /dev/zero
    rule(true, 'c', 1, 9, 'rwm'), // /dev/urandom
    rule(true, 'c', 136, WILDCARD, 'rwm'), // /dev/pts/*
    rule(true, 'c', 5, 2, 'rwm'), // /dev/ptmx
    rule(true, 'c', 10, 200, 'rwm'), // /dev/net/tun: runc dropped it once, then restored it for compatibility
  ];
}

/** Deny everything, then allow the standard set: what a container gets when its config lists no rules. */
export function defaultDeviceRules(): DeviceRule[] {
  return [rule(false, 'a', WILDCARD, WILDCARD, 'rwm'), ...defaultAllowRules()];
}

/**
 * The rules a container's cgroup enforces: deny all first (a fresh v1 cgroup
 * allows all), the config's rules, then runc's defaults — which come last, so
 * the config cannot take the standard devices away, as with runc.
 */
export function effectiveDeviceRules(configured: DeviceCgroup[] | undefined): DeviceRule[] {
  return [rule(false, 'a', WILDCARD, WILDCARD, 'rwm'), ...(configured ?? []).map((d, i) => fromOci(d, `${FIELD}[${i}]`)), ...defaultAllowRules()];
}

export function fromOci(d: DeviceCgroup, field: string): DeviceRule {
  const type = d.type ?? 'a';
  if (type !== 'a' && type !== 'b' && type !== 'c') throw invalid(`${field}.type`, `"${type}" is not a, b or c`);
  const access = d.access ?? '';
  if (access === '' || !/^[rwm]+$/.test(access)) throw invalid(`${field}.access`, `"${access}" must be a non-empty combination of r, w and m`);
  return { allow: !!d.allow, type, major: deviceNumber(d.major, `${field}.major`), minor: deviceNumber(d.minor, `${field}.minor`), access: canonicalAccess(access) };
}

function deviceNumber(n: number | null | undefined, field: string): number {
  if (n === undefined || n === null || n === WILDCARD) return WILDCARD;
  // dev_t majors are 12 bits and minors 20; anything past int32 cannot name a device.
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw invalid(field, `${n} is not a device number`);
  return n;
}

export function canonicalAccess(access: string): string {
  return ['r', 'w', 'm'].filter((c) => access.includes(c)).join('');
}

function subtract(a: string, b: string): string {
  return [...a].filter((c) => !b.includes(c)).join('');
}

function overlaps(a: string, b: string): boolean {
  return [...a].some((c) => b.includes(c));
}

/** "c 1:3 rwm", "a" for the all-devices rule — the devices.allow/deny syntax. */
export function ruleToV1String(r: Pick<DeviceRule, 'type' | 'major' | 'minor' | 'access'>): string {
  if (r.type === 'a') return 'a';
  const n = (x: number) => (x === WILDCARD ? '*' : String(x));
  return `${r.type} ${n(r.major)}:${n(r.minor)} ${r.access}`;
}

export interface DeviceRuleState {
  /** true: everything not listed is allowed (exceptions deny); false: the reverse */
  defaultAllow: boolean;
  /** each with allow === !defaultAllow, in the order they were first added */
  exceptions: DeviceRule[];
}

/**
 * Fold a rule list the way the v1 devices controller does: an "a" rule resets
 * the default; a rule of the other polarity adds an exception (merging access
 * for the same device); a rule of the default's polarity removes access from
 * the exactly matching exception. Like runc, refuse to "punch a hole" in a
 * wildcard exception (e.g. deny c 1:3 after allow c *:*): v1 would silently
 * ignore it and leave the device reachable.
 */
export function reduceDeviceRules(rules: DeviceRule[], field = FIELD): DeviceRuleState {
  let defaultAllow = true; // a fresh v1 cgroup
  let exceptions = new Map<string, DeviceRule>();
  const key = (r: DeviceRule) => `${r.type} ${r.major}:${r.minor}`;
  for (const r of rules) {
    if (r.type === 'a') {
      defaultAllow = r.allow;
      exceptions = new Map();
      continue;
    }
    const k = key(r);
    const existing = exceptions.get(k);
    if (r.allow !== defaultAllow) {
      const access = canonicalAccess((existing?.access ?? '') + r.access);
      exceptions.set(k, { ...r, access });
      continue;
    }
    for (const [major, minor] of [[WILDCARD, r.minor], [r.major, WILDCARD], [WILDCARD, WILDCARD]] as const) {
      if (major === r.major && minor === r.minor) continue;
      const wide = exceptions.get(`${r.type} ${major}:${minor}`);
      if (wide && overlaps(wide.access, r.access)) {
        throw invalid(field, `rule "${ruleToV1String(r)}" (${r.allow ? 'allow' : 'deny'}) cannot carve an exception out of the wider rule "${ruleToV1String(wide)}"; the devices controller does not support that`);
      }
    }
    if (existing) {
      const left = subtract(existing.access, r.access);
      if (left === '') exceptions.delete(k);
      else exceptions.set(k, { ...existing, access: left });
    }
  }
  return { defaultAllow, exceptions: [...exceptions.values()] };
}

/** Would the state allow this access? The kernel's v1 check, used by tests and the eBPF compiler's tests. */
export function deviceAccessAllowed(state: DeviceRuleState, type: 'b' | 'c', major: number, minor: number, access: string): boolean {
  const matches = (e: DeviceRule) => e.type === type && (e.major === WILDCARD || e.major === major) && (e.minor === WILDCARD || e.minor === minor);
  if (state.defaultAllow) {
    // Denied if any part of the access touches a deny exception.
    return !state.exceptions.some((e) => matches(e) && overlaps(e.access, access));
  }
  // Allowed only if one allow exception covers the whole access.
  return state.exceptions.some((e) => matches(e) && subtract(access, e.access) === '');
}
