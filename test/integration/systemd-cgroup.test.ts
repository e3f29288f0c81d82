// --systemd-cgroup against a stand-in systemd: a private dbus-daemon and
// test/fixtures/systemd/fake-systemd.py (libdbus), which makes the transient
// scope's cgroups the way systemd does and records the unit properties it is
// sent. Runs on any host (this one has no systemd as PID 1); capsa is pointed
// at the stand-in with DBUS_SYSTEM_BUS_ADDRESS and CAPSA_SYSTEMD_PROBE.
// What is checked: the calls capsa makes on the wire, the container landing in
// the scope, limits written into it and sent as properties (at start and on
// update), annotations, the scope stopped on delete, and errors. The same
// property cases run against the real systemd in cgroups-systemd.test.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Spec } from '../../src/spec/types';
import { makeBundle, type TestBundle } from '../helpers/bundle';
import { CAPSA_BIN } from '../helpers/capsa';
import { REPO_ROOT } from '../helpers/rootfs';
import { cgroupContext } from './cgroup-cases/context';
import { systemdCases } from './cgroup-cases/systemd';

const SLICE = 'capsatest.slice';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-systemd-'));
const busSocket = path.join(work, 'bus');
const probe = path.join(work, 'systemd-running');
const callLog = path.join(work, 'calls.jsonl');
// Every capsa this file starts (and the property reader) talks to the stand-in.
process.env.DBUS_SYSTEM_BUS_ADDRESS = `unix:path=${busSocket}`;
process.env.CAPSA_SYSTEMD_PROBE = probe;
const env = { ...process.env };
let daemon: ChildProcess | undefined;
let fake: ChildProcess | undefined;

const c = cgroupContext('systemd-cgroup', 'systemd');
const { test, root, capsa } = c;

/** Starts a process and resolves once it printed `line` on stdout. */
function startUntil(file: string, args: string[], line: RegExp, extraEnv: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: extraEnv });
    let out = '';
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${file} did not start: ${out} ${err}`)); }, 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (line.test(out)) { clearTimeout(timer); resolve(child); }
    });
    child.stderr!.on('data', (d) => { err += d; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${file} exited ${code}: ${out} ${err}`)); });
  });
}

