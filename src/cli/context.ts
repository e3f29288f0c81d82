import type { Runtime } from '../runtime/runtime';
import type { LogTarget } from './log';

export interface CliContext {
  root: string;
  log: LogTarget;
  systemdCgroup: boolean;
  runtime(): Runtime;
  warn(msg: string): void;
}

export type Verb = (args: string[], ctx: CliContext) => Promise<number>;
