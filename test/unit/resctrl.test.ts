// linux.intelRdt against a fake resctrl tree in a temp dir (this host's
// kernel has no resctrl: /sys/fs/resctrl is absent and "resctrl" is not in
// /proc/filesystems). Checked: which group, when it is made, what is written
// to its schemata file and in which order, when existing schemata are only
// compared, the MON group, what delete removes, and the one-line errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { removeIntelRdt, resctrlMount, resctrlTasksFiles, schemataMismatch, setupIntelRdt, type ResctrlFs } from '../../src/runtime/resctrl';
import type { IntelRdt } from '../../src/spec/types';

/**
 * A resctrl tree in a temp dir that acts like the kernel's: mkdir of a group
 * fills it (schemata, tasks, mon_groups), rmdir takes the files along, each
 * schemata write is recorded and applied per resource line, and a line can be
 * refused (EINVAL, with the reason in info/last_cmd_status).
 */
class FakeResctrl implements ResctrlFs {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-resctrl-'));
  readonly writes: { file: string; data: string }[] = [];
  refuse?: (line: string) => string | undefined;

  constructor(opts: { monitoring?: boolean } = {}) {
    fs.mkdirSync(path.join(this.root, 'info', 'L3'), { recursive: true });
    fs.writeFileSync(path.join(this.root, 'info', 'last_cmd_status'), 'ok\n');
    if (opts.monitoring !== false) fs.mkdirSync(path.join(this.root, 'info', 'L3_MON'));
    this.fill(this.root, '    L3:0=7ff;1=7ff\n    MB:0=100;1=100\n');
  }

  private fill(dir: string, schemata: string): void {
    fs.mkdirSync(path.join(dir, 'mon_groups'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'schemata'), schemata);
    fs.writeFileSync(path.join(dir, 'tasks'), '');
  }

  /** A group someone else made (closID). */
  group(name: string, schemata: string): string {
    const dir = path.join(this.root, name);
    fs.mkdirSync(dir);
    this.fill(dir, schemata);
    return dir;
  }

  exists(p: string): boolean { return fs.existsSync(p); }
  readdir(p: string): string[] { return fs.readdirSync(p); }
  read(p: string): string { return fs.readFileSync(p, 'utf8'); }
  mkdir(p: string): void {
    fs.mkdirSync(p);
    if (path.basename(path.dirname(p)) === 'mon_groups') fs.writeFileSync(path.join(p, 'tasks'), '');
    else this.fill(p, fs.readFileSync(path.join(this.root, 'schemata'), 'utf8'));
  }
  rmdir(p: string): void {
    if (!fs.existsSync(p)) throw Object.assign(new Error(`rmdir ${p}`), { code: 'ENOENT' });
    fs.rmSync(p, { recursive: true });
  }
  write(p: string, data: string): void {
    this.writes.push({ file: p, data });
    const why = this.refuse?.(data.trim());
    if (why) {
      fs.writeFileSync(path.join(this.root, 'info', 'last_cmd_status'), `${why}\n`);
      throw Object.assign(new Error(`write ${p}`), { code: 'EINVAL' });
    }
    // The kernel replaces the domains named for that resource.
    const [res] = data.trim().split(':');
    const lines = this.read(p).split('\n').filter((l) => l.trim() && l.trim().split(':')[0] !== res);
    fs.writeFileSync(p, [...lines, data.trim()].join('\n') + '\n');
  }
  cleanup(): void { fs.rmSync(this.root, { recursive: true, force: true }); }
}

function withFake(fn: (fx: FakeResctrl) => void, opts?: { monitoring?: boolean }): void {
  const fx = new FakeResctrl(opts);
  try { fn(fx); } finally { fx.cleanup(); }
}

function expectError(fn: () => unknown, code: string, configPath: string, text: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CapsaError);
    const ce = e as CapsaError;
    assert.is(ce.code, code, ce.message);
    assert.is(ce.configPath, configPath, ce.message);
    assert.ok(ce.message.startsWith(`config.${configPath}: `), ce.message);
    assert.match(ce.message, text);
    assert.not.match(ce.message, /\n/);
    return;
  }
  assert.unreachable('expected an error');
}

const noWarning = (m: string) => assert.unreachable(m);

test('resctrlMount: the resctrl mount point from mountinfo, or none', () => {
  const info = [
    '22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw',
    '40 22 0:35 / /sys/fs/res\\040ctrl rw,relatime - resctrl resctrl rw,mba_MBps',
  ].join('\n');
  assert.is(resctrlMount(info), '/sys/fs/res ctrl');
  assert.is(resctrlMount('22 1 0:21 / /sys rw - sysfs sysfs rw'), undefined);
});

