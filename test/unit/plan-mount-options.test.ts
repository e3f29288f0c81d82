// runtime-spec mount options → mount_setattr bits, propagation, recursion and
// filesystem data (src/plan/mount-options.ts), without root.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { ATTR, MS, parseMountOptions, rootPropagationFlags } from '../../src/plan/mount-options';
import { RECURSIVE } from '../../src/plan/schema';

const parse = (opts: string[], type = 'tmpfs') => parseMountOptions(opts, type, 'mounts[3]');

test('no options: nothing set, nothing cleared, not a bind', () => {
  const r = parse([]);
  assert.equal(r, { bind: false, recursive: 0, attrSet: 0n, attrClear: 0n, propagation: 0, data: [], copyUp: false, warnings: [] });
});

test('each flag option sets or clears its attribute bit', () => {
  const cases: [string, bigint, bigint][] = [
    ['ro', ATTR.RDONLY, 0n],
    ['rw', 0n, ATTR.RDONLY],
    ['nosuid', ATTR.NOSUID, 0n],
    ['suid', 0n, ATTR.NOSUID],
    ['nodev', ATTR.NODEV, 0n],
    ['dev', 0n, ATTR.NODEV],
    ['noexec', ATTR.NOEXEC, 0n],
    ['exec', 0n, ATTR.NOEXEC],
    ['noatime', ATTR.NOATIME, ATTR.ATIME_MASK & ~ATTR.NOATIME],
    ['strictatime', ATTR.STRICTATIME, ATTR.ATIME_MASK & ~ATTR.STRICTATIME],
    ['relatime', 0n, ATTR.ATIME_MASK],
    ['norelatime', 0n, ATTR.ATIME_MASK],
    ['atime', 0n, ATTR.ATIME_MASK],
    ['nostrictatime', 0n, ATTR.ATIME_MASK],
    ['nodiratime', ATTR.NODIRATIME, 0n],
    ['diratime', 0n, ATTR.NODIRATIME],
    ['nosymfollow', ATTR.NOSYMFOLLOW, 0n],
    ['symfollow', 0n, ATTR.NOSYMFOLLOW],
  ];
  for (const [opt, set, clear] of cases) {
    const r = parse([opt]);
    assert.is(r.attrSet, set, `${opt} sets`);
    assert.is(r.attrClear & ~ATTR.ATIME_MASK, clear & ~ATTR.ATIME_MASK, `${opt} clears`);
    if (clear & ATTR.ATIME_MASK) assert.is(r.attrClear & ATTR.ATIME_MASK, ATTR.ATIME_MASK & ~set, `${opt} clears the atime field`);
    assert.is(r.attrSet & r.attrClear, 0n, `${opt}: a bit is never both set and cleared`);
    assert.equal(r.data, [], `${opt} is not filesystem data`);
    assert.is(r.recursive, 0);
  }
});

test('the attribute values are linux/mount.h\'s', () => {
  assert.is(ATTR.RDONLY, 0x1n);
  assert.is(ATTR.NOSUID, 0x2n);
  assert.is(ATTR.NODEV, 0x4n);
  assert.is(ATTR.NOEXEC, 0x8n);
  assert.is(ATTR.ATIME_MASK, 0x70n);
  assert.is(ATTR.NOATIME, 0x10n);
  assert.is(ATTR.STRICTATIME, 0x20n);
  assert.is(ATTR.NODIRATIME, 0x80n);
  assert.is(ATTR.NOSYMFOLLOW, 0x200000n);
  assert.is(MS.PRIVATE, 0x40000);
  assert.is(MS.SLAVE, 0x80000);
  assert.is(MS.SHARED, 0x100000);
  assert.is(MS.UNBINDABLE, 0x20000);
  assert.is(MS.REC, 0x4000);
});

test('later options win: ro then rw is rw, rw then ro is ro', () => {
  const a = parse(['ro', 'rw']);
  assert.is(a.attrSet & ATTR.RDONLY, 0n);
  assert.is(a.attrClear & ATTR.RDONLY, ATTR.RDONLY);
  const b = parse(['rw', 'ro']);
  assert.is(b.attrSet & ATTR.RDONLY, ATTR.RDONLY);
  assert.is(b.attrClear & ATTR.RDONLY, 0n);
  const c = parse(['noatime', 'relatime']);
  assert.is(c.attrSet & ATTR.ATIME_MASK, 0n, 'relatime after noatime: relatime (0) wins');
  const d = parse(['relatime', 'strictatime']);
  assert.is(d.attrSet & ATTR.ATIME_MASK, ATTR.STRICTATIME);
});

test('a combination sets every bit', () => {
  const r = parse(['nosuid', 'nodev', 'noexec', 'ro', 'noatime']);
  assert.is(r.attrSet, ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC | ATTR.RDONLY | ATTR.NOATIME);
});

test('bind and rbind', () => {
  assert.ok(parse(['bind'], 'none').bind);
  assert.is(parse(['bind'], 'none').recursive, 0);
  const r = parse(['rbind'], 'none');
  assert.ok(r.bind);
  assert.is(r.recursive & RECURSIVE.BIND, RECURSIVE.BIND);
  assert.ok(parse([], 'bind').bind, 'type "bind" alone is a bind');
  assert.not.ok(parse([], 'tmpfs').bind);
  assert.not.ok(parse([], undefined as unknown as string).bind);
});

