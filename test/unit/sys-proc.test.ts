// Reading /proc (src/sys/proc.ts): readSmallFile gives what fs.readFileSync
// gives (latin1), for procfs files and for files larger than its first
// buffer, with fs's own error codes; readProcStat on top of it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { isAlive, readProcStat, readSmallFile } from '../../src/sys/proc';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-sysproc-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('readSmallFile: the text readFileSync(latin1) gives, for procfs files (size 0 in stat) and for a 10 KB file of every byte value (past its first 4 KB buffer), and an empty file', () => {
  for (const f of ['/proc/self/stat', '/proc/self/status', '/proc/self/mountinfo']) {
    // The same process reads both: its stat's times may tick between reads, so compare the parts that do not move.
    const mine = readSmallFile(f);
    const theirs = fs.readFileSync(f, 'latin1');
    if (f.endsWith('/stat')) assert.is(mine.split(' ').slice(0, 5).join(' '), theirs.split(' ').slice(0, 5).join(' '), f);
    else assert.is(mine.split('\n')[0], theirs.split('\n')[0], f);
    assert.ok(mine.length > 0 && Math.abs(mine.length - theirs.length) < 64, `${f}: whole (${mine.length} vs ${theirs.length} chars)`);
  }
  const big = Buffer.alloc(10_240);
  for (let i = 0; i < big.length; i++) big[i] = i % 256;
  fs.writeFileSync(path.join(dir, 'big'), big);
  assert.is(readSmallFile(path.join(dir, 'big')), big.toString('latin1'));
  fs.writeFileSync(path.join(dir, 'empty'), '');
  assert.is(readSmallFile(path.join(dir, 'empty')), '');
  // The first buffer grew: a small file read after it is still whole.
  assert.is(readSmallFile('/proc/self/comm').trim(), fs.readFileSync('/proc/self/comm', 'latin1').trim());
});

test('readSmallFile: a missing file throws fs\'s ENOENT; readProcStat: our own stat parsed, undefined for a pid that names no process', () => {
  try {
    readSmallFile(path.join(dir, 'missing'));
    assert.unreachable('no such file');
  } catch (e) {
    assert.is((e as NodeJS.ErrnoException).code, 'ENOENT');
  }
  const st = readProcStat(process.pid)!;
  const text = fs.readFileSync(`/proc/${process.pid}/stat`, 'latin1');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  assert.is(st.ppid, Number(fields[1]));
  assert.is(st.startTime, Number(fields[19]));
  assert.is(st.state, 'R');
  assert.ok(isAlive(process.pid, st.startTime));
  // Above pid_max (at most 2^22): no such process.
  assert.is(readProcStat(4_194_305), undefined);
});

test.run();