test('not mounted: one line naming linux.intelRdt, nothing made', () => {
  expectError(() => setupIntelRdt({ closID: 'gold' }, 'c1', undefined), 'UNSUPPORTED', 'linux.intelRdt', /resctrl filesystem, which is not mounted on this host/);
});

test('no closID: a group named after the container; l3CacheSchema, memBwSchema, then schemata, one write each; delete removes it', () => {
  withFake((fx) => {
    const rdt: IntelRdt = { l3CacheSchema: 'L3:0=f0;1=f', memBwSchema: 'MB:0=20;1=70', schemata: ['L2:0=3', 'MB:0=30'] };
    const rec = setupIntelRdt(rdt, 'c1', fx.root, fx);
    const dir = path.join(fx.root, 'c1');
    assert.equal(rec, { group: dir, removeGroup: true });
    assert.equal(fx.writes, ['L3:0=f0;1=f\n', 'MB:0=20;1=70\n', 'L2:0=3\n', 'MB:0=30\n'].map((data) => ({ file: path.join(dir, 'schemata'), data })));
    assert.match(fx.read(path.join(dir, 'schemata')), /^MB:0=30$/m, 'schemata last, as the spec orders');
    assert.equal(resctrlTasksFiles(rec), [path.join(dir, 'tasks')]);
    removeIntelRdt(rec, noWarning, fx);
    assert.not.ok(fx.exists(dir), 'delete removes the group capsa made and named');
  });
});

test('no closID and no schemata: the group is made, no schemata file is written', () => {
  withFake((fx) => {
    const rec = setupIntelRdt({}, 'c2', fx.root, fx);
    assert.equal(rec, { group: path.join(fx.root, 'c2'), removeGroup: true });
    assert.ok(fx.exists(rec.group));
    assert.equal(fx.writes, []);
  });
});

