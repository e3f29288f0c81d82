// <root>/<id>/state.json, written by rename, guarded by flock on the
// container's directory. A lock dies with its holder, so a killed capsa never
// wedges a container.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError, fromSystemError } from '../errors';
import type { CgroupRecord } from '../cgroups/manager';
import type { ResctrlRecord } from '../runtime/resctrl';
import type { Hooks, MemoryPolicy, Process } from '../spec/types';
import { addon, LOCK_EX, LOCK_NB, LOCK_UN } from '../sys/addon';
import { checkContainerId } from './id';

export interface StateRecord {
  ociVersion: string;
  id: string;
  bundle: string;
  rootfs: string;
  created: string; // RFC 3339
  owner: string;
  annotations?: Record<string, string>;
  /** Host pid of the container's init; 0 while creating. */
  pid: number;
  initStartTime: number;
  /** The capsa process building the container, so a crashed create reads "stopped". */
  creator: { pid: number; startTime: number };
  phase: 'creating' | 'created';
  cgroup?: CgroupRecord;
  hasPrivatePidNs: boolean;
  hooks?: Hooks;
  useSystemd?: boolean;
  /** The container's process: the defaults `exec` starts from. */
  process?: Process;
  /** The compiled seccomp filter (base64), applied to exec'd processes too. */
  seccomp?: { program: string; flags: number; listener?: { path: string; metadata?: string } };
  /** linux.memoryPolicy, applied to exec'd processes too. */
  memoryPolicy?: MemoryPolicy;
  /** linux.intelRdt: the resctrl groups the container's processes join. */
  intelRdt?: ResctrlRecord;
}

export const DEFAULT_ROOT = '/run/capsa';

/** A state.json not written by us (or by another version) is treated as absent. */
function isStateRecord(v: unknown, id: string): v is StateRecord {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  const creator = r.creator as Record<string, unknown> | undefined;
  return r.id === id && Number.isInteger(r.pid) && Number.isInteger(r.initStartTime)
    && (r.phase === 'creating' || r.phase === 'created') && typeof r.bundle === 'string'
    && typeof creator === 'object' && creator !== null && Number.isInteger(creator.pid) && Number.isInteger(creator.startTime);
}
const LOCK_TIMEOUT_MS = 30_000;

export class ContainerDir {
  private lockFd = -1;

  constructor(readonly id: string, readonly dir: string) {}

  get statePath(): string { return path.join(this.dir, 'state.json'); }
  get fifoPath(): string { return path.join(this.dir, 'exec.fifo'); }

