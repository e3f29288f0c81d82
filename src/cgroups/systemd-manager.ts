// --systemd-cgroup: systemd owns the container's cgroup as a transient scope.
// The scope is started with the container's first process (systemd needs a
// pid to put in it); resources given before that are applied right after,
// through the cgroupfs driver on the path systemd made.
import type { Resources } from '../spec/types';
import { CapsaError } from '../errors';
import type { CgroupManager, CgroupRecord, CgroupStats } from './manager';
import type { CgroupHost } from './host';
import { parseSystemdCgroupsPath, requireSystemd, type SystemdCgroupName, type SystemdScopeClient } from './systemd';
import { validateResources } from './validate';
import { V1Manager } from './v1';
import { V2Manager } from './v2';

export type { SystemdScopeClient } from './systemd';

export function createSystemdManager(opts: { id: string; cgroupsPath?: string; host: CgroupHost; systemdClient?: SystemdScopeClient }): CgroupManager {
  requireSystemd(opts.host.systemdProbePath);
  const name = parseSystemdCgroupsPath(opts.cgroupsPath, opts.id);
  // The D-Bus client (and net) load only for this driver.
  const client = opts.systemdClient ?? new (require('./systemd-dbus') as typeof import('./systemd-dbus')).DbusSystemdClient();
  return new SystemdManager(opts.host, name, client, opts.id);
}

class SystemdManager implements CgroupManager {
  private readonly fsDriver: V1Manager | V2Manager;
  private started = false;
  private pending: Resources | undefined;

  constructor(
    host: CgroupHost,
    private readonly name: SystemdCgroupName,
    private readonly client: SystemdScopeClient,
    private readonly id: string,
  ) {
    // created = []: systemd made the dirs and removes them when the scope stops.
    this.fsDriver = host.layout === 'v2' ? new V2Manager(host, name.path) : new V1Manager(host, name.path);
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

  apply(resources: Resources | undefined): void {
    validateResources(resources, this.layout);
    if (this.started) this.fsDriver.apply(resources);
    else this.pending = resources;
  }

  async addProcess(pid: number): Promise<void> {
    if (this.started) return this.fsDriver.addProcess(pid);
    await this.client.startTransientScope(this.name.unit, this.name.slice, pid, `capsa container ${this.id}`);
    this.started = true;
    this.fsDriver.apply(this.pending);
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
  stats(): CgroupStats {
    return this.fsDriver.stats();
  }
  update(resources: Resources): void {
    this.fsDriver.update(resources);
  }
  async destroy(): Promise<void> {
    if (this.started) await this.client.stopUnit(this.name.unit);
  }
  toJSON(): CgroupRecord {
    return this.fsDriver.toJSON();
  }
}
