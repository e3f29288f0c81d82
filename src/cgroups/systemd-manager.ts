// --systemd-cgroup: systemd owns the container's cgroup as a transient scope.
// The scope is started with the container's first process (systemd needs a
// pid to put in it) and with the container's limits as unit properties, so
// systemd keeps them (a daemon-reload re-applies what the unit says, and
// would otherwise reset limits written only to cgroupfs). capsa then writes
// the same limits to cgroupfs through the v1/v2 driver on the path systemd
// made (exact values, and fields systemd has no property for). Updates go
// to both: SetUnitProperties, then cgroupfs.
import type { Resources } from '../spec/types';
import { CapsaError } from '../errors';
import type { ApplyOptions, CgroupManager, CgroupMembership, CgroupRecord, CgroupStats } from './manager';
import type { CgroupHost } from './host';
import { parseCgroupInt } from './fsio';
import { parseSystemdCgroupsPath, requireSystemd, type SystemdCgroupName, type SystemdScopeClient } from './systemd-host';
import { systemdPropertiesFromAnnotations, type UnitProperty } from './systemd-annotations';
import { pidsProperty, resourcesToProperties, type PropertyContext } from './systemd-properties';
import { validateResources } from './validate';
import { V1Manager } from './v1';
import { V2Manager } from './v2';

export type { SystemdScopeClient } from './systemd-host';

export interface SystemdManagerOptions {
  id: string;
  cgroupsPath?: string;
  host: CgroupHost;
  systemdClient?: SystemdScopeClient;
  /** The config's annotations: org.systemd.property.* become scope properties. */
  annotations?: Record<string, string>;
  /** v2: the host uid the container's cgroup is handed to (see V2Manager). */
  ownerUid?: number;
}

function dbusClient(): SystemdScopeClient {
  // The D-Bus client (and net) load only for this driver.
  return new (require('./systemd-scope-client') as typeof import('./systemd-scope-client')).DbusSystemdClient();
}

export function createSystemdManager(opts: SystemdManagerOptions): CgroupManager {
  requireSystemd(opts.host.systemdProbePath);
  const name = parseSystemdCgroupsPath(opts.cgroupsPath, opts.id);
  // Checked now, before anything is made: a bad annotation is a config error.
  const extra = systemdPropertiesFromAnnotations(opts.annotations);
  return new SystemdManager(opts.host, name, opts.systemdClient ? () => opts.systemdClient! : dbusClient, opts.id, false, extra, opts.ownerUid);
}

/** The manager of a container whose scope was started earlier (from state.json). */
/**
 * A record written before the systemd driver kept its scope's name names only
 * the cgroup path, whose last component is the unit: destroying that cgroup
 * also stops the scope (systemd would collect it once empty anyway).
 */
export function stopScopeOnDestroy(mgr: CgroupManager, cgroupPath: string, client?: SystemdScopeClient): CgroupManager {
  const unit = cgroupPath.split('/').pop();
  if (!unit?.endsWith('.scope')) return mgr;
  const destroyCgroup = mgr.destroy.bind(mgr);
  mgr.destroy = async () => {
    await destroyCgroup();
    await (client ?? dbusClient()).stopUnit(unit);
  };
  return mgr;
}

export function loadSystemdManager(host: CgroupHost, record: CgroupRecord, client?: SystemdScopeClient): CgroupManager {
  const sd = record.systemd!;
  const name: SystemdCgroupName = { slice: sd.slice, prefix: '', name: sd.unit, unit: sd.unit, path: record.path };
  return new SystemdManager(host, name, client ? () => client : dbusClient, sd.id, true, []);
}

class SystemdManager implements CgroupManager {
  private readonly fsDriver: V1Manager | V2Manager;
  private clientInstance: SystemdScopeClient | undefined;
  private pending: Resources | undefined;
  private pendingOptions: ApplyOptions | undefined;

  constructor(
    host: CgroupHost,
    private readonly name: SystemdCgroupName,
    /** Made on first use: most verbs (state, kill, ps) never talk to systemd. */
    private readonly makeClient: () => SystemdScopeClient,
    private readonly id: string,
    private started: boolean,
    private readonly extra: UnitProperty[],
    ownerUid?: number,
  ) {
    // created = []: systemd made the dirs and removes them when the scope stops.
    this.fsDriver = host.layout === 'v2' ? new V2Manager(host, name.path, [], false, ownerUid) : new V1Manager(host, name.path);
  }

