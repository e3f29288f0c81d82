// realCgroupFs against plain files in a temp dir: what it opens, creates and
// writes. (That the kernel takes one rule per write is checked against real
// cgroupfs by the integration tests' devices.list read-backs.)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { realCgroupFs, ValueWriteError } from '../../src/cgroups/fsio';

function inTempDir(fn: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-fsio-'));
  try {
    fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('writeEach truncates the file once, then writes every value in order', () => {
  inTempDir((dir) => {
    const file = path.join(dir, 'devices.allow');
    fs.writeFileSync(file, 'old contents that must go');
    realCgroupFs.writeEach(file, ['c 1:3 rwm', 'c 1:5 rwm']);
    assert.is(fs.readFileSync(file, 'utf8'), 'c 1:3 rwmc 1:5 rwm');
  });
});

test('writeEach on a missing file throws ENOENT for the first value and creates nothing', () => {
  inTempDir((dir) => {
    const file = path.join(dir, 'devices.allow');
    try {
      realCgroupFs.writeEach(file, ['a', 'b']);
      assert.unreachable('expected ENOENT');
    } catch (e) {
      assert.instance(e, ValueWriteError);
      assert.is((e as ValueWriteError).value, 'a');
      assert.is(((e as ValueWriteError).cause as NodeJS.ErrnoException).code, 'ENOENT');
    }
    assert.not.ok(fs.existsSync(file));
  });
});

test('write on a missing file throws the plain ENOENT (not wrapped) and creates nothing', () => {
  inTempDir((dir) => {
    const file = path.join(dir, 'memory.limit_in_bytes');
    try {
      realCgroupFs.write(file, '1');
      assert.unreachable('expected ENOENT');
    } catch (e) {
      assert.not.instance(e, ValueWriteError);
      assert.is((e as NodeJS.ErrnoException).code, 'ENOENT');
    }
    assert.not.ok(fs.existsSync(file));
  });
});

test.run();
