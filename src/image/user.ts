// Config.User → process.user, per the image-spec conversion rules: numeric
// parts are copied verbatim, names are looked up in the image's own
// /etc/passwd and /etc/group; supplementary groups only for a named user
// without an explicit group.
import { CapsaError } from '../errors';
import type { User } from '../spec/types';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC = /^[0-9]+$/;

function fields(text: string | undefined): string[][] {
  return (text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

export function parsePasswd(text: string | undefined): PasswdEntry[] {
  return fields(text)
    .filter((f) => f.length >= 4 && NUMERIC.test(f[2]!) && NUMERIC.test(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) }));
}

export function parseGroup(text: string | undefined): GroupEntry[] {
  return fields(text)
    .filter((f) => f.length >= 3 && NUMERIC.test(f[2]!))
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }));
}

/** Resolves user, uid, user:group, uid:gid, uid:group or user:gid. Empty means root. */
export function resolveUser(spec: string | undefined, passwdText: string | undefined, groupText: string | undefined): User {
  const text = (spec ?? '').trim();
  if (text === '') return { uid: 0, gid: 0 };
  const colon = text.indexOf(':');
  const userPart = colon < 0 ? text : text.slice(0, colon);
  const groupPart = colon < 0 ? undefined : text.slice(colon + 1);
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);

  let uid: number;
  let gid: number | undefined;
  let name: string | undefined;
  if (NUMERIC.test(userPart)) {
    uid = Number(userPart);
    const entry = passwd.find((p) => p.uid === uid);
    gid = entry?.gid;
  } else {
    const entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw new CapsaError('IMAGE', `image Config.User ${JSON.stringify(text)}: no user ${JSON.stringify(userPart)} in the image's /etc/passwd`);
    uid = entry.uid;
    gid = entry.gid;
    name = entry.name;
  }

  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new CapsaError('IMAGE', `image Config.User ${JSON.stringify(text)}: no group ${JSON.stringify(groupPart)} in the image's /etc/group`);
      gid = g.gid;
    }
    return { uid, gid };
  }

  const user: User = { uid, gid: gid ?? 0 };
  if (name !== undefined) {
    const extra = [...new Set(groups.filter((g) => g.members.includes(name!) && g.gid !== user.gid).map((g) => g.gid))];
    if (extra.length > 0) user.additionalGids = extra;
  }
  return user;
}
