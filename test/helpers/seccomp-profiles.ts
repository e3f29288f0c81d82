// The real seccomp profiles in test/fixtures/seccomp-profiles, as the engines
// hand them to a runtime (config.json's linux.seccomp) on an amd64 host.
//
// Docker and podman ship a template (archMap, per-rule includes/excludes by
// architecture, capability and kernel version); at container creation they
// keep the rules that apply to the host and the container's bounding set.
// toOci() does that filtering the way moby's profiles/seccomp
// (setupSeccomp) and containers/common's pkg/seccomp do: an `includes` rule
// needs the GOARCH listed, every cap listed in the bounding set and a kernel
// at least minKernel; an `excludes` rule drops on the GOARCH listed, any cap
// listed in the bounding set, or a kernel at least minKernel.

import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Seccomp } from '../../src/spec/types';
import { REPO_ROOT } from './rootfs';

export const PROFILE_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'seccomp-profiles');

interface Filter {
  arches?: string[] | null;
  caps?: string[] | null;
  minKernel?: string | null;
}

interface TemplateRule {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: unknown[] | null;
  includes?: Filter;
  excludes?: Filter;
}

interface Template {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures: string[] | null }[];
  syscalls: TemplateRule[];
}

// Bounding sets the engines give a container by default.
export const DOCKER_DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];
/** containers.conf default_capabilities of containers-common 0.50 (podman 4.3). */
export const PODMAN_DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETFCAP',
  'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT',
];

const GOARCH_TO_SCMP: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64', ppc64le: 'SCMP_ARCH_PPC64LE', s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64', loong64: 'SCMP_ARCH_LOONGARCH64',
};

function kernelAtLeast(kernel: [number, number], min: string): boolean {
  const [maj, minor] = min.split('.').map(Number) as [number, number];
  return kernel[0] > maj || (kernel[0] === maj && kernel[1] >= minor);
}

/** Also used for other GOARCHes in unit tests, e.g. to see the s390x clone rule. */
export function toOci(template: Template, opts: { goarch?: string; caps: readonly string[]; kernel: [number, number] }): Seccomp {
  const goarch = opts.goarch ?? 'amd64';
  const native = GOARCH_TO_SCMP[goarch]!;
  const architectures = [...(template.architectures ?? [])];
  const mapped = template.archMap?.find((a) => a.architecture === native);
  if (mapped) architectures.push(mapped.architecture, ...(mapped.subArchitectures ?? []));
  const syscalls = template.syscalls.filter((rule) => {
    const ex = rule.excludes ?? {};
    if (ex.arches?.includes(goarch)) return false;
    if (ex.caps?.some((c) => opts.caps.includes(c))) return false;
    if (ex.minKernel && kernelAtLeast(opts.kernel, ex.minKernel)) return false;
    const inc = rule.includes ?? {};
    if (inc.arches?.length && !inc.arches.includes(goarch)) return false;
    if (inc.caps?.some((c) => !opts.caps.includes(c))) return false;
    if (inc.minKernel && !kernelAtLeast(opts.kernel, inc.minKernel)) return false;
    return true;
  }).map((rule) => {
    const out: Record<string, unknown> = { names: rule.names ?? [rule.name!], action: rule.action };
    if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
    if (rule.args?.length) out.args = rule.args;
    return out;
  });
  const profile: Record<string, unknown> = { defaultAction: template.defaultAction };
  if (template.defaultErrnoRet !== undefined) profile.defaultErrnoRet = template.defaultErrnoRet;
  if (architectures.length) profile.architectures = architectures;
  profile.syscalls = syscalls;
  return profile as unknown as Seccomp;
}

export interface RealProfile {
  /** Short name used in test titles. */
  name: string;
  file: string;
  /** config.json's linux.seccomp as the engine sends it on this host. */
  oci: Seccomp;
}

function hostKernel(): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8'))!;
  return [Number(m[1]), Number(m[2])];
}

export function load(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(PROFILE_DIR, file), 'utf8')) as Record<string, unknown>;
}

/** Every profile of the fixture dir, in OCI form for this (amd64) host. See README.md there. */
export function realProfiles(): RealProfile[] {
  const kernel = hostKernel();
  const template = (file: string, caps: readonly string[]): Seccomp => toOci(load(file) as unknown as Template, { caps, kernel });
  return [
    { name: 'docker 19.03', file: 'docker-19.03.json', oci: template('docker-19.03.json', DOCKER_DEFAULT_CAPS) },
    { name: 'docker 20.10', file: 'docker-20.10.24-oci.json', oci: load('docker-20.10.24-oci.json') as unknown as Seccomp },
    { name: 'docker current', file: 'docker-current.json', oci: template('docker-current.json', DOCKER_DEFAULT_CAPS) },
    { name: 'podman (containers-common 0.50.1)', file: 'podman-containers-common-0.50.1.json', oci: template('podman-containers-common-0.50.1.json', PODMAN_DEFAULT_CAPS) },
    { name: 'containerd 1.6.20 RuntimeDefault', file: 'containerd-1.6.20-runtime-default.json', oci: load('containerd-1.6.20-runtime-default.json') as unknown as Seccomp },
  ];
}
