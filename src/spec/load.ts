// Reading config.json from a bundle: only a regular file is accepted (not a
// symlink, FIFO or device), and every problem is one line naming the file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError, describeErrno } from '../errors';
import type { Spec } from './types';
import { validateSpec } from './validate';

const MAX_CONFIG_BYTES = 64 << 20;

export function loadBundleSpec(bundle: string): Spec {
  const file = path.join(bundle, 'config.json');
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'ELOOP') throw new CapsaError('INVALID_CONFIG', `${file}: config.json must be a regular file, not a symlink`);
    if (code === 'ENOENT' && !fs.existsSync(bundle)) throw new CapsaError('NOT_FOUND', `bundle ${bundle}: no such directory`);
    throw new CapsaError('INVALID_CONFIG', `${file}: ${describeErrno(code)}`, { errno: code });
  }
  let text: string;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new CapsaError('INVALID_CONFIG', `${file}: config.json must be a regular file`);
    if (st.size > MAX_CONFIG_BYTES) throw new CapsaError('INVALID_CONFIG', `${file}: larger than ${MAX_CONFIG_BYTES} bytes`);
    text = fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
  return parseSpec(text, file);
}

export function parseSpec(text: string, what = 'config.json'): Spec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CapsaError('INVALID_CONFIG', `${what}: invalid JSON: ${(e as Error).message}`);
  }
  return validateSpec(raw, { requireProcess: true });
}
