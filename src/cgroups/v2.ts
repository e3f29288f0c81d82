// The cgroup v2 driver: one dir in the unified hierarchy. Controllers must be
// enabled in every parent's cgroup.subtree_control before the child gets
// their files, so create() does that on the way down (all the parent offers,
// as runc does). Devices are enforced with an eBPF program.
import * as path from 'node:path';
import { DEFAULT_CGROUP_PARENT, pathChain } from './paths';
import type { Resources } from '../spec/types';
import { CapsaError } from '../errors';
import type { ApplyOptions, CgroupManager, CgroupMembership, CgroupRecord, CgroupStats } from './manager';
import { hostFs, hostSleep, type CgroupHost } from './host';
import { CgroupWriter, type CgroupFs } from './fsio';
import { createChain, enableControllers, joinCgroup, pidsUnder, readWords, refuseOccupied, removeCreated, syscallError } from './dirs';
import { freezeV2, isFrozenV2, thawV2 } from './freezer';

// Loaded on first use: state, kill and delete need none of them.
const validation = () => require('./validate') as typeof import('./validate');
const v2Resources = () => require('./v2-resources') as typeof import('./v2-resources');
const bpfNative = () => require('./bpf-native') as typeof import('./bpf-native');
const statsCode = () => require('./stats') as typeof import('./stats');

export class V2Manager implements CgroupManager {
  readonly layout = 'v2' as const;
  readonly warnings: string[] = [];
  private readonly cfs: CgroupFs;
  private readonly created: string[];
  private readonly root: string;
  /** create() refused a cgroup that was in use: none of its processes are ours. */
  private refused = false;

  constructor(
    private readonly host: CgroupHost,
    readonly path: string,
    created: string[] = [],
    /** See CgroupRecord.creating. */
    private readonly creating = false,
    /**
     * Host uid of the container's root when it has a user namespace, a cgroup
     * namespace and a writable cgroupfs (runtime-spec 1.1, as runc): the
     * cgroup dir and the files the kernel lists as delegatable are handed to
     * it, so the container can manage its own sub-cgroups.
     */
    private readonly ownerUid?: number,
  ) {
    if (host.layout !== 'v2' || !host.unified) throw new CapsaError('INTERNAL', 'V2Manager needs a cgroup v2 host');
    this.root = host.unified;
    this.cfs = hostFs(host);
    this.created = [...created];
  }

  get dir(): string {
    return path.join(this.root, this.path);
  }

  create(): void {
    createChain(this.cfs, this.root, this.path, this.created, {
      beforeChild: (parent) => enableControllers(this.cfs, parent, 'all', this.warnings),
    });
    if (!this.created.includes(this.dir)) {
      try {
        refuseOccupied(this.cfs, this.dir, this.isFrozen());
      } catch (e) {
        this.refused = true;
        throw e;
      }
    }
    this.handOver();
  }

  /**
   * The dir was made by someone else (systemd's scope): what create() does
   * besides mkdir. systemd enables only the controllers it manages (cpu,
   * cpuset, io, memory, pids) on the way down; the others the host has
   * (hugetlb, rdma, misc) are enabled in the parents as runc does, so their
   * limits have files to go to. The scope's own subtree_control is left alone.
   */
  adoptedBySystemd(): void {
    let parent = this.root;
    for (const rel of pathChain(this.path).slice(0, -1)) {
      enableControllers(this.cfs, parent, 'all', this.warnings);
      parent = path.join(this.root, rel);
    }
    enableControllers(this.cfs, parent, 'all', this.warnings);
    this.handOver();
  }

  private handOver(): void {
    if (this.ownerUid === undefined) return;
    const chown = this.cfs.chown ?? (() => {});
    let files: string[];
    try {
      files = this.cfs.read('/sys/kernel/cgroup/delegate').split('\n').map((l) => l.trim()).filter(Boolean);
    } catch {
      // Before Linux 4.15: the files cgroups(7) names.
      files = ['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads'];
    }
    try {
      chown(this.dir, this.ownerUid);
      for (const f of files) if (this.cfs.exists(path.join(this.dir, f))) chown(path.join(this.dir, f), this.ownerUid);
    } catch (e) {
      throw syscallError(`hand cgroup ${this.dir} to uid ${this.ownerUid}`, e);
    }
  }

  /** A file of the container's cgroup, trimmed; undefined when absent. */
  readFile(name: string): string | undefined {
    try {
      return this.cfs.read(path.join(this.dir, name)).trim();
    } catch {
      return undefined;
    }
  }

  private apply2(resources: Resources | undefined, update: boolean, options: ApplyOptions = {}): void {
    validation().validateResources(resources, 'v2');
    v2Resources().applyV2Resources(
      {
        w: new CgroupWriter(this.cfs, this.warnings),
        dir: this.dir,
        available: new Set(readWords(this.cfs, path.join(this.dir, 'cgroup.controllers'))),
        update,
        deviceFilter: () => this.host.deviceFilter ?? bpfNative().addonDeviceFilter(),
      },
      options.withoutPids && resources?.pids ? { ...resources, pids: undefined } : resources,
    );
  }

  apply(resources: Resources | undefined, options?: ApplyOptions): void {
    this.apply2(resources, false, options);
  }

  update(resources: Resources): void {
    this.apply2(resources, true);
  }

  membership(): CgroupMembership {
    return { v1: [], v2: { dir: this.dir, optional: false } };
  }

  addProcess(pid: number): void {
    joinCgroup(this.cfs, this.dir, pid);
  }

  freeze(): void {
    freezeV2(this.cfs, this.dir, hostSleep(this.host));
  }

  thaw(): void {
    thawV2(this.cfs, this.dir);
  }

  isFrozen(): boolean {
    return isFrozenV2(this.cfs, this.dir);
  }

  pids(): number[] {
    return this.refused ? [] : pidsUnder(this.cfs, this.dir);
  }

  killAll(): boolean {
    if (this.refused) return false;
    const file = path.join(this.dir, 'cgroup.kill');
    if (!this.cfs.exists(file)) return false;
    try {
      this.cfs.write(file, '1');
      return true;
    } catch (e) {
      if (!this.cfs.exists(this.dir)) return true; // gone already: nothing left to kill
      throw syscallError(`write 1 to ${file}`, e);
    }
  }

  stats(): CgroupStats {
    return statsCode().statsV2(this.cfs, this.dir);
  }

  oomKillCount(): number {
    return statsCode().oomKills(this.cfs, this.dir, 'v2');
  }

  oomEventsFile(): string {
    return path.join(this.dir, 'memory.events');
  }

  destroy(): void {
    const sharedParents = this.path.startsWith(DEFAULT_CGROUP_PARENT + '/') ? [path.join(this.root, DEFAULT_CGROUP_PARENT)] : [];
    removeCreated(this.cfs, { leaves: [this.dir], created: this.created, sharedParents, leavesMaybeCreated: this.creating, sleep: hostSleep(this.host) });
    this.created.length = 0;
  }

  toJSON(): CgroupRecord {
    return { layout: 'v2', path: this.path, created: [...this.created], mountRoot: this.host.mountRoot, unified: this.root };
  }
}