  private get client(): SystemdScopeClient {
    return (this.clientInstance ??= this.makeClient());
  }

  get layout() {
    return this.fsDriver.layout;
  }
  get path() {
    return this.name.path;
  }
  get warnings() {
    return this.fsDriver.warnings;
  }

  create(): void {
    // Nothing yet: the scope appears when it is started with a pid.
  }

  apply(resources: Resources | undefined, options?: ApplyOptions): void {
    validateResources(resources, this.layout);
    if (this.started) this.fsDriver.apply(resources, options);
    else {
      this.pending = resources;
      this.pendingOptions = options;
    }
  }

  private context(update: boolean, version: number): PropertyContext {
    if (!update || this.layout !== 'v2') return { layout: this.layout, version };
    // The half of a pair an update leaves out is what cgroupfs holds now.
    const [quota, period] = this.fsDriver.readFile('cpu.max')?.split(/\s+/) ?? [];
    return {
      layout: this.layout, version,
      current: { quota: quota === 'max' ? -1 : Number(quota), period: Number(period), memoryLimit: parseCgroupInt(this.fsDriver.readFile('memory.max'), -1) },
    };
  }

  async addProcess(pid: number): Promise<void> {
    if (this.started) return this.fsDriver.addProcess(pid);
    const withPids = !this.pendingOptions?.withoutPids;
    await this.client.startTransientScope(this.name.unit, this.name.slice, pid, `capsa container ${this.id}`, (version) => {
      const r = resourcesToProperties(this.pending, this.context(false, version), { devices: true });
      this.fsDriver.warnings.push(...r.notes);
      const pids = withPids ? pidsProperty(this.pending?.pids?.limit, this.fsDriver.warnings) : undefined;
      return [...r.properties, ...(pids ? [pids] : []), ...this.extra];
    });
    this.started = true;
    this.fsDriver.adoptedBySystemd();
    this.fsDriver.apply(this.pending, this.pendingOptions);
  }

  /** Once the scope exists, later processes (exec) join it by themselves; before, systemd places the first. */
  membership(): CgroupMembership | undefined {
    return this.started ? this.fsDriver.membership() : undefined;
  }

  freeze(): void {
    this.fsDriver.freeze();
  }
  thaw(): void {
    this.fsDriver.thaw();
  }
  isFrozen(): boolean {
    return this.fsDriver.isFrozen();
  }
  pids(): number[] {
    return this.started ? this.fsDriver.pids() : [];
  }
  killAll(): boolean {
    return this.started && this.fsDriver.killAll();
  }
  stats(): CgroupStats {
    return this.fsDriver.stats();
  }
  oomKillCount(): number {
    return this.fsDriver.oomKillCount();
  }
  async oomKilledPerSystemd(): Promise<boolean> {
    return (await this.client.unitResult?.(this.name.unit)) === 'oom-kill';
  }
  oomEventsFile(): string | undefined {
    return this.fsDriver instanceof V2Manager ? this.fsDriver.oomEventsFile() : undefined;
  }

  async update(resources: Resources): Promise<void> {
    validateResources(resources, this.layout);
    if (!this.started) throw new CapsaError('BAD_STATE', `container ${this.id} has no systemd scope yet`);
    await this.client.setUnitProperties(this.name.unit, (version) => {
      const r = resourcesToProperties(resources, this.context(true, version), { devices: resources.devices !== undefined });
      this.fsDriver.warnings.push(...r.notes);
      const pids = pidsProperty(resources.pids?.limit, this.fsDriver.warnings);
      return [...r.properties, ...(pids ? [pids] : [])];
    });
    this.fsDriver.update(resources);
  }

  async destroy(): Promise<void> {
    if (this.started) await this.client.stopUnit(this.name.unit);
  }

  toJSON(): CgroupRecord {
    return { ...this.fsDriver.toJSON(), systemd: { unit: this.name.unit, slice: this.name.slice, id: this.id } };
  }
}
