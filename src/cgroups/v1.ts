// The cgroup v1 driver: one dir per mounted hierarchy. On a hybrid host it
// also makes the same path in the cgroup2 mount (<root>/unified) and puts the
// container's processes there, as runc does, so tools that only look at v2
// see them; the v2 side is used for resources only for `unified` keys and for
// controllers that exist only there (hugetlb on this kind of host).
import * as path from 'node:path';
import type { Resources } from '../spec/types';
import { CapsaError } from '../errors';
import type { ApplyOptions, CgroupManager, CgroupMembership, CgroupRecord, CgroupStats } from './manager';
import { hostFs, hostSleep, type CgroupHost } from './host';
import { CgroupWriter, type CgroupFs } from './fsio';
import { createChain, enableControllers, inheritCpuset, joinCgroup, pidsUnder, readWords, refuseOccupied, removeCreated } from './dirs';
import { DEFAULT_CGROUP_PARENT, pathChain } from './paths';
import type { V1Context } from './v1-resources';
import { freezeV1, isFrozenV1, thawV1 } from './freezer';

// Loaded on first use: state, kill and delete need none of them.
const validation = () => require('./validate') as typeof import('./validate');
const v1Resources = () => require('./v1-resources') as typeof import('./v1-resources');
const v2Resources = () => require('./v2-resources') as typeof import('./v2-resources');
const statsCode = () => require('./stats') as typeof import('./stats');

// Where pids() looks: any hierarchy holds every process; prefer ones that are always mounted.
const PIDS_SOURCE_ORDER = ['pids', 'freezer', 'memory', 'cpu', 'devices', 'cpuacct', 'blkio', 'name=systemd'];

export class V1Manager implements CgroupManager {
  readonly layout: 'v1' | 'hybrid';
  readonly warnings: string[] = [];
  private readonly cfs: CgroupFs;
  private readonly created: string[];
  /** create() refused a cgroup that was in use: none of its processes are ours. */
  private refused = false;

  constructor(
    private readonly host: CgroupHost,
    readonly path: string,
    created: string[] = [],
    /** See CgroupRecord.creating. */
    private readonly creating = false,
  ) {
    if (host.layout === 'v2') throw new CapsaError('INTERNAL', 'V1Manager on a cgroup v2 host');
    this.layout = host.layout;
    this.cfs = hostFs(host);
    this.created = [...created];
  }

  /** Distinct hierarchy mounts (cpu and cpuacct may share one). */
  private mounts(): string[] {
    return [...new Set(Object.values(this.host.hierarchies))];
  }

  /** The container's dir in the hierarchy of `controller`, if mounted. */
  dir(controller: string): string | undefined {
    const mount = this.host.hierarchies[controller];
    return mount === undefined ? undefined : path.join(mount, this.path);
  }

  private unifiedDir(): string | undefined {
    return this.layout === 'hybrid' && this.host.unified ? path.join(this.host.unified, this.path) : undefined;
  }

  create(): void {
    for (const mount of this.mounts()) {
      createChain(this.cfs, mount, this.path, this.created);
    }
    // Any hierarchy holds every process; the one pids() reads is enough (runc checks one too).
    const probe = this.pidsDir();
    if (probe && !this.created.includes(probe)) {
      try {
        refuseOccupied(this.cfs, probe, this.isFrozen());
      } catch (e) {
        this.refused = true;
        throw e;
      }
    }
    const cpusetMount = this.host.hierarchies.cpuset;
    if (cpusetMount) {
      // Fill every empty cpuset on the way down, ours or a pre-existing empty parent.
      let parent = cpusetMount;
      for (const rel of pathChain(this.path)) {
        const dir = path.join(cpusetMount, rel);
        inheritCpuset(this.cfs, dir, parent);
        parent = dir;
      }
    }
    if (this.host.unified && this.layout === 'hybrid') {
      try {
        createChain(this.cfs, this.host.unified, this.path, this.created);
      } catch (e) {
        this.warnings.push(`cgroup2 side of the hybrid hierarchy not set up: ${(e as Error).message}`);
      }
    }
  }

  private context(update: boolean): V1Context {
    return {
      w: new CgroupWriter(this.cfs, this.warnings),
      dir: (c) => this.dir(c),
      update,
      ...(this.layout === 'hybrid' ? { v2Fallback: (c: string) => this.unifiedWith(c) } : {}),
    };
  }

  /** Hybrid: the cgroup2 dir with `controller` enabled down to it, when the v2 side offers it. */
  private unifiedWith(controller: string): { dir: string; available: Set<string> } | undefined {
    const root = this.host.unified;
    const dir = this.unifiedDir();
    if (!root || !dir || !this.cfs.exists(dir)) return undefined;
    if (!readWords(this.cfs, path.join(root, 'cgroup.controllers')).includes(controller)) return undefined;
    let parent = root;
    for (const rel of pathChain(this.path)) {
      enableControllers(this.cfs, parent, [controller], this.warnings);
      parent = path.join(root, rel);
    }
    return { dir, available: new Set(readWords(this.cfs, path.join(dir, 'cgroup.controllers'))) };
  }

