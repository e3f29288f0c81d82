// The file that marks a bundle made by `capsa image unpack`, and what the
// runtime needs to know of it at create time (kept light: no store, no mount code).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const BUNDLE_MARKER = 'capsa-bundle.json';

/** MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV */
const NOSUID_NODEV = 0x2n | 0x4n;

/**
 * Mount flags to clear on a container's root: an image bundle's overlay is
 * mounted nosuid,nodev on the host (no local user may run its setuid files or
 * open its device nodes there); as the container's own root it is not.
 */
export function rootfsFlagsToClear(bundle: string, rootfs: string): bigint {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(bundle, BUNDLE_MARKER), 'utf8')) as { mode?: string };
    if (marker.mode !== 'overlay') return 0n;
    return rootfs === path.join(fs.realpathSync(bundle), 'rootfs') ? NOSUID_NODEV : 0n;
  } catch {
    return 0n;
  }
}
