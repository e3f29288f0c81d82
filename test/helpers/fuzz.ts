// Seeded hostile input for capsa: a small PRNG, a mutator of a valid
// config.json (types swapped, fields removed, huge strings and numbers,
// unicode, deep nesting, unknown fields, arrays where objects are expected,
// negative and huge ids, NUL bytes) and a mutator of CLI argument lists.
// Everything is a pure function of the seed, so a failing case is replayed
// by its seed alone.
//
// The generated values are chosen to be hostile to capsa, not to the host:
// paths are relative junk, the nonexistent canary ESCAPE_CANARY, or "/" (which
// capsa refuses as a rootfs and which only ever lands inside the container's
// own mount namespace otherwise); no real host file is ever named.

/** sfc32: small, fast, good enough for fuzzing, and identical on every platform. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** [0, 1) */
  float(): number { return this.u32() / 4294967296; }
  /** [0, n) */
  int(n: number): number { return Math.floor(this.float() * n); }
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  chance(p: number): boolean { return this.float() < p; }
  pick<T>(items: readonly T[]): T { return items[this.int(items.length)]!; }
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
  /** A child generator, so one case's draws do not shift the next case's. */
  fork(): Rng { return new Rng(this.u32()); }
}

/** A path that must never appear on the host: capsa resolving a config path outside the rootfs would make it. */
export const ESCAPE_CANARY = '/tmp/capsa-test-escape-canary';

const UNICODE = [
  'é', 'ß', 'Ω', 'ж', '中文', '日本語', '한국어', 'عربى', 'עברית', '🙂', '👨‍👩‍👧', '🏳️‍🌈', '\u200b', '\u200f', '\u202e', '\ufeff',
  'e\u0301', '\u0000', '\u0001', '\u001b[31m', '\ud800', '\udfff', '\uffff', '\n', '\r\n', '\t', '"', '\\', '%s%n', '${HOME}', '$(id)', '`id`',
];

export const INTERESTING_NUMBERS = [
  0, -0, 1, -1, 2, 7, 255, 256, 1000, 65535, 65536, 0x7fffffff, 0x80000000, -0x80000000, 0xffffffff, 0x100000000,
  -0x100000000, 2 ** 53, -(2 ** 53), 2 ** 63, 2 ** 64, 1e20, 1e308, -1e308, 5e-324, 0.5, 1.5, -0.5, 3.14159,
];

