// Seccomp: OCI profile -> classic BPF. Pure data in, bytes out; no I/O.

export { NAMES_ON_OTHER_ARCHES } from './arch';
export { compileSeccomp } from './compile';
export type { CompiledSeccomp } from './compile';
export { SECCOMP_RET } from './actions';
export { FILTER_FLAG } from './profile';
export { AUDIT_ARCH, X32_SYSCALL_BIT, ARCHES, syscallNumber } from './arch';
export type { ArchInfo } from './arch';
export { BAD_ARCH_ACTION } from './filter';
export { MAX_INSTRUCTIONS } from './bpf';
