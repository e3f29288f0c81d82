// scripts/bench --quick, as CI runs it: it must still work end to end and
// print its table. No timing is asserted (speed lives in the bench itself).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { capsaSuite } from '../helpers/capsa';
import { REPO_ROOT } from '../helpers/rootfs';

const { test } = capsaSuite('bench-quick');

test('scripts/bench --quick prints the table: every row, a number per capsa column, runc and crun compared when installed', () => {
  const out = execFileSync(path.join(REPO_ROOT, 'scripts', 'bench'), ['--quick'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  const lines = out.split('\n');
  const header = lines.find((l) => l.includes('capsa CLI (') && l.includes('capsa library'));
  assert.ok(header, out);
  const columns = header!.trim().split(/\s{2,}/);
  const col = (name: string) => columns.findIndex((c) => c.startsWith(name));
  const runcInstalled = fs.existsSync('/usr/sbin/runc') || fs.existsSync('/usr/bin/runc');
  const rows: [string, boolean][] = [['run (ms)', true], ['create (ms)', true], ['state (ms)', true], ['start (ms)', true], ['exec (ms)', true], ['kill (ms)', false], ['delete (ms)', true], ['waiting-init RSS (MB)', true], ['50 concurrent run, wall (ms)', true]];
  for (const [row, library] of rows) {
    const line = lines.find((l) => l.startsWith(row));
    assert.ok(line, `row "${row}" in:\n${out}`);
    const cells = line!.slice(row.length).trim().split(/\s{2,}/);
    const num = (name: string) => Number(cells[col(name)]);
    assert.ok(num('capsa CLI (') > 0, `${row} / capsa CLI: "${cells[col('capsa CLI (')]}"`);
    if (library) assert.ok(num('capsa library') > 0, `${row} / capsa library: "${cells[col('capsa library')]}"`);
    if (runcInstalled) assert.ok(num('runc') > 0, `${row} / runc: "${cells[col('runc')]}"`);
    // On a hybrid host the bench hides the cgroup2 mount so crun 1.8 runs (see scripts/bench.mjs).
    if (crunInstalled) assert.ok(num('crun') > 0, `${row} / crun: "${cells[col('crun')]}"\n${out}`);
  }
  assert.ok(lines.some((l) => /^dist\/capsa \((compiled|node)\): [\d.]+ MB; --version from a cold page cache [\d.]+ ms/.test(l)), out);
  assert.ok(lines.some((l) => l.startsWith('floors (ms, wall / CPU): node -e 0 ')), out);
  if (crunInstalled && hybridHost()) assert.ok(lines.some((l) => l.startsWith('cgroups: v1 only for every runtime')), out);
});

const crunInstalled = fs.existsSync('/usr/bin/crun') || fs.existsSync('/usr/sbin/crun');

/** v1 hierarchies and a cgroup2 mount side by side. */
function hybridHost(): boolean {
  const types = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' - ')[1]?.split(' ')[0]);
  return types.includes('cgroup') && types.includes('cgroup2');
}

test.run();
