// A typed builder for runtime-spec configs, so tests need no hand-written
// JSON: sane defaults (capsa's `spec` output with terminal off), then
// `.withX()` calls, then `.build()`, which returns a validated Spec.
//
//   const config = spec().withArgs('/bin/sh', '-c', 'echo hi').withMemoryLimit('64m').build();
//
// Every method checks its arguments at the call and throws CapsaError
// INVALID_ARGUMENT naming the method and the value, so a typo fails where it
// was written, not at `create`.
import { CapsaError } from '../errors';
import { compileSeccomp } from '../seccomp';
import { capabilityNumber } from '../spec/capabilities';
import { defaultSpec } from '../spec/defaults';
import type { Capabilities, Linux, Mount, NamespaceType, Process, Resources, Seccomp, Spec } from '../spec/types';
import { validateSpec } from '../spec/validate';
import { Check, checkHostname, parseBytes, show } from './checks';

export const NAMESPACE_TYPES: readonly NamespaceType[] = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'];

export const RLIMIT_TYPES: readonly string[] = [
  'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS', 'RLIMIT_NPROC', 'RLIMIT_NOFILE',
  'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS', 'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME',
];

/** The capability sets a grant goes into (inheritable stays as it is). */
const GRANT_SETS = ['bounding', 'effective', 'permitted', 'ambient'] as const;
const ALL_SETS = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const;

export interface BindOptions {
  /** Mount read-only (default false). */
  readonly?: boolean;
  /** rbind (default) or a plain bind of just this mount. */
  recursive?: boolean;
  /** Extra mount options, e.g. ["nosuid", "nodev"]. */
  options?: string[];
}

export interface TmpfsOptions {
  /** Size in bytes or as "64m"; the kernel's default (half of RAM) when absent. */
  size?: number | string;
  /** Mode of the tmpfs root, e.g. 0o1777. */
  mode?: number;
  /** Extra mount options; nosuid and nodev are always added. */
  options?: string[];
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

export class SpecBuilder {
  private readonly s: Spec;
  /** withHostname was called (so dropping uts is a conflict, not a default to clear). */
  private hostnameSet = false;

  /** Starts from `base` (copied), or capsa's default spec with terminal off. */
  constructor(base?: Spec) {
    this.s = clone(base ?? defaultSpec());
    if (!base) this.s.process!.terminal = false;
  }

  /** A builder over a copy of an existing spec (e.g. one read from a bundle). */
  static from(base: Spec): SpecBuilder {
    return new SpecBuilder(base);
  }

  private get proc(): Process {
    this.s.process ??= { user: { uid: 0, gid: 0 }, cwd: '/', args: ['sh'] };
    return this.s.process;
  }

  private get linux(): Linux {
    this.s.linux ??= {};
    return this.s.linux;
  }

  private get resources(): Resources {
    this.linux.resources ??= {};
    return this.linux.resources;
  }

  /** The program and its arguments: args[0] is resolved in the container's PATH. */
  withArgs(...args: string[]): this {
    const c = new Check('withArgs', args);
    if (args.length === 0) c.fail('at least one argument (the program to run) is required');
    args.forEach((a, i) => c.string(a, `argument ${i}`, { empty: i > 0 }));
    this.proc.args = [...args];
    return this;
  }

  /** Sets one variable (replacing an earlier value), or several from an object. */
  withEnv(key: string, value: string): this;
  withEnv(vars: Record<string, string>): this;
  withEnv(key: string | Record<string, string>, value?: string): this {
    const pairs: [unknown, unknown][] = typeof key === 'object' && key !== null && value === undefined ? Object.entries(key) : [[key, value]];
    const c = new Check('withEnv', typeof key === 'object' && key !== null ? [key] : [key, value]);
    // Check every pair before changing anything.
    const checked = pairs.map(([k0, v0]) => {
      const k = c.string(k0, 'name');
      if (k.includes('=')) c.fail(`name ${show(k)} must not contain "="`);
      return [k, c.string(v0, `value of ${k}`, { empty: true })] as const;
    });
    for (const [k, v] of checked) {
      const env = (this.proc.env ?? []).filter((e) => !e.startsWith(`${k}=`));
      env.push(`${k}=${v}`);
      this.proc.env = env;
    }
    return this;
  }

  withoutEnv(key: string): this {
    const k = new Check('withoutEnv', [key]).string(key, 'name');
    this.proc.env = (this.proc.env ?? []).filter((e) => !e.startsWith(`${k}=`));
    return this;
  }

