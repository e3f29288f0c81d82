// linux.netDevices (runtime-spec 1.3): host links moved into the container's
// network namespace, renamed there, brought up, with their permanent
// global-scope addresses added back (the kernel drops addresses on a move).
//
// Who does what: the runtime reads each link and its addresses before
// capsa-init starts (so a missing link is an error before anything exists),
// and moves it when capsa-init's container process reaches SYNC_NETDEV —
// one RTM_NEWLINK from the runtime's own network namespace naming the target
// by fd (IFLA_NET_NS_FD), the way runc does it. capsa-init then brings the
// link up and adds the addresses from inside (OP_NETDEV_UP). No namespace is
// entered by the runtime.
//
// On delete nothing is moved back: the spec says a runtime MUST NOT move the
// interface out of the namespace before deletion. When the namespace goes,
// the kernel returns physical devices to the initial namespace and destroys
// virtual ones (veth, dummy, macvlan...); a namespace joined by path keeps
// them, under their container names, as long as it lives.
import * as fs from 'node:fs';
import { CapsaError, describeErrno } from '../errors';
import type { Spec } from '../spec/types';
import { getAddresses, getLink, IFA_F_PERMANENT, IFF_LOOPBACK, moveLink, RT_SCOPE_UNIVERSE, setLinkUp } from '../sys/rtnetlink';

export interface NetDevicePlan {
  /** linux.netDevices["<hostName>"] */
  field: string;
  hostName: string;
  /** The name in the container ("%d" templates are filled by the kernel). */
  name: string;
  /** The link's index on the host (kept by the move unless the target already uses it). */
  index: number;
  /** "addr/prefixlen" of the permanent, global-scope addresses to add back. */
  addresses: string[];
}

function fail(field: string, msg: string, code: 'INVALID_CONFIG' | 'UNSUPPORTED' = 'INVALID_CONFIG'): CapsaError {
  return new CapsaError(code, `config.${field}: ${msg}`, { configPath: field });
}

/** What one OP_NETDEV_UP carries (capsa-init reads at most 63 strings per list). */
const MAX_ADDRESSES = 63;

const errnoOf = (e: unknown) => (e as NodeJS.ErrnoException).code ?? 'EIO';

function sameFile(a: string, b: string): boolean {
  try {
    const [x, y] = [fs.statSync(a), fs.statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Checks the config against this host and reads what the move must keep. Throws naming the field. */
export function planNetDevices(spec: Spec): NetDevicePlan[] {
  const devices = spec.linux?.netDevices;
  if (!devices || Object.keys(devices).length === 0) return [];
  const net = (spec.linux?.namespaces ?? []).find((n) => n.type === 'network');
  if (!net) throw fail('linux.netDevices', 'unable to move network devices without a private network namespace (linux.namespaces has no "network")');
  if (net.path && sameFile(net.path, '/proc/self/ns/net')) throw fail('linux.netDevices', `unable to move network devices: the network namespace ${net.path} is the runtime's own`);
  if (process.geteuid?.() !== 0) throw fail('linux.netDevices', 'moving network devices needs root (CAP_NET_ADMIN on the host)', 'UNSUPPORTED');
  return Object.entries(devices).map(([hostName, dev]) => {
    const field = `linux.netDevices["${hostName}"]`;
    let link;
    try {
      link = getLink(hostName);
    } catch (e) {
      const errno = errnoOf(e);
      throw fail(field, errno === 'ENODEV' ? `there is no network device "${hostName}" on the host` : `look up network device "${hostName}": ${describeErrno(errno)}`);
    }
    if (link.flags & IFF_LOOPBACK) throw fail(field, `"${hostName}" is a loopback device, which cannot leave its network namespace`);
    let addresses: string[];
    try {
      addresses = getAddresses(link.index)
        .filter((a) => (a.flags & IFA_F_PERMANENT) !== 0 && a.scope === RT_SCOPE_UNIVERSE)
        .map((a) => `${a.address}/${a.prefixlen}`);
    } catch (e) {
      throw fail(field, `read the addresses of "${hostName}": ${describeErrno(errnoOf(e))}`);
    }
    if (addresses.length > MAX_ADDRESSES) throw fail(field, `"${hostName}" has ${addresses.length} addresses to keep; capsa moves at most ${MAX_ADDRESSES}`, 'UNSUPPORTED');
    return { field, hostName, name: dev.name || hostName, index: link.index, addresses };
  });
}

/**
 * Moves each link into the network namespace of process `pid` under its
 * container name. Set down first, as runc does, so nothing on the host keeps
 * using it mid-move. Throws naming the field; links already moved stay there
 * (the namespace's end decides their fate, as for any other).
 */
export function moveNetDevices(plans: readonly NetDevicePlan[], pid: number): void {
  if (plans.length === 0) return;
  let nsFd: number;
  try {
    nsFd = fs.openSync(`/proc/${pid}/ns/net`, fs.constants.O_RDONLY);
  } catch (e) {
    throw fail('linux.netDevices', `open the container's network namespace: ${describeErrno(errnoOf(e))}`);
  }
  try {
    for (const p of plans) {
      try {
        setLinkUp(p.index, false);
        moveLink(p.index, p.name, nsFd);
      } catch (e) {
        const errno = errnoOf(e);
        const why = errno === 'EEXIST' ? `a network device named "${p.name}" already exists there`
          : errno === 'ENODEV' ? `"${p.hostName}" is gone from the host` : describeErrno(errno);
        throw fail(p.field, `move "${p.hostName}" into the container's network namespace as "${p.name}": ${why}`);
      }
    }
  } finally {
    fs.closeSync(nsFd);
  }
}
