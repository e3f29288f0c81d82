// Architectures a filter can cover: the AUDIT_ARCH_* token the kernel puts in
// seccomp_data.arch, the syscall table, and how arguments are compared.

import { CapsaError } from '../errors';

// Tables are loaded on first use: most filters only need the native one, and
// the CLI should not parse five syscall tables on every start.
type Table = Readonly<Record<string, number>>;
const lazyTables: Record<string, () => Table> = {
  x86_64: () => (require('./tables/x86_64') as typeof import('./tables/x86_64')).X86_64_SYSCALLS,
  x32: () => (require('./tables/x32') as typeof import('./tables/x32')).X32_SYSCALLS,
  x86: () => (require('./tables/x86') as typeof import('./tables/x86')).X86_SYSCALLS,
  aarch64: () => (require('./tables/aarch64') as typeof import('./tables/aarch64')).AARCH64_SYSCALLS,
  arm: () => (require('./tables/arm') as typeof import('./tables/arm')).ARM_SYSCALLS,
  ppc64le: () => (require('./tables/ppc64le') as typeof import('./tables/ppc64le')).PPC64LE_SYSCALLS,
  s390x: () => (require('./tables/s390x') as typeof import('./tables/s390x')).S390X_SYSCALLS,
  riscv64: () => (require('./tables/riscv64') as typeof import('./tables/riscv64')).RISCV64_SYSCALLS,
  loong64: () => (require('./tables/loong64') as typeof import('./tables/loong64')).LOONG64_SYSCALLS,
};

function arch(name: string, auditArch: number, table: string, nrOffset: number, args32: boolean, bigEndian = false): ArchInfo {
  let loaded: Table | undefined;
  return {
    name, auditArch, nrOffset, args32, bigEndian,
    get table() { return (loaded ??= lazyTables[table]!()); },
  };
}

/** x32 shares x86_64's audit token; its syscall numbers carry this bit. */
export const X32_SYSCALL_BIT = 0x40000000;

// linux/audit.h: EM_* | __AUDIT_ARCH_64BIT (0x80000000) | __AUDIT_ARCH_LE (0x40000000)
export const AUDIT_ARCH = {
  X86_64: 0xc000003e,
  I386: 0x40000003,
  AARCH64: 0xc00000b7,
  ARM: 0x40000028,
  PPC64LE: 0xc0000015, // EM_PPC64 21
  S390X: 0x80000016, // EM_S390 22, big-endian
  RISCV64: 0xc00000f3, // EM_RISCV 243
  LOONGARCH64: 0xc0000102, // EM_LOONGARCH 258
} as const;

export interface ArchInfo {
  /** The OCI / libseccomp name, e.g. SCMP_ARCH_X86_64. */
  readonly name: string;
  /** seccomp_data.arch for this ABI. */
  readonly auditArch: number;
  readonly table: Readonly<Record<string, number>>;
  /** Added to table numbers to get seccomp_data.nr (the x32 bit). */
  readonly nrOffset: number;
  /**
   * The kernel zero-extends 32-bit arguments into the u64 args; like
   * libseccomp we compare only their low word on these ABIs.
   */
  readonly args32: boolean;
  /**
   * Big-endian ABI (s390x): a u64 argument's high word comes first in
   * seccomp_data, and a filter for such a host is encoded big-endian.
   */
  readonly bigEndian: boolean;
}

export const ARCHES: Readonly<Record<string, ArchInfo>> = Object.freeze({
  SCMP_ARCH_X86_64: arch('SCMP_ARCH_X86_64', AUDIT_ARCH.X86_64, 'x86_64', 0, false),
  SCMP_ARCH_X32: arch('SCMP_ARCH_X32', AUDIT_ARCH.X86_64, 'x32', X32_SYSCALL_BIT, true),
  SCMP_ARCH_X86: arch('SCMP_ARCH_X86', AUDIT_ARCH.I386, 'x86', 0, true),
  SCMP_ARCH_AARCH64: arch('SCMP_ARCH_AARCH64', AUDIT_ARCH.AARCH64, 'aarch64', 0, false),
  SCMP_ARCH_ARM: arch('SCMP_ARCH_ARM', AUDIT_ARCH.ARM, 'arm', 0, true),
  SCMP_ARCH_PPC64LE: arch('SCMP_ARCH_PPC64LE', AUDIT_ARCH.PPC64LE, 'ppc64le', 0, false),
  SCMP_ARCH_S390X: arch('SCMP_ARCH_S390X', AUDIT_ARCH.S390X, 's390x', 0, false, true),
  SCMP_ARCH_RISCV64: arch('SCMP_ARCH_RISCV64', AUDIT_ARCH.RISCV64, 'riscv64', 0, false),
  SCMP_ARCH_LOONGARCH64: arch('SCMP_ARCH_LOONGARCH64', AUDIT_ARCH.LOONGARCH64, 'loong64', 0, false),
});

