// Running one corpus entry (or a variant of one) through a runtime's CLI the
// way an engine does — create, start, exec, kill, delete — and recording what
// happened at each step and what the container saw from inside (a report the
// entry's last container prints with testinit: hostname, ids, capabilities,
// mounts, sysctls, cgroup limits, devices, namespaces). Run through capsa and
// through runc, two results are compared field by field.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Process, Spec } from '../../src/spec/types';
import { runCommand, type RunResult } from './capsa';
import { parseMountinfo } from './proc';
import { fillConfig, fillText, placeholdersOf, type CorpusEntry } from './real-configs';
import { removeTestDir, sharedTestRootfs, tempDir } from './rootfs';

export interface Runtime {
  name: 'capsa' | 'runc';
  bin: string;
  root: string;
}

export interface StepResult {
  code: number | null;
  /** The last line of stderr (the error, when it failed). */
  error: string;
}

export interface EntryResult {
  create: StepResult;
  start?: StepResult;
  /** The report, by section ("hostname", "mounts", ...), normalized. */
  report?: Record<string, string[]>;
  exec?: StepResult & { stdout: string };
  delete?: StepResult;
  /** Set when the sandbox of a pod entry could not be run (nothing else was tried). */
  sandbox?: StepResult;
}

const REPORT_END = '== end';

/**
 * The entry's last config with the report as its process (busybox sh and
 * testinit from the test rootfs), placeholders left in: what runEntry runs,
 * and what a fuzzer mutates.
 */
export function reportConfig(entry: CorpusEntry): Spec {
  const spec = JSON.parse(JSON.stringify(entry.configs[entry.configs.length - 1])) as Spec;
  spec.process = { ...spec.process!, args: ['/bin/sh', '-c', reportScript(Object.keys(spec.linux?.sysctl ?? {}))], terminal: false };
  return spec;
}

function reportScript(sysctls: string[]): string {
  const t = '/bin/testinit';
  return [
    `echo "== hostname"; ${t} hostname`,
    `echo "== domainname"; ${t} domainname`,
    `echo "== id"; ${t} id`,
    `echo "== caps"; ${t} caps`,
    `echo "== nnp"; ${t} nnp`,
    `echo "== seccomp"; ${t} seccomp`,
    `echo "== umask"; ${t} umask`,
    `echo "== cwd"; ${t} cwd`,
    `echo "== env"; ${t} env`,
    `echo "== rlimits"; for r in NOFILE NPROC CORE MEMLOCK STACK; do echo "$r $(${t} rlimit $r)"; done`,
    `echo "== oom"; ${t} oom`,
    `echo "== ns"; for n in ipc mnt net pid uts cgroup user time; do echo "$n $(${t} readlink /proc/self/ns/$n 2>&1)"; done`,
    `echo "== mounts"; ${t} mounts`,
    `echo "== sysctl"; for k in ${sysctls.map((k) => `'${k.replace(/'/g, '')}'`).join(' ')}; do echo "$k=$(${t} sysctl "$k" 2>&1)"; done`,
    'echo "== cgroup"; for f in memory/memory.limit_in_bytes memory.max pids/pids.max pids.max cpu/cpu.shares cpu.weight cpu/cpu.cfs_quota_us cpu.max; do [ -e /sys/fs/cgroup/$f ] && echo "$f $(cat /sys/fs/cgroup/$f)"; done',
    `echo "== dev"; for f in $(${t} ls /dev); do echo "$f $(${t} stat /dev/$f 2>&1)"; done`,
    `echo "${REPORT_END}"`,
    `exec ${t} sleep forever`,
  ].join('\n');
}

export interface Host {
  /** Namespace inode links of the test process ("net:[4026531840]") by type. */
  ns: Record<string, string>;
}

export function hostFacts(): Host {
  const ns: Record<string, string> = {};
  for (const t of ['ipc', 'mnt', 'net', 'pid', 'uts', 'cgroup', 'user', 'time']) {
    try { ns[t] = fs.readlinkSync(`/proc/self/ns/${t}`); } catch { /* not on this kernel */ }
  }
  return { ns };
}

/** Mount propagation fields without their numbers: "shared", "master", "unbindable". */
const propagationKinds = (optional: string[]) => optional.map((f) => f.split(':')[0]).sort().join(',') || 'private';

