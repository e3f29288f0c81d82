// Where CLI messages go: runc's formats, so engines parse capsa's output the
// same way (containerd reads the last "error" line of the --log json file).
import * as fs from 'node:fs';
import { err } from './output';

export interface LogTarget {
  file?: string;
  format: 'text' | 'json';
  debug: boolean;
}

function line(target: LogTarget, level: string, msg: string): string {
  const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  if (target.format === 'json') return JSON.stringify({ level, msg, time }) + '\n';
  return `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
}

function append(target: LogTarget, text: string): void {
  try {
    fs.appendFileSync(target.file!, text);
  } catch {
    err(text);
  }
}

export function logError(target: LogTarget, msg: string): void {
  if (target.file) {
    append(target, line(target, 'error', msg));
    err(msg + '\n');
  } else {
    err(line({ ...target, format: 'text' }, 'error', msg));
  }
}

export function logWarning(target: LogTarget, msg: string): void {
  if (target.file) append(target, line(target, 'warning', msg));
  else err(line({ ...target, format: 'text' }, 'warning', msg));
}

export function logDebug(target: LogTarget, msg: string): void {
  if (!target.debug) return;
  if (target.file) append(target, line(target, 'debug', msg));
  else err(line({ ...target, format: 'text' }, 'debug', msg));
}
