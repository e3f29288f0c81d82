import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromSystemError } from '../errors';

/**
 * Writes the pid atomically (engines read the file as soon as it exists):
 * into a new file with an unpredictable name, made with O_CREAT|O_EXCL so a
 * symlink planted in the directory is never followed, then renamed over.
 */
export function writePidFile(file: string, pid: number): void {
  const abs = path.resolve(file);
  let tmp = '';
  try {
    let fd: number | undefined;
    for (let tries = 0; fd === undefined; tries++) {
      tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${randomBytes(8).toString('hex')}`);
      try {
        fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 8) { tmp = ''; throw e; }
      }
    }
    try { fs.writeSync(fd, String(pid)); } finally { fs.closeSync(fd); }
    fs.renameSync(tmp, abs);
  } catch (e) {
    if (tmp) try { fs.unlinkSync(tmp); } catch { /* never written */ }
    throw fromSystemError(e, `write pid file ${abs}`);
  }
}