  read(): StateRecord | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.statePath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fromSystemError(e, `read state of container ${this.id}`);
    }
    let rec: unknown;
    try {
      rec = JSON.parse(text);
    } catch {
      // Renames are atomic, so this is not our torn write; treat as absent.
      return undefined;
    }
    return isStateRecord(rec, this.id) ? rec : undefined;
  }

  /**
   * Replaces state.json atomically. An existing one is swapped with the new
   * file (renameat2 RENAME_EXCHANGE) and the old copy unlinked: ext4 flushes
   * a file's data when it is renamed over another (auto_da_alloc), which
   * costs about 0.2 ms per write here; an exchange does not. A reader sees the
   * old record or the new one either way.
   */
  write(rec: StateRecord): void {
    const tmp = path.join(this.dir, `.state.json.${process.pid}`);
    try {
      fs.writeFileSync(tmp, JSON.stringify(rec), { mode: 0o600 });
      if (!addon().renameExchange(tmp, this.statePath)) {
        fs.renameSync(tmp, this.statePath);
        return;
      }
    } catch (e) {
      try { fs.unlinkSync(tmp); } catch { /* already gone */ }
      throw fromSystemError(e, `write state of container ${this.id}`);
    }
    // The old record, now under the temporary name (removed with the dir if this fails).
    try { fs.unlinkSync(tmp); } catch { /* left for remove() */ }
  }

  fifoExists(): boolean {
    return fs.existsSync(this.fifoPath);
  }

  /** Takes the container lock, waiting for another capsa holding it. */
  async lock(): Promise<void> {
    if (this.lockFd >= 0) return;
    let fd: number;
    try {
      fd = fs.openSync(this.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notExist(this.id);
      throw fromSystemError(e, `open state dir of ${this.id}`);
    }
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    let delay = 1;
    while (!addon().flock(fd, LOCK_EX | LOCK_NB)) {
      if (Date.now() > deadline) {
        fs.closeSync(fd);
        throw new CapsaError('TIMEOUT', `container ${this.id} is locked by another capsa process`);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 50);
    }
    this.lockFd = fd;
  }

  unlock(): void {
    const fd = this.releaseLock();
    if (fd >= 0) fs.closeSync(fd);
  }

  /**
   * unlock() with the close on the libuv pool. After remove() the close frees
   * the dir's last block, and on a disk mounted with `discard` (this host's
   * root) that waits for the device: ~0.7 ms of a blocked event loop per
   * container otherwise.
   */
  async unlockAsync(): Promise<void> {
    const fd = this.releaseLock();
    if (fd >= 0) await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
  }

  /** Drops the lock and hands back its fd for the caller to close (-1 if not held). */
  private releaseLock(): number {
    const fd = this.lockFd;
    if (fd < 0) return fd;
    this.lockFd = -1;
    try { addon().flock(fd, LOCK_UN); } catch { /* closing releases it anyway */ }
    return fd;
  }

  /** Removes the directory and everything in it. */
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Removes a dir holding nothing but what create makes; false if anything else is there. */
  removeIfOnlyCreateLeftovers(): boolean {
    let entries: string[];
    try {
      entries = fs.readdirSync(this.dir);
    } catch {
      return false;
    }
    // state.json too: we only get here when it is unreadable or not ours in shape.
    const ours = (n: string) => n === 'exec.fifo' || n === 'config.json' || n === 'hook-state.json' || n === 'state.json' || /^\.state\.json\.\d+$/.test(n);
    if (!entries.every(ours)) return false;
    for (const n of entries) fs.rmSync(path.join(this.dir, n), { force: true });
    try {
      fs.rmdirSync(this.dir);
      return true;
    } catch {
      return false;
    }
  }
}

export function notExist(_id: string): CapsaError {
  return new CapsaError('NOT_FOUND', 'container does not exist');
}

export class StateStore {
  constructor(readonly root: string = DEFAULT_ROOT) {}

  private ensureRoot(): void {
    try {
      fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    } catch (e) {
      // Recursive mkdir reports ENOENT for several causes; ask once more for the real one.
      try { fs.mkdirSync(this.root, { mode: 0o700 }); } catch (e2) { throw fromSystemError(e2, `create state root ${this.root}`); }
      throw fromSystemError(e, `create state root ${this.root}`);
    }
  }

  /** Claims a new container ID; an existing one is refused. */
  claim(id: string): ContainerDir {
    checkContainerId(id);
    this.ensureRoot();
    const dir = path.join(this.root, id);
    try {
      // 0700 (as runc's): another local user must not hold exec.fifo open,
      // read the hooks' state or the config with the container's environment.
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CapsaError('EXISTS', `container with id exists: ${id}`);
      throw fromSystemError(e, `create state dir ${dir}`);
    }
    return new ContainerDir(id, dir);
  }

  /** The container's directory; NOT_FOUND when it does not exist. */
  open(id: string): ContainerDir {
    checkContainerId(id);
    const dir = path.join(this.root, id);
    if (!fs.existsSync(dir)) throw notExist(id);
    return new ContainerDir(id, dir);
  }

  ids(): string[] {
    try {
      return fs.readdirSync(this.root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fromSystemError(e, `list ${this.root}`);
    }
  }
}
