// runc ≥ 1.2's --pidfd-socket on create, run and exec: a pidfd of the
// container's init (or of the exec'd process) arrives on the socket with
// SCM_RIGHTS. Each test checks what the kernel says the received fd is (its
// fdinfo names the pid) and that signalling through it reaches that process.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { makeBundle } from '../helpers/bundle';
import { CAPSA_BIN, capsaSuite, capsaToFilesIn, oneLine } from '../helpers/capsa';
import { cmd } from '../helpers/config';
import { testAddon } from '../helpers/console-socket';
import { pidOfPidfd, serveFdSocket } from '../helpers/fd-socket';
import { alive } from '../helpers/proc';
import { tempDir } from '../helpers/rootfs';
import { stateHelpersFor } from '../helpers/run';
import { until } from '../helpers/wait';
import { spawn } from 'node:child_process';

const { test, root, capsa, capsaOk } = capsaSuite('pidfd-socket');
const capsaToFiles = capsaToFilesIn(root);
const { state, waitStatus } = stateHelpersFor({ capsa, capsaOk });

const addon = () => testAddon() as ReturnType<typeof testAddon> & { pidfdSendSignal(fd: number, sig: number): void };

function assertPidfdOf(fd: number, pid: number): void {
  assert.is(fs.readlinkSync(`/proc/self/fd/${fd}`), 'anon_inode:[pidfd]');
  assert.is(pidOfPidfd(fd), pid);
}

test('create --pidfd-socket: the init\'s pidfd arrives before create returns; SIGKILL through it stops the container', async () => {
  const sock = await serveFdSocket('pidfd');
  const b = makeBundle({ config: cmd('sleep', 'forever') });
  const dir = tempDir('pidfd');
  let fd: number | undefined;
  try {
    const r = await capsaToFiles(['create', '--pidfd-socket', sock.path, '--bundle', b.dir, b.id], dir);
    assert.is(r.code, 0, r.stderr);
    fd = await sock.receive();
    const st = await state(b.id);
    assert.is(st.status, 'created');
    assertPidfdOf(fd, st.pid);
    addon().pidfdSendSignal(fd, 9);
    await waitStatus(b.id, 'stopped');
  } finally {
    if (fd !== undefined) testAddon().closeFd(fd);
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
    await sock.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('run --pidfd-socket (foreground): the pidfd is the running init; killing through it ends run with 137', async () => {
  const sock = await serveFdSocket('pidfd');
  const b = makeBundle({ config: cmd('sleep', 'forever') });
  let fd: number | undefined;
  try {
    const child = spawn(CAPSA_BIN, ['--root', root, 'run', '--pidfd-socket', sock.path, '-b', b.dir, b.id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    fd = await sock.receive();
    const st = await waitStatus(b.id, 'running');
    assertPidfdOf(fd, st.pid);
    addon().pidfdSendSignal(fd, 9);
    assert.is(await exited, 137, err);
  } finally {
    if (fd !== undefined) testAddon().closeFd(fd);
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
    await sock.close();
  }
});

test('exec --pidfd-socket: the pidfd is the exec\'d process (not the init); killing it leaves the container running', async () => {
  const sock = await serveFdSocket('pidfd');
  const b = makeBundle({ config: cmd('sleep', 'forever') });
  const dir = tempDir('pidfd');
  let fd: number | undefined;
  try {
    assert.is((await capsaToFiles(['run', '-d', '--bundle', b.dir, b.id], dir)).code, 0);
    const pidFile = path.join(dir, 'exec.pid');
    const r = await capsaToFiles(['exec', '-d', '--pid-file', pidFile, '--pidfd-socket', sock.path, b.id, '/bin/testinit', 'sleep', 'forever'], dir);
    assert.is(r.code, 0, r.stderr);
    fd = await sock.receive();
    const execPid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.is.not(execPid, (await state(b.id)).pid);
    assertPidfdOf(fd, execPid);
    addon().pidfdSendSignal(fd, 9);
    await until('the exec\'d process to die', () => (alive(execPid) ? undefined : true));
    assert.is((await state(b.id)).status, 'running');
  } finally {
    if (fd !== undefined) testAddon().closeFd(fd);
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
    await sock.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--pidfd-socket naming no socket: one-line error naming it, nothing created (create 1, exec 255)', async () => {
  const b = makeBundle({ config: cmd('sleep', 'forever') });
  const dir = tempDir('pidfd');
  try {
    const missing = path.join(dir, 'no-such.sock');
    const c = await capsa(['create', '--pidfd-socket', missing, '--bundle', b.dir, b.id]);
    assert.is(c.code, 1);
    assert.match(oneLine(c.stderr), new RegExp(`pidfd socket ${missing}: no such file or directory`));
    assert.is((await capsa(['state', b.id])).code, 1, 'no container left');
    assert.is((await capsaToFiles(['run', '-d', '--bundle', b.dir, b.id], dir)).code, 0);
    const e = await capsa(['exec', '--pidfd-socket', missing, b.id, '/bin/testinit', 'true']);
    assert.is(e.code, 255);
    assert.match(oneLine(e.stderr), /pidfd socket .*no such file or directory/);
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
