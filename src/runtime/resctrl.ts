// linux.intelRdt: the container's group in the resctrl filesystem (Intel RDT,
// AMD QoS), following runtime-spec 1.3's rules: which group (closID, or one
// named after the container), when to create it and write its schemata, when
// to only compare them, the monitoring group, and what delete removes. The
// processes join by writing "0" to the tasks files (capsa-init, before its
// clone, so the container's first process is born in the group).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError, describeErrno } from '../errors';
import type { IntelRdt } from '../spec/types';

const FIELD = 'linux.intelRdt';

/** What create made or joined, kept in the state for exec and delete. */
export interface ResctrlRecord {
  /** The CTRL_MON group dir (the resctrl root for closID "/"). */
  group: string;
  /** Whether delete removes `group`: only one capsa made and named after the container. */
  removeGroup: boolean;
  /** The container's MON group (enableMonitoring), removed by delete. */
  monitor?: string;
}

function fail(field: string, msg: string, code: 'INVALID_CONFIG' | 'UNSUPPORTED' = 'INVALID_CONFIG'): CapsaError {
  return new CapsaError(code, `config.${field}: ${msg}`, { configPath: field });
}

/** Where resctrl is mounted in this mount namespace, from /proc/self/mountinfo text. */
export function resctrlMount(mountinfo: string): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0 || line.slice(sep + 3).split(' ')[0] !== 'resctrl') continue;
    return line.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}

export function hostResctrlMount(): string | undefined {
  try { return resctrlMount(fs.readFileSync('/proc/self/mountinfo', 'utf8')); } catch { return undefined; }
}

interface SchemaLine { field: string; line: string }

/** l3CacheSchema first, memBwSchema next, then schemata (runtime-spec 1.3 order). */
function schemaLines(rdt: IntelRdt): SchemaLine[] {
  const lines: SchemaLine[] = [];
  if (rdt.l3CacheSchema) lines.push({ field: `${FIELD}.l3CacheSchema`, line: rdt.l3CacheSchema });
  if (rdt.memBwSchema) lines.push({ field: `${FIELD}.memBwSchema`, line: rdt.memBwSchema });
  (rdt.schemata ?? []).forEach((line, i) => { if (line.trim()) lines.push({ field: `${FIELD}.schemata[${i}]`, line }); });
  return lines;
}

/** "L3:0=7f0;1=1f" → L3 → {0: 0x7f0, 1: 0x1f}; MB values are decimal, the others bitmasks in hex. */
function parseSchema(line: string): { resource: string; domains: Map<string, number> } | undefined {
  const colon = line.indexOf(':');
  if (colon < 0) return undefined;
  const resource = line.slice(0, colon).trim().toUpperCase();
  const radix = resource.startsWith('MB') || resource === 'SMBA' ? 10 : 16;
  const domains = new Map<string, number>();
  for (const part of line.slice(colon + 1).split(';')) {
    const [dom, val] = part.split('=').map((x) => x.trim());
    if (!dom || val === undefined || val === '') continue;
    domains.set(dom, parseInt(val, radix));
  }
  return { resource, domains };
}

/** The first wanted line whose values differ from the group's schemata file, if any. */
export function schemataMismatch(wanted: readonly string[], current: string): string | undefined {
  const have = new Map<string, Map<string, number>>();
  for (const l of current.split('\n')) {
    const p = parseSchema(l);
    if (p) have.set(p.resource, p.domains);
  }
  for (const line of wanted) {
    const w = parseSchema(line);
    if (!w) return line;
    const h = have.get(w.resource);
    for (const [dom, val] of w.domains) if (h?.get(dom) !== val) return line;
  }
  return undefined;
}

/** The few filesystem calls resctrl needs; tests give a fake tree (this kernel may have no resctrl). */
export interface ResctrlFs {
  exists(p: string): boolean;
  mkdir(p: string): void;
  rmdir(p: string): void;
  read(p: string): string;
  /** One write(2) of `data` (resctrl parses each write on its own). */
  write(p: string, data: string): void;
  readdir(p: string): string[];
}

export const realResctrlFs: ResctrlFs = {
  exists: (p) => fs.existsSync(p),
  mkdir: (p) => fs.mkdirSync(p),
  rmdir: (p) => fs.rmdirSync(p),
  read: (p) => fs.readFileSync(p, 'utf8'),
  write: (p, data) => {
    const fd = fs.openSync(p, fs.constants.O_WRONLY);
    try { fs.writeSync(fd, data); } finally { fs.closeSync(fd); }
  },
  readdir: (p) => fs.readdirSync(p),
};

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'EIO';
}