  withCwd(cwd: string): this {
    this.proc.cwd = new Check('withCwd', [cwd]).absPath(cwd, 'cwd');
    return this;
  }

  withUser(uid: number, gid: number, additionalGids?: number[]): this {
    const c = new Check('withUser', additionalGids === undefined ? [uid, gid] : [uid, gid, additionalGids]);
    const user: Process['user'] = { uid: c.u32(uid, 'uid'), gid: c.u32(gid, 'gid') };
    if (additionalGids !== undefined) {
      if (!Array.isArray(additionalGids)) c.fail(`additionalGids must be an array, got ${show(additionalGids)}`);
      user.additionalGids = additionalGids.map((g, i) => c.u32(g, `additionalGids[${i}]`));
    }
    const umask = this.proc.user?.umask;
    if (umask !== undefined) user.umask = umask;
    this.proc.user = user;
    return this;
  }

  withTerminal(on = true): this {
    this.proc.terminal = new Check('withTerminal', [on]).bool(on, 'on');
    return this;
  }

  withHostname(name: string): this {
    this.s.hostname = checkHostname(new Check('withHostname', [name]), name, 'hostname');
    this.hostnameSet = true;
    return this;
  }

  /** Adds a mount; one with the same destination is replaced in place. */
  withMount(mount: Mount): this {
    const c = new Check('withMount', [mount]);
    if (typeof mount !== 'object' || mount === null || Array.isArray(mount)) c.fail('expected a mount object { destination, type, source, options }');
    const m: Mount = { destination: c.absPath(mount.destination, 'destination') };
    if (mount.type !== undefined) m.type = c.string(mount.type, 'type');
    if (mount.source !== undefined) m.source = c.string(mount.source, 'source');
    if (mount.options !== undefined) m.options = c.strings(mount.options, 'options');
    if (mount.uidMappings) m.uidMappings = clone(mount.uidMappings);
    if (mount.gidMappings) m.gidMappings = clone(mount.gidMappings);
    this.putMount(m);
    return this;
  }

  private putMount(m: Mount): void {
    const mounts = (this.s.mounts ??= []);
    const dest = m.destination.replace(/\/+$/, '') || '/';
    const at = mounts.findIndex((x) => (x.destination.replace(/\/+$/, '') || '/') === dest);
    if (at >= 0) mounts[at] = m;
    else mounts.push(m);
  }

  /** Bind-mounts host path `source` at `destination` in the container. */
  withBind(source: string, destination: string, opts: BindOptions = {}): this {
    const c = new Check('withBind', [source, destination, opts]);
    const src = c.absPath(source, 'source');
    const dst = c.absPath(destination, 'destination');
    const ro = opts.readonly === undefined ? false : c.bool(opts.readonly, 'readonly');
    const rec = opts.recursive === undefined ? true : c.bool(opts.recursive, 'recursive');
    const extra = opts.options === undefined ? [] : c.strings(opts.options, 'options');
    this.putMount({ destination: dst, type: 'bind', source: src, options: [rec ? 'rbind' : 'bind', ro ? 'ro' : 'rw', ...extra] });
    return this;
  }

  /** A fresh tmpfs at `destination`. */
  withTmpfs(destination: string, opts: TmpfsOptions = {}): this {
    const c = new Check('withTmpfs', [destination, opts]);
    const dst = c.absPath(destination, 'destination');
    const options = ['nosuid', 'nodev'];
    if (opts.size !== undefined) options.push(`size=${parseBytes(c, opts.size, 'size')}`);
    if (opts.mode !== undefined) options.push(`mode=${c.int(opts.mode, 'mode', 0, 0o7777).toString(8).padStart(4, '0')}`);
    if (opts.options !== undefined) for (const o of c.strings(opts.options, 'options')) if (!options.includes(o)) options.push(o);
    this.putMount({ destination: dst, type: 'tmpfs', source: 'tmpfs', options });
    return this;
  }

  withoutMount(destination: string): this {
    const dst = new Check('withoutMount', [destination]).absPath(destination, 'destination').replace(/\/+$/, '') || '/';
    this.s.mounts = (this.s.mounts ?? []).filter((m) => (m.destination.replace(/\/+$/, '') || '/') !== dst);
    return this;
  }

  /** memory.limit in bytes (or "64m", "1g"). */
  withMemoryLimit(bytes: number | string): this {
    const c = new Check('withMemoryLimit', [bytes]);
    const n = parseBytes(c, bytes, 'limit');
    if (n < 4096) c.fail(`limit ${n} is below one page (4096 bytes); the container could not start`);
    this.resources.memory = { ...this.resources.memory, limit: n };
    return this;
  }