function normalizeReport(text: string, host: Host, sandboxNs: Record<string, string>, netnsLink: string | undefined): Record<string, string[]> {
  const sections: Record<string, string[]> = {};
  let cur = '';
  for (const line of text.split('\n')) {
    const h = /^== (\w+)$/.exec(line);
    if (h) { cur = h[1]!; sections[cur] = []; continue; }
    if (cur && line !== '') sections[cur]!.push(line);
  }
  delete sections.end;
  if (sections.mounts) {
    sections.mounts = parseMountinfo(sections.mounts.join('\n') + '\n')
      .map((m) => `${m.mountpoint} ${m.fstype} ${[...m.opts].sort().join(',')} ${propagationKinds(m.optional)}`).sort();
  }
  if (sections.ns) {
    sections.ns = sections.ns.map((l) => {
      const [type, link] = l.split(' ');
      const who = link === host.ns[type!] ? 'host' : link === sandboxNs[type!] ? 'sandbox' : link === netnsLink ? 'netns' : /\[\d+\]/.test(link ?? '') ? 'own' : link;
      return `${type} ${who}`;
    });
  }
  if (sections.env) sections.env.sort();
  return sections;
}

export interface RunEntryOptions {
  /** Index of this run, for unique ids and cgroups. */
  seq: number;
  host: Host;
  /** Keep the entry's own process args instead of the report (corpus lifecycle only). */
  timeoutMs?: number;
}

function last(stderr: string): string {
  return stderr.trim().split('\n').pop() ?? '';
}

/** Runs `args` on the runtime with stdout/stderr to files (a created container inherits them). */
async function rt(runtime: Runtime, args: string[], outFile: string, timeoutMs = 30_000): Promise<RunResult> {
  const out = fs.openSync(outFile, 'w');
  const errFile = `${outFile}.err`;
  const err = fs.openSync(errFile, 'w');
  const child = spawn(runtime.bin, ['--root', runtime.root, ...args], { stdio: ['ignore', out, err] });
  fs.closeSync(out);
  fs.closeSync(err);
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, timeoutMs);
    child.on('exit', (c) => { clearTimeout(timer); resolve(c); });
    child.on('error', () => { clearTimeout(timer); resolve(127); });
  });
  return { code, signal: null, stdout: fs.readFileSync(outFile, 'utf8'), stderr: fs.readFileSync(errFile, 'utf8') };
}

