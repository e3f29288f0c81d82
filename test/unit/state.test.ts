// The state store (src/state/store.ts) and container ID checks
// (src/state/id.ts) in a temp root, without root privileges.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { checkContainerId, MAX_ID_LENGTH } from '../../src/state/id';
import { StateStore, type StateRecord } from '../../src/state/store';
import { addon, LOCK_EX, LOCK_NB, LOCK_UN } from '../../src/sys/addon';

function tempRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-state-'));
}

async function withRoot(fn: (root: string, store: StateStore) => Promise<void> | void): Promise<void> {
  const dir = tempRoot();
  try {
    await fn(path.join(dir, 'root'), new StateStore(path.join(dir, 'root')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function record(id: string, extra: Partial<StateRecord> = {}): StateRecord {
  return {
    ociVersion: '1.2.0', id, bundle: '/b', rootfs: '/b/rootfs', created: '2024-01-02T03:04:05.000Z', owner: '',
    annotations: { a: 'b' }, pid: 1234, initStartTime: 5678, creator: { pid: 1, startTime: 2 }, phase: 'created',
    hasPrivatePidNs: true, ...extra,
  };
}

function expectError(fn: () => unknown, code: string, msg: string | RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).code, code, (e as Error).message);
    assert.match((e as Error).message, msg);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

// ---- ids ----

test('valid ids: runc\'s [\\w+-.] alphabet up to the length cap', () => {
  for (const id of ['a', 'A-b_c.d+e', '0', 'capsa-test-1', 'x'.repeat(MAX_ID_LENGTH), '...x', 'a..b']) assert.is(checkContainerId(id), id);
});

test('invalid ids: empty, ".", "..", slashes, spaces, non-ASCII, NUL, too long', () => {
  expectError(() => checkContainerId(''), 'INVALID_ARGUMENT', 'container id cannot be empty');
  expectError(() => checkContainerId(undefined), 'INVALID_ARGUMENT', 'cannot be empty');
  for (const id of ['.', '..', 'a/b', '/abs', '../x', 'a b', 'tab\t', 'ü', 'a\0b', 'semi;colon', 'new\nline', '*']) {
    expectError(() => checkContainerId(id), 'INVALID_ARGUMENT', 'invalid container id');
  }
  expectError(() => checkContainerId('x'.repeat(MAX_ID_LENGTH + 1)), 'INVALID_ARGUMENT', /longer than/);
  expectError(() => checkContainerId('x'.repeat(300)), 'INVALID_ARGUMENT', /longer than/);
  assert.ok(MAX_ID_LENGTH < 255, 'the state dir name stays a valid file name');
});

// ---- claim / open / ids ----

test('claim creates <root>/<id> (and the root) with mode 0700 (no other user may reach exec.fifo or the state)', () => withRoot((root, store) => {
  const dir = store.claim('c1');
  assert.is(dir.id, 'c1');
  assert.is(dir.dir, path.join(root, 'c1'));
  assert.is(fs.statSync(dir.dir).mode & 0o7777, 0o700);
  assert.ok(fs.statSync(root).isDirectory());
  assert.is(dir.statePath, path.join(root, 'c1', 'state.json'));
  assert.is(dir.fifoPath, path.join(root, 'c1', 'exec.fifo'));
}));

test('claim of an existing id is refused with runc\'s message, and the first is untouched', () => withRoot((root, store) => {
  const first = store.claim('dup');
  first.write(record('dup'));
  expectError(() => store.claim('dup'), 'EXISTS', 'container with id exists: dup');
  assert.equal(first.read(), record('dup'));
}));

test('claim checks the id before touching the disk', () => withRoot((root, store) => {
  expectError(() => store.claim('../escape'), 'INVALID_ARGUMENT', 'invalid container id');
  expectError(() => store.claim('a/b'), 'INVALID_ARGUMENT', 'invalid container id');
  assert.not.ok(fs.existsSync(root), 'the root was not even created');
  assert.not.ok(fs.existsSync(path.join(path.dirname(root), 'escape')));
}));

test('open: an existing container, NOT_FOUND "container does not exist" otherwise', () => withRoot((root, store) => {
  store.claim('here');
  assert.is(store.open('here').dir, path.join(root, 'here'));
  expectError(() => store.open('missing'), 'NOT_FOUND', 'container does not exist');
  expectError(() => store.open('..'), 'INVALID_ARGUMENT', 'invalid container id');
}));

test('ids: sorted container dirs only; an absent root is empty', () => withRoot((root, store) => {
  assert.equal(store.ids(), []);
  for (const id of ['b', 'a', 'c-1']) store.claim(id);
  fs.writeFileSync(path.join(root, 'stray-file'), '');
  assert.equal(store.ids(), ['a', 'b', 'c-1']);
}));

// ---- read / write ----

test('write then read round-trips the record; state.json is 0600', () => withRoot((_root, store) => {
  const dir = store.claim('rt');
  assert.is(dir.read(), undefined, 'no state yet');
  const rec = record('rt', { annotations: { 'k.with/slash': 'v "quoted"\n' } });
  dir.write(rec);
  assert.equal(dir.read(), rec);
  assert.is(fs.statSync(dir.statePath).mode & 0o777, 0o600);
  dir.write({ ...rec, pid: 99 });
  assert.is(dir.read()!.pid, 99);
}));

test('write puts a new file in place (rename, or exchange over an old one): no temp files remain, every read parses', () => withRoot((_root, store) => {
  const dir = store.claim('atomic');
  dir.write(record('atomic', { pid: 1 }));
  const inode = fs.statSync(dir.statePath).ino;
  dir.write(record('atomic', { pid: 2 }));
  assert.is.not(fs.statSync(dir.statePath).ino, inode, 'a new file is in place');
  assert.equal(fs.readdirSync(dir.dir), ['state.json']);
  // many writes, each read in between parses completely
  for (let i = 0; i < 200; i++) {
    dir.write(record('atomic', { pid: i, annotations: { big: 'x'.repeat(i * 50) } }));
    assert.is(JSON.parse(fs.readFileSync(dir.statePath, 'utf8')).pid, i);
  }
}));

test('a reader in another process never finds state.json missing or partial while it is rewritten', () => withRoot((_root, store) => {
  const dir = store.claim('swap');
  dir.write(record('swap', { pid: 0 }));
  const stop = path.join(dir.dir, '..', 'stop');
  const ready = path.join(dir.dir, '..', 'ready');
  // Says it is ready, then reads until told to stop; prints "<reads> <failures>"
  // (a failure: no state.json, or one that does not parse).
  const reader = `const fs=require('fs');let n=0,bad=0;fs.writeFileSync(${JSON.stringify(ready)},'');
    while(!fs.existsSync(${JSON.stringify(stop)})){n++;try{JSON.parse(fs.readFileSync(${JSON.stringify(dir.statePath)},'utf8'))}catch(e){bad++}}
    process.stdout.write(n+' '+bad)`;
  const child = spawn(process.execPath, ['-e', reader], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d; });
  return new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => {
      try {
        const [reads, bad] = out.split(' ').map(Number);
        assert.ok(reads! > 0, `the reader read while we wrote (${out})`);
        assert.is(bad, 0, `${bad} of ${reads} reads found no complete state.json`);
        assert.equal(fs.readdirSync(dir.dir), ['state.json'], 'no temporary file left');
        resolve();
      } catch (e) { reject(e); }
    });
    // Once the reader is in its loop, rewrite the state many times, then stop it.
    const writeWhenReady = () => {
      if (child.exitCode !== null) return;
      if (!fs.existsSync(ready)) { setImmediate(writeWhenReady); return; }
      for (let i = 0; i < 2000; i++) dir.write(record('swap', { pid: i, annotations: { pad: 'x'.repeat((i % 7) * 300) } }));
      fs.writeFileSync(stop, '');
    };
    setImmediate(writeWhenReady);
  });
}));

