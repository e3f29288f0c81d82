// Small config.json editors for bundles made with makeBundle({ config }).
import type { Mount, NamespaceType, Spec } from '../../src/spec/types';

export type Config = (s: Spec) => void;

/** The entrypoint: `/bin/testinit ...a`. */
export const cmd = (...a: string[]): Config => (s) => { s.process!.args = ['/bin/testinit', ...a]; };

/** Applies each config in order (undefined ones are skipped). */
export const all = (...fns: (Config | undefined)[]): Config => (s) => { for (const f of fns) f?.(s); };

export const addMounts = (...m: Mount[]): Config => (s) => { s.mounts = [...(s.mounts ?? []), ...m]; };

/** A new namespace of `type`, or joining the one at `nsPath`. */
export function addNamespace(type: NamespaceType, nsPath?: string): Config {
  return (s) => {
    const list = (s.linux!.namespaces ?? []).filter((n) => n.type !== type);
    list.push(nsPath ? { type, path: nsPath } : { type });
    s.linux!.namespaces = list;
  };
}

export function dropNamespace(type: NamespaceType): Config {
  return (s) => { s.linux!.namespaces = (s.linux!.namespaces ?? []).filter((n) => n.type !== type); };
}
