import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromSystemError } from '../errors';

/** Writes the pid atomically (engines read the file as soon as it exists). */
export function writePidFile(file: string, pid: number): void {
  const abs = path.resolve(file);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}`);
  try {
    fs.writeFileSync(tmp, String(pid));
    fs.renameSync(tmp, abs);
  } catch (e) {
    try { fs.unlinkSync(tmp); } catch { /* never written */ }
    throw fromSystemError(e, `write pid file ${abs}`);
  }
}
