// The shim's socket address and the grouping key that picks it
// (runtime/v2/shim/util_unix.go SocketAddress, runc manager's groupLabels):
// unix:///run/containerd/s/<sha256 of join(containerd address, namespace, group)>.
// The hashed string carries a "#capsa" salt, so a capsa shim and a runc shim
// never meet on one socket for the same pod.
import { createHash } from 'node:crypto';
import * as path from 'node:path';

/** containerd's compile-time state dir: shim sockets go here even for a private containerd. */
export const SOCKET_ROOT = '/run/containerd/s';

/** Annotations that name a task's group, first match wins (else the task id). */
export const GROUP_LABELS = ['io.containerd.capsa.v2.group', 'io.kubernetes.cri.sandbox-id'];

/** The group key in shared mode: every task of a namespace. */
export const SHARED_GROUP = 'capsa-shared';

export function groupOf(id: string, annotations: Record<string, string> | undefined, mode: 'pod' | 'shared'): string {
  if (mode === 'shared') return SHARED_GROUP;
  for (const label of GROUP_LABELS) {
    const v = annotations?.[label];
    if (v) return v;
  }
  return id;
}

export function socketPath(containerdAddress: string, namespace: string, group: string): string {
  const hash = createHash('sha256').update(`${path.join(containerdAddress, namespace, group)}#capsa`).digest('hex');
  return path.join(SOCKET_ROOT, hash);
}

export const toAddress = (socket: string) => `unix://${socket}`;
export const fromAddress = (address: string) => address.replace(/^unix:\/\//, '');
