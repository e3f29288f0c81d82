// org.systemd.property.NAME=VALUE annotations: extra properties of the
// container's transient scope, as runc reads them (--systemd-cgroup only).
// NAME is letters only (at least 3); VALUE is GVariant text ("uint64 30",
// "'inactive-or-failed'", "['a.service']"). A NAME ending in "Sec" after a
// lowercase letter (TimeoutStopSec) is sent as ...USec with the value in
// microseconds, since systemd's D-Bus API only knows the USec form.
import { CapsaError } from '../errors';
import type { Variant } from './dbus';
import { parseGVariantText } from './gvariant-text';

export const SYSTEMD_PROPERTY_PREFIX = 'org.systemd.property.';

export type UnitProperty = [name: string, value: Variant];

/** runc's phrases: "annotation KEY name incorrect: …", "annotation KEY=VALUE value parse error: …". */
function fail(key: string, message: string): CapsaError {
  return new CapsaError('INVALID_CONFIG', `annotation ${key}${message.startsWith('=') ? '' : ' '}${message}`, { configPath: `annotations["${key}"]` });
}

function secondsToUsec(key: string, text: string, [sig, value]: Variant): Variant {
  const M = 1_000_000n;
  if ('ynqiuxt'.includes(sig) && sig.length === 1) {
    const n = BigInt(value as number | bigint);
    if (n < 0n) throw fail(key, `=${text} value parse error: ${n} is negative`);
    return ['t', n * M];
  }
  if (sig === 'd') {
    const d = value as number;
    if (!(d >= 0) || !Number.isFinite(d)) throw fail(key, `=${text} value parse error: ${d} is not a number of seconds`);
    return ['t', BigInt(Math.floor(d * 1e6))];
  }
  throw fail(key, `=${text} value parse error: not a number`);
}

/** The scope properties the config's annotations ask for, in key order. */
export function systemdPropertiesFromAnnotations(annotations: Record<string, string> | undefined): UnitProperty[] {
  const out: UnitProperty[] = [];
  for (const [key, text] of Object.entries(annotations ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!key.startsWith(SYSTEMD_PROPERTY_PREFIX)) continue;
    let name = key.slice(SYSTEMD_PROPERTY_PREFIX.length);
    if (name.length < 3) throw fail(key, 'name incorrect: too short');
    if (!/^[A-Za-z]+$/.test(name)) throw fail(key, 'name incorrect: contains non-alphabetic character');
    let value: Variant;
    try {
      value = parseGVariantText(String(text));
    } catch (e) {
      throw fail(key, `=${text} value parse error: ${(e as Error).message}`);
    }
    if (/[a-z]Sec$/.test(name)) {
      name = name.slice(0, -'Sec'.length) + 'USec';
      value = secondsToUsec(key, String(text), value);
    }
    out.push([name, value]);
  }
  return out;
}
