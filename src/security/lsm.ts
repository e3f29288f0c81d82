// AppArmor and SELinux: is the LSM enabled on this host, and what a config's
// labels mean here. Decisions (pure) are separate from detection (I/O) so the
// policy is unit-testable.
//
// Behaviour when the LSM is disabled, as decided in issue 4 (see
// docs/security.md for how this compares with runc and crun):
//   - process.apparmorProfile: ignored with a warning (crun, and every engine,
//     which never pass a profile to a host without AppArmor). runc itself
//     writes the profile to /proc/self/attr/exec and fails with EINVAL.
//   - process.selinuxLabel: an error, with runc's wording (runc's validator).
//   - linux.mountLabel: ignored silently (runc's label.FormatMountLabel is a
//     no-op without SELinux).
// Malformed values are errors whether or not the LSM is enabled.

import * as fs from 'node:fs';
import { CapsaError } from '../errors';
import type { Process, Spec } from '../spec/types';

export interface LsmFacts {
  apparmor: boolean;
  selinux: boolean;
}

export interface LsmPaths {
  apparmorSecurityfs: string;
  apparmorEnabled: string;
  selinuxEnforce: string;
}

export const LSM_PATHS: LsmPaths = {
  apparmorSecurityfs: '/sys/kernel/security/apparmor',
  apparmorEnabled: '/sys/module/apparmor/parameters/enabled',
  selinuxEnforce: '/sys/fs/selinux/enforce',
};

/**
 * AppArmor: securityfs dir present and the module says "Y" (runc's test).
 * SELinux: selinuxfs mounted where the kernel puts it (go-selinux's test, less
 * its fallback search of /proc/self/mountinfo).
 */
export function detectLsm(paths: LsmPaths = LSM_PATHS): LsmFacts {
  // throwIfNoEntry: absent is the common answer, and a thrown error costs more than the stat.
  let apparmor = false;
  try {
    apparmor = !!fs.statSync(paths.apparmorSecurityfs, { throwIfNoEntry: false })?.isDirectory() && fs.readFileSync(paths.apparmorEnabled, 'latin1').startsWith('Y');
  } catch { /* not readable: disabled */ }
  let selinux = false;
  try {
    selinux = !!fs.statSync(paths.selinuxEnforce, { throwIfNoEntry: false })?.isFile();
  } catch { /* not there: disabled */ }
  return { apparmor, selinux };
}

function invalid(configPath: string, msg: string): CapsaError {
  return new CapsaError('INVALID_CONFIG', `config.${configPath}: ${msg}`, { configPath });
}

// Control characters would end the "exec <profile>" record written to
// /proc/self/attr/exec early or smuggle a second one in.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

function checkProfile(profile: string, configPath: string): void {
  if (profile === '') throw invalid(configPath, 'must not be empty (leave it out for no profile)');
  if (CONTROL.test(profile) || /\s/.test(profile)) throw invalid(configPath, `"${JSON.stringify(profile).slice(1, -1)}" is not an AppArmor profile name`);
}

/** user:role:type[:level] — the level may itself contain colons (s0:c1,c2). */
function checkLabel(label: string, configPath: string): void {
  const parts = label.split(':');
  if (CONTROL.test(label) || /\s/.test(label) || parts.length < 3 || parts.slice(0, 3).some((p) => p === '')) {
    throw invalid(configPath, `"${JSON.stringify(label).slice(1, -1)}" is not an SELinux label (user:role:type[:level])`);
  }
}

export interface LsmPlan {
  /** Write "exec <profile>" to /proc/thread-self/attr/apparmor/exec (or attr/exec) just before execve. */
  apparmorExec?: string;
  /** Write the label to /proc/thread-self/attr/exec just before execve. */
  selinuxExec?: string;
  /** Add context="<label>" to the data of filesystems mounted for the container. */
  mountLabel?: string;
  warnings: string[];
}

/**
 * What to do with a process's labels on a host with `facts`. `prefix` is
 * "process" for the container and for exec ("process" in process.json).
 * Throws CapsaError INVALID_CONFIG naming the field.
 */
export function planProcessLsm(proc: Pick<Process, 'apparmorProfile' | 'selinuxLabel'>, facts: LsmFacts, prefix = 'process'): LsmPlan {
  const plan: LsmPlan = { warnings: [] };
  const profile = proc.apparmorProfile;
  if (profile !== undefined) {
    const p = `${prefix}.apparmorProfile`;
    checkProfile(profile, p);
    if (facts.apparmor) plan.apparmorExec = profile;
    else if (profile !== 'unconfined') plan.warnings.push(`${p}: AppArmor is not enabled on this host, ignoring profile "${profile}"`);
  }
  const label = proc.selinuxLabel;
  if (label !== undefined && label !== '') {
    const p = `${prefix}.selinuxLabel`;
    checkLabel(label, p);
    if (!facts.selinux) throw invalid(p, 'selinux label is specified in config, but selinux is disabled or not supported');
    plan.selinuxExec = label;
  }
  return plan;
}

/** planProcessLsm for the container's process plus linux.mountLabel. */
export function planContainerLsm(spec: Spec, facts: LsmFacts): LsmPlan {
  const plan = spec.process ? planProcessLsm(spec.process, facts) : { warnings: [] };
  const mountLabel = spec.linux?.mountLabel;
  if (mountLabel !== undefined && mountLabel !== '') {
    checkLabel(mountLabel, 'linux.mountLabel');
    if (facts.selinux) plan.mountLabel = mountLabel;
  }
  return plan;
}