/** Valid OCI architecture names that capsa has no syscall table for. */
const ARCHES_WITHOUT_TABLE = new Set([
  'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_S390', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_RISCV32', 'SCMP_ARCH_M68K', 'SCMP_ARCH_SH', 'SCMP_ARCH_SHEB',
]);

// Node's 'ppc64' is little-endian on Linux (ppc64le), the only one it supports there.
const NATIVE: Partial<Record<NodeJS.Architecture, string>> = {
  x64: 'SCMP_ARCH_X86_64',
  ia32: 'SCMP_ARCH_X86',
  arm64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
  ppc64: 'SCMP_ARCH_PPC64LE',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
  loong64: 'SCMP_ARCH_LOONGARCH64',
};

export function nativeArch(arch: NodeJS.Architecture): ArchInfo {
  const name = NATIVE[arch];
  if (name === undefined) {
    throw new CapsaError('UNSUPPORTED', `seccomp: no syscall table for host architecture "${arch}"`);
  }
  return ARCHES[name]!;
}

/**
 * The ABIs the filter covers: the native one always (a process can always make
 * native syscalls; libseccomp filters include it too), then those listed.
 * Listed names without a table are skipped with a warning; unknown names are
 * an error.
 */
export function selectArches(listed: unknown, native: ArchInfo, warnings: string[]): ArchInfo[] {
  const path = 'linux.seccomp.architectures';
  const chosen: ArchInfo[] = [native];
  if (listed === undefined || listed === null) return chosen;
  if (!Array.isArray(listed)) throw invalid(path, 'must be an array of strings');
  listed.forEach((name: unknown, i) => {
    if (typeof name !== 'string') throw invalid(`${path}[${i}]`, `must be a string, got ${JSON.stringify(name)}`);
    const arch = Object.hasOwn(ARCHES, name) ? ARCHES[name] : undefined;
    if (arch) {
      if (!chosen.includes(arch)) chosen.push(arch);
    } else if (ARCHES_WITHOUT_TABLE.has(name)) {
      warnings.push(`seccomp: architecture ${name} is not supported by capsa, ignoring it`);
    } else {
      throw invalid(`${path}[${i}]`, `unknown architecture "${name}"`);
    }
  });
  return chosen;
}

/** seccomp_data.nr for `name` on `arch`, or undefined if the ABI lacks it. */
export function syscallNumber(arch: ArchInfo, name: string): number | undefined {
  if (!Object.hasOwn(arch.table, name)) return undefined;
  return (arch.table[name]! + arch.nrOffset) >>> 0;
}

export function invalid(configPath: string, message: string): CapsaError {
  return new CapsaError('INVALID_CONFIG', `${configPath}: ${message}`, { configPath });
}

/**
 * Syscalls of architectures capsa has no table for (mips, 32-bit ppc and
 * s390, sparc, ...) or that only some ABIs have, that engines' default profiles list. Skipping them is routine, not
 * worth a warning.
 */
export const NAMES_ON_OTHER_ARCHES: ReadonlySet<string> = new Set([
  'swapcontext', 'recv', 'send', 'syscall', 'timerfd', 'pciconfig_iobase', 'pciconfig_read', 'pciconfig_write',
  's390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr', 's390_guarded_storage', 's390_sthyi',
  'spu_create', 'spu_run', 'subpage_prot', 'sync_file_range2', 'sys_debug_setcontext', 'sysmips', 'cachectl',
  'riscv_flush_icache', 'riscv_hwprobe', 'rtas', 'multiplexer', 'kern_features', 'utrap_install', 'perfctr',
  'switch_endian', 'sys_kexec_load', 'spill', 'atomic_barrier', 'atomic_cmpxchg_32', 'or1k_atomic', 'get_thread_area',
  'set_thread_area', 'oldolduname', 'sgetmask', 'ssetmask', 'olduname', 'oldstat', 'oldfstat', 'oldlstat', 'readdir',
]);
