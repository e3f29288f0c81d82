// The property names of config.json as runtime-spec 1.3 defines them, and the
// check that a config written for a newer spec names nothing else. The spec
// lets a runtime ignore unknown properties; capsa does, but says which when the
// config claims a newer spec than capsa knows (those are the fields most likely
// to matter and be dropped).
import { SPEC_OCI_VERSION } from './defaults';

/** A leaf (true), an object's known properties, a map with any keys (`{ '*': … }`), or an array of one shape. */
type Shape = true | { [key: string]: Shape } | Shape[];

const ANY = true as const;
const ids = [{ containerID: ANY, hostID: ANY, size: ANY }];
const hook = [{ path: ANY, args: ANY, env: ANY, timeout: ANY }];
const throttle = [{ major: ANY, minor: ANY, rate: ANY }];

const PROCESS: Shape = {
  terminal: ANY, consoleSize: { height: ANY, width: ANY }, cwd: ANY, env: ANY, args: ANY, commandLine: ANY,
  rlimits: [{ type: ANY, soft: ANY, hard: ANY }], apparmorProfile: ANY,
  capabilities: { bounding: ANY, effective: ANY, inheritable: ANY, permitted: ANY, ambient: ANY },
  noNewPrivileges: ANY, oomScoreAdj: ANY, selinuxLabel: ANY,
  scheduler: { policy: ANY, nice: ANY, priority: ANY, flags: ANY, runtime: ANY, deadline: ANY, period: ANY },
  ioPriority: { class: ANY, priority: ANY }, execCPUAffinity: { initial: ANY, final: ANY },
  user: { uid: ANY, gid: ANY, umask: ANY, additionalGids: ANY, username: ANY },
};

const RESOURCES: Shape = {
  devices: [{ allow: ANY, type: ANY, major: ANY, minor: ANY, access: ANY }],
  memory: {
    limit: ANY, reservation: ANY, swap: ANY, kernel: ANY, kernelTCP: ANY, swappiness: ANY,
    disableOOMKiller: ANY, useHierarchy: ANY, checkBeforeUpdate: ANY,
  },
  cpu: { shares: ANY, quota: ANY, burst: ANY, period: ANY, realtimeRuntime: ANY, realtimePeriod: ANY, cpus: ANY, mems: ANY, idle: ANY },
  blockIO: {
    weight: ANY, leafWeight: ANY, weightDevice: [{ major: ANY, minor: ANY, weight: ANY, leafWeight: ANY }],
    throttleReadBpsDevice: throttle, throttleWriteBpsDevice: throttle, throttleReadIOPSDevice: throttle, throttleWriteIOPSDevice: throttle,
  },
  hugepageLimits: [{ pageSize: ANY, limit: ANY }],
  network: { classID: ANY, priorities: [{ name: ANY, priority: ANY }] },
  pids: { limit: ANY },
  rdma: { '*': { hcaHandles: ANY, hcaObjects: ANY } },
  unified: { '*': ANY },
};

const LINUX: Shape = {
  namespaces: [{ type: ANY, path: ANY }], uidMappings: ids, gidMappings: ids,
  timeOffsets: { '*': { secs: ANY, nanosecs: ANY } },
  devices: [{ type: ANY, path: ANY, major: ANY, minor: ANY, fileMode: ANY, uid: ANY, gid: ANY }],
  netDevices: { '*': { name: ANY } },
  cgroupsPath: ANY, resources: RESOURCES, rootfsPropagation: ANY,
  seccomp: {
    defaultAction: ANY, defaultErrnoRet: ANY, architectures: ANY, flags: ANY, listenerPath: ANY, listenerMetadata: ANY,
    syscalls: [{ names: ANY, action: ANY, errnoRet: ANY, args: [{ index: ANY, value: ANY, valueTwo: ANY, op: ANY }] }],
  },
  sysctl: { '*': ANY }, maskedPaths: ANY, readonlyPaths: ANY, mountLabel: ANY,
  // enableCMT/enableMBM: runtime-spec 1.1 and 1.2, replaced by enableMonitoring in 1.3.
  intelRdt: { closID: ANY, l3CacheSchema: ANY, memBwSchema: ANY, schemata: ANY, enableMonitoring: ANY, enableCMT: ANY, enableMBM: ANY },
  memoryPolicy: { mode: ANY, nodes: ANY, flags: ANY },
  personality: { domain: ANY, flags: ANY },
};

/** config.json as runtime-spec 1.3 defines it; the other platforms' sections are known (and not read). */
export const CONFIG_SHAPE: Shape = {
  ociVersion: ANY, root: { path: ANY, readonly: ANY },
  mounts: [{ destination: ANY, source: ANY, options: ANY, type: ANY, uidMappings: ids, gidMappings: ids }],
  process: PROCESS, hostname: ANY, domainname: ANY,
  hooks: { prestart: hook, createRuntime: hook, createContainer: hook, startContainer: hook, poststart: hook, poststop: hook },
  annotations: ANY, linux: LINUX,
  solaris: ANY, windows: ANY, vm: ANY, zos: ANY, freebsd: ANY,
};

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Dotted paths of the properties in `value` that `shape` does not name. */
export function unknownFields(value: unknown, shape: Shape = CONFIG_SHAPE, at = ''): string[] {
  if (shape === true) return [];
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      // One report per property however many elements carry it.
      for (const p of unknownFields(item, shape[0]!, `${at}[${i}]`)) seen.add(p.replace(`${at}[${i}]`, `${at}[]`));
    });
    return [...seen];
  }
  if (!isObj(value)) return [];
  const out: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const where = at ? `${at}.${key}` : key;
    const sub = shape['*'] ?? shape[key];
    if (sub === undefined) out.push(where);
    else out.push(...unknownFields(v, sub, shape['*'] ? `${at}["${key}"]` : where));
  }
  return out;
}

function minorOf(version: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)\./.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * A warning when the config claims a newer runtime-spec minor version than
 * capsa implements and names properties capsa does not know; undefined
 * otherwise (unknown properties of a known version are ignored silently, as
 * the spec asks).
 */
export function newerSpecWarning(raw: unknown, known: string = SPEC_OCI_VERSION): string | undefined {
  if (!isObj(raw) || typeof raw.ociVersion !== 'string') return undefined;
  const [have, max] = [minorOf(raw.ociVersion), minorOf(known)];
  if (!have || !max || have[0] !== max[0] || have[1] <= max[1]) return undefined;
  const unknown = unknownFields(raw);
  if (unknown.length === 0) return undefined;
  const shown = unknown.slice(0, 10).join(', ') + (unknown.length > 10 ? ` and ${unknown.length - 10} more` : '');
  return `config.ociVersion: ${raw.ociVersion} is newer than the runtime-spec ${known} capsa implements; ignoring the fields it does not know: ${shown}`;
}
