// Whether this host can make idmapped mounts, for `capsa features`
// (mountExtensions.idmap.enabled). Detected, not assumed: capsa-init tries it
// (a user namespace of its own, mount_setattr(MOUNT_ATTR_IDMAP) on a detached
// tree) in a child process — no namespace syscall runs in this process.
import { spawnSync } from 'node:child_process';
import { initBinaryPath } from '../sys/paths';

let cached: { enabled: boolean; reason?: string } | undefined;

export function idmapSupport(): { enabled: boolean; reason?: string } {
  if (cached) return cached;
  try {
    const r = spawnSync(initBinaryPath(), ['--probe-idmap'], { encoding: 'utf8', timeout: 5_000 });
    const out = (r.stdout ?? '').trim();
    cached = out === '1' ? { enabled: true } : { enabled: false, reason: out.replace(/^0 ?/, '') || r.error?.message || 'probe failed' };
  } catch (e) {
    cached = { enabled: false, reason: (e as Error).message };
  }
  return cached;
}
