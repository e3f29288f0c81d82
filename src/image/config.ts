// Image config → runtime config.json, following the OCI image-spec
// "conversion" rules; everything the image does not say comes from
// defaultSpec() (what `capsa spec` writes), made writable and non-interactive.
import { defaultSpec } from '../spec/defaults';
import type { Spec } from '../spec/types';
import type { ImageConfig } from './resolve';
import { readFileInRoot } from './rootpath';
import { resolveUser } from './user';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const A = 'org.opencontainers.image.';
/** Not in the conversion spec's table, so in capsa's own namespace. */
export const VOLUMES_ANNOTATION = 'io.capsa.image.volumes';

function envName(entry: string): string {
  const i = entry.indexOf('=');
  return i < 0 ? entry : entry.slice(0, i);
}

/** The implicit annotations, then Labels over them (Labels take precedence). */
export function imageAnnotations(image: ImageConfig): Record<string, string> {
  const c = image.config ?? {};
  const implicit: Record<string, string | undefined> = {
    [`${A}os`]: image.os,
    [`${A}architecture`]: image.architecture,
    [`${A}variant`]: image.variant,
    [`${A}os.version`]: image['os.version'],
    [`${A}os.features`]: image['os.features']?.join(','),
    [`${A}author`]: image.author,
    [`${A}created`]: image.created,
    [`${A}stopSignal`]: c.StopSignal,
    [`${A}exposedPorts`]: c.ExposedPorts ? Object.keys(c.ExposedPorts).join(',') : undefined,
    [VOLUMES_ANNOTATION]: c.Volumes ? Object.keys(c.Volumes).join(',') : undefined,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(implicit)) if (v !== undefined && v !== '') out[k] = v;
  for (const [k, v] of Object.entries(c.Labels ?? {})) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * Builds config.json for an image whose rootfs is at `rootfs` (read for
 * /etc/passwd and /etc/group, resolved inside the rootfs). `base` defaults to
 * defaultSpec().
 */
export function imageToSpec(image: ImageConfig, rootfs: string, base: Spec = defaultSpec()): Spec {
  const c = image.config ?? {};
  const spec: Spec = structuredClone(base);
  const process = spec.process ?? { user: { uid: 0, gid: 0 }, cwd: '/' };
  spec.process = process;
  process.terminal = false;

  const args = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  if (args.length > 0) process.args = args;

  const env = [...(c.Env ?? [])];
  if (!env.some((e) => envName(e) === 'PATH')) env.unshift(DEFAULT_PATH);
  process.env = env;

  const wd = c.WorkingDir ?? '';
  process.cwd = wd === '' ? '/' : wd.startsWith('/') ? wd : `/${wd}`;

  process.user = resolveUser(c.User, readFileInRoot(rootfs, '/etc/passwd'), readFileInRoot(rootfs, '/etc/group'));

  spec.root = { path: 'rootfs', readonly: false };
  const annotations = imageAnnotations(image);
  if (Object.keys(annotations).length > 0) spec.annotations = { ...(spec.annotations ?? {}), ...annotations };
  return spec;
}