test('closID of an existing group: joined, never written, never removed; the schemata asked for must be what it has (numerically)', () => {
  withFake((fx) => {
    const dir = fx.group('gold', '    L3:0=0f0;1=01f\n    MB:0= 20;1= 70\n');
    const rec = setupIntelRdt({ closID: 'gold', l3CacheSchema: 'L3:0=f0;1=1f', memBwSchema: 'MB:0=20' }, 'c3', fx.root, fx);
    assert.equal(rec, { group: dir, removeGroup: false });
    assert.equal(fx.writes, [], 'not written');
    removeIntelRdt(rec, noWarning, fx);
    assert.ok(fx.exists(dir), 'a closID group stays');
    expectError(() => setupIntelRdt({ closID: 'gold', memBwSchema: 'MB:0=50' }, 'c3', fx.root, fx), 'INVALID_CONFIG', 'linux.intelRdt.memBwSchema', /resctrl group .*gold exists with other schemata \("MB:0=50" is not in/);
    expectError(() => setupIntelRdt({ closID: 'gold', schemata: ['L3:0=f0', 'L2:0=1'] }, 'c3', fx.root, fx), 'INVALID_CONFIG', 'linux.intelRdt.schemata[1]', /"L2:0=1"/);
    // Nothing asked: any existing group is joined as it is.
    assert.equal(setupIntelRdt({ closID: 'gold' }, 'c3', fx.root, fx), { group: dir, removeGroup: false });
    assert.equal(fx.writes, []);
  });
});

test('closID of a missing group: made and written when schemata are given, kept on delete; without schemata an error naming closID', () => {
  withFake((fx) => {
    expectError(() => setupIntelRdt({ closID: 'silver' }, 'c4', fx.root, fx), 'INVALID_CONFIG', 'linux.intelRdt.closID', /resctrl group .*silver does not exist/);
    assert.not.ok(fx.exists(path.join(fx.root, 'silver')));
    const rec = setupIntelRdt({ closID: 'silver', schemata: ['L3:0=3'] }, 'c4', fx.root, fx);
    assert.equal(rec, { group: path.join(fx.root, 'silver'), removeGroup: false });
    assert.equal(fx.writes.map((w) => w.data), ['L3:0=3\n']);
    removeIntelRdt(rec, noWarning, fx);
    assert.ok(fx.exists(rec.group), 'the spec: a closID group is not removed, even one the runtime made');
  });
});

test('closID "/": the root group (default CLOS), compared, not written', () => {
  withFake((fx) => {
    assert.equal(setupIntelRdt({ closID: '/', l3CacheSchema: 'L3:0=7ff' }, 'c5', fx.root, fx), { group: fx.root, removeGroup: false });
    assert.equal(fx.writes, []);
    assert.equal(resctrlTasksFiles({ group: fx.root, removeGroup: false }), [path.join(fx.root, 'tasks')]);
  });
});

test('enableMonitoring: a MON group named after the container; tasks files in join order; delete removes only it', () => {
  withFake((fx) => {
    const dir = fx.group('gold', 'L3:0=ff\n');
    const rec = setupIntelRdt({ closID: 'gold', enableMonitoring: true }, 'c6', fx.root, fx);
    const mon = path.join(dir, 'mon_groups', 'c6');
    assert.equal(rec, { group: dir, removeGroup: false, monitor: mon });
    assert.ok(fx.exists(mon));
    assert.equal(resctrlTasksFiles(rec), [path.join(dir, 'tasks'), path.join(mon, 'tasks')]);
    removeIntelRdt(rec, noWarning, fx);
    assert.not.ok(fx.exists(mon), 'the MON group is removed');
    assert.ok(fx.exists(dir), 'the closID group stays');
    // 1.1/1.2's names ask for the same.
    assert.is(setupIntelRdt({ closID: 'gold', enableCMT: true }, 'c7', fx.root, fx).monitor, path.join(dir, 'mon_groups', 'c7'));
    // Our own group and its MON group both go.
    const own = setupIntelRdt({ enableMonitoring: true }, 'c8', fx.root, fx);
    removeIntelRdt(own, noWarning, fx);
    assert.not.ok(fx.exists(own.group));
  });
});

test('enableMonitoring where resctrl has none: error naming it, the group made for it removed again', () => {
  withFake((fx) => {
    expectError(() => setupIntelRdt({ enableMonitoring: true }, 'c8', fx.root, fx), 'UNSUPPORTED', 'linux.intelRdt.enableMonitoring', /no monitoring/);
    assert.not.ok(fx.exists(path.join(fx.root, 'c8')), 'nothing left');
  }, { monitoring: false });
});

test('no free RMIDs (ENOSPC) for the MON group: said so, naming the field', () => {
  withFake((fx) => {
    const mkdir = fx.mkdir.bind(fx);
    fx.mkdir = (p) => { if (p.includes('mon_groups')) throw Object.assign(new Error('mkdir'), { code: 'ENOSPC' }); mkdir(p); };
    expectError(() => setupIntelRdt({ enableMonitoring: true }, 'c9', fx.root, fx), 'INVALID_CONFIG', 'linux.intelRdt.enableMonitoring', /no free monitoring IDs/);
    assert.not.ok(fx.exists(path.join(fx.root, 'c9')), 'the group made for it is removed');
  });
});

test('a group named after the container that already exists is not taken over', () => {
  withFake((fx) => {
    fx.group('c10', '');
    expectError(() => setupIntelRdt({}, 'c10', fx.root, fx), 'INVALID_CONFIG', 'linux.intelRdt', /resctrl group .*c10 already exists/);
    assert.ok(fx.exists(path.join(fx.root, 'c10')));
  });
});

test('a schemata line the kernel refuses: its field named with the kernel\'s reason (info/last_cmd_status); the group removed', () => {
  withFake((fx) => {
    fx.refuse = (line) => (line.startsWith('L9') ? 'Unknown or unsupported resource name \'L9\'' : undefined);
    expectError(() => setupIntelRdt({ l3CacheSchema: 'L3:0=f', schemata: ['L2:0=1', 'L9:0=1'] }, 'c11', fx.root, fx),
      'INVALID_CONFIG', 'linux.intelRdt.schemata[1]', /write "L9:0=1" to .*c11\/schemata: Unknown or unsupported resource name 'L9'/);
    assert.not.ok(fx.exists(path.join(fx.root, 'c11')), 'nothing left');
  });
});

test('schemataMismatch: per resource and domain, hex bitmasks and decimal MB, whatever the padding', () => {
  const current = '    L3:0=07f0;1=001f\n    MB:0= 20;1= 70\n    L2:0=f;1=f\n';
  assert.is(schemataMismatch(['L3:0=7f0;1=1f', 'MB:0=20;1=70', 'L2:1=F'], current), undefined);
  assert.is(schemataMismatch(['L3:0=7f0;1=1e'], current), 'L3:0=7f0;1=1e');
  assert.is(schemataMismatch(['MB:1=7'], current), 'MB:1=7');
  assert.is(schemataMismatch(['L3CODE:0=1'], current), 'L3CODE:0=1');
  assert.is(schemataMismatch(['garbage'], current), 'garbage');
});

test.run();
