// Container networking the way CNI plugins and netavark do it: a
// createRuntime hook gets the container's state (with its pid) on stdin,
// makes a veth pair, moves one end into the container's network namespace
// and addresses both ends on a private 10.200.<n>.0/24 test net that exists
// only on this veth (no route off the host, no NAT).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface TestNet {
  /** Host end of the veth (the other end is `peer`, inside the container). */
  hostIf: string;
  peer: string;
  hostAddr: string;
  containerAddr: string;
  /** Path of the createRuntime hook script that sets it up. */
  hook: string;
  /** Whether the host end exists now. */
  exists(): boolean;
  /** Deletes the host end (which deletes both ends); safe to call twice. */
  cleanup(): void;
}

function which(cmd: string): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']) {
    if (fs.existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return undefined;
}

/** Why veth tests cannot run here, or undefined when they can. */
export function netTestsUnavailable(): string | undefined {
  if (!which('ip')) return 'iproute2 (ip) is not installed';
  if (!which('nsenter')) return 'nsenter is not installed';
  return undefined;
}

/** A /24 in 10.200.0.0/16 that no host interface or route uses. */
function freeSubnet(): number {
  const used = execFileSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }) + execFileSync('ip', ['-4', 'route'], { encoding: 'utf8' });
  for (let i = 0; i < 100; i++) {
    const n = 1 + (randomBytes(1)[0]! % 254);
    if (!used.includes(`10.200.${n}.`)) return n;
  }
  throw new Error('no free 10.200.x.0/24 test subnet');
}

/**
 * Writes the hook script into `dir` (a /tmp/capsa-test-* dir the caller
 * removes). The hook logs each step to `${dir}/net-hook.log`.
 */
export function makeTestNet(dir: string): TestNet {
  const tag = randomBytes(3).toString('hex');
  const hostIf = `capsa-h${tag}`;
  const peer = `capsa-c${tag}`;
  const n = freeSubnet();
  const hostAddr = `10.200.${n}.1`;
  const containerAddr = `10.200.${n}.2`;
  const ip = which('ip')!;
  const nsenter = which('nsenter')!;
  const hook = path.join(dir, 'net-hook.sh');
  const log = path.join(dir, 'net-hook.log');
  fs.writeFileSync(hook, `#!/bin/sh
# createRuntime hook: veth ${hostIf} (host, ${hostAddr}/24) <-> ${peer} (container, ${containerAddr}/24)
set -eu
state=$(cat)
pid=$(printf '%s' "$state" | sed -n 's/.*"pid":\\([0-9][0-9]*\\).*/\\1/p')
[ -n "$pid" ] || { echo "no pid in state: $state" >&2; exit 1; }
exec >>${log} 2>&1
echo "pid=$pid"
${ip} link add ${hostIf} type veth peer name ${peer}
${ip} link set ${peer} netns /proc/$pid/ns/net
${ip} addr add ${hostAddr}/24 dev ${hostIf}
${ip} link set ${hostIf} up
${nsenter} --net=/proc/$pid/ns/net ${ip} addr add ${containerAddr}/24 dev ${peer}
${nsenter} --net=/proc/$pid/ns/net ${ip} link set ${peer} up
${nsenter} --net=/proc/$pid/ns/net ${ip} link set lo up
echo done
`, { mode: 0o755 });
  const exists = () => {
    try {
      execFileSync(ip, ['link', 'show', 'dev', hostIf], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };
  return {
    hostIf, peer, hostAddr, containerAddr, hook, exists,
    cleanup() {
      if (exists()) execFileSync(ip, ['link', 'del', 'dev', hostIf], { stdio: 'pipe' });
    },
  };
}
