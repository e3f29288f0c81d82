// `runtime.run()`: one container from start to finish — create with piped
// stdout/stderr, start, feed stdin, capture the output, wait, delete — for tests
// that want "run this and tell me what it printed". The container is deleted
// on every path (success, non-zero exit, timeout, error); a temporary bundle
// made for the { spec, rootfs } form is removed too.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import { CapsaError } from '../errors';
import type { Spec } from '../spec/types';
import { addon } from '../sys/addon';
import { capturePipe, type Capture } from './capture';
import type { Container, Runtime } from './runtime';

/** An existing bundle (config.json read from it unless `spec` is given)… */
export interface BundleSource {
  bundle: string;
  spec?: Spec;
}

/** …or a spec and a root filesystem directory (a temporary bundle is made). */
export interface SpecSource {
  spec: Spec;
  rootfs: string;
}

export type RunSource = BundleSource | SpecSource;

export interface RunOnceOptions {
  /** Written to the container's stdin, which is then closed (closed at once when absent). */
  input?: string | Buffer;
  /** Kill the container (SIGKILL) and reject with TIMEOUT when it runs longer than this. */
  timeoutMs?: number;
}

export interface RunResult {
  /** Exit code, or 128+signal when the init was killed by a signal. */
  exitCode: number | null;
  signal: number | null;
  stdout: Buffer;
  stderr: Buffer;
}

/** Thrown with code TIMEOUT; carries what the container printed before it was killed. */
export interface RunTimeoutError extends CapsaError {
  stdout: Buffer;
  stderr: Buffer;
}

function isSpecSource(s: RunSource): s is SpecSource {
  return (s as SpecSource).rootfs !== undefined && (s as BundleSource).bundle === undefined;
}

/**
 * The container's stdin: /dev/null without input, else one end of a socket
 * pair whose other end we write the input to and then shut down.
 * Made here rather than as a 'pipe' slot so the socket exists only when
 * there is input, and is fed only once the container has started.
 */
function stdinFor(input: string | Buffer | undefined): { fd: number | 'ignore'; feed(): void; close(): void } {
  if (input === undefined || input.length === 0) return { fd: 'ignore', feed: () => {}, close: () => {} };
  const [ours, theirs] = addon().socketPair();
  let theirsOpen = true;
  let sock: net.Socket | undefined;
  const closeTheirs = () => {
    if (theirsOpen) addon().closeFd(theirs);
    theirsOpen = false;
  };
  return {
    fd: theirs,
    feed: () => {
      closeTheirs();
      sock = new net.Socket({ fd: ours, readable: false, writable: true });
      // The container may exit without reading: EPIPE is not our caller's error.
      sock.on('error', () => {});
      sock.end(input);
    },
    close: () => {
      closeTheirs();
      if (sock) sock.destroy();
      else addon().closeFd(ours);
      sock = undefined;
    },
  };
}

/** A temporary bundle dir whose config.json points at the rootfs by absolute path. */
function writeTempBundle(spec: Spec, rootfs: string): { dir: string; spec: Spec } {
  const abs = path.resolve(rootfs);
  const withRoot: Spec = { ...spec, root: { ...spec.root, path: abs } };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-bundle-'));
  try {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(withRoot), { mode: 0o600 });
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { dir, spec: withRoot };
}

function checkSource(source: RunSource): void {
  if (typeof source !== 'object' || source === null) throw new CapsaError('INVALID_ARGUMENT', 'run: expected { bundle } or { spec, rootfs }');
  const s = source as Partial<BundleSource & SpecSource>;
  if (s.bundle === undefined && (s.spec === undefined || s.rootfs === undefined)) {
    throw new CapsaError('INVALID_ARGUMENT', 'run: expected { bundle } or { spec, rootfs }');
  }
  if (s.bundle !== undefined && s.rootfs !== undefined) throw new CapsaError('INVALID_ARGUMENT', 'run: give either bundle or rootfs, not both');
  if (s.spec?.process?.terminal) {
    throw new CapsaError('INVALID_ARGUMENT', 'run: process.terminal is true, but run captures output through pipes; set it to false (spec() does)', { configPath: 'process.terminal' });
  }
}

/**
 * Runs container `id` to completion and returns its exit status and output.
 * The container is always deleted afterwards; an id already in use is an
 * EXISTS error and the container holding it is left alone.
 */
export async function runOnce(runtime: Runtime, id: string, source: RunSource, opts: RunOnceOptions = {}): Promise<RunResult> {
  checkSource(source);
  let tempBundle: string | undefined;
  let bundle: string;
  let spec: Spec | undefined;
  if (isSpecSource(source)) {
    const t = writeTempBundle(source.spec, source.rootfs);
    tempBundle = bundle = t.dir;
    spec = t.spec;
  } else {
    bundle = source.bundle;
    spec = source.spec;
  }
  let container: Container | undefined;
  let stdin: ReturnType<typeof stdinFor> | undefined;
  let out: Capture | undefined;
  let err: Capture | undefined;
  try {
    stdin = stdinFor(opts.input);
    out = capturePipe();
    err = capturePipe();
    // A failed create undoes its own work, and an EXISTS error means the id is
    // someone else's container: either way there is nothing for us to delete.
    try {
      container = await runtime.create(id, { bundle, ...(spec ? { spec } : {}), stdio: [stdin.fd, out.writeFd, err.writeFd] });
    } finally {
      // The container holds its own copies now: EOF comes when its last writer exits.
      out.closeWriteEnd();
      err.closeWriteEnd();
    }
    // Watch for exit before start so even an instant exit is seen through the pidfd.
    const exited = container.wait();
    exited.catch(() => {}); // awaited below; start() failing first must not leave it unhandled
    stdin.feed();
    await container.start();

    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const status = await (opts.timeoutMs === undefined ? exited : Promise.race([
      exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new CapsaError('TIMEOUT', `container ${id} did not exit within ${opts.timeoutMs} ms; it was killed`));
        }, opts.timeoutMs);
      }),
    ])).finally(() => clearTimeout(timer)).catch(async (e: unknown) => {
      if (!timedOut) throw e;
      // Kill it, let delete tear it down, and hand back what it printed.
      await runtime.delete(id, { force: true }).catch(() => {});
      container = undefined;
      await exited.catch(() => {});
      await Promise.all([out!.done, err!.done]);
      const te = e as RunTimeoutError;
      te.stdout = out!.buffer();
      te.stderr = err!.buffer();
      throw te;
    });
    // Processes left in the container's cgroup (no pid namespace) could keep
    // the pipes open: delete first, then read the pipes to their end.
    const c = container;
    container = undefined;
    await c.delete({ force: true });
    await Promise.all([out.done, err.done]);
    return { exitCode: status.exitCode, signal: status.signal, stdout: out.buffer(), stderr: err.buffer() };
  } finally {
    stdin?.close();
    if (container) await runtime.delete(id, { force: true }).catch(() => {});
    out?.close();
    err?.close();
    if (tempBundle) fs.rmSync(tempBundle, { recursive: true, force: true });
  }
}
