// dist/capsa-node, the CLI's Node launcher (dist/capsa where no compiled
// build can be made): it runs the bundle from V8's code cache, writing one
// cache per verb the first time, accepting it afterwards, and replacing a
// cache V8 rejects. Runs a copy of dist/ in a temp dir.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { REPO_ROOT } from '../helpers/rootfs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-launcher-'));
fs.copyFileSync(path.join(REPO_ROOT, 'dist', 'capsa-node'), path.join(dir, 'capsa'));
fs.copyFileSync(path.join(REPO_ROOT, 'dist', 'capsa-cli.js'), path.join(dir, 'capsa-cli.js'));
fs.chmodSync(path.join(dir, 'capsa'), 0o755);
const cacheDir = path.join(dir, '.cache');
const cacheFile = (verb: string) => path.join(cacheDir, `capsa-${verb}-${process.version}.v8`);
const capsa = (...args: string[]) => execFileSync(path.join(dir, 'capsa'), args, { encoding: 'utf8' });

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('first run of a verb writes its code cache; the next run uses it and leaves it alone', () => {
  const out = capsa('--version');
  assert.match(out, /^capsa version /);
  const file = cacheFile('other');
  assert.ok(fs.existsSync(file), 'cache written at exit');
  const first = fs.statSync(file);
  assert.ok(first.size > 1000, `a real V8 cache (${first.size} bytes)`);
  assert.is(capsa('--version'), out);
  const second = fs.statSync(file);
  assert.is(second.ino, first.ino, 'an accepted cache is not rewritten');
  assert.is(second.mtimeMs, first.mtimeMs);
  assert.equal(fs.readdirSync(cacheDir).filter((n) => !n.endsWith('.v8')), [], 'no temp files left');
});

test('each verb has its own cache', () => {
  const out = capsa('spec', '--rootless', '--bundle', dir);
  assert.is(out, '');
  assert.ok(fs.existsSync(path.join(dir, 'config.json')));
  assert.ok(fs.existsSync(cacheFile('spec')));
});

test('a cache V8 rejects (corrupt) still runs the CLI, and is replaced', () => {
  const file = cacheFile('other');
  fs.writeFileSync(file, Buffer.alloc(4096, 7));
  assert.match(capsa('--version'), /^capsa version /);
  const data = fs.readFileSync(file);
  assert.not.ok(data.equals(Buffer.alloc(4096, 7)), 'rewritten with a valid cache');
});

test('an unwritable cache dir only means no cache', () => {
  fs.rmSync(cacheDir, { recursive: true, force: true });
  fs.writeFileSync(cacheDir, 'not a dir');
  try {
    assert.match(capsa('--version'), /^capsa version /);
  } finally {
    fs.rmSync(cacheDir, { force: true });
  }
});

test.run();
