// Terminals, as root with real containers: the console-socket protocol that
// conmon and containerd-shim speak (the pty master arrives by SCM_RIGHTS on a
// socket the test serves), and capsa's own foreground relay when it is run
// from a terminal (driven here through a real pseudo-terminal). Assertions
// are what the kernel reports: isatty/ttyname inside, the controlling tty in
// /proc/PID/stat, window sizes from TIOCGWINSZ (busybox stty), and termios of
// the outer terminal after capsa exits.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Spec } from '../../src/spec/types';
import { makeBundle, type TestBundle } from '../helpers/bundle';
import { CAPSA_BIN, capsaSuite, capsaToFilesIn, oneLine } from '../helpers/capsa';
import { serveConsoleSocket, type ConsoleSocket, type PtyMaster } from '../helpers/console-socket';
import { cgroupProcs } from '../helpers/proc';
import { runInPty } from '../helpers/pty';
import { tempDir } from '../helpers/rootfs';
import { tick, until, waitReaped } from '../helpers/wait';

const { test, root, capsa, capsaOk } = capsaSuite('tty');
const capsaToFiles = capsaToFilesIn(root);

// ---- local helpers ----

/** Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, tty_nr, ...]. */
function statFields(pid: number): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

const ttyMajor = (nr: number) => (nr >> 8) & 0xfff;
const ttyMinor = (nr: number) => (nr & 0xff) | ((nr >> 12) & 0xfff00);
const PTS_MAJOR = 136;

interface Scratch {
  bundle: TestBundle;
  id: string;
  dir: string;
  sock: ConsoleSocket;
  masters: PtyMaster[];
}

/** A bundle, a scratch dir and a served console socket, all removed afterwards (with the container). */
async function withScratch(config: (s: Spec) => void, fn: (s: Scratch) => Promise<void>): Promise<void> {
  const bundle = makeBundle({ config });
  const dir = tempDir('tty');
  const sock = await serveConsoleSocket();
  const masters: PtyMaster[] = [];
  try {
    await fn({ bundle, id: bundle.id, dir, sock, masters });
  } finally {
    for (const m of masters) m.close();
    await capsa(['delete', '--force', bundle.id]);
    await sock.close();
    bundle.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
    await waitReaped(bundle.id);
  }
}

const sleeper = (s: Spec) => { s.process!.args = ['/bin/testinit', 'sleep', 'forever']; };
const withTerminal = (args: string[], more?: (s: Spec) => void) => (s: Spec) => {
  s.process!.terminal = true;
  s.process!.args = args;
  more?.(s);
};

async function statusOf(id: string): Promise<{ status: string; pid: number }> {
  return JSON.parse((await capsaOk(['state', id])).stdout) as { status: string; pid: number };
}

// ---- console socket: exec ----

test('exec -t -d --console-socket: the master arrives on the socket; typed commands run and echo back', async () => {
  await withScratch(sleeper, async (s) => {
    assert.is((await capsaToFiles(['run', '-d', '--bundle', s.bundle.dir, s.id], s.dir)).code, 0);
    const { pid: initPid } = await statusOf(s.id);
    const r = await capsaToFiles(['exec', '-t', '-d', '--console-socket', s.sock.path, s.id, '/bin/sh'], s.dir);
    assert.is(r.code, 0, r.stderr);
    const m = await s.sock.receive();
    s.masters.push(m);
    assert.is(s.sock.connections, 1);
    m.write('echo capsa-$((6*7))\r');
    await m.waitFor(/capsa-42/);
    let from = m.output.length;
    m.write('/bin/testinit tty\r');
    const tty = await m.waitFor(/stdin=(\d) stdout=(\d) stderr=(\d) ttyname=(\S+)/, 10_000, from);
    assert.equal(tty.slice(1, 4), ['1', '1', '1']);
    assert.match(tty[4]!, /^\/dev\/pts\/\d+$/);
    // The shell is a session leader whose controlling tty is that pty.
    from = m.output.length;
    m.write('/bin/testinit cat /proc/self/stat\r');
    const stat = await m.waitFor(/\d+ \(testinit\) R (\d+) (\d+) (\d+) (\d+)/, 10_000, from);
    assert.is(ttyMajor(Number(stat[4])), PTS_MAJOR);
    assert.is(ttyMinor(Number(stat[4])), Number(tty[4]!.split('/').pop()));
    // Once testinit has exited, the shell is the one process exec added.
    await until('only the exec\'d shell besides init', () => (cgroupProcs(initPid).length === 2 ? true : undefined));
    const [shPid] = cgroupProcs(initPid).filter((p) => p !== initPid);
    assert.is(fs.readFileSync(`/proc/${shPid}/comm`, 'utf8'), 'sh\n');
    assert.is(Number(statFields(shPid!)[3]), shPid, 'the shell leads its own session');
    m.write('exit 0\r');
    await m.hangup;
    await until('the exec\'d shell to leave the container', () => (cgroupProcs(initPid).length === 1 ? true : undefined));
  });
});

