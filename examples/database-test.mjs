#!/usr/bin/env node
// A test suite that needs a database: start it in a container in `before`,
// exec a client inside that container from each test, tear it down in `after`.
//
//   sudo node examples/database-test.mjs        (capsa needs root)
//
// No database image is needed to try it: the "database" is busybox httpd
// serving JSON records from /srv/db, in a rootfs made from the host's static
// busybox, and the "client" is busybox wget run with `exec` in the same
// container — the same shape as postgres + psql, minus the download.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Runtime, spec } from 'capsa';

const runtime = new Runtime({ root: process.env.CAPSA_EXAMPLE_ROOT ?? '/run/capsa' });
const ID = process.env.CAPSA_EXAMPLE_ID ?? `example-db-${process.pid}`;
let bundle;
let db;

// uvu reports per test; this keeps the one summary line capsa's runs end with,
// and counts a failed before() as every test failed (uvu alone would not).
let registered = 0;
let passed = 0;
function it(name, fn) {
  registered++;
  test(name, async () => {
    await fn();
    passed++;
  });
}
process.on('exit', () => {
  const failed = registered - passed;
  if (failed) process.exitCode = 1;
  console.log(`${passed} passed, ${failed} failed`);
});

/** A bundle dir with rootfs/: static busybox, and the database's records. */
function makeBundle() {
  const dir = mkdtempSync(join(tmpdir(), 'capsa-example-'));
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'srv/db/users']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync('/usr/bin/busybox', join(rootfs, 'bin/busybox')); // statically linked on Debian
  symlinkSync('busybox', join(rootfs, 'bin/sh'));
  writeFileSync(join(rootfs, 'srv/db/users/1.json'), JSON.stringify({ id: 1, name: 'ada' }));
  writeFileSync(join(rootfs, 'srv/db/users/2.json'), JSON.stringify({ id: 2, name: 'grace' }));
  return dir;
}

/** Runs a client command inside the database container; resolves to its exit code and output. */
async function client(...args) {
  const proc = await db.exec({
    args: ['/bin/busybox', ...args], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'],
  }, { stdio: ['ignore', 'pipe', 'pipe'] });
  const [stdout, stderr, { exitCode }] = await Promise.all([text(proc.io.stdio[1]), text(proc.io.stdio[2]), proc.wait()]);
  return { exitCode, stdout, stderr };
}

async function text(stream) {
  let s = '';
  for await (const chunk of stream) s += chunk;
  return s;
}

/** Resolves once `line` appears on the stream (the server's "ready to accept connections"). */
function waitForLine(stream, line) {
  return new Promise((resolve, reject) => {
    let seen = '';
    stream.on('data', (d) => {
      seen += d;
      if (seen.split('\n').includes(line)) resolve();
    });
    stream.on('end', () => reject(new Error(`database exited before printing "${line}"; it printed: ${seen}`)));
  });
}

test.before(async () => {
  try {
    await startDatabase();
  } catch (e) {
    console.error('before: could not start the database:', e);
    throw e;
  }
});

async function startDatabase() {
  bundle = makeBundle();
  const config = spec()
    // A new network namespace starts with loopback down: bring it up, start the
    // server (httpd binds before it backgrounds), say so, and keep PID 1 alive.
    .withArgs('/bin/sh', '-c', 'busybox ip link set lo up && busybox httpd -p 127.0.0.1:5432 -h /srv/db && echo ready && exec busybox sleep 2147483647')
    .addCapability('NET_ADMIN')
    .withHostname('db')
    .withMemoryLimit('64m')
    .withPidsLimit(32)
    .build();
  db = await runtime.create(ID, { bundle, spec: config, stdio: ['ignore', 'pipe', 'inherit'] });
  await db.start();
  await waitForLine(db.io.stdio[1], 'ready');
}

test.after(async () => {
  await db?.delete({ force: true }); // kills what is left and removes cgroups and state
  if (bundle) rmSync(bundle, { recursive: true, force: true });
});

it('a client reads a record', async () => {
  const r = await client('wget', '-q', '-O', '-', 'http://127.0.0.1:5432/users/1.json');
  assert.is(r.exitCode, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), { id: 1, name: 'ada' });
});

it('a missing record is an error for the client', async () => {
  const r = await client('wget', '-q', '-O', '-', 'http://127.0.0.1:5432/users/404.json');
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, /404/, `exit ${r.exitCode}, stderr: ${JSON.stringify(r.stderr)}`);
});

it('the database runs with the limits the test asked for', async () => {
  assert.is(db.state().status, 'running');
  const r = await client('cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/pids/pids.max');
  assert.is(r.stdout, `${64 * 1024 * 1024}\n32\n`);
});

test.run();