test.before(async () => {
  fs.mkdirSync(probe);
  const config = path.join(work, 'bus.conf');
  fs.writeFileSync(config, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${busSocket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`);
  daemon = await startUntil('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address'], /unix:/);
  fake = await startUntil('/usr/bin/python3', [path.join(REPO_ROOT, 'test/fixtures/systemd/fake-systemd.py'), callLog], /ready/, env);
});

test.after(() => {
  fake?.kill('SIGKILL');
  daemon?.kill('SIGKILL');
  // Scope dirs the fake made and a failed test left: the slice dir in every hierarchy.
  const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  for (const h of v2 ? [''] : fs.readdirSync('/sys/fs/cgroup')) {
    const slice = path.join('/sys/fs/cgroup', h, SLICE);
    if (!fs.existsSync(slice)) continue;
    for (const d of fs.readdirSync(slice)) if (d.startsWith('capsa-capsa-test-')) try { fs.rmdirSync(path.join(slice, d)); } catch { /* busy */ }
    try { fs.rmdirSync(slice); } catch { /* busy */ }
  }
  fs.rmSync(work, { recursive: true, force: true });
});

const calls = (): Record<string, unknown>[] => (fs.existsSync(callLog) ? fs.readFileSync(callLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : []);

/** capsa --systemd-cgroup with the stand-in's environment; detached containers get files, not pipes. */
async function capsaSd(args: string[], b: TestBundle): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const out = path.join(b.dir, 'out');
  const err = path.join(b.dir, 'err');
  const o = fs.openSync(out, 'w');
  const e = fs.openSync(err, 'w');
  const child = spawn(CAPSA_BIN, ['--root', root, '--systemd-cgroup', ...args], { stdio: ['ignore', o, e], env });
  fs.closeSync(o);
  fs.closeSync(e);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
}

const sleeper = (cgroupsPath: string) => (s: Spec) => {
  s.process!.args = ['/bin/testinit', 'sleep', 'forever'];
  s.linux!.cgroupsPath = cgroupsPath;
  s.linux!.resources = { ...(s.linux!.resources ?? {}), pids: { limit: 42 } };
};

test('run -d: a transient scope is started over D-Bus with the container in it, limits land in the scope, delete stops it', async () => {
  const b = makeBundle({ idPrefix: 'capsa-test-sd', config: (s) => sleeper(`${SLICE}:capsa:PLACEHOLDER`)(s) });
  // the id is only known now: put it in cgroupsPath (slice:prefix:name)
  const cfgPath = path.join(b.dir, 'config.json');
  fs.writeFileSync(cfgPath, fs.readFileSync(cfgPath, 'utf8').replace('PLACEHOLDER', b.id));
  const unit = `capsa-${b.id}.scope`;
  const scopeRel = `/${SLICE}/${unit}`;
  const before = calls().length;
  try {
    const r = await capsaSd(['run', '-d', '-b', b.dir, b.id], b);
    assert.is(r.code, 0, r.stderr);
    const made = calls().slice(before);
    const start = made.find((c) => c.method === 'StartTransientUnit') as { name: string; mode: string; props: Record<string, unknown> } | undefined;
    assert.ok(start, JSON.stringify(made));
    assert.is(start!.name, unit);
    assert.is(start!.mode, 'replace');
    assert.is(start!.props.Slice, SLICE);
    assert.is(start!.props.Delegate, true);
    assert.is(start!.props.DefaultDependencies, false);
    assert.match(String(start!.props.Description), b.id);
    assert.is((start!.props.PIDs as number[]).length, 1);
    assert.ok(made.some((c) => c.method === 'Subscribe'), 'subscribed for JobRemoved');

    const state = JSON.parse((await capsa(['state', b.id])).stdout) as { pid: number; status: string };
    assert.is(state.status, 'running');
    // the container's init is in the scope in every hierarchy systemd (the stand-in) made it in
    const lines = fs.readFileSync(`/proc/${state.pid}/cgroup`, 'utf8').trim().split('\n');
    for (const l of lines) assert.is(l.slice(l.lastIndexOf(':') + 1), scopeRel, l);
    const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
    const pidsDir = v2 ? `/sys/fs/cgroup${scopeRel}` : `/sys/fs/cgroup/pids${scopeRel}`;
    assert.is(fs.readFileSync(`${pidsDir}/pids.max`, 'utf8').trim(), '42', 'limit written into the scope');

    const d = await capsaSd(['delete', '--force', b.id], b);
    assert.is(d.code, 0, d.stderr);
    assert.ok(calls().slice(before).some((c) => c.method === 'StopUnit' && c.name === unit), 'StopUnit sent');
    assert.not.ok(fs.existsSync(pidsDir), 'scope cgroup gone');
  } finally {
    await capsaSd(['delete', '--force', b.id], b);
    b.cleanup();
  }
});

test('a scope systemd refuses: one-line error naming systemd and the unit, nothing left behind', async () => {
  const b = makeBundle({ idPrefix: 'capsa-test-sd', config: sleeper(`${SLICE}:refuse:x`) });
  try {
    const r = await capsaSd(['run', '-d', '-b', b.dir, b.id], b);
    assert.is(r.code, 1);
    const errLines = r.stderr.trim().split('\n');
    assert.is(errLines.length, 1, r.stderr);
    assert.match(errLines[0]!, /systemd: start refuse-x\.scope: org\.freedesktop\.systemd1\.UnitExists: unit refuse-x\.scope refused by the test/);
    assert.not.ok(fs.existsSync(path.join(root, b.id)), 'no state dir');
  } finally {
    b.cleanup();
  }
});

test('no systemd bus at the address: one-line error, no hang, nothing left behind', async () => {
  const b = makeBundle({ idPrefix: 'capsa-test-sd', config: sleeper(`${SLICE}:capsa:nobus`) });
  try {
    const child = spawn(CAPSA_BIN, ['--root', root, '--systemd-cgroup', 'run', '-d', '-b', b.dir, b.id], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${path.join(work, 'no-such-bus')}` },
    });
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.is(code, 1);
    assert.is(err.trim().split('\n').length, 1, err);
    assert.match(err, /D-Bus .*no-such-bus: connect/);
    assert.not.ok(fs.existsSync(path.join(root, b.id)), 'no state dir');
  } finally {
    b.cleanup();
  }
});

// What the stand-in recorded: the same cases as against the real systemd, but
// for daemon-reload (the stand-in applies nothing).
systemdCases(c, false);

test.run();
