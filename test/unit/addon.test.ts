// The native addon on its own: pure N-API (no libuv symbol, so the same .node
// loads in Node and in Bun), arguments checked before any syscall, and fd
// watches that call back once and hold the event loop only while ref'd.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { bunBinary } from '../helpers/bun';
import { REPO_ROOT } from '../helpers/rootfs';

const ADDON = path.join(REPO_ROOT, 'build', 'Release', 'capsa_addon.node');
const native = require(ADDON) as Record<string, (...args: unknown[]) => unknown>;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-addon-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the addon imports no libuv symbol (nm -D): only N-API and libc', () => {
  const undefinedSyms = execFileSync('nm', ['-D', '--undefined-only', ADDON], { encoding: 'utf8' })
    .split('\n').map((l) => l.trim().split(/\s+/).pop() ?? '').filter(Boolean);
  assert.ok(undefinedSyms.some((s) => s.startsWith('napi_create_threadsafe_function')), 'nm listed the N-API imports');
  assert.equal(undefinedSyms.filter((s) => /^uv_/.test(s)), [], 'libuv symbols imported');
  assert.equal(undefinedSyms.filter((s) => /^(node_|_ZN4node|_ZN2v8)/.test(s)), [], 'Node or V8 internals imported');
});

test('the addon needs only libc at load (libstdc++ is linked in) and exports nothing but N-API\'s entry points', () => {
  const dynamic = execFileSync('readelf', ['-d', ADDON], { encoding: 'utf8' });
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
  assert.ok(needed.includes('libc.so.6'), dynamic);
  assert.equal(needed.filter((n) => !/^(libc|libm|ld-linux[-\w]*)\.so/.test(n)), [], 'libraries loaded with the addon');
  const exported = execFileSync('nm', ['-D', '--defined-only', ADDON], { encoding: 'utf8' }).trim().split('\n').map((l) => l.split(/\s+/).pop());
  assert.equal(exported.sort(), ['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
});

// Exports that take no argument at all.
const NO_ARGS = new Set(['socketPair', 'pipe']);

test('every export with parameters rejects a call without arguments: a TypeError naming it (ERR_INVALID_ARG_TYPE)', () => {
  const names = Object.keys(native).filter((n) => typeof native[n] === 'function' && !NO_ARGS.has(n));
  assert.ok(names.length >= 25, `found ${names.length} exports`);
  for (const name of names) {
    let err: (Error & { code?: string }) | undefined;
    try { native[name]!(); } catch (e) { err = e as Error & { code?: string }; }
    assert.ok(err instanceof TypeError, `${name}() threw ${String(err)}`);
    assert.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE', name);
    assert.ok(err!.message.startsWith(`${name}: `), `${name}: ${err!.message}`);
  }
});

test('closeFd of undefined, null, a string, a fraction, a negative or a too large number closes nothing (fd 0 stays open)', () => {
  const before = fs.fstatSync(0);
  for (const bad of [undefined, null, '0', 0.5, -1, 2 ** 31, Number.NaN]) {
    assert.throws(() => native.closeFd!(bad), /closeFd: fd must be a file descriptor/, String(bad));
  }
  const after = fs.fstatSync(0);
  assert.is(after.ino, before.ino, 'fd 0 is still the same file');
  assert.is(after.dev, before.dev);
});

test('a path with a NUL byte is refused before the syscall (no shorter path is made)', () => {
  const short = path.join(dir, 'fifo');
  assert.throws(() => native.mkfifo!(`${short}\0tail`, 0o600), /mkfifo: path must be a string without NUL bytes/);
  assert.not.ok(fs.existsSync(short), 'nothing made at the path before the NUL');
  assert.throws(() => native.spawnFds!('/bin/true', ['true', 1], [0, 1, 2]), /spawnFds: argv must be an array of strings/);
  assert.throws(() => native.spawnFds!('/bin/true', ['true'], [0, -1]), /spawnFds: fds must be an array of file descriptors/);
});

test('a good call still works after a refused one: errno errors keep their shape', () => {
  assert.throws(() => native.pidfdOpen!('1'), TypeError);
  let err: (Error & { code?: string; errno?: number; syscall?: string }) | undefined;
  try { native.mkfifo!(path.join(dir, 'no', 'such', 'dir'), 0o600); } catch (e) { err = e as typeof err; }
  assert.is(err?.code, 'ENOENT');
  assert.is(err?.errno, 2);
  assert.match(err!.message, /^mkfifo .*: No such file or directory$/);
});

// A child process, so that what keeps its event loop alive is what is tested.
// It spawns `sleep`, watches its pidfd (ref'd or not) and a pipe, and reports.
const WATCH_PROBE = `
const a = require(process.argv[2]);
const unref = process.argv[3] === 'unref';
const [r, w] = a.pipe();
let readable = 0;
a.watchReadable(r, () => { readable++; process.stdout.write('pipe:' + a.readSome(r).toString() + '\\n'); a.closeFd(r); });
require('node:fs').writeSync(w, 'hello');
a.closeFd(w);
a.spawnFds('/bin/sleep', ['sleep', '0.3'], [0, 1, 2]).then(([pid, pidfd]) => {
  let calls = 0;
  const id = a.watchPidfd(pidfd, () => { calls++; process.stdout.write('exit:' + JSON.stringify(a.reapPidfd(pidfd)) + ' calls:' + calls + '\\n'); a.closeFd(pidfd); });
  if (unref) a.refWatch(id, false);
  process.on('exit', () => {
    let alive = true;
    try { process.kill(pid, 0); } catch { alive = false; }
    const st = alive ? require('node:fs').readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1][0] : 'gone';
    process.stdout.write('at exit: sleep ' + (alive && st !== 'Z' ? 'running' : 'done') + ', pipe watches fired ' + readable + '\\n');
    if (alive) process.kill(pid, 9);
  });
});
`;

function probe(runtime: string, mode: 'ref' | 'unref'): string[] {
  const file = path.join(dir, 'probe.js');
  fs.writeFileSync(file, WATCH_PROBE);
  const r = spawnSync(runtime, [file, ADDON, mode], { encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 0, `${runtime} exited ${r.status ?? r.signal}: ${r.stderr}`);
  return r.stdout.trim().split('\n');
}

test('Node: a ref\'d pidfd watch keeps the loop alive and calls back once with the exit status; a pipe watch fires at data', () => {
  assert.equal(probe(process.execPath, 'ref'), ['pipe:hello', 'exit:{"code":0,"signal":null} calls:1', 'at exit: sleep done, pipe watches fired 1']);
});

test('Node: an unref\'d pidfd watch does not keep the process alive', () => {
  assert.equal(probe(process.execPath, 'unref'), ['pipe:hello', 'at exit: sleep running, pipe watches fired 1']);
});

const bun = bunBinary();
(bun ? test : test.skip)(`Bun loads the same addon: watches behave as under Node${bun ? '' : ' (skipped: no Bun binary for this architecture)'}`, () => {
  assert.equal(probe(bun!, 'ref'), ['pipe:hello', 'exit:{"code":0,"signal":null} calls:1', 'at exit: sleep done, pipe watches fired 1']);
  assert.equal(probe(bun!, 'unref'), ['pipe:hello', 'at exit: sleep running, pipe watches fired 1']);
});

test.run();
