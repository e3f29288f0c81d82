// What the systemd cgroup driver (--systemd-cgroup) needs to know of the
// host and the config: whether systemd is PID 1, what a "slice:prefix:name"
// cgroupsPath names, and the client interface the driver talks through. With
// systemd the container's cgroup is a transient scope unit that systemd
// creates (systemd-manager.ts, over D-Bus in systemd-scope-client.ts).
// Without systemd there is nobody to ask, so capsa says so in one line
// instead of hanging on a socket.
import * as fs from 'node:fs';
import { CapsaError } from '../errors';
import type { UnitProperty } from './systemd-annotations';

export const SYSTEMD_PROBE_PATH = '/run/systemd/system';

export interface SystemdCgroupName {
  /** e.g. "system.slice" (default when empty) */
  slice: string;
  /** e.g. "docker" */
  prefix: string;
  /** e.g. the container id */
  name: string;
  /** "docker-<id>.scope", or the name itself when it already ends in ".slice" */
  unit: string;
  /** cgroup path of the unit relative to the hierarchy root, e.g. "/system.slice/docker-abc.scope" */
  path: string;
}

/** Unit properties for systemd's major version (Manager.Version "252.39-1~deb12u2" → 252). */
export type PropertiesFor = (version: number) => UnitProperty[];

/** What a D-Bus client must offer for the systemd driver. */
export interface SystemdScopeClient {
  /**
   * Starts scope `unit` in `slice` holding `pid`, with extra unit properties
   * (resources, annotations) made for systemd's major version; resolves once
   * its cgroup exists.
   */
  startTransientScope(unit: string, slice: string, pid: number, description: string, properties: PropertiesFor): Promise<void>;
  /** SetUnitProperties(runtime=true): systemd applies them and keeps them until the unit goes. */
  setUnitProperties(unit: string, properties: PropertiesFor): Promise<void>;
  stopUnit(unit: string): Promise<void>;
  /** The scope's Result ("success", "oom-kill", ...), or undefined when systemd has no such unit. */
  unitResult?(unit: string): Promise<string | undefined>;
}

/** Where "systemd is running" is probed; CAPSA_SYSTEMD_PROBE moves it (tests with a stand-in systemd). */
export function systemdProbePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.CAPSA_SYSTEMD_PROBE || SYSTEMD_PROBE_PATH;
}

export function isSystemdRunning(probePath = systemdProbePath()): boolean {
  try {
    return fs.lstatSync(probePath).isDirectory();
  } catch {
    return false;
  }
}

/** Fails with one line when the systemd driver is requested on a host without systemd. */
export function requireSystemd(probePath = systemdProbePath()): void {
  if (!isSystemdRunning(probePath)) {
    throw new CapsaError('UNSUPPORTED', 'systemd cgroup driver requested but systemd is not running (PID 1 is not systemd)');
  }
}

/**
 * Parse runc's "slice:prefix:name" (or use the runc defaults when empty) and
 * expand the slice the way systemd nests it: "a-b.slice" lives in "a.slice".
 */
export function parseSystemdCgroupsPath(cgroupsPath: string | undefined, id: string): SystemdCgroupName {
  const field = 'linux.cgroupsPath';
  let slice = '';
  let prefix = 'capsa';
  let name = id;
  if (cgroupsPath) {
    const parts = cgroupsPath.split(':');
    if (parts.length !== 3) {
      throw new CapsaError('INVALID_CONFIG', `${field}: expected "slice:prefix:name" for the systemd cgroup driver, got "${cgroupsPath}"`, { configPath: field });
    }
    [slice, prefix, name] = parts as [string, string, string];
  }
  if (slice === '') slice = 'system.slice';
  if (!slice.endsWith('.slice') || slice.includes('/')) {
    throw new CapsaError('INVALID_CONFIG', `${field}: "${slice}" is not a systemd slice name`, { configPath: field });
  }
  const unit = name.endsWith('.slice') ? name : `${prefix ? prefix + '-' : ''}${name}.scope`;
  return { slice, prefix, name, unit, path: expandSlice(slice, field) + '/' + unit };
}

function expandSlice(slice: string, field: string): string {
  if (slice === '-.slice') return '';
  const stem = slice.slice(0, -'.slice'.length);
  if (stem === '' || stem.startsWith('-') || stem.endsWith('-') || stem.includes('--')) {
    throw new CapsaError('INVALID_CONFIG', `${field}: invalid slice name "${slice}"`, { configPath: field });
  }
  const pieces = stem.split('-');
  let out = '';
  for (let i = 1; i <= pieces.length; i++) out += '/' + pieces.slice(0, i).join('-') + '.slice';
  return out;
}