  /** pids.limit: at most n tasks in the container (-1 for no limit). */
  withPidsLimit(n: number): this {
    const c = new Check('withPidsLimit', [n]);
    const v = c.int(n, 'limit', -1, 4194304);
    if (v === 0) c.fail('limit 0 would forbid the container\'s own init; use a positive number, or -1 for no limit');
    this.resources.pids = { limit: v };
    return this;
  }

  /** CFS bandwidth: `quota` µs of CPU time per `period` µs (period 1 ms – 1 s). */
  withCpuQuota(quota: number, period = 100_000): this {
    const c = new Check('withCpuQuota', [quota, period]);
    const p = c.int(period, 'period', 1000, 1_000_000);
    const q = quota === -1 ? -1 : c.int(quota, 'quota (µs, or -1 for no limit)', 1000, Number.MAX_SAFE_INTEGER);
    this.resources.cpu = { ...this.resources.cpu, quota: q, period: p };
    return this;
  }

  /** Extra linux.resources fields, merged over what the builder has set. */
  withResources(res: Resources): this {
    const c = new Check('withResources', [res]);
    if (typeof res !== 'object' || res === null || Array.isArray(res)) c.fail('expected a resources object');
    const cur = this.resources;
    for (const [k, v] of Object.entries(clone(res)) as [keyof Resources, unknown][]) {
      const old = cur[k];
      (cur as Record<string, unknown>)[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof old === 'object' && !Array.isArray(old)
        ? { ...old, ...v } : v;
    }
    return this;
  }

  private capName(c: Check, name: unknown): string {
    const s = c.string(name, 'capability');
    const full = s.toUpperCase().startsWith('CAP_') ? s.toUpperCase() : `CAP_${s.toUpperCase()}`;
    if (capabilityNumber(full) === undefined) c.fail(`unknown capability ${show(s)}`);
    return full;
  }

  private get caps(): Capabilities {
    this.proc.capabilities ??= {};
    return this.proc.capabilities;
  }

  /**
   * Exactly these capabilities (bounding, effective, permitted and ambient);
   * names with or without "CAP_". The inheritable set keeps only these.
   */
  withCapabilities(list: string[]): this {
    const c = new Check('withCapabilities', [list]);
    if (!Array.isArray(list)) c.fail(`expected an array of capability names, got ${show(list)}`);
    const names = [...new Set(list.map((n) => this.capName(c, n)))];
    const caps = this.caps;
    for (const set of GRANT_SETS) caps[set] = [...names];
    if (caps.inheritable) caps.inheritable = caps.inheritable.filter((n) => names.includes(n));
    return this;
  }

  addCapability(name: string): this {
    const full = this.capName(new Check('addCapability', [name]), name);
    const caps = this.caps;
    for (const set of GRANT_SETS) {
      const cur = caps[set] ?? [];
      if (!cur.includes(full)) caps[set] = [...cur, full];
    }
    return this;
  }

  dropCapability(name: string): this {
    const full = this.capName(new Check('dropCapability', [name]), name);
    const caps = this.caps;
    for (const set of ALL_SETS) if (caps[set]) caps[set] = caps[set]!.filter((n) => n !== full);
    return this;
  }

  /** A new namespace of `type`, or joins the one at `path` (e.g. /proc/123/ns/net). */
  withNamespace(type: NamespaceType, path?: string): this {
    const c = new Check('withNamespace', path === undefined ? [type] : [type, path]);
    if (!NAMESPACE_TYPES.includes(type)) c.fail(`unknown namespace type ${show(type)} (expected one of ${NAMESPACE_TYPES.join(', ')})`);
    const ns = path === undefined ? { type } : { type, path: c.absPath(path, 'path') };
    const list = (this.linux.namespaces ??= []);
    const at = list.findIndex((n) => n.type === type);
    if (at >= 0) list[at] = ns;
    else list.push(ns);
    return this;
  }

  /** Shares the host's namespace of `type`. Dropping uts also drops the default hostname. */
  withoutNamespace(type: NamespaceType): this {
    const c = new Check('withoutNamespace', [type]);
    if (!NAMESPACE_TYPES.includes(type)) c.fail(`unknown namespace type ${show(type)} (expected one of ${NAMESPACE_TYPES.join(', ')})`);
    this.linux.namespaces = (this.linux.namespaces ?? []).filter((n) => n.type !== type);
    if (type === 'uts' && !this.hostnameSet) {
      delete this.s.hostname;
      delete this.s.domainname;
    }
    return this;
  }

  withReadonlyRoot(readonly = true): this {
    const ro = new Check('withReadonlyRoot', [readonly]).bool(readonly, 'readonly');
    this.s.root = { ...(this.s.root ?? { path: 'rootfs' }), readonly: ro };
    return this;
  }

  /** root.path: absolute, or relative to the bundle directory. */
  withRootfs(path: string): this {
    const p = new Check('withRootfs', [path]).string(path, 'path');
    this.s.root = { ...this.s.root, path: p };
    return this;
  }

  /** A seccomp profile (OCI linux.seccomp); compiled now so mistakes show here. */
  withSeccomp(profile: Seccomp): this {
    const c = new Check('withSeccomp', [profile && typeof profile === 'object' ? { defaultAction: (profile as Seccomp).defaultAction } : profile]);
    if (typeof profile !== 'object' || profile === null || Array.isArray(profile)) c.fail('expected an OCI seccomp profile object');
    try {
      compileSeccomp(profile);
    } catch (e) {
      c.fail(e instanceof Error ? e.message.replace(/^config\./, '') : String(e));
    }
    this.linux.seccomp = clone(profile);
    return this;
  }

  withoutSeccomp(): this {
    delete this.linux.seccomp;
    return this;
  }

  withNoNewPrivileges(on = true): this {
    this.proc.noNewPrivileges = new Check('withNoNewPrivileges', [on]).bool(on, 'on');
    return this;
  }

  /** Sets one rlimit (replacing an earlier one of the type); "NOFILE" means RLIMIT_NOFILE. */
  withRlimit(type: string, soft: number, hard: number = soft): this {
    const c = new Check('withRlimit', [type, soft, hard]);
    const t0 = c.string(type, 'type').toUpperCase();
    const t = t0.startsWith('RLIMIT_') ? t0 : `RLIMIT_${t0}`;
    if (!RLIMIT_TYPES.includes(t)) c.fail(`unknown rlimit type ${show(type)} (expected one of ${RLIMIT_TYPES.join(', ')})`);
    const s = c.int(soft, 'soft', 0, Number.MAX_SAFE_INTEGER);
    const h = c.int(hard, 'hard', 0, Number.MAX_SAFE_INTEGER);
    if (s > h) c.fail(`soft limit ${s} is above the hard limit ${h}`);
    const list = (this.proc.rlimits ?? []).filter((r) => r.type !== t);
    list.push({ type: t, hard: h, soft: s });
    this.proc.rlimits = list;
    return this;
  }

  withAnnotation(key: string, value: string): this {
    const c = new Check('withAnnotation', [key, value]);
    const k = c.string(key, 'key');
    (this.s.annotations ??= {})[k] = c.string(value, 'value', { empty: true });
    return this;
  }

  withSysctl(key: string, value: string): this {
    const c = new Check('withSysctl', [key, value]);
    const k = c.string(key, 'key');
    if (!/^[a-z0-9_]+([./][a-z0-9_*-]+)+$/i.test(k) || k.includes('..')) c.fail(`invalid sysctl name ${show(k)}`);
    (this.linux.sysctl ??= {})[k] = c.string(value, 'value', { empty: true });
    return this;
  }

  /** linux.cgroupsPath: "/a/b" (absolute in every hierarchy) or "a/b" (under capsa's parent). */
  withCgroupsPath(path: string): this {
    const c = new Check('withCgroupsPath', [path]);
    const p = c.string(path, 'path');
    if (p.split(/[/:]/).includes('..')) c.fail('path must not contain ".."');
    this.linux.cgroupsPath = p;
    return this;
  }

  /** The validated spec (a copy: the builder can go on being used). */
  build(): Spec {
    const out = clone(this.s);
    const freshUts = (out.linux?.namespaces ?? []).some((n) => n.type === 'uts' && !n.path);
    if (out.hostname && !freshUts) {
      throw new CapsaError('INVALID_ARGUMENT', `build(): withHostname(${show(out.hostname)}) needs a new uts namespace, but withoutNamespace("uts") (or a uts path) was set`, { configPath: 'hostname' });
    }
    return validateSpec(out, { requireProcess: true });
  }

  /** JSON.stringify(builder) writes the built config.json. */
  toJSON(): Spec {
    return this.build();
  }
}

/** `spec()` — a builder starting from capsa's defaults with terminal off. */
export function spec(base?: Spec): SpecBuilder {
  return new SpecBuilder(base);
}
