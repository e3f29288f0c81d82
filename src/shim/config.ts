// Where the shim's settings come from: runtime options (the Any containerd
// writes on `start`'s stdin and in CreateTaskRequest.options) and the shim
// config file they may name. containerd's CRI passes a non-runc runtime only
// runtimeoptions.v1.Options{config_path}, so capsa's own settings live in
// that file (`ConfigPath = "/etc/capsa/shim.toml"` in the CRI runtime table,
// `ctr run --runtime-config-path FILE`). The file is a small TOML subset:
//   mode = "shared"          # "pod" (default): one shim per pod; "shared": one per namespace
//   root = "/run/capsa-shim" # capsa state root (a directory per namespace below it)
//   systemd_cgroup = false   # default: on when linux.cgroupsPath is "slice:prefix:name"
import * as fs from 'node:fs';
import { CapsaError } from '../errors';
import { decode } from './proto/codec';
import { LegacyCreateOptions, RuncOptions, RuntimeOptions, type AnyMsg } from './proto/messages';

export const DEFAULT_ROOT = '/run/containerd/capsa';

export interface ShimConfig {
  mode: 'pod' | 'shared';
  /** capsa's state root; the namespace is appended. */
  root: string;
  systemdCgroup?: boolean;
  noPivotRoot?: boolean;
  noNewKeyring?: boolean;
  /** Which file the settings came from, for messages. */
  configPath?: string;
}

/** How `start` hands the daemon it spawns its config (an environment variable, removed once read). */
export const CONFIG_ENV = 'CAPSA_SHIM_CONFIG';

/** The config `start` passed to this daemon, or the per-pod defaults. */
export function configFromEnv(): ShimConfig {
  const raw = process.env[CONFIG_ENV];
  delete process.env[CONFIG_ENV];
  if (raw) {
    try { return JSON.parse(raw) as ShimConfig; } catch { /* fall through to defaults */ }
  }
  return { mode: 'pod', root: DEFAULT_ROOT };
}

/** Parses the TOML subset: `key = "string" | true | false | number`, comments, [sections] ignored. */
export function parseShimToml(text: string, file: string): Record<string, string | boolean | number> {
  const out: Record<string, string | boolean | number> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/^\s+|\s+$/g, '');
    if (!line || line.startsWith('#') || /^\[.*\]$/.test(line)) return;
    const m = /^([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(true|false)|(-?\d+))\s*(?:#.*)?$/.exec(line);
    if (!m) throw new CapsaError('INVALID_CONFIG', `${file}:${i + 1}: cannot parse ${JSON.stringify(line)} (want key = "value", true, false or a number)`);
    out[m[1]!] = m[2] !== undefined ? JSON.parse(`"${m[2]}"`) : m[3] !== undefined ? m[3] : m[4] !== undefined ? m[4] === 'true' : Number(m[5]);
  });
  return out;
}

export function loadConfigFile(file: string, base: ShimConfig): ShimConfig {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    throw new CapsaError('INVALID_CONFIG', `shim config ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  const kv = parseShimToml(text, file);
  const cfg: ShimConfig = { ...base, configPath: file };
  for (const [k, v] of Object.entries(kv)) {
    switch (k) {
      case 'mode':
        if (v !== 'pod' && v !== 'shared') throw new CapsaError('INVALID_CONFIG', `${file}: mode must be "pod" or "shared", not ${JSON.stringify(v)}`);
        cfg.mode = v;
        break;
      case 'root':
        if (typeof v !== 'string' || !v.startsWith('/')) throw new CapsaError('INVALID_CONFIG', `${file}: root must be an absolute path`);
        cfg.root = v;
        break;
      case 'systemd_cgroup':
        if (typeof v !== 'boolean') throw new CapsaError('INVALID_CONFIG', `${file}: systemd_cgroup must be true or false`);
        cfg.systemdCgroup = v;
        break;
      default:
        throw new CapsaError('INVALID_CONFIG', `${file}: unknown setting ${JSON.stringify(k)} (known: mode, root, systemd_cgroup)`);
    }
  }
  return cfg;
}

/**
 * Settings from a runtime options Any (absent or empty: the defaults).
 * runc's options are honoured where they mean something to capsa; unknown
 * types are ignored, as containerd may send options meant for other shims.
 */
export function configFromOptions(opts: AnyMsg | undefined, base: ShimConfig = { mode: 'pod', root: DEFAULT_ROOT }): ShimConfig {
  if (!opts?.typeUrl) return base;
  const value = opts.value ?? Buffer.alloc(0);
  switch (opts.typeUrl.replace(/^type\.googleapis\.com\//, '')) {
    case RuntimeOptions.name: {
      const o = decode<{ configPath?: string }>(RuntimeOptions, value);
      return o.configPath ? loadConfigFile(o.configPath, base) : base;
    }
    case RuncOptions.name: {
      const o = decode<{ root?: string; systemdCgroup?: boolean; noPivotRoot?: boolean; noNewKeyring?: boolean }>(RuncOptions, value);
      return { ...base, ...(o.root ? { root: o.root } : {}), systemdCgroup: o.systemdCgroup || base.systemdCgroup, noPivotRoot: o.noPivotRoot, noNewKeyring: o.noNewKeyring };
    }
    case LegacyCreateOptions.name: {
      const o = decode<{ noPivotRoot?: boolean; noNewKeyring?: boolean }>(LegacyCreateOptions, value);
      return { ...base, noPivotRoot: o.noPivotRoot, noNewKeyring: o.noNewKeyring };
    }
    default:
      return base;
  }
}
