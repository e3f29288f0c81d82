// --systemd-cgroup: systemd owns the container's cgroup as a transient scope.
// The scope is started with the container's first process (systemd needs a
// pid to put in it); resources given before that are applied right after,
// through the cgroupfs driver on the path systemd made. capsa ships no D-Bus
// client yet; SystemdScopeClient is where one plugs in.
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
  if (!opts.systemdClient) {
    throw new CapsaError('UNSUPPORTED', 'systemd cgroup driver: capsa cannot talk to systemd over D-Bus yet; run without --systemd-cgroup');
  }
  return new SystemdManager(opts.host, name, opts.systemdClient);
}

class SystemdManager implements CgroupManager {
  private readonly fsDriver: V1Manager | V2Manager;
  private started = false;
  private pending: Resources | undefined;

  constructor(
    host: CgroupHost,
    private readonly name: SystemdCgroupName,
    private readonly client: SystemdScopeClient,
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

  addProcess(pid: number): void {
    if (this.started) return this.fsDriver.addProcess(pid);
    this.client.startTransientScope(this.name.unit, this.name.slice, pid);
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
  destroy(): void {
    if (this.started) this.client.stopUnit(this.name.unit);
  }
  toJSON(): CgroupRecord {
    return this.fsDriver.toJSON();
  }
}
