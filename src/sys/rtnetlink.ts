// rtnetlink messages for linux.netDevices, built and read here; the addon
// only sends them (netlinkRoute) on a socket of the runtime's own network
// namespace. Layouts: linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
// linux/if_addr.h.
import { addon } from './addon';

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_GETADDR = 22;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
const IFLA_IFNAME = 3;
const IFLA_NET_NS_FD = 28;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFA_F_PERMANENT = 0x80;
export const RT_SCOPE_UNIVERSE = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

const align4 = (n: number) => (n + 3) & ~3;

function attr(type: number, data: Buffer): Buffer {
  const b = Buffer.alloc(align4(4 + data.length));
  b.writeUInt16LE(4 + data.length, 0);
  b.writeUInt16LE(type, 2);
  data.copy(b, 4);
  return b;
}

const strAttr = (type: number, s: string) => attr(type, Buffer.concat([Buffer.from(s), Buffer.alloc(1)]));
function u32Attr(type: number, v: number): Buffer {
  const d = Buffer.alloc(4);
  d.writeUInt32LE(v);
  return attr(type, d);
}

let seq = 0;
function message(type: number, flags: number, body: Buffer, attrs: Buffer[] = []): Buffer {
  const payload = Buffer.concat([body, ...attrs]);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + payload.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(NLM_F_REQUEST | flags, 6);
  h.writeUInt32LE(++seq, 8);
  return Buffer.concat([h, payload]);
}

/** struct ifinfomsg */
function ifinfo(index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

/** The rtattrs of a message after its fixed header of `fixed` bytes. */
function attrs(msg: Buffer, fixed: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 16 + fixed;
  const end = msg.readUInt32LE(0);
  while (off + 4 <= end) {
    const len = msg.readUInt16LE(off);
    if (len < 4) break;
    out.set(msg.readUInt16LE(off + 2) & 0x3fff, msg.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export interface Link {
  index: number;
  name: string;
  flags: number;
}

/** The link called `name` in the runtime's network namespace (throws ENODEV when there is none). */
export function getLink(name: string): Link {
  const [reply] = addon().netlinkRoute(message(RTM_GETLINK, NLM_F_ACK, ifinfo(0), [strAttr(IFLA_IFNAME, name)]), `get link ${name}`);
  if (!reply) throw Object.assign(new Error(`netlink get link ${name}: no reply`), { code: 'EPROTO' });
  const a = attrs(reply, 16);
  const ifname = a.get(IFLA_IFNAME);
  return { index: reply.readInt32LE(16 + 4), flags: reply.readUInt32LE(16 + 8), name: ifname ? ifname.toString('utf8').replace(/\0.*$/s, '') : name };
}

export interface Address {
  family: number;
  prefixlen: number;
  flags: number;
  scope: number;
  index: number;
  /** Text form, "10.0.0.2" or "fd00::2". */
  address: string;
}

function addressText(family: number, raw: Buffer): string {
  if (family === AF_INET) return [...raw.subarray(0, 4)].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(raw.readUInt16BE(i).toString(16));
  // Shorten the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Every address of the link with index `index`, IPv4 and IPv6. */
export function getAddresses(index: number): Address[] {
  const req = message(RTM_GETADDR, NLM_F_DUMP, Buffer.alloc(8));
  const out: Address[] = [];
  for (const m of addon().netlinkRoute(req, 'get addresses')) {
    const family = m.readUInt8(16);
    const ifIndex = m.readUInt32LE(16 + 4);
    if (ifIndex !== index || (family !== AF_INET && family !== AF_INET6)) continue;
    const a = attrs(m, 8);
    // IPv4's own address is IFA_LOCAL (IFA_ADDRESS is the peer on point-to-point links).
    const raw = (family === AF_INET ? a.get(IFA_LOCAL) : undefined) ?? a.get(IFA_ADDRESS);
    if (!raw) continue;
    const extFlags = a.get(IFA_FLAGS);
    out.push({
      family, prefixlen: m.readUInt8(17), flags: extFlags && extFlags.length >= 4 ? extFlags.readUInt32LE(0) : m.readUInt8(18),
      scope: m.readUInt8(19), index: ifIndex, address: addressText(family, raw),
    });
  }
  return out;
}

/** Sets the link's IFF_UP flag on or off. */
export function setLinkUp(index: number, up: boolean): void {
  addon().netlinkRoute(message(RTM_NEWLINK, NLM_F_ACK, ifinfo(index, up ? IFF_UP : 0, IFF_UP)), `set link ${index} ${up ? 'up' : 'down'}`);
}

/**
 * Moves the link into the network namespace open at `nsFd` (an fd of this
 * process), naming it `newName` there, in one request — so the name is
 * checked against the target namespace, and a "%d" template is filled there.
 */
export function moveLink(index: number, newName: string, nsFd: number): void {
  addon().netlinkRoute(message(RTM_NEWLINK, NLM_F_ACK, ifinfo(index), [strAttr(IFLA_IFNAME, newName), u32Attr(IFLA_NET_NS_FD, nsFd)]), `move link ${index}`);
}