test('exec -t --process with consoleSize: the pty has that window size', async () => {
  await withScratch(sleeper, async (s) => {
    assert.is((await capsaToFiles(['run', '-d', '--bundle', s.bundle.dir, s.id], s.dir)).code, 0);
    const proc = path.join(s.dir, 'process.json');
    fs.writeFileSync(proc, JSON.stringify({
      terminal: true, consoleSize: { height: 27, width: 91 }, args: ['/bin/busybox', 'stty', 'size'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'],
    }));
    const r = await capsaToFiles(['exec', '-d', '--console-socket', s.sock.path, '--process', proc, s.id], s.dir);
    assert.is(r.code, 0, r.stderr);
    const m = await s.sock.receive();
    s.masters.push(m);
    await m.waitFor(/^27 91\r\n/);
  });
});

// ---- console socket: create/start ----

test('create --console-socket + start: init\'s stdio and controlling tty are /dev/pts/0, and /dev/console is that pty', async () => {
  await withScratch(withTerminal(['/bin/sh', '-c', '/bin/testinit tty; exec /bin/testinit sleep forever']), async (s) => {
    const r = await capsaToFiles(['create', '--console-socket', s.sock.path, '--bundle', s.bundle.dir, s.id], s.dir);
    assert.is(r.code, 0, r.stderr);
    const m = await s.sock.receive();
    s.masters.push(m);
    const { pid } = await statusOf(s.id);
    await capsaOk(['start', s.id]);
    await m.waitFor(/stdin=1 stdout=1 stderr=1 ttyname=\/dev\/pts\/0\r\n/);

    // The kernel's view from the host: session leader with pts 0 as its controlling tty.
    await until('the entrypoint to exec', () => (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'testinit' ? true : undefined));
    const f = statFields(pid);
    assert.is(Number(f[3]), pid, 'init leads its session');
    assert.is(ttyMajor(Number(f[4])), PTS_MAJOR);
    assert.is(ttyMinor(Number(f[4])), 0);
    for (const fd of [0, 1, 2]) assert.is(fs.readlinkSync(`/proc/${pid}/fd/${fd}`), '/dev/pts/0');

    // /dev/console is a bind mount of the same pty.
    const console = (await capsaOk(['exec', s.id, '/bin/testinit', 'stat', '/dev/console'])).stdout;
    const pts0 = (await capsaOk(['exec', s.id, '/bin/testinit', 'stat', '/dev/pts/0'])).stdout;
    assert.match(console, /type=char .*major=136 minor=0/);
    assert.is(console, pts0);
    assert.match(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8'), / \/dev\/console /);
  });
});

test('create --console-socket with process.consoleSize: the entrypoint sees that window size', async () => {
  await withScratch(withTerminal(['/bin/sh', '-c', '/bin/busybox stty size; exec /bin/testinit sleep forever'], (sp) => {
    sp.process!.consoleSize = { height: 33, width: 101 };
  }), async (s) => {
    const r = await capsaToFiles(['create', '--console-socket', s.sock.path, '--bundle', s.bundle.dir, s.id], s.dir);
    assert.is(r.code, 0, r.stderr);
    const m = await s.sock.receive();
    s.masters.push(m);
    await capsaOk(['start', s.id]);
    await m.waitFor(/^33 101\r\n/);
    // A size change made on the master is what the container then reads.
    m.setSize(45, 132);
    assert.is((await capsaOk(['exec', s.id, '/bin/busybox', 'stty', '-F', '/dev/console', 'size'])).stdout, '45 132\n');
  });
});

// ---- foreground terminals ----

// busybox ash's prompt for root (followed by line-editing escapes).
const PROMPT = /\/ # /;

test('run -t in the foreground from a terminal: output arrives, window size copied, exit code passes, terminal restored', async () => {
  await withScratch(withTerminal(['/bin/sh', '-c', '/bin/testinit tty; /bin/busybox stty size; exit 3']), async (s) => {
    const p = runInPty(CAPSA_BIN, ['--root', root, 'run', '--bundle', s.bundle.dir, s.id], { rows: 31, cols: 97 });
    try {
      const res = await p.exited;
      assert.match(p.output, /stdin=1 stdout=1 stderr=1 ttyname=\/dev\/pts\/0/);
      assert.match(p.output, /31 97/);
      assert.is(res.exit, 3);
      assert.ok(res.restored, 'capsa put the terminal\'s modes back');
      assert.ok(res.hungUp, 'nothing holds the terminal after capsa exits');
      assert.is((await capsa(['state', s.id])).code, 1, 'run removed the container');
    } finally {
      p.kill();
    }
  });
});

test('run -t interactive: typed input reaches the shell, SIGWINCH resizes the container\'s pty, exit status passes', async () => {
  await withScratch(withTerminal(['/bin/sh']), async (s) => {
    const p = runInPty(CAPSA_BIN, ['--root', root, 'run', '--bundle', s.bundle.dir, s.id], { rows: 24, cols: 80 });
    try {
      await p.waitFor(PROMPT);
      p.write('echo hi-$((1+1))\r');
      await p.waitFor(/hi-2/);
      let from = p.output.length;
      p.write('/bin/busybox stty size\r');
      await p.waitFor(/24 80/, 10_000, from);
      p.resize(40, 120);
      // The resize reaches the container asynchronously (SIGWINCH to capsa,
      // then TIOCSWINSZ on the inner pty): ask until it shows.
      await until('the new size inside the container', async () => {
        from = p.output.length;
        p.write('/bin/busybox stty size\r');
        try {
          await p.waitFor(/\n(\d+ \d+)\r+\n/, 5000, from);
        } catch { return undefined; }
        return /40 120/.test(p.output.slice(from)) ? true : undefined;
      }, 10_000);
      p.write('exit 5\r');
      const res = await p.exited;
      assert.is(res.exit, 5);
      assert.ok(res.restored, 'terminal modes restored');
    } finally {
      p.kill();
    }
  });
});

test('exec -t in the foreground from a terminal: interactive shell in the container, exit status passes', async () => {
  await withScratch((sp) => { sleeper(sp); sp.hostname = 'capsa-tty-host'; }, async (s) => {
    assert.is((await capsaToFiles(['run', '-d', '--bundle', s.bundle.dir, s.id], s.dir)).code, 0);
    const p = runInPty(CAPSA_BIN, ['--root', root, 'exec', '-t', s.id, '/bin/sh'], { rows: 30, cols: 100 });
    try {
      await p.waitFor(PROMPT);
      p.write('/bin/testinit hostname; /bin/busybox stty size\r');
      await p.waitFor(/capsa-tty-host\r+\n30 100\r+\n/);
      p.write('exit 9\r');
      const res = await p.exited;
      assert.is(res.exit, 9);
      assert.ok(res.restored, 'terminal modes restored');
      assert.ok(res.hungUp, 'nothing holds the terminal after capsa exits');
    } finally {
      p.kill();
    }
  });
});

// ---- misuse: runc's words, nothing left ----

const NO_SOCKET = 'cannot allocate tty if capsa will detach without setting console socket';
const NO_TTY = 'cannot use console socket if capsa will not detach or allocate tty';

test('create with terminal:true and no --console-socket: runc\'s error, exit 1, nothing created', async () => {
  await withScratch(withTerminal(['/bin/testinit', 'true']), async (s) => {
    for (const verb of [['create'], ['run', '-d']]) {
      const r = await capsa([...verb, '--bundle', s.bundle.dir, s.id]);
      assert.is(r.code, 1, verb.join(' '));
      assert.match(oneLine(r.stderr), NO_SOCKET);
      assert.is((await capsa(['state', s.id])).code, 1);
      assert.not.ok(fs.existsSync(path.join(root, s.id)));
    }
  });
});

test('create --console-socket with terminal:false: runc\'s error, exit 1, nothing created, the socket never connected', async () => {
  await withScratch(sleeper, async (s) => {
    const r = await capsa(['create', '--console-socket', s.sock.path, '--bundle', s.bundle.dir, s.id]);
    assert.is(r.code, 1);
    assert.match(oneLine(r.stderr), NO_TTY);
    assert.is((await capsa(['state', s.id])).code, 1);
    await tick(0);
    assert.is(s.sock.connections, 0);
  });
});

test('exec -t -d without a socket, and --console-socket without -t: runc\'s errors (exit 255, as every exec failure), nothing joins the container', async () => {
  await withScratch(sleeper, async (s) => {
    assert.is((await capsaToFiles(['run', '-d', '--bundle', s.bundle.dir, s.id], s.dir)).code, 0);
    const { pid } = await statusOf(s.id);
    const a = await capsa(['exec', '-t', '-d', s.id, '/bin/testinit', 'true']);
    assert.is(a.code, 255);
    assert.match(oneLine(a.stderr), NO_SOCKET);
    const b = await capsa(['exec', '--console-socket', s.sock.path, s.id, '/bin/testinit', 'true']);
    assert.is(b.code, 255);
    assert.match(oneLine(b.stderr), NO_TTY);
    assert.equal(cgroupProcs(pid), [pid]);
    assert.is(s.sock.connections, 0);
  });
});

test('run --console-socket without -d (a foreground run with a socket) is refused, as runc does', async () => {
  await withScratch(withTerminal(['/bin/testinit', 'true']), async (s) => {
    const r = await capsaToFiles(['run', '--console-socket', s.sock.path, '--bundle', s.bundle.dir, s.id], s.dir);
    assert.is(r.code, 1, `exit ${r.code}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), NO_TTY);
    assert.is((await capsa(['state', s.id])).code, 1);
  });
});

test('exec -t --console-socket without -d (a foreground exec with a socket) is refused with 255, as runc does', async () => {
  await withScratch(sleeper, async (s) => {
    assert.is((await capsaToFiles(['run', '-d', '--bundle', s.bundle.dir, s.id], s.dir)).code, 0);
    const { pid } = await statusOf(s.id);
    const r = await capsaToFiles(['exec', '-t', '--console-socket', s.sock.path, s.id, '/bin/testinit', 'true'], s.dir);
    assert.is(r.code, 255, `exit ${r.code}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), NO_TTY);
    assert.equal(cgroupProcs(pid), [pid]);
  });
});

test('a console socket path that does not exist, or is not a socket: one-line error, exit 1, nothing left', async () => {
  await withScratch(withTerminal(['/bin/testinit', 'true']), async (s) => {
    const regular = path.join(s.dir, 'regular-file');
    fs.writeFileSync(regular, '');
    for (const [label, p, re] of [
      ['missing', path.join(s.dir, 'no-such.sock'), /no-such\.sock.*(ENOENT|no such file)/i],
      ['regular file', regular, /regular-file.*(ECONNREFUSED|ENOTSOCK|refused|not a socket)/i],
      ['directory', s.dir, /(ECONNREFUSED|ENOTSOCK|refused|not a socket)/i],
    ] as const) {
      const r = await capsa(['create', '--console-socket', p, '--bundle', s.bundle.dir, s.id]);
      assert.is(r.code, 1, label);
      assert.match(oneLine(r.stderr), re, label);
      assert.is((await capsa(['state', s.id])).code, 1, label);
    }
  });
  // exec, into a running container: the same, and nothing joins it.
  await withScratch(sleeper, async (s) => {
    assert.is((await capsaToFiles(['run', '-d', '--bundle', s.bundle.dir, s.id], s.dir)).code, 0);
    const { pid } = await statusOf(s.id);
    const r = await capsa(['exec', '-t', '-d', '--console-socket', path.join(s.dir, 'no-such.sock'), s.id, '/bin/testinit', 'true']);
    assert.is(r.code, 255, 'runc: every exec failure exits 255');
    assert.match(oneLine(r.stderr), /no-such\.sock/);
    assert.equal(cgroupProcs(pid), [pid]);
  });
});

test.run();