function stateOf(runtime: Runtime, id: string): { pid: number; status: string } | undefined {
  try {
    return JSON.parse(execFileSync(runtime.bin, ['--root', runtime.root, 'state', id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { pid: number; status: string };
  } catch {
    return undefined;
  }
}

/**
 * Runs an entry: every config but the last is started as it is (a pod's
 * sandbox: it sleeps); the last one runs the report instead of its own
 * process, then the entry's exec process.json, then is killed and deleted.
 * `configs` may be already mutated (a fuzzed variant).
 */
export async function runEntry(runtime: Runtime, entry: CorpusEntry, opts: RunEntryOptions, lastText?: string): Promise<EntryResult> {
  const work = tempDir(`diff-${runtime.name}`);
  fs.chmodSync(work, 0o755);
  const ids: string[] = [];
  let netns: string | undefined;
  const hook = path.join(work, 'hook');
  fs.writeFileSync(hook, '#!/bin/sh\ncat >/dev/null\nexit 0\n', { mode: 0o755 });
  try {
    if (entry.configs.some((c) => placeholdersOf(c).has('NETNS'))) {
      netns = `capsa-test-diff-${process.pid}-${opts.seq}-${runtime.name}`;
      execFileSync('ip', ['netns', 'add', netns]);
    }
    const netnsPath = netns ? `/run/netns/${netns}` : undefined;
    const netnsLink = netnsPath ? nsLinkOf(netnsPath) : undefined;
    let sandboxPid: number | undefined;
    const sandboxNs: Record<string, string> = {};
    for (let i = 0; i < entry.configs.length; i++) {
      const isLast = i === entry.configs.length - 1;
      const id = `capsa-test-diff-${process.pid}-${opts.seq}-${i}-${runtime.name}`;
      ids.push(id);
      const bundle = path.join(work, `b${i}`);
      fs.mkdirSync(bundle, { mode: 0o755 });
      const fill = {
        rootfs: sharedTestRootfs(), hostDir: path.join(work, 'host'), netns: netnsPath, sandboxPid,
        cgroup: `/capsa-test-diff-${process.pid}-${opts.seq}-${i}-${runtime.name}`, hook,
      };
      const text = !isLast ? JSON.stringify(fillConfig(entry.configs[i]!, fill))
        : lastText !== undefined ? fillText(lastText, fill) : JSON.stringify(fillConfig(reportConfig(entry), fill));
      fs.writeFileSync(path.join(bundle, 'config.json'), text);
      const out = path.join(work, `out${i}`);
      const create = await rt(runtime, ['create', '--bundle', bundle, id], out);
      const createRes = { code: create.code, error: last(create.stderr) };
      if (!isLast) {
        if (create.code !== 0) return { create: createRes, sandbox: createRes };
        const start = await rt(runtime, ['start', id], `${out}.start`);
        if (start.code !== 0) return { create: createRes, sandbox: { code: start.code, error: last(start.stderr) } };
        sandboxPid = stateOf(runtime, id)?.pid;
        for (const t of ['ipc', 'mnt', 'net', 'pid', 'uts', 'cgroup', 'user', 'time']) {
          try { sandboxNs[t] = fs.readlinkSync(`/proc/${sandboxPid}/ns/${t}`); } catch { /* gone */ }
        }
        continue;
      }
      const result: EntryResult = { create: createRes };
      if (create.code !== 0) return result;
      const start = await rt(runtime, ['start', id], `${out}.start`);
      result.start = { code: start.code, error: last(start.stderr) };
      if (start.code === 0) {
        const text = await waitForReport(out, runtime, id);
        result.report = normalizeReport(text, opts.host, sandboxNs, netnsLink);
        if (entry.exec) {
          const proc = path.join(work, 'process.json');
          fs.writeFileSync(proc, JSON.stringify(entry.exec as Process));
          const ex = await rt(runtime, ['exec', '--process', proc, id], `${out}.exec`);
          result.exec = { code: ex.code, error: last(ex.stderr), stdout: ex.stdout };
        }
        await rt(runtime, ['kill', id, 'KILL'], `${out}.kill`);
      }
      const del = await rt(runtime, ['delete', '--force', id], `${out}.delete`);
      result.delete = { code: del.code, error: last(del.stderr) };
      ids.pop();
      return result;
    }
    throw new Error('an entry with no configs');
  } finally {
    for (const id of ids.reverse()) await runCommand(runtime.bin, ['--root', runtime.root, 'delete', '--force', id]).catch(() => {});
    if (netns) execFileSync('ip', ['netns', 'delete', netns]);
    for (const m of mountsBelow(work)) { try { execFileSync('umount', ['-l', m]); } catch { /* gone */ } }
    removeTestDir(work);
  }
}

function nsLinkOf(p: string): string | undefined {
  try {
    // An nsfs file's inode is the namespace's: the same number readlink shows inside.
    return `net:[${fs.statSync(p).ino}]`;
  } catch {
    return undefined;
  }
}

function mountsBelow(dir: string): string[] {
  return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).map((m) => m.mountpoint).filter((m) => m.startsWith(dir + '/')).sort((a, b) => b.length - a.length);
}

/** Waits (bounded) until the report is complete or the process is gone; returns what it wrote. */
async function waitForReport(file: string, runtime: Runtime, id: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = fs.readFileSync(file, 'utf8');
    if (text.includes(REPORT_END) || Date.now() > deadline) return text;
    const st = stateOf(runtime, id);
    if (!st || st.status === 'stopped') return fs.readFileSync(file, 'utf8');
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- comparing ----

export interface Difference {
  /** "create", "start", "report.mounts", "exec.stdout", ... */
  where: string;
  /** For a report line: its key (first word: a mountpoint, a device, a sysctl, an rlimit...). */
  key?: string;
  capsa: string;
  runc: string;
}

const outcome = (s: StepResult | undefined) => (s === undefined ? 'not run' : s.code === 0 ? 'ok' : `failed (${s.code})`);

/** Report lines by key; several lines may share one (stacked mounts): numbered in order. */
function keyed(lines: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of lines) {
    const k = l.split(/[ =]/)[0] ?? '';
    let key = k;
    for (let n = 2; out.has(key); n++) key = `${k}#${n}`;
    out.set(key, l);
  }
  return out;
}

/** Where the two results differ: outcomes of each step, the report line by line, then exec's output. */
export function compareResults(capsa: EntryResult, runc: EntryResult): Difference[] {
  const out: Difference[] = [];
  const step = (where: string, a: StepResult | undefined, b: StepResult | undefined) => {
    if (outcome(a) !== outcome(b)) out.push({ where, capsa: `${outcome(a)}${a?.error ? `: ${a.error}` : ''}`, runc: `${outcome(b)}${b?.error ? `: ${b.error}` : ''}` });
  };
  step('sandbox', capsa.sandbox, runc.sandbox);
  step('create', capsa.create, runc.create);
  // What follows a step that went differently differs because of it.
  if (out.length) return out;
  step('start', capsa.start, runc.start);
  if (out.length) return out;
  if (capsa.report && runc.report) {
    for (const section of new Set([...Object.keys(capsa.report), ...Object.keys(runc.report)])) {
      const a = keyed(capsa.report[section] ?? []);
      const b = keyed(runc.report[section] ?? []);
      for (const key of new Set([...a.keys(), ...b.keys()])) {
        if (a.get(key) !== b.get(key)) out.push({ where: `report.${section}`, key, capsa: a.get(key) ?? '(missing)', runc: b.get(key) ?? '(missing)' });
      }
    }
  }
  step('exec', capsa.exec, runc.exec);
  if (capsa.exec && runc.exec && capsa.exec.code === 0 && capsa.exec.stdout !== runc.exec.stdout) out.push({ where: 'exec.stdout', capsa: capsa.exec.stdout.trim(), runc: runc.exec.stdout.trim() });
  step('delete', capsa.delete, runc.delete);
  return out;
}

export const formatDifference = (d: Difference) => `${d.where}${d.key ? ` [${d.key}]` : ''}: capsa ${JSON.stringify(d.capsa)} / runc ${JSON.stringify(d.runc)}`;

// ---- the listed divergences (test/fixtures/real-configs/divergences.md) ----

export interface Divergence {
  id: string;
  title: string;
  where: RegExp;
  capsa: RegExp;
  runc: RegExp;
  /** Only for entries / variants whose description matches (the fuzzer's "readonly-path(/etc)", an entry's name). */
  when?: RegExp;
}

/**
 * Parses divergences.md: each "## Dn — title" section with "- where:",
 * "- capsa:" and "- runc:" lines, each holding one regular expression in
 * backticks, matched against a difference's place and each side's text.
 */
export function loadDivergences(file: string): Divergence[] {
  const out: Divergence[] = [];
  for (const section of fs.readFileSync(file, 'utf8').split(/^## /m).slice(1)) {
    const title = section.split('\n')[0]!.trim();
    const field = (name: string, optional = false) => {
      const m = new RegExp(`^- ${name}: \`([^\`]*)\``, 'm').exec(section);
      if (!m) {
        if (optional) return undefined;
        throw new Error(`divergences.md: "${title}" has no "- ${name}: \`REGEX\`" line`);
      }
      return new RegExp(m[1]!);
    };
    out.push({ id: title.split(' ')[0]!, title, where: field('where')!, capsa: field('capsa')!, runc: field('runc')!, when: field('when', true) });
  }
  return out;
}

/** The listed divergence that covers `d`, for an entry or variant described by `context`. */
export function listedAs(d: Difference, list: readonly Divergence[], context = ''): Divergence | undefined {
  const where = `${d.where}${d.key ? ` ${d.key}` : ''}`;
  return list.find((x) => x.where.test(where) && x.capsa.test(d.capsa) && x.runc.test(d.runc) && (!x.when || x.when.test(context)));
}

export type { Spec };

// ---- variants runc must not be given ----

const IPC_SYSCTL = /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs[./]mqueue[./])/;

/**
 * Why runc 1.1.5 would change the host itself with this config (so the test
 * must not run it), or undefined. runc mounts in the runtime's mount
 * namespace when the config has none of its own (and makes the host's "/"
 * rslave), and sets hostname, domainname and IPC sysctls in a uts or ipc
 * namespace joined by path even when that is the host's own (capsa refuses
 * those: real-client-failures.test.ts).
 */
export function runcWouldChangeHost(text: string): string | undefined {
  let c: Spec;
  try {
    c = JSON.parse(text) as Spec;
  } catch {
    return undefined; // runc refuses what does not parse
  }
  if (!c || typeof c !== 'object' || !c.linux || typeof c.linux !== 'object') return undefined;
  const list = Array.isArray(c.linux.namespaces) ? c.linux.namespaces : c.linux.namespaces == null ? [] : undefined;
  if (!list) return undefined;
  const entry = (type: string) => list.find((n) => n && typeof n === 'object' && n.type === type);
  const hostJoined = (type: string) => typeof entry(type)?.path === 'string' && entry(type)!.path!.startsWith('{{HOST_NS:');
  const mnt = entry('mount');
  if (!mnt || hostJoined('mount')) return 'no mount namespace of its own: runc would mount in the host\'s and make its / rslave';
  const sysctls = c.linux.sysctl && typeof c.linux.sysctl === 'object' ? Object.keys(c.linux.sysctl) : [];
  if (hostJoined('uts') && (c.hostname || sysctls.some((k) => /^kernel[./](domainname|hostname)$/.test(k)))) return 'the host\'s uts namespace joined by path: runc would set the host\'s hostname or domainname';
  if (hostJoined('ipc') && sysctls.some((k) => IPC_SYSCTL.test(k))) return 'the host\'s ipc namespace joined by path: runc would set the host\'s IPC sysctls';
  return undefined;
}

/** What runcWouldChangeHost guards: read before and after capsa runs such a variant. */
export function hostState(): string[] {
  const slash = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountpoint === '/').map((m) => `/ ${m.optional.join(',')}`);
  const sys = (k: string) => { try { return `${k}=${fs.readFileSync(`/proc/sys/${k}`, 'utf8').trim()}`; } catch { return `${k}=?`; } };
  return [...slash, ...['kernel/hostname', 'kernel/domainname', 'kernel/shmmax', 'kernel/msgmax', 'kernel/shm_rmid_forced', 'fs/mqueue/queues_max'].map(sys)];
}