  apply(resources: Resources | undefined, options: ApplyOptions = {}): void {
    validation().validateResources(resources, this.layout);
    v1Resources().applyV1Resources(this.context(false), options.withoutPids && resources?.pids ? { ...resources, pids: undefined } : resources);
    this.applyUnified(resources);
  }

  /** Nothing to do on v1: systemd's scope needs no handing over. */
  adoptedBySystemd(): void {}

  /** A file of the container's cgroup in the hierarchy named by the file's prefix, trimmed; undefined when absent. */
  readFile(name: string): string | undefined {
    const dir = this.dir(name.split('.')[0]!);
    try {
      return dir ? this.cfs.read(path.join(dir, name)).trim() : undefined;
    } catch {
      return undefined;
    }
  }

  /** v1 has no cgroup.kill: the caller signals each process. */
  killAll(): boolean {
    return false;
  }

  update(resources: Resources): void {
    validation().validateResources(resources, this.layout);
    v1Resources().applyV1Resources(this.context(true), resources);
    this.applyUnified(resources);
  }

  private applyUnified(resources: Resources | undefined): void {
    const keys = Object.keys(resources?.unified ?? {});
    if (keys.length === 0) return;
    const dir = this.unifiedDir();
    if (!dir || !this.cfs.exists(dir)) {
      throw new CapsaError('INVALID_CONFIG', 'linux.resources.unified: the cgroup2 side of this hybrid host has no dir for the container', { configPath: 'linux.resources.unified' });
    }
    // Enable the controllers the keys name, if the v2 side has them at all.
    const controllers = [...new Set(keys.map((k) => k.split('.')[0]!).filter((c) => c !== 'cgroup'))];
    for (const c of controllers) this.unifiedWith(c);
    const available = new Set(readWords(this.cfs, path.join(dir, 'cgroup.controllers')));
    v2Resources().unifiedV2(new CgroupWriter(this.cfs, this.warnings), dir, available, resources!.unified);
  }

  membership(): CgroupMembership {
    const unified = this.unifiedDir();
    return {
      v1: this.mounts().map((mount) => path.join(mount, this.path)),
      ...(unified && this.cfs.exists(unified) ? { v2: { dir: unified, optional: true } } : {}),
    };
  }

  addProcess(pid: number): void {
    for (const mount of this.mounts()) joinCgroup(this.cfs, path.join(mount, this.path), pid);
    const unified = this.unifiedDir();
    if (unified && this.cfs.exists(unified)) {
      try {
        joinCgroup(this.cfs, unified, pid);
      } catch (e) {
        this.warnings.push(`process ${pid} not placed on the cgroup2 side: ${(e as Error).message}`);
      }
    }
  }

  private freezerDir(): string {
    const dir = this.dir('freezer');
    if (!dir) throw new CapsaError('UNSUPPORTED', 'pause needs the freezer cgroup controller, which is not mounted on this host');
    return dir;
  }

  freeze(): void {
    freezeV1(this.cfs, this.freezerDir(), hostSleep(this.host));
  }

  thaw(): void {
    thawV1(this.cfs, this.freezerDir());
  }

  isFrozen(): boolean {
    const dir = this.dir('freezer');
    return dir ? isFrozenV1(this.cfs, dir) : false;
  }

  private pidsDir(): string | undefined {
    const controller = PIDS_SOURCE_ORDER.find((c) => this.host.hierarchies[c]) ?? Object.keys(this.host.hierarchies)[0];
    return controller ? this.dir(controller) : this.unifiedDir();
  }

  pids(): number[] {
    const dir = this.pidsDir();
    return dir && !this.refused ? pidsUnder(this.cfs, dir) : [];
  }

  stats(): CgroupStats {
    const unified = this.unifiedDir();
    const hugetlbV2 = !this.host.hierarchies.hugetlb && unified && this.cfs.exists(unified) ? unified : undefined;
    return statsCode().statsV1(this.cfs, {
      cpu: this.dir('cpu'),
      cpuacct: this.dir('cpuacct'),
      memory: this.dir('memory'),
      pids: this.dir('pids'),
      blkio: this.dir('blkio'),
      hugetlb: this.dir('hugetlb'),
      ...(hugetlbV2 ? { hugetlbV2 } : {}),
    });
  }

  oomKillCount(): number {
    return statsCode().oomKills(this.cfs, this.dir('memory'), 'v1');
  }

  destroy(): void {
    const roots = this.mounts();
    const leaves = roots.map((m) => path.join(m, this.path));
    const unified = this.unifiedDir();
    if (unified) {
      leaves.push(unified);
      roots.push(this.host.unified!);
    }
    const sharedParents = this.path.startsWith(DEFAULT_CGROUP_PARENT + '/') ? roots.map((m) => path.join(m, DEFAULT_CGROUP_PARENT)) : [];
    removeCreated(this.cfs, { leaves, created: this.created, sharedParents, leavesMaybeCreated: this.creating, sleep: hostSleep(this.host) });
    this.created.length = 0;
  }

  toJSON(): CgroupRecord {
    return {
      layout: this.layout,
      path: this.path,
      created: [...this.created],
      mountRoot: this.host.mountRoot,
      hierarchies: { ...this.host.hierarchies },
      ...(this.host.unified ? { unified: this.host.unified } : {}),
    };
  }
}
