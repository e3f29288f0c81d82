// capsa as a library: import { Runtime } from 'capsa'. No side effects on import.
export { Runtime, Container, type RuntimeOptions, type WaitResult } from './runtime/runtime';
export type { CreateOptions } from './runtime/create';
export { CapsaError, type ErrorCode } from './errors';
export type * from './spec/types';
export { defaultSpec } from './spec/defaults';