test('propagation options, and their recursive variants', () => {
  for (const [opt, flag] of [['private', MS.PRIVATE], ['slave', MS.SLAVE], ['shared', MS.SHARED], ['unbindable', MS.UNBINDABLE]] as const) {
    const r = parse([opt]);
    assert.is(r.propagation, flag, opt);
    assert.is(r.recursive & RECURSIVE.ATTR, 0, `${opt} is not recursive`);
    const rr = parse([`r${opt}`]);
    assert.is(rr.propagation, flag, `r${opt}`);
    assert.is(rr.recursive & RECURSIVE.ATTR, RECURSIVE.ATTR, `r${opt} is recursive`);
    assert.equal(rr.data, []);
  }
  assert.is(parse(['shared', 'private']).propagation, MS.PRIVATE, 'the last propagation wins');
});

test('recursive attribute variants (rro, rnosuid, ...) set the bit and RECURSIVE.ATTR', () => {
  const r = parse(['rro', 'rnosuid', 'rnodev', 'rnoexec', 'rnoatime'], 'none');
  assert.is(r.attrSet, ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC | ATTR.NOATIME);
  assert.is(r.recursive & RECURSIVE.ATTR, RECURSIVE.ATTR);
  const rw = parse(['rrw'], 'none');
  assert.is(rw.attrClear & ATTR.RDONLY, ATTR.RDONLY);
  assert.is(rw.recursive & RECURSIVE.ATTR, RECURSIVE.ATTR);
  assert.is(parse(['rbind', 'rro'], 'none').recursive, RECURSIVE.BIND | RECURSIVE.ATTR);
});

test('everything else is filesystem data, in order', () => {
  const r = parse(['nosuid', 'size=65536k', 'mode=755', 'uid=1000', 'nr_inodes=100', 'newinstance', 'ptmxmode=0666']);
  assert.equal(r.data, ['size=65536k', 'mode=755', 'uid=1000', 'nr_inodes=100', 'newinstance', 'ptmxmode=0666']);
  assert.is(r.attrSet, ATTR.NOSUID);
});

test('superblock flags (sync, dirsync, mand, lazytime, silent) go to the filesystem, not to a bind', () => {
  assert.equal(parse(['sync', 'dirsync', 'lazytime', 'silent', 'mand']).data, ['sync', 'dirsync', 'lazytime', 'silent', 'mand']);
  assert.equal(parse(['sync', 'dirsync', 'lazytime'], 'bind').data, []);
});

test('a bind mount carries no filesystem data', () => {
  assert.equal(parse(['bind', 'size=1m', 'mode=700'], 'none').data, []);
});

test('options without effect are accepted silently', () => {
  for (const opt of ['defaults', 'async', 'loud', 'nomand', 'iversion', 'noiversion', 'nolazytime', 'remount', '']) {
    const r = parse([opt]);
    assert.equal([r.attrSet, r.attrClear, r.propagation, r.data, r.warnings], [0n, 0n, 0, [], []], opt);
  }
});

test('tmpcopyup on a tmpfs asks for a copy-up and is not filesystem data', () => {
  const r = parse(['tmpcopyup', 'mode=755'], 'tmpfs');
  assert.equal(r.data, ['mode=755']);
  assert.is(r.copyUp, true);
  assert.equal(r.warnings, []);
});

test('tmpcopyup on anything but tmpfs is refused naming mounts[N].options', () => {
  try {
    parse(['tmpcopyup'], 'proc');
    assert.unreachable('tmpcopyup accepted on proc');
  } catch (e) {
    assert.match((e as Error).message, 'mounts[3].options');
  }
});

test('idmap and ridmap mark an idmapped mount (ridmap: recursively); the last one given wins, as in runc', () => {
  assert.is(parse(['bind', 'idmap'], 'none').idmap, 'idmap');
  assert.is(parse(['rbind', 'ridmap'], 'none').idmap, 'ridmap');
  assert.is(parse(['rbind', 'ridmap', 'idmap'], 'none').idmap, 'idmap');
  assert.is(parse(['rbind'], 'none').idmap, undefined);
  assert.equal(parse(['bind', 'idmap'], 'none').data, [], 'not passed to the filesystem');
});

test('rootPropagationFlags: every value, the rslave default and an unknown one', () => {
  assert.is(rootPropagationFlags(undefined), MS.SLAVE | MS.REC);
  assert.is(rootPropagationFlags(''), MS.SLAVE | MS.REC);
  const table: [string, number][] = [
    ['private', MS.PRIVATE], ['rprivate', MS.PRIVATE | MS.REC],
    ['slave', MS.SLAVE], ['rslave', MS.SLAVE | MS.REC],
    ['shared', MS.SHARED], ['rshared', MS.SHARED | MS.REC],
    ['unbindable', MS.UNBINDABLE], ['runbindable', MS.UNBINDABLE | MS.REC],
  ];
  for (const [v, f] of table) assert.is(rootPropagationFlags(v), f, v);
  try {
    rootPropagationFlags('Shared');
    assert.unreachable('case matters');
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).configPath, 'linux.rootfsPropagation');
  }
});

test.run();
