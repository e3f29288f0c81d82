// The corpus of real configs (test/fixtures/real-configs/): what containerd,
// podman and docker wrote for runc, captured by scripts/capture-real-configs.ts,
// with host-specific values made placeholders; and how a test turns an entry
// back into runnable bundles on this host.
//
// Placeholders (whole string values):
//   {{ROOTFS}}                the bundle's rootfs (absolute path)
//   {{HOST:file:NAME}}        a host file / dir the suite makes (bind sources:
//   {{HOST:dir:NAME}}           hosts, resolv.conf, shm, volumes...)
//   {{NETNS}}                 a network namespace made for the entry, by path
//   {{HOST_NS:TYPE}}          the runtime's own namespace of TYPE, by path
//                             (docker --network host: its bind of the host's netns)
//   {{SANDBOX_NS:TYPE}}       /proc/<pid>/ns/<TYPE> of the entry's first
//                             container (a pod's sandbox) while it runs
//   {{CGROUP}}                a cgroups path of the test's own
//   {{HOOK}}                  a hook program that reads its stdin and exits 0
// and inside strings {{SANDBOX}} stands for the capturing engine's temp dir.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Process, Spec } from '../../src/spec/types';
import { REPO_ROOT } from './rootfs';

export const CORPUS_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'real-configs');

export interface CorpusEntry {
  /** Where it came from (engine, version, the command or how it was written). */
  source: string;
  /** Created and started in this order; later ones may join the first one's namespaces. */
  configs: Spec[];
  /** The process.json the engine gave `exec` for the last container, if any. */
  exec?: Process;
}

export interface NamedEntry extends CorpusEntry {
  /** "podman/privileged" */
  name: string;
}

// ---- capture side ----

export interface CaptureRecord {
  config: Spec;
  /** Bind source / namespace path → what it was when captured ("file", "dir", "ns:net:[...]", ...). */
  kinds: Record<string, string>;
}

const NS_FILE: Record<string, string> = { network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', pid: 'pid', user: 'user', cgroup: 'cgroup', time: 'time' };

/** Paths that are the same on every host (kept as they are). */
const SYSTEM_PATH = /^\/(dev|proc|sys)(\/|$)/;

function replaceDeep(v: unknown, fn: (s: string) => string): unknown {
  if (typeof v === 'string') return fn(v);
  if (Array.isArray(v)) return v.map((x) => replaceDeep(x, fn));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replaceDeep(x, fn)]));
  return v;
}

