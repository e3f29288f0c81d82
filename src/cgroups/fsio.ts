// File access to cgroupfs, behind an interface so unit tests can swap in a
// temp-dir emulation of the kernel's behaviour (files appearing on mkdir,
// rmdir refusing busy dirs). Also the one place where a failed write becomes a
// CapsaError naming the config field, the file and the value.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError, describeErrno } from '../errors';

export interface CgroupFs {
  exists(file: string): boolean;
  /** Whole file contents; throws ENOENT when absent. */
  read(file: string): string;
  /** One write(2) of `value`; never creates the file (cgroupfs files can't be created). */
  write(file: string, value: string): void;
  /**
   * One open, then one write(2) per value in order (the kernel parses one rule
   * per write). A failure is thrown as a ValueWriteError naming the value.
   */
  writeEach(file: string, values: readonly string[]): void;
  /** Non-recursive mkdir; throws EEXIST. */
  mkdir(dir: string): void;
  /** rmdir(2) only: cgroup dirs are removed whole, their files can't be unlinked. */
  rmdir(dir: string): void;
  /** Names of the sub-directories (child cgroups) of `dir`. */
  subdirs(dir: string): string[];
  /** chown(2) of the owner only (delegating a cgroup); emulations may leave it out. */
  chown?(file: string, uid: number): void;
}

/** A failed CgroupFs.writeEach: the value that was being written, and why. */
export class ValueWriteError extends Error {
  constructor(
    readonly value: string,
    override readonly cause: unknown,
  ) {
    super(String((cause as Error)?.message ?? cause));
  }
}

export const realCgroupFs: CgroupFs = {
  exists: (file) => fs.existsSync(file),
  read: (file) => fs.readFileSync(file, 'utf8'),
  write(file, value) {
    try {
      realCgroupFs.writeEach(file, [value]);
    } catch (e) {
      throw e instanceof ValueWriteError ? e.cause : e;
    }
  },
  writeEach(file, values) {
    // O_TRUNC without O_CREAT: a missing file is ENOENT, not a stray regular file.
    let i = 0;
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
      for (; i < values.length; i++) fs.writeSync(fd, values[i]!);
    } catch (e) {
      throw new ValueWriteError(values[i] ?? '', e);
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  },
  mkdir: (dir) => fs.mkdirSync(dir),
  rmdir: (dir) => fs.rmdirSync(dir),
  chown: (file, uid) => fs.chownSync(file, uid, -1),
  subdirs: (dir) =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name),
};

/** A config.json field such as 'linux.resources.memory.limit'. */
export type FieldPath = string;

export function errnoOf(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Writes values into cgroup files on behalf of a config field, turning kernel
 * rejections into `<field>: write <value> to <file>: <reason>`.
 */
export class CgroupWriter {
  constructor(
    readonly fs: CgroupFs,
    readonly warnings: string[],
  ) {}

  write(field: FieldPath, dir: string, file: string, value: string): void {
    const target = path.join(dir, file);
    try {
      this.fs.write(target, value);
    } catch (e) {
      throw writeError(field, target, value, e);
    }
  }

  /**
   * Several values through one open file (each its own write(2)); a rejected
   * one is reported with its own value, and the ones after it are not written.
   */
  writeEach(field: FieldPath, dir: string, file: string, values: readonly string[]): void {
    if (values.length === 0) return;
    const target = path.join(dir, file);
    try {
      this.fs.writeEach(target, values);
    } catch (e) {
      if (e instanceof ValueWriteError) throw writeError(field, target, e.value, e.cause);
      throw e;
    }
  }

  /** Multi-line values are written one line per write(2), as the kernel parses one rule per write. */
  writeLines(field: FieldPath, dir: string, file: string, value: string): void {
    for (const line of value.split('\n')) if (line.trim() !== '') this.write(field, dir, file, line);
  }

  has(dir: string, file: string): boolean {
    return this.fs.exists(path.join(dir, file));
  }

  read(dir: string, file: string): string {
    return this.fs.read(path.join(dir, file)).trim();
  }

  readOptional(dir: string, file: string): string | undefined {
    try {
      return this.read(dir, file);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return undefined;
      throw e;
    }
  }

  warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
  }
}

export function writeError(field: FieldPath, file: string, value: string, cause: unknown): CapsaError {
  const errno = errnoOf(cause);
  const reason = errno ? describeErrno(errno) : String((cause as Error)?.message ?? cause);
  return new CapsaError('SYSCALL', `${field}: write ${value} to ${file}: ${reason}`, { errno, configPath: field, cause });
}

export function invalid(field: FieldPath, message: string): CapsaError {
  return new CapsaError('INVALID_CONFIG', `config.${field}: ${message}`, { configPath: field });
}

/** Integers as the kernel wants them: no exponent, exact for values past 2^53. */
export function formatInt(n: number): string {
  return Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
}

/** Parse a cgroup number; "max" becomes `maxAs`. */
export function parseCgroupInt(text: string | undefined, maxAs = 0): number {
  if (text === undefined) return 0;
  const t = text.trim();
  if (t === 'max') return maxAs;
  const n = Number(t);
  return Number.isFinite(n) ? n : 0;
}

/** "key value" lines (memory.stat, cpu.stat, cgroup.events) into a record. */
export function parseKeyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && Number.isFinite(Number(v))) out[k] = Number(v);
  }
  return out;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Synchronous pause for bounded polling of kernel state (freezer). */
export function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(sleepCell, 0, 0, ms);
}
