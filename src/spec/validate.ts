// Structural validation of config.json: every field capsa reads is checked for
// type and range here, so later stages can trust the shape. Errors name the
// field ("config.mounts[2].destination: ...").
import { CapsaError } from '../errors';
import type { Spec } from './types';

const NAMESPACE_TYPES = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'];
const MAX_U32 = 0xffffffff;

function fail(path: string, msg: string): never {
  throw new CapsaError('INVALID_CONFIG', `config.${path}: ${msg}`, { configPath: path });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function obj(v: unknown, path: string): Record<string, unknown> {
  if (!isObj(v)) fail(path, `expected an object, got ${kind(v)}`);
  return v;
}
function optObj(v: unknown, path: string): Record<string, unknown> | undefined {
  return v === undefined || v === null ? undefined : obj(v, path);
}
function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, `expected an array, got ${kind(v)}`);
  return v;
}
function optArr(v: unknown, path: string): unknown[] {
  return v === undefined || v === null ? [] : arr(v, path);
}
function str(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, `expected a string, got ${kind(v)}`);
  if (v.includes('\0')) fail(path, 'contains a NUL byte');
  return v;
}
function optStr(v: unknown, path: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, path);
}
function int(v: unknown, path: string, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, `expected an integer, got ${kind(v)}`);
  if (v < min || v > max) fail(path, `${v} is out of range [${min}, ${max}]`);
  return v;
}
function optInt(v: unknown, path: string, min?: number, max?: number): number | undefined {
  return v === undefined || v === null ? undefined : int(v, path, min, max);
}
function optBool(v: unknown, path: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(path, `expected a boolean, got ${kind(v)}`);
  return v;
}
function strList(v: unknown, path: string): string[] {
  return optArr(v, path).map((s, i) => str(s, `${path}[${i}]`));
}
function kind(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v).slice(0, 40)}`;
}
function absPath(v: unknown, path: string): string {
  const s = str(v, path);
  if (!s.startsWith('/')) fail(path, `"${s}" must be an absolute path`);
  return s;
}

function validateMappings(v: unknown, path: string): void {
  optArr(v, path).forEach((m, i) => {
    const p = `${path}[${i}]`;
    const o = obj(m, p);
    int(o.containerID, `${p}.containerID`, 0, MAX_U32);
    int(o.hostID, `${p}.hostID`, 0, MAX_U32);
    int(o.size, `${p}.size`, 1, MAX_U32);
  });
}

export function validateProcess(v: unknown, path: string): void {
  const p = obj(v, path);
  optBool(p.terminal, `${path}.terminal`);
  const cs = optObj(p.consoleSize, `${path}.consoleSize`);
  if (cs) { int(cs.height, `${path}.consoleSize.height`, 0, 65535); int(cs.width, `${path}.consoleSize.width`, 0, 65535); }
  const user = obj(p.user, `${path}.user`);
  int(user.uid, `${path}.user.uid`, 0, MAX_U32);
  int(user.gid, `${path}.user.gid`, 0, MAX_U32);
  optInt(user.umask, `${path}.user.umask`, 0, 0o777);
  optArr(user.additionalGids, `${path}.user.additionalGids`).forEach((g, i) => int(g, `${path}.user.additionalGids[${i}]`, 0, MAX_U32));
  const args = strList(p.args, `${path}.args`);
  if (args.length === 0) fail(`${path}.args`, 'must contain at least one element (the program to run)');
  if (args[0] === '') fail(`${path}.args[0]`, 'must not be empty');
  strList(p.env, `${path}.env`).forEach((e, i) => {
    if (!e.includes('=')) fail(`${path}.env[${i}]`, `"${e}" is not of the form KEY=VALUE`);
  });
  absPath(p.cwd, `${path}.cwd`);
  const caps = optObj(p.capabilities, `${path}.capabilities`);
  if (caps) for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient']) strList(caps[set], `${path}.capabilities.${set}`);
  optArr(p.rlimits, `${path}.rlimits`).forEach((r, i) => {
    const o = obj(r, `${path}.rlimits[${i}]`);
    str(o.type, `${path}.rlimits[${i}].type`);
    // Up to 2^64-1 (RLIM_INFINITY), which JSON numbers carry only approximately.
    int(o.soft, `${path}.rlimits[${i}].soft`, 0, 2 ** 64);
    int(o.hard, `${path}.rlimits[${i}].hard`, 0, 2 ** 64);
  });
  optBool(p.noNewPrivileges, `${path}.noNewPrivileges`);
  optStr(p.apparmorProfile, `${path}.apparmorProfile`);
  optStr(p.selinuxLabel, `${path}.selinuxLabel`);
  optInt(p.oomScoreAdj, `${path}.oomScoreAdj`, -1000, 1000);
}

// st_mode file-type bits of each device type ('u' is an unbuffered char device).
const DEVICE_FILE_TYPE: Record<string, number> = { c: 0o020000, u: 0o020000, b: 0o060000, p: 0o010000 };
const S_IFMT = 0o170000;

// podman (and runc's own `spec` of a host device) give fileMode as a whole
// st_mode, e.g. 8630 = S_IFCHR|0666. runc drops the file-type bits; capsa
// takes them too, but only when they say the same thing as `type`.
function validateDeviceMode(v: unknown, type: string, path: string): void {
  const mode = optInt(v, path, 0, S_IFMT | 0o7777);
  if (mode === undefined) return;
  const fileType = mode & S_IFMT;
  if (fileType !== 0 && fileType !== DEVICE_FILE_TYPE[type]) {
    fail(path, `${mode} (0o${mode.toString(8)}) has the file type bits 0o${fileType.toString(8)}, which do not match device type "${type}" (0o${DEVICE_FILE_TYPE[type]!.toString(8)})`);
  }
}

function validateLinux(v: unknown): void {
  const l = obj(v, 'linux');
  const seen = new Set<string>();
  optArr(l.namespaces, 'linux.namespaces').forEach((n, i) => {
    const o = obj(n, `linux.namespaces[${i}]`);
    const t = str(o.type, `linux.namespaces[${i}].type`);
    if (!NAMESPACE_TYPES.includes(t)) fail(`linux.namespaces[${i}].type`, `unknown namespace type "${t}"`);
    if (seen.has(t)) fail(`linux.namespaces[${i}]`, `duplicate namespace type "${t}"`);
    seen.add(t);
    if (o.path !== undefined) absPath(o.path, `linux.namespaces[${i}].path`);
  });
  validateMappings(l.uidMappings, 'linux.uidMappings');
  validateMappings(l.gidMappings, 'linux.gidMappings');
  optArr(l.devices, 'linux.devices').forEach((d, i) => {
    const p = `linux.devices[${i}]`;
    const o = obj(d, p);
    const t = str(o.type, `${p}.type`);
    if (!['c', 'b', 'u', 'p'].includes(t)) fail(`${p}.type`, `unknown device type "${t}" (expected c, b, u or p)`);
    absPath(o.path, `${p}.path`);
    if (t !== 'p') { int(o.major, `${p}.major`, 0, 0xfff); int(o.minor, `${p}.minor`, 0, 0xfffff); }
    validateDeviceMode(o.fileMode, t, `${p}.fileMode`);
    optInt(o.uid, `${p}.uid`, 0, MAX_U32);
    optInt(o.gid, `${p}.gid`, 0, MAX_U32);
  });
  const cgPath = optStr(l.cgroupsPath, 'linux.cgroupsPath');
  if (cgPath !== undefined && cgPath.split(/[/:]/).includes('..')) fail('linux.cgroupsPath', `"${cgPath}" must not contain ".."`);
  optObj(l.resources, 'linux.resources');
  optStr(l.rootfsPropagation, 'linux.rootfsPropagation');
  optObj(l.seccomp, 'linux.seccomp');
  const sysctl = optObj(l.sysctl, 'linux.sysctl');
  if (sysctl) for (const [k, val] of Object.entries(sysctl)) {
    str(val, `linux.sysctl["${k}"]`);
    if (k === '' || k.includes('..') || k.startsWith('/') || k.startsWith('.')) fail(`linux.sysctl["${k}"]`, 'invalid sysctl name');
  }
  strList(l.maskedPaths, 'linux.maskedPaths').forEach((p, i) => absPath(p, `linux.maskedPaths[${i}]`));
  strList(l.readonlyPaths, 'linux.readonlyPaths').forEach((p, i) => absPath(p, `linux.readonlyPaths[${i}]`));
  optStr(l.mountLabel, 'linux.mountLabel');
  validateNetDevices(l.netDevices);
  validateIntelRdt(l.intelRdt);
  const offsets = optObj(l.timeOffsets, 'linux.timeOffsets');
  if (offsets) for (const [k, val] of Object.entries(offsets)) {
    if (k !== 'monotonic' && k !== 'boottime') fail(`linux.timeOffsets.${k}`, 'only "monotonic" and "boottime" clocks can be offset');
    const o = obj(val, `linux.timeOffsets.${k}`);
    optInt(o.secs, `linux.timeOffsets.${k}.secs`);
    optInt(o.nanosecs, `linux.timeOffsets.${k}.nanosecs`, 0, 999999999);
  }
}

// The kernel's dev_valid_name(): 1-15 bytes, not "." or "..", no "/", ":" or
// whitespace. A "%d" (once) asks the kernel to pick a free number.
function checkLinkName(name: string, path: string): void {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes >= 16) fail(path, `"${name}" is not a valid network device name (1 to 15 bytes)`);
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) fail(path, `"${name}" is not a valid network device name (no "/", ":" or whitespace, not "." or "..")`);
  const percents = name.split('%').length - 1;
  if (percents > 1 || (percents === 1 && !name.includes('%d'))) fail(path, `"${name}" is not a valid network device name (only one "%d" template is allowed)`);
}

function validateNetDevices(v: unknown): void {
  const devices = optObj(v, 'linux.netDevices');
  if (!devices) return;
  const targets = new Map<string, string>();
  for (const [hostName, dev] of Object.entries(devices)) {
    const p = `linux.netDevices["${hostName}"]`;
    checkLinkName(hostName, p);
    if (hostName.includes('%')) fail(p, `"${hostName}" names a host device: a "%d" template is not allowed here`);
    const o = obj(dev, p);
    const name = optStr(o.name, `${p}.name`);
    if (name !== undefined) checkLinkName(name, `${p}.name`);
    const target = name || hostName;
    if (!target.includes('%') && targets.has(target)) fail(`${p}.name`, `"${target}" is also the name of linux.netDevices["${targets.get(target)}"] in the container`);
    targets.set(target, hostName);
  }
}

function validateIntelRdt(v: unknown): void {
  const rdt = optObj(v, 'linux.intelRdt');
  if (!rdt) return;
  const p = 'linux.intelRdt';
  const closID = optStr(rdt.closID, `${p}.closID`);
  if (closID !== undefined && closID !== '/' && (closID === '' || closID === '.' || closID === '..' || closID.includes('/') || /\s/.test(closID))) {
    fail(`${p}.closID`, `"${closID}" is not a resctrl group name (no "/" or whitespace, not "." or ".."; "/" alone is the default group)`);
  }
  const l3 = optStr(rdt.l3CacheSchema, `${p}.l3CacheSchema`);
  if (l3 !== undefined && l3.includes('\n')) fail(`${p}.l3CacheSchema`, 'must not contain a newline');
  const mb = optStr(rdt.memBwSchema, `${p}.memBwSchema`);
  if (mb !== undefined && !mb.startsWith('MB:')) fail(`${p}.memBwSchema`, `"${mb}" must start with "MB:"`);
  if (mb !== undefined && mb.includes('\n')) fail(`${p}.memBwSchema`, 'must not contain a newline');
  strList(rdt.schemata, `${p}.schemata`).forEach((line, i) => {
    if (line.includes('\n')) fail(`${p}.schemata[${i}]`, 'must not contain a newline');
  });
  for (const flag of ['enableMonitoring', 'enableCMT', 'enableMBM']) optBool(rdt[flag], `${p}.${flag}`);
}

function validateHooks(v: unknown): void {
  const h = obj(v, 'hooks');
  for (const [name, list] of Object.entries(h)) {
    optArr(list, `hooks.${name}`).forEach((hook, i) => {
      const p = `hooks.${name}[${i}]`;
      const o = obj(hook, p);
      absPath(o.path, `${p}.path`);
      strList(o.args, `${p}.args`);
      strList(o.env, `${p}.env`);
      optInt(o.timeout, `${p}.timeout`, 1);
    });
  }
}

/** Checks the shape of a parsed config.json; returns it typed. */
export function validateSpec(raw: unknown, opts: { requireProcess?: boolean } = {}): Spec {
  const s = obj(raw, 'json');
  const version = str(s.ociVersion, 'ociVersion');
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) fail('ociVersion', `"${version}" is not a semantic version`);
  if (m[1] !== '1') fail('ociVersion', `unsupported major version in "${version}" (capsa supports 1.x)`);
  const root = obj(s.root, 'root');
  str(root.path, 'root.path');
  if (root.path === '') fail('root.path', 'must not be empty');
  optBool(root.readonly, 'root.readonly');
  if (s.process !== undefined || opts.requireProcess) validateProcess(s.process, 'process');
  const hostname = optStr(s.hostname, 'hostname');
  if (hostname !== undefined && hostname.length > 64) fail('hostname', 'longer than 64 characters');
  const domainname = optStr(s.domainname, 'domainname');
  if (domainname !== undefined && domainname.length > 64) fail('domainname', 'longer than 64 characters');
  optArr(s.mounts, 'mounts').forEach((mnt, i) => {
    const o = obj(mnt, `mounts[${i}]`);
    absPath(o.destination, `mounts[${i}].destination`);
    optStr(o.type, `mounts[${i}].type`);
    optStr(o.source, `mounts[${i}].source`);
    strList(o.options, `mounts[${i}].options`);
  });
  if (s.hooks !== undefined && s.hooks !== null) validateHooks(s.hooks);
  const ann = optObj(s.annotations, 'annotations');
  if (ann) for (const [k, val] of Object.entries(ann)) str(val, `annotations["${k}"]`);
  if (s.linux !== undefined && s.linux !== null) validateLinux(s.linux);
  return s as unknown as Spec;
}