test('a write that cannot complete leaves the old state and no temp file', () => withRoot((_root, store) => {
  const dir = store.claim('fail');
  dir.write(record('fail', { pid: 7 }));
  const tmpName = path.join(dir.dir, `.state.json.${process.pid}`);
  fs.mkdirSync(tmpName); // the temp path is taken by a dir: writeFileSync fails
  try {
    expectError(() => dir.write(record('fail', { pid: 8 })), 'SYSCALL', 'write state of container fail');
    assert.is(dir.read()!.pid, 7);
  } finally {
    fs.rmdirSync(tmpName);
  }
}));

test('a corrupt state.json reads as absent, not as a crash', () => withRoot((_root, store) => {
  const dir = store.claim('corrupt');
  fs.writeFileSync(dir.statePath, '{"id": "corrupt", "pid": ');
  assert.is(dir.read(), undefined);
}));

test('fifoExists follows the exec fifo; remove deletes the dir and everything in it', () => withRoot((root, store) => {
  const dir = store.claim('rm');
  assert.not.ok(dir.fifoExists());
  addon().mkfifo(dir.fifoPath, 0o622);
  assert.ok(dir.fifoExists());
  dir.write(record('rm'));
  dir.remove();
  assert.not.ok(fs.existsSync(path.join(root, 'rm')));
  assert.equal(store.ids(), []);
  dir.remove(); // idempotent
}));

// ---- lock ----

test('lock: exclusive flock on the container dir, released by unlock', async () => withRoot(async (_root, store) => {
  const a = store.claim('locked');
  await a.lock();
  const probe = fs.openSync(a.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    assert.not.ok(addon().flock(probe, LOCK_EX | LOCK_NB), 'held while locked');
    a.unlock();
    assert.ok(addon().flock(probe, LOCK_EX | LOCK_NB), 'free after unlock');
    addon().flock(probe, LOCK_UN);
  } finally {
    fs.closeSync(probe);
  }
  a.unlock(); // a second unlock is harmless
}));

test('lock: a second holder waits until the first unlocks', async () => withRoot(async (_root, store) => {
  const a = store.claim('queue');
  const b = store.open('queue');
  await a.lock();
  let got = false;
  const waiting = b.lock().then(() => { got = true; });
  // let the waiter try a few times: it must not get the lock while a holds it
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 5));
  assert.not.ok(got, 'b did not get the lock while a held it');
  a.unlock();
  await waiting;
  assert.ok(got);
  b.unlock();
}));

test('lock: locking twice through the same handle is a no-op', async () => withRoot(async (_root, store) => {
  const a = store.claim('twice');
  await a.lock();
  await a.lock();
  a.unlock();
  const probe = fs.openSync(a.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    assert.ok(addon().flock(probe, LOCK_EX | LOCK_NB), 'one unlock releases it');
    addon().flock(probe, LOCK_UN);
  } finally {
    fs.closeSync(probe);
  }
}));

test('lock of a container removed meanwhile: NOT_FOUND', async () => withRoot(async (_root, store) => {
  const dir = store.claim('gone');
  dir.remove();
  try {
    await dir.lock();
    assert.unreachable('locked a removed container');
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).code, 'NOT_FOUND');
    assert.match((e as Error).message, 'container does not exist');
  }
}));

test.run();
