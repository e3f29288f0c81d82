// The one error type of capsa. The CLI prints `message` on one line; library
// users switch on `code`. `configPath` names the config.json field at fault.

export type ErrorCode =
  | 'INVALID_ARGUMENT' // bad flags, bad IDs, bad values given by the user
  | 'INVALID_CONFIG' // config.json fails validation
  | 'NOT_FOUND' // container (or file) does not exist
  | 'EXISTS' // container ID already taken
  | 'BAD_STATE' // operation not allowed in the container's current status
  | 'SYSCALL' // a system call failed (errno set)
  | 'INIT' // capsa-init reported a failure while building the container
  | 'TIMEOUT' // a step did not complete in time
  | 'UNSUPPORTED' // feature not available on this host
  | 'IMAGE' // image content is invalid or hostile
  | 'SYSTEMD' // systemd (over D-Bus) refused or failed a request
  | 'INTERNAL';

export interface CapsaErrorOptions {
  errno?: string; // symbolic errno, e.g. "EPERM"
  configPath?: string; // e.g. "mounts[2]"
  cause?: unknown;
  exitStatus?: number; // the CLI's exit status for it, when not 1 (runc: exec failures exit 255)
}

export class CapsaError extends Error {
  readonly code: ErrorCode;
  readonly errno?: string;
  readonly configPath?: string;
  exitStatus?: number;

  constructor(code: ErrorCode, message: string, opts: CapsaErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CapsaError';
    this.code = code;
    if (opts.errno !== undefined) this.errno = opts.errno;
    if (opts.configPath !== undefined) this.configPath = opts.configPath;
    if (opts.exitStatus !== undefined) this.exitStatus = opts.exitStatus;
  }
}

export function isCapsaError(e: unknown): e is CapsaError {
  return e instanceof CapsaError;
}

/** Wrap a Node system error (with .code like 'ENOENT') into a CapsaError. */
export function fromSystemError(e: unknown, what: string, code: ErrorCode = 'SYSCALL'): CapsaError {
  if (e instanceof CapsaError) return e;
  const err = e as NodeJS.ErrnoException;
  const errno = typeof err?.code === 'string' ? err.code : undefined;
  const reason = errno ? describeErrno(errno) : String(err?.message ?? e);
  return new CapsaError(code, `${what}: ${reason}`, { errno, cause: e });
}

// Lower-case strerror texts, as runc (Go) prints them.
const ERRNO_TEXT: Record<string, string> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ESRCH: 'no such process',
  EINTR: 'interrupted system call',
  EIO: 'input/output error',
  ENXIO: 'no such device or address',
  E2BIG: 'argument list too long',
  ENOEXEC: 'exec format error',
  EBADF: 'bad file descriptor',
  ECHILD: 'no child processes',
  EAGAIN: 'resource temporarily unavailable',
  ENOMEM: 'cannot allocate memory',
  EACCES: 'permission denied',
  EFAULT: 'bad address',
  EBUSY: 'device or resource busy',
  EEXIST: 'file exists',
  EXDEV: 'invalid cross-device link',
  ENODEV: 'no such device',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EINVAL: 'invalid argument',
  ENFILE: 'too many open files in system',
  EMFILE: 'too many open files',
  ENOTTY: 'inappropriate ioctl for device',
  ETXTBSY: 'text file busy',
  EFBIG: 'file too large',
  ENOSPC: 'no space left on device',
  ESPIPE: 'illegal seek',
  EROFS: 'read-only file system',
  EMLINK: 'too many links',
  EPIPE: 'broken pipe',
  ERANGE: 'numerical result out of range',
  ENAMETOOLONG: 'file name too long',
  ENOSYS: 'function not implemented',
  ENOTEMPTY: 'directory not empty',
  ELOOP: 'too many levels of symbolic links',
  ENOTSUP: 'operation not supported',
  EOPNOTSUPP: 'operation not supported',
  ECONNREFUSED: 'connection refused',
  ENOTSOCK: 'socket operation on non-socket',
  ETIMEDOUT: 'connection timed out',
};

export function describeErrno(errno: string): string {
  return ERRNO_TEXT[errno] ?? errno;
}