/** The kernel's own words for the last failed resctrl write (info/last_cmd_status), when it has any. */
function lastStatus(io: ResctrlFs, mount: string): string | undefined {
  try {
    const s = io.read(path.join(mount, 'info', 'last_cmd_status')).trim();
    return s && s !== 'ok' ? s : undefined;
  } catch { return undefined; }
}

function hasMonitoring(io: ResctrlFs, mount: string): boolean {
  try { return io.readdir(path.join(mount, 'info')).some((d) => d.endsWith('_MON')); } catch { return false; }
}

/**
 * Makes or checks the container's resctrl groups. Throws a CapsaError naming
 * the field, with everything it made removed again.
 */
export function setupIntelRdt(rdt: IntelRdt, id: string, mount: string | undefined, io: ResctrlFs = realResctrlFs): ResctrlRecord {
  if (!mount) throw fail(FIELD, 'Intel RDT needs the resctrl filesystem, which is not mounted on this host (mount -t resctrl resctrl /sys/fs/resctrl)', 'UNSUPPORTED');
  const lines = schemaLines(rdt);
  const closID = rdt.closID;
  const group = closID === '/' ? mount : path.join(mount, closID ?? id);
  const made: string[] = [];
  try {
    let write = lines.length > 0;
    if (closID !== undefined && io.exists(group)) {
      // A group someone else set up: join it, and it must already say what we ask.
      write = false;
      const file = path.join(group, 'schemata');
      let current = '';
      if (lines.length) {
        try { current = io.read(file); } catch (e) { throw fail(FIELD, `read ${file}: ${describeErrno(errnoOf(e))}`); }
      }
      const differs = schemataMismatch(lines.map((l) => l.line), current);
      if (differs !== undefined) {
        const field = lines.find((l) => l.line === differs)!.field;
        throw fail(field, `resctrl group ${group} exists with other schemata ("${differs}" is not in "${current.trim().replace(/\n\s*/g, '; ')}")`);
      }
    } else if (closID !== undefined && lines.length === 0) {
      throw fail(`${FIELD}.closID`, `resctrl group ${group} does not exist (and no schemata were given to create it)`);
    } else {
      try {
        io.mkdir(group);
      } catch (e) {
        const errno = errnoOf(e);
        throw fail(closID === undefined ? FIELD : `${FIELD}.closID`, errno === 'EEXIST' ? `resctrl group ${group} already exists` : `create resctrl group ${group}: ${describeErrno(errno)}`);
      }
      made.push(group);
    }
    if (write) {
      const file = path.join(group, 'schemata');
      for (const { field, line } of lines) {
        try {
          io.write(file, `${line}\n`);
        } catch (e) {
          throw fail(field, `write "${line}" to ${file}: ${lastStatus(io, mount) ?? describeErrno(errnoOf(e))}`);
        }
      }
    }
    let monitor: string | undefined;
    if (rdt.enableMonitoring || rdt.enableCMT || rdt.enableMBM) {
      const field = `${FIELD}.${rdt.enableMonitoring ? 'enableMonitoring' : rdt.enableCMT ? 'enableCMT' : 'enableMBM'}`;
      if (!hasMonitoring(io, mount)) throw fail(field, `this host's resctrl has no monitoring (no ${mount}/info/*_MON)`, 'UNSUPPORTED');
      monitor = path.join(group, 'mon_groups', id);
      try {
        io.mkdir(monitor);
      } catch (e) {
        const errno = errnoOf(e);
        throw fail(field, `create monitoring group ${monitor}: ${errno === 'ENOSPC' ? 'no free monitoring IDs (RMIDs) left' : lastStatus(io, mount) ?? describeErrno(errno)}`);
      }
      made.push(monitor);
    }
    return { group, removeGroup: closID === undefined, ...(monitor ? { monitor } : {}) };
  } catch (e) {
    for (const dir of made.reverse()) try { io.rmdir(dir); } catch { /* reported by the leak check */ }
    throw e;
  }
}

/** The tasks files a container process writes "0" to, in order (the MON group's needs the CTRL_MON group's first). */
export function resctrlTasksFiles(rec: ResctrlRecord | undefined): string[] {
  if (!rec) return [];
  return [path.join(rec.group, 'tasks'), ...(rec.monitor ? [path.join(rec.monitor, 'tasks')] : [])];
}

/** What delete removes: the MON group, and the group when capsa named it after the container. */
export function removeIntelRdt(rec: ResctrlRecord | undefined, warn: (m: string) => void, io: ResctrlFs = realResctrlFs): void {
  if (!rec) return;
  for (const dir of [rec.monitor, rec.removeGroup ? rec.group : undefined]) {
    if (!dir) continue;
    try {
      io.rmdir(dir);
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') warn(`remove resctrl group ${dir}: ${describeErrno(errnoOf(e))}`);
    }
  }
}
