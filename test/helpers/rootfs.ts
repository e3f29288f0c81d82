// A minimal root filesystem for integration tests: the static testinit
// multi-call binary, busybox when the host has it, and passwd/group files
// with root and an unprivileged "tester" (1000:1000).

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Walk up from here (or the cwd, when bundled elsewhere) to capsa's package.json. */
function findRepoRoot(): string {
  for (const start of [__dirname, process.cwd()]) {
    for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
        if (pkg.name === 'capsa') return dir;
      } catch {
        // no package.json here; keep walking
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new Error('test/helpers/rootfs: cannot find the capsa repository root');
}

export const REPO_ROOT = findRepoRoot();
export const TESTINIT_PATH = path.join(REPO_ROOT, 'build', 'Release', 'capsa-testinit');
const TESTINIT_SOURCE = path.join(REPO_ROOT, 'test', 'bin', 'testinit.c');
const TESTINIT_SOURCES = [TESTINIT_SOURCE, path.join(REPO_ROOT, 'test', 'bin', 'seccomp-probes.c')];
const BUSYBOX_PATH = '/usr/bin/busybox';
const BUSYBOX_APPLETS = ['sh', 'ls', 'cat', 'echo', 'sleep', 'true', 'false', 'id', 'hostname', 'mount'];

/**
 * The testinit binary: node-gyp's build when present, otherwise compiled with
 * gcc into a temp dir (so tests can run while other native targets are broken).
 */
export function testinitBinary(): string {
  if (fs.existsSync(TESTINIT_PATH)) return TESTINIT_PATH;
  const out = path.join(os.tmpdir(), `capsa-testinit-${process.getuid?.() ?? 0}`);
  const fresh = fs.existsSync(out) && TESTINIT_SOURCES.every((src) => fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs);
  if (!fresh) {
    try {
      execFileSync('gcc', ['-std=gnu11', '-O1', '-Wall', '-static', '-s', '-o', out, ...TESTINIT_SOURCES], { stdio: 'pipe' });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? String(e);
      throw new Error(`${TESTINIT_PATH} is missing (run npx node-gyp rebuild) and gcc failed:\n${stderr}`);
    }
  }
  return out;
}

const PASSWD = ['root:x:0:0:root:/root:/bin/sh', 'tester:x:1000:1000:tester:/home/tester:/bin/sh', ''].join('\n');
const GROUP = ['root:x:0:', 'tester:x:1000:', ''].join('\n');

/** Build the test rootfs in `dir` (created if needed). */
export function makeTestRootfs(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const sub of ['bin', 'dev', 'proc', 'sys', 'etc', 'home/tester']) {
    fs.mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o755 });
  }
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777); // mkdir's mode is masked by umask
  fs.mkdirSync(path.join(dir, 'root'), { recursive: true });
  fs.chmodSync(path.join(dir, 'root'), 0o700);
  fs.chownSync(path.join(dir, 'home/tester'), 1000, 1000);

  fs.writeFileSync(path.join(dir, 'etc/passwd'), PASSWD, { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'etc/group'), GROUP, { mode: 0o644 });

  const testinit = path.join(dir, 'bin/testinit');
  fs.copyFileSync(testinitBinary(), testinit);
  fs.chmodSync(testinit, 0o755);

  if (fs.existsSync(BUSYBOX_PATH)) {
    const busybox = path.join(dir, 'bin/busybox');
    fs.copyFileSync(BUSYBOX_PATH, busybox);
    fs.chmodSync(busybox, 0o755);
    for (const applet of BUSYBOX_APPLETS) {
      const link = path.join(dir, 'bin', applet);
      fs.rmSync(link, { force: true });
      fs.symlinkSync('busybox', link);
    }
  }
}

/** Mount points at or below `dir` as seen from this mount namespace. */
function mountsUnder(dir: string): string[] {
  let info: string;
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const prefix = path.resolve(dir);
  return info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mp): mp is string => !!mp && (mp === prefix || mp.startsWith(prefix + '/')));
}

/**
 * Remove a test directory, but never recurse into something still mounted
 * there (a leaked bind mount would otherwise take host files with it).
 */
export function removeTestDir(dir: string): void {
  const mounted = mountsUnder(dir);
  if (mounted.length > 0) {
    process.stderr.write(`test cleanup: leaving ${dir}, still mounted: ${mounted.join(', ')}\n`);
    return;
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A new empty dir /tmp/capsa-test-<tag>-XXXXXX. */
export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `capsa-test-${tag}-`));
}

/** A private copy of the shared test rootfs (for tests that change or chown it), removed afterwards. */
export async function withRootfsCopy(fn: (rootfs: string) => Promise<void>, prepare?: (rootfs: string) => void): Promise<void> {
  const dir = tempDir('rootfs-copy');
  try {
    fs.chmodSync(dir, 0o755);
    const rootfs = path.join(dir, 'rootfs');
    execFileSync('cp', ['-a', sharedTestRootfs(), rootfs]);
    prepare?.(rootfs);
    await fn(rootfs);
  } finally {
    removeTestDir(dir);
  }
}

let shared: string | undefined;

/** One rootfs per test process, removed when the process exits. */
export function sharedTestRootfs(): string {
  if (shared) return shared;
  const dir = path.join(os.tmpdir(), `capsa-test-rootfs-${process.pid}`);
  removeTestDir(dir);
  makeTestRootfs(dir);
  process.on('exit', () => removeTestDir(dir));
  shared = dir;
  return dir;
}