function normalizeOne(rec: CaptureRecord, sandboxDir: string, sandboxPids: Set<string>): Spec {
  const c = JSON.parse(JSON.stringify(rec.config)) as Spec;
  c.root = { ...c.root!, path: '{{ROOTFS}}' };
  const used = new Set<string>();
  for (const m of c.mounts ?? []) {
    if (!m.source?.startsWith('/') || SYSTEM_PATH.test(m.source)) continue;
    const kind = rec.kinds[m.source] === 'dir' ? 'dir' : 'file';
    let name = path.basename(m.source).replace(/[^A-Za-z0-9._-]/g, '_') || 'root';
    for (let i = 2; used.has(name); i++) name = `${path.basename(m.source)}-${i}`;
    used.add(name);
    m.source = `{{HOST:${kind}:${name}}}`;
  }
  for (const n of c.linux?.namespaces ?? []) {
    if (!n.path) continue;
    const proc = /^\/proc\/(\d+)\/ns\/(\w+)$/.exec(n.path);
    if (rec.kinds[n.path] === 'ns-host') n.path = `{{HOST_NS:${n.type}}}`;
    else if (/^(\/var)?\/run\/netns\//.test(n.path)) n.path = '{{NETNS}}';
    else if (proc) { sandboxPids.add(proc[1]!); n.path = `{{SANDBOX_NS:${proc[2]}}}`; } else throw new Error(`namespace path ${n.path}: no placeholder for it`);
  }
  if (c.linux?.cgroupsPath !== undefined) c.linux.cgroupsPath = '{{CGROUP}}';
  for (const list of Object.values(c.hooks ?? {})) for (const h of list ?? []) h.path = '{{HOOK}}';
  return replaceDeep(c, (s) => s.split(sandboxDir).join('{{SANDBOX}}')) as Spec;
}

/** Turns what the wrapper recorded for one scenario into a corpus entry; throws if a host path is left. */
export function normalizeCaptured(records: CaptureRecord[], exec: Process | undefined, sandboxDir: string): CorpusEntry {
  const pids = new Set<string>();
  const configs = records.map((r) => normalizeOne(r, sandboxDir, pids));
  const entry: CorpusEntry = { source: '', configs, ...(exec ? { exec: replaceDeep(exec, (s) => s.split(sandboxDir).join('{{SANDBOX}}')) as Process } : {}) };
  const text = JSON.stringify(entry);
  for (const bad of [/\/proc\/\d+\//, /\/run\/containerd\//, /\/var\/lib\/(containers|docker|containerd)\//, /capsa-test-engines-\d+/]) {
    const m = bad.exec(text);
    if (m) throw new Error(`host-specific value left in the entry: ...${text.slice(Math.max(0, m.index - 80), m.index + 80)}...`);
  }
  return entry;
}

// ---- test side ----

/** Every corpus entry, by relative name ("containerd-cri/podnetwork"), sorted. */
export function loadCorpus(dir = CORPUS_DIR): NamedEntry[] {
  const out: NamedEntry[] = [];
  const walk = (d: string) => {
    for (const f of fs.readdirSync(d).sort()) {
      const p = path.join(d, f);
      if (fs.statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.json')) out.push({ name: path.relative(dir, p).replace(/\.json$/, ''), ...(JSON.parse(fs.readFileSync(p, 'utf8')) as CorpusEntry) });
    }
  };
  walk(dir);
  return out;
}

export interface Fill {
  rootfs: string;
  /** Where {{HOST:...}} files and dirs are made. */
  hostDir: string;
  netns?: string;
  sandboxPid?: number;
  cgroup: string;
  hook: string;
}

/** The placeholders a config uses ("NETNS", "SANDBOX_NS", "HOST", ...). */
export function placeholdersOf(v: unknown): Set<string> {
  const found = new Set<string>();
  replaceDeep(v, (s) => { for (const m of s.matchAll(/\{\{([A-Z_]+)[:}]/g)) found.add(m[1]!); return s; });
  return found;
}

/** The value of one placeholder ("{{HOST:file:hosts}}"); host files and dirs are made as needed. */
function placeholderValue(token: string, fill: Fill): string {
  if (token === '{{ROOTFS}}') return fill.rootfs;
  if (token === '{{CGROUP}}') return fill.cgroup;
  if (token === '{{HOOK}}') return fill.hook;
  if (token === '{{SANDBOX}}') return fill.hostDir;
  const hostNs = /^\{\{HOST_NS:(\w+)\}\}$/.exec(token);
  if (hostNs) return `/proc/${process.pid}/ns/${NS_FILE[hostNs[1]!] ?? hostNs[1]}`;
  if (token === '{{NETNS}}') {
    if (!fill.netns) throw new Error('the entry needs a network namespace ({{NETNS}})');
    return fill.netns;
  }
  const ns = /^\{\{SANDBOX_NS:(\w+)\}\}$/.exec(token);
  if (ns) {
    if (!fill.sandboxPid) throw new Error(`${token} before the sandbox runs`);
    return `/proc/${fill.sandboxPid}/ns/${ns[1]}`;
  }
  const host = /^\{\{HOST:(file|dir):([^}]+)\}\}$/.exec(token);
  if (host) {
    const p = path.join(fill.hostDir, host[2]!.replace(/\//g, '_'));
    fs.mkdirSync(fill.hostDir, { recursive: true, mode: 0o755 });
    if (!fs.existsSync(p)) {
      if (host[1] === 'dir') fs.mkdirSync(p, { recursive: true, mode: 0o755 });
      else fs.writeFileSync(p, '', { mode: 0o644 });
    }
    return p;
  }
  return token;
}

const PLACEHOLDER = /\{\{[A-Z_]+(?::[^{}]*)?\}\}/g;

/** A deep copy of `config` with the placeholders filled. */
export function fillConfig<T>(config: T, fill: Fill): T {
  return replaceDeep(config, (s) => s.replace(PLACEHOLDER, (t) => placeholderValue(t, fill))) as T;
}

/** The same for config text that may not parse (a fuzzed variant): placeholders inside JSON strings. */
export function fillText(text: string, fill: Fill): string {
  return text.replace(PLACEHOLDER, (t) => JSON.stringify(placeholderValue(t, fill)).slice(1, -1));
}