export function junkString(rng: Rng, opts: { slashes?: boolean; nul?: boolean; maxLength?: number } = {}): string {
  const kind = rng.int(12);
  let s: string;
  switch (kind) {
    case 0: s = ''; break;
    case 1: s = 'x'.repeat(rng.pick([255, 256, 4096, 4097, 65536, 300_000])); break;
    case 2: s = rng.pick(UNICODE).repeat(rng.range(1, 40)); break;
    case 3: s = Array.from({ length: rng.range(1, 12) }, () => rng.pick(UNICODE)).join(''); break;
    case 4: s = String(rng.pick(INTERESTING_NUMBERS)); break;
    case 5: s = rng.pick(['true', 'false', 'null', 'undefined', 'NaN', 'Infinity', '[]', '{}', '-', '--', '-1', '0x10', '1e3', ' ', '  x  ']); break;
    case 6: s = rng.pick(['.', '..', '...', '/', '//', 'a/b', './x', '../x-nonexistent', ESCAPE_CANARY, `/../../..${ESCAPE_CANARY}`, `../../../../../..${ESCAPE_CANARY}`]); break;
    case 7: s = `capsa-test-fuzz-${rng.u32().toString(36)}`; break;
    case 8: s = Array.from({ length: rng.range(1, 64) }, () => String.fromCharCode(rng.range(0x20, 0x7e))).join(''); break;
    case 9: s = Array.from({ length: rng.range(1, 32) }, () => String.fromCharCode(rng.range(0, 0xffff))).join(''); break;
    case 10: s = `CAP_${rng.pick(['SYS_ADMIN', 'NET_RAW', 'BOGUS', 'sys_admin', '', 'ALL'])}`; break;
    default: s = `RLIMIT_${rng.pick(['NOFILE', 'NPROC', 'BOGUS', 'nofile', ''])}`; break;
  }
  if (!opts.slashes) s = s.replace(/\//g, '_');
  if (opts.nul === false) s = s.replace(/\0/g, '\u0001');
  if (opts.maxLength !== undefined) s = s.slice(0, opts.maxLength);
  return s;
}

// Deep nesting is spliced into the text at the end (JSON.stringify and the
// mutator's own walks would overflow the test's stack): the tree holds a
// placeholder string that serialize() replaces.
const DEEP_MARK = '\u0007capsa-fuzz-deep:';

function deepNest(rng: Rng): unknown {
  return `${DEEP_MARK}${rng.pick([64, 1000, 10_000, 100_000])}:${rng.chance(0.5) ? 'a' : 'o'}`;
}

function serialize(v: unknown): string {
  return JSON.stringify(v).replace(/"\\u0007capsa-fuzz-deep:(\d+):([ao])"/g, (_, n: string, kind: string) => {
    const depth = Number(n);
    return kind === 'a' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}"x"${'}'.repeat(depth)}`;
  });
}

function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 5 : 8)) {
    case 0: return null;
    case 1: return rng.chance(0.5);
    case 2: return rng.pick(INTERESTING_NUMBERS);
    case 3: return junkString(rng, { slashes: true });
    case 4: return rng.chance(0.5) ? [] : {};
    case 5: return Array.from({ length: rng.range(1, 4) }, () => randomValue(rng, depth + 1));
    case 6: return Object.fromEntries(Array.from({ length: rng.range(1, 4) }, () => [junkString(rng), randomValue(rng, depth + 1)]));
    default: return deepNest(rng);
  }
}

/** A value of a different JSON type than `v`. */
function otherType(rng: Rng, v: unknown): unknown {
  const type = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  for (;;) {
    const candidate = randomValue(rng, 3);
    const t = candidate === null ? 'null' : Array.isArray(candidate) ? 'array' : typeof candidate;
    if (t !== type) return candidate;
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Container = Json[] | { [k: string]: Json };
interface Slot { parent: Container; key: string | number; path: string }

/** Every value in the tree with its parent, so a mutation can replace or remove it. */
function slots(root: Json): Slot[] {
  const out: Slot[] = [];
  const walk = (v: Json, p: string) => {
    if (Array.isArray(v)) v.forEach((x, i) => { out.push({ parent: v, key: i, path: `${p}[${i}]` }); walk(x, `${p}[${i}]`); });
    else if (v && typeof v === 'object') for (const k of Object.keys(v)) { out.push({ parent: v, key: k, path: p ? `${p}.${k}` : k }); walk(v[k]!, p ? `${p}.${k}` : k); }
  };
  walk(root, '');
  return out;
}

function get(s: Slot): Json { return (s.parent as Record<string | number, Json>)[s.key]!; }
function set(s: Slot, v: unknown): void { (s.parent as Record<string | number, unknown>)[s.key] = v; }
function remove(s: Slot): void {
  if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
  else delete (s.parent as Record<string, Json>)[s.key as string];
}

const ID_FIELD = /(^|\.)(uid|gid|containerID|hostID|size|additionalGids\[\d+\]|major|minor|fileMode|umask|oomScoreAdj|limit|reservation|swap|shares|quota|period|cpus|mems|hard|soft)$/;

/** Mutation kinds, named in each case's description. */
export const CONFIG_MUTATIONS = [
  'swap-type', 'remove', 'huge-string', 'huge-number', 'unicode', 'deep-nesting', 'unknown-field',
  'array-for-object', 'object-for-array', 'id-extreme', 'nul-byte', 'empty', 'duplicate-entry', 'interesting-string',
] as const;
export type ConfigMutation = typeof CONFIG_MUTATIONS[number];

export interface MutatedConfig {
  /** The config.json text (what capsa reads). */
  text: string;
  /** "mutation@path" for each mutation applied. */
  applied: string[];
}

/** Applies 1–4 random mutations to a deep copy of `base`. */
export function mutateConfig(base: unknown, rng: Rng): MutatedConfig {
  const doc = { root: JSON.parse(JSON.stringify(base)) as Json };
  const applied: string[] = [];
  const n = rng.pick([1, 1, 1, 2, 2, 3, 4]);
  for (let i = 0; i < n; i++) {
    const all = slots(doc.root);
    const top: Slot = { parent: doc as unknown as Container, key: 'root', path: '' };
    const s = all.length === 0 || rng.chance(0.03) ? top : rng.pick(all);
    const v = get(s);
    const m = rng.pick(CONFIG_MUTATIONS);
    switch (m) {
      case 'swap-type': set(s, otherType(rng, v)); break;
      case 'remove': if (s === top) set(s, null); else remove(s); break;
      case 'huge-string': set(s, 'A'.repeat(rng.pick([4096, 65536, 1 << 20, 4 << 20]))); break;
      case 'huge-number': set(s, rng.pick([2 ** 53, 2 ** 63, 2 ** 64, 1e308, -1e308, -(2 ** 63), 1e21, 123456789012345680000])); break;
      case 'unicode': set(s, typeof v === 'string' ? v + rng.pick(UNICODE) + junkString(rng) : Array.from({ length: rng.range(1, 8) }, () => rng.pick(UNICODE)).join('')); break;
      case 'deep-nesting': set(s, deepNest(rng)); break;
      case 'unknown-field': {
        const target = v && typeof v === 'object' && !Array.isArray(v) ? v : (doc.root && typeof doc.root === 'object' && !Array.isArray(doc.root) ? doc.root : undefined);
        if (target) (target as Record<string, unknown>)[rng.chance(0.5) ? `x-fuzz-${rng.u32().toString(36)}` : junkString(rng)] = randomValue(rng);
        else set(s, randomValue(rng));
        break;
      }
      case 'array-for-object': set(s, v && typeof v === 'object' && !Array.isArray(v) ? Object.values(v) : [v]); break;
      case 'object-for-array': set(s, Array.isArray(v) ? Object.fromEntries(v.map((x, j) => [String(j), x])) : { value: v }); break;
      case 'id-extreme': {
        const ids = all.filter((x) => ID_FIELD.test(x.path));
        const target = ids.length ? rng.pick(ids) : s;
        set(target, rng.pick([-1, -2, -65536, 0xffffffff, 0xfffffffe, 0x100000000, 2 ** 31, 2 ** 53, 1e20, 0.5, -0.0]));
        applied.push(`${m}@${target.path || '(root)'}`);
        continue;
      }
      case 'nul-byte': set(s, typeof v === 'string' ? `${v.slice(0, 1)}\u0000${v.slice(1)}` : `nul\u0000byte`); break;
      case 'empty': set(s, Array.isArray(v) ? [] : v && typeof v === 'object' ? {} : ''); break;
      case 'duplicate-entry': if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 0, JSON.parse(JSON.stringify(v))); else set(s, [v, v]); break;
      case 'interesting-string': set(s, junkString(rng, { slashes: true })); break;
    }
    applied.push(`${m}@${s.path || '(root)'}`);
  }
  let text = serialize(doc.root);
  // Now and then the document itself is broken: truncated, trailing junk, not JSON.
  if (rng.chance(0.03)) {
    text = rng.pick([text.slice(0, rng.int(text.length)), `${text}x`, `${text}\n${text}`, '', 'null', '[]', '"config"', '\u0000', text.replace(/:/, ';')]);
    applied.push('broken-json');
  }
  return { text, applied };
}

// ---- CLI arguments ----

/** Tokens that are flags or values capsa knows, so mutations reach past the parser. */
const CLI_WORDS = [
  'create', 'start', 'state', 'kill', 'delete', 'run', 'exec', 'list', 'ps', 'pause', 'resume', 'events', 'update', 'spec', 'features', 'help',
  '--bundle', '-b', '--pid-file', '--console-socket', '--no-pivot', '--no-new-keyring', '--preserve-fds', '--force', '-f', '--all', '-a',
  '--format', 'json', 'table', '--quiet', '-q', '--detach', '-d', '--keep', '--tty', '-t', '--env', '-e', '--user', '-u', '--cwd', '--cap',
  '--stats', '--interval', '--memory', '--cpu-shares', '--pids-limit', '--cpu-quota', '--rootless', '--log-format', '--debug', '--help',
  '-h', '--version', '-v', 'KILL', 'TERM', 'SIGKILL', '9', '15', '0', '65', '-1', 'SIGRTMIN+3', '--', '-', '--=', '---', '-bx',
  '--preserve-fds=1', '--bundle=', '--force=maybe', '--memory=1k', '--pids-limit=-1', '--user=0:0', '--user=4294967296',
];

/** Verbs that would not return on their own (events without --stats, run/exec in the foreground of a long process) are kept out. */
const SAFE_EXEC_ARGS = ['/bin/testinit', 'true', 'echo', 'hi', 'exit', '3', 'id', 'false'];

export interface CliContext {
  /** A bundle whose process exits at once (safe for run in the foreground). */
  bundle: string;
  /** Container ids to aim at (existing, running, missing). */
  ids: readonly string[];
}

/** A valid argument list for one of capsa's verbs. */
export function baseArgs(rng: Rng, ctx: CliContext): string[] {
  const id = rng.pick(ctx.ids);
  switch (rng.int(14)) {
    case 0: return ['create', '--bundle', ctx.bundle, id];
    case 1: return ['start', id];
    case 2: return ['state', id];
    case 3: return ['kill', id, rng.pick(['KILL', 'TERM', 'HUP', '0'])];
    case 4: return ['delete', ...(rng.chance(0.5) ? ['--force'] : []), id];
    case 5: return ['run', '--detach', '--bundle', ctx.bundle, id];
    case 6: return ['exec', id, ...SAFE_EXEC_ARGS.slice(0, rng.range(1, 3))];
    case 7: return ['list', ...(rng.chance(0.5) ? ['--format', 'json'] : [])];
    case 8: return ['ps', id, ...(rng.chance(0.5) ? ['--format', 'json'] : [])];
    case 9: return [rng.pick(['pause', 'resume']), id];
    case 10: return ['events', '--stats', id];
    case 11: return ['update', rng.pick(['--memory', '--pids-limit', '--cpu-shares']), rng.pick(['1000000', '-1', '100', '0', '1g']), id];
    case 12: return ['spec', ...(rng.chance(0.3) ? ['--rootless'] : [])];
    default: return ['features'];
  }
}

// The kernel caps one argument at 128 KiB (MAX_ARG_STRLEN); longer ones
// would fail our spawn, not reach capsa.
const MAX_ARG = 100_000;

function junkArg(rng: Rng): string {
  return rng.chance(0.5) ? rng.pick(CLI_WORDS) : junkString(rng, { nul: false, maxLength: MAX_ARG });
}

/** Mutates an argument list (never adding --root, --log or a path outside the cwd). */
export function mutateArgs(args: readonly string[], rng: Rng): { args: string[]; applied: string[] } {
  const out = [...args];
  const applied: string[] = [];
  const n = rng.pick([1, 1, 2, 3]);
  for (let i = 0; i < n; i++) {
    const at = rng.int(out.length + 1);
    const m = rng.int(9);
    switch (m) {
      case 0: if (out.length) { out.splice(Math.min(at, out.length - 1), 1); applied.push(`drop@${at}`); } break;
      case 1: out.splice(at, 0, junkArg(rng)); applied.push(`insert@${at}`); break;
      case 2: if (out.length) { out[Math.min(at, out.length - 1)] = junkArg(rng); applied.push(`replace@${at}`); } break;
      case 3: if (out.length > 1) { const j = Math.min(at, out.length - 2); [out[j], out[j + 1]] = [out[j + 1]!, out[j]!]; applied.push(`swap@${j}`); } break;
      case 4: if (out.length) { const j = Math.min(at, out.length - 1); out.splice(j, 0, out[j]!); applied.push(`dup@${j}`); } break;
      case 5: out.splice(rng.int(out.length + 1)); applied.push('truncate'); break;
      case 6: if (out.length) { const j = Math.min(at, out.length - 1); out[j] = `${out[j]}=${junkString(rng, { nul: false, maxLength: MAX_ARG })}`; applied.push(`eq@${j}`); } break;
      case 7: out.splice(at, 0, 'x'.repeat(rng.pick([4096, MAX_ARG]))); applied.push(`huge@${at}`); break;
      default: out.splice(at, 0, rng.pick(['--log-format', '--debug', '--systemd-cgroup', '--rootless']), ...(rng.chance(0.5) ? [rng.pick(['json', 'text', 'xml', ''])] : [])); applied.push(`global@${at}`); break;
    }
  }
  // Keep the call finite and on the test's own files: events only with --stats,
  // run only detached, exec only with a command that exits, no absolute paths
  // other than the bundle and testinit.
  const safe = out.map((a) => (a.includes('/') && !a.startsWith('/tmp/capsa-test-') && a !== '/bin/testinit' ? a.replace(/\//g, '_') : a));
  if (safe.includes('events') && !safe.includes('--stats')) safe.splice(safe.indexOf('events') + 1, 0, '--stats');
  if (safe.includes('run') && !safe.some((a) => a === '-d' || a === '--detach')) safe.splice(safe.indexOf('run') + 1, 0, '--detach');
  return { args: safe, applied };
}

// ---- meaningful variants of a real config ----
//
// mutateConfig above makes hostile junk; the differential test against runc
// also needs configs that are valid (or almost) but different from what an
// engine wrote: namespaces dropped or joined, another propagation, user,
// capabilities, sysctls, mounts, devices, limits. Each variant says what it
// changed, and is a pure function of the seed.

type SpecLike = Record<string, any>;

const CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_KILL', 'CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SETUID', 'CAP_SETGID', 'CAP_SYS_ADMIN', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_MKNOD', 'CAP_AUDIT_WRITE', 'CAP_BOGUS'];
const SYSCTLS: [string, string][] = [
  ['net.ipv4.ip_forward', '1'], ['net.core.somaxconn', '512'], ['net.ipv4.ip_unprivileged_port_start', '0'], ['net.ipv4.ping_group_range', '0 2147483647'],
  ['kernel.shmmax', '68719476736'], ['kernel.msgmax', '16384'], ['fs.mqueue.queues_max', '128'], ['kernel.domainname', 'fuzz.example'],
  ['kernel.hostname', 'fuzz'], ['vm.swappiness', '10'], ['net/ipv4/conf/lo/forwarding', '1'], ['kernel.shm_rmid_forced', '1'],
];
const NS_TYPES = ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'];
const PROPAGATIONS = ['shared', 'slave', 'private', 'unbindable', 'rshared', 'rslave', 'rprivate', 'runbindable'];
const TMPFS_OPTIONS = ['ro', 'rw', 'nosuid', 'nodev', 'noexec', 'size=1m', 'mode=1777', 'mode=700', 'strictatime', 'noatime', 'uid=1000', 'gid=1000'];
const BIND_OPTIONS = ['rbind', 'bind', 'ro', 'rprivate', 'rslave', 'rshared', 'nosuid', 'noexec', 'nodev'];

/** Semantic mutation kinds, named in each variant's description. */
export const SEMANTIC_MUTATIONS = [
  'hostname', 'domainname', 'drop-namespace', 'add-namespace', 'rootfs-propagation', 'readonly-root', 'user', 'capabilities',
  'no-new-privileges', 'sysctl', 'tmpfs-mount', 'bind-mount', 'remove-mount', 'device', 'masked-path', 'readonly-path',
  'rlimit', 'oom-score-adj', 'cwd', 'env', 'resources',
] as const;

function linuxOf(s: SpecLike): SpecLike {
  s.linux ??= {};
  return s.linux as SpecLike;
}

/**
 * Applies 1–3 meaningful changes to a deep copy of `base` (a config with the
 * corpus' placeholders, e.g. {{HOST:dir:NAME}} for a bind source the suite makes).
 */
export function mutateSemantic(base: unknown, rng: Rng): { config: SpecLike; applied: string[] } {
  const s = JSON.parse(JSON.stringify(base)) as SpecLike;
  const applied: string[] = [];
  const n = rng.pick([1, 1, 2, 2, 3]);
  for (let i = 0; i < n; i++) {
    const m = rng.pick(SEMANTIC_MUTATIONS);
    const linux = linuxOf(s);
    const proc = (s.process ??= {}) as SpecLike;
    let what = '';
    switch (m) {
      case 'hostname': s.hostname = rng.pick(['fuzz-host', '', 'h'.repeat(64), 'with.dots-and-dashes']); what = JSON.stringify(s.hostname); break;
      case 'domainname': s.domainname = rng.pick(['fuzz.example', '', 'd'.repeat(64)]); what = JSON.stringify(s.domainname); break;
      case 'drop-namespace': {
        const t = rng.pick(NS_TYPES);
        linux.namespaces = (linux.namespaces ?? []).filter((x: SpecLike) => x.type !== t);
        what = t;
        break;
      }
      case 'add-namespace': {
        const t = rng.pick(['cgroup', 'time', 'ipc', 'uts', 'pid']);
        linux.namespaces = [...(linux.namespaces ?? []).filter((x: SpecLike) => x.type !== t), { type: t }];
        what = t;
        break;
      }
      case 'rootfs-propagation': linux.rootfsPropagation = rng.pick(PROPAGATIONS); what = linux.rootfsPropagation; break;
      case 'readonly-root': s.root = { ...(s.root ?? {}), readonly: !s.root?.readonly }; what = String(s.root.readonly); break;
      case 'user': {
        const uid = rng.pick([0, 1000, 65534]);
        proc.user = { uid, gid: rng.pick([0, 1000, 65534]), ...(rng.chance(0.5) ? { additionalGids: [rng.pick([5, 10, 1000])] } : {}), ...(rng.chance(0.3) ? { umask: rng.pick([0o022, 0o077, 0]) } : {}) };
        what = JSON.stringify(proc.user);
        break;
      }
      case 'capabilities': {
        const set = rng.pick(['bounding', 'effective', 'permitted', 'inheritable', 'ambient', 'all']);
        const cap = rng.pick(CAPS);
        const caps = (proc.capabilities ??= {}) as SpecLike;
        const sets = set === 'all' ? ['bounding', 'effective', 'permitted'] : [set];
        const add = rng.chance(0.5);
        for (const k of sets) caps[k] = add ? [...new Set([...(caps[k] ?? []), cap])] : (caps[k] ?? []).filter((c: string) => c !== cap);
        what = `${add ? '+' : '-'}${cap} ${set}`;
        break;
      }
      case 'no-new-privileges': proc.noNewPrivileges = !proc.noNewPrivileges; what = String(proc.noNewPrivileges); break;
      case 'sysctl': {
        const [k, v] = rng.pick(SYSCTLS);
        linux.sysctl = { ...(linux.sysctl ?? {}), [k]: v };
        what = `${k}=${v}`;
        break;
      }
      case 'tmpfs-mount': {
        const options = rng.shuffle(TMPFS_OPTIONS).slice(0, rng.range(0, 3));
        const dest = rng.pick(['/scratch', '/tmp', '/run/fuzz', '/etc/fuzz']);
        s.mounts = [...(s.mounts ?? []), { destination: dest, type: 'tmpfs', source: 'tmpfs', options }];
        what = `${dest} ${options.join(',')}`;
        break;
      }
      case 'bind-mount': {
        const options = rng.shuffle(BIND_OPTIONS).slice(0, rng.range(1, 3));
        const dest = rng.pick(['/data', '/mnt/vol', '/var/lib/fuzz']);
        s.mounts = [...(s.mounts ?? []), { destination: dest, type: 'bind', source: '{{HOST:dir:fuzzvol}}', options }];
        what = `${dest} ${options.join(',')}`;
        break;
      }
      case 'remove-mount': {
        const mounts = (s.mounts ?? []) as SpecLike[];
        if (mounts.length) {
          const j = rng.int(mounts.length);
          what = mounts[j]!.destination;
          mounts.splice(j, 1);
        }
        break;
      }
      case 'device': {
        const [type, major, minor] = rng.pick([['c', 1, 3], ['c', 1, 7], ['b', 7, 0], ['p', 0, 0], ['u', 1, 5]] as const);
        const fileMode = rng.pick([0o666, 0o600, 8630, 0o60660, 0o10644, 0o4755, undefined]);
        linux.devices = [...(linux.devices ?? []), { type, path: `/dev/fuzz${rng.int(3)}`, ...(type !== 'p' ? { major, minor } : {}), ...(fileMode !== undefined ? { fileMode } : {}), uid: rng.pick([0, 1000]), gid: 0 }];
        what = `${type} ${fileMode?.toString(8)}`;
        break;
      }
      case 'masked-path': {
        const p = rng.pick(['/proc/kcore', '/proc/keys', '/sys/firmware', '/etc/hostname', '/nonexistent', '/proc/acpi']);
        linux.maskedPaths = rng.chance(0.3) ? [] : [...(linux.maskedPaths ?? []), p];
        what = linux.maskedPaths.length ? p : '(none)';
        break;
      }
      case 'readonly-path': {
        const p = rng.pick(['/proc/sys', '/proc/bus', '/etc', '/nonexistent']);
        linux.readonlyPaths = rng.chance(0.3) ? [] : [...(linux.readonlyPaths ?? []), p];
        what = linux.readonlyPaths.length ? p : '(none)';
        break;
      }
      case 'rlimit': {
        const type = rng.pick(['RLIMIT_NOFILE', 'RLIMIT_NPROC', 'RLIMIT_CORE', 'RLIMIT_MEMLOCK']);
        const hard = rng.pick([0, 64, 1024, 4096]);
        const soft = rng.chance(0.8) ? Math.min(hard, rng.pick([0, 64, 1024])) : hard + 1;
        proc.rlimits = [...((proc.rlimits ?? []) as SpecLike[]).filter((r) => r.type !== type), { type, soft, hard }];
        what = `${type} ${soft}/${hard}`;
        break;
      }
      case 'oom-score-adj': proc.oomScoreAdj = rng.pick([-1000, 0, 500, 1000]); what = String(proc.oomScoreAdj); break;
      case 'cwd': proc.cwd = rng.pick(['/', '/tmp', '/home/tester', '/nonexistent/dir', '/etc/passwd']); what = proc.cwd; break;
      case 'env': proc.env = [...(proc.env ?? []), rng.pick(['FUZZ=1', 'PATH=/nowhere', 'EMPTY=', 'HOME=/tmp'])]; what = proc.env[proc.env.length - 1]; break;
      case 'resources': {
        const r = (linux.resources ??= {}) as SpecLike;
        const k = rng.pick(['memory', 'pids', 'cpu']);
        if (k === 'memory') r.memory = { limit: rng.pick([64 << 20, 128 << 20, -1]) };
        if (k === 'pids') r.pids = { limit: rng.pick([64, 1024, -1]) };
        if (k === 'cpu') r.cpu = { shares: rng.pick([2, 512, 1024]), ...(rng.chance(0.5) ? { quota: 50_000, period: 100_000 } : {}) };
        what = `${k} ${JSON.stringify(r[k])}`;
        break;
      }
    }
    applied.push(`${m}${what ? `(${what})` : ''}`);
  }
  return { config: s, applied };
}
