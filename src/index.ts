// capsa as a library: import { Runtime } from 'capsa'. No side effects on import.
export { Runtime, Container, type RuntimeOptions, type WaitResult } from './runtime/runtime';
export type { CreateOptions } from './runtime/create';
export type { RootfsMount } from './plan/rootfs-mount';
export { CapsaError, type ErrorCode } from './errors';
export type * from './spec/types';
export { defaultSpec } from './spec/defaults';
export { spec, SpecBuilder, type BindOptions, type TmpfsOptions } from './builder';
export { runOnce, type RunResult, type RunOnceOptions, type RunSource, type RunTimeoutError } from './runtime/oneshot';
export type { ContainerStats, ExecProcess, PreparedExec } from './runtime/runtime';
export type { ExecOptions } from './runtime/exec';
export type { ContainerEvent } from './runtime/cgroup-operations';
export type { OomKillWatch, OomEvidence } from './cgroups/oom-watch';
