// A spare shim: a daemon that has already booted (Node, the bundle, the
// library) and waits for a pod. containerd runs the `start` action for every
// task and waits for it; with a spare, the launcher (sh) hands the request
// over through a FIFO instead of starting Node twice (once for `start`, once
// for the daemon). The spare reads what `start` would have been given from
// the requester's /proc entry (arguments, bundle dir, environment, and the
// runtime options from its stdin, kept as fd 5), claims the pod's socket exactly as `start` does, and:
// - the pod's shim already runs: answers its address and stays a spare;
// - a new pod: becomes that pod's shim (same code as a started daemon) and
//   starts the next spare.
// One spare per install, found through <base>.pid (flock-held) and fed
// through the FIFO <base>.req; it exits after SPARE_IDLE_MS without work.
// Any doubt (no spare, an error, no answer in 2 s) and the launcher runs the
// ordinary Node `start`, which gives the same address.
// A spare boots at nice 19: its Node start (100+ ms of CPU) then takes only
// idle CPU instead of slowing the pod that started it. It returns every
// thread to nice 0 before it serves a pod, so a shim, its capsa-inits and
// the containers they start never inherit the spare's nice.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CapsaError } from '../errors';
import { addon, LOCK_EX, LOCK_NB } from '../sys/addon';
import { readProcStat } from '../sys/proc';
import { SOCKET_ROOT } from './address';
import { parseFlags, requireFlags } from './flags';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_NONBLOCK } = fs.constants;
export const SPARE_IDLE_MS = 10 * 60_000;
/** The nice value a spare boots and waits at. */
export const SPARE_NICE = 19;
const NICE_BINARY = '/usr/bin/nice';

/** <dir>/capsa-spare-<key>: the key names this install (dist dir + node), as the launcher computes it at build time. */
export function spareBase(distDir = path.dirname(fs.realpathSync(process.argv[1]!)), node = process.execPath): string {
  const key = createHash('sha256').update(`${distDir}\0${node}`).digest('hex').slice(0, 16);
  return path.join(SOCKET_ROOT, `capsa-spare-${key}`);
}

/** The live spare's pid, if there is one. */
export function sparePid(base = spareBase()): number | undefined {
  try {
    const pid = Number(fs.readFileSync(`${base}.pid`, 'utf8').trim());
    if (pid > 0 && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'containerd-shim') return pid;
  } catch { /* none */ }
  return undefined;
}

/** Starts a spare unless one is there (or starting: it takes the pid file's lock, a second one exits). */
export function ensureSpare(): void {
  try {
    const base = spareBase();
    if (sparePid(base) !== undefined) return;
    const env = { ...process.env };
    delete env.CAPSA_SHIM_CONFIG;
    // A process title can only be as long as the arguments it started with:
    // room for the shim's "-namespace … -id … -address …" once it has a pod.
    const argv = [process.execPath, ...process.execArgv, process.argv[1]!, '-spare', '-title-room', '.'.repeat(400)];
    // Through nice(1): every thread Node starts inherits the nice value.
    const niced = fs.existsSync(NICE_BINARY) ? [NICE_BINARY, '-n', String(SPARE_NICE)] : [];
    const [file, ...args] = [...niced, ...argv];
    const child = spawn(file!, args, { cwd: '/', detached: true, stdio: 'ignore', env });
    child.on('error', () => {});
    child.unref();
  } catch { /* an optimisation only */ }
}

/**
 * Nice is per thread on Linux: the main thread first (threads it starts from
 * now on inherit its value), then every thread that runs already.
 */
export function restoreNormalPriority(): void {
  os.setPriority(process.pid, 0);
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try { os.setPriority(Number(tid), 0); } catch { /* the thread ended */ }
  }
}

/** Whether pidFile is still the file pidFd has open (and locked). */
function ownsPidFile(pidFd: number, pidFile: string): boolean {
  const own = fs.fstatSync(pidFd);
  const named = fs.statSync(pidFile, { throwIfNoEntry: false });
  return !!named && named.ino === own.ino && named.dev === own.dev;
}

function environOf(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

function uidOf(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[1]);
}

export async function runSpare(): Promise<void> {
  process.title = 'containerd-shim-capsa-v2 spare';
  process.on('uncaughtException', () => process.exit(1));
  const base = spareBase();
  // The code this spare runs: after an upgrade it must not serve a pod.
  const bundleFile = path.join(path.dirname(fs.realpathSync(process.argv[1]!)), 'containerd-shim-capsa-v2.js');
  const bootedWith = fs.statSync(bundleFile).mtimeMs;
  fs.mkdirSync(SOCKET_ROOT, { recursive: true, mode: 0o711 });
  const pidFile = `${base}.pid`;
  const pidFd = fs.openSync(pidFile, O_RDWR | O_CREAT, 0o600);
  if (!addon().flock(pidFd, LOCK_EX | LOCK_NB)) process.exit(0);
  // Opened just before a retiring spare removed it: the lock is on a file
  // nobody finds, and a second spare would wait beside this one.
  if (!ownsPidFile(pidFd, pidFile)) process.exit(0);
  // What a task needs, loaded now rather than on its clock.
  const { serve } = require('./daemon') as typeof import('./daemon');
  const { claimGroup, parseOptions, adjustOomScore } = require('./start') as typeof import('./start');
  require('../runtime/create');
  require('../runtime/exec');
  require('../runtime/cgroup-operations');
  addon();
  // Warmed before it is announced: a request never waits for the warm-up. A
  // SIGTERM meanwhile ends the spare once the warm-up has cleaned up.
  let stopAfterWarmUp = false;
  const stopRequested = () => { stopAfterWarmUp = true; restoreNormalPriority(); };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, stopRequested);
  const { isUnified } = require('./daemon') as typeof import('./daemon');
  await (require('./warmup') as typeof import('./warmup')).warmUp(isUnified());
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.off(sig, stopRequested);
  if (stopAfterWarmUp) {
    if (ownsPidFile(pidFd, pidFile)) fs.rmSync(pidFile, { force: true });
    process.exit(0);
  }

  // Reply FIFOs of launchers that were killed while they waited.
  for (const name of fs.readdirSync(SOCKET_ROOT)) {
    const m = /^capsa-reply-(\d+)$/.exec(name);
    if (m && !fs.existsSync(`/proc/${m[1]}`)) fs.rmSync(path.join(SOCKET_ROOT, name), { force: true });
  }
  const req = `${base}.req`;
  try { addon().mkfifo(req, 0o600); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
  const readFd = fs.openSync(req, O_RDONLY | O_NONBLOCK);
  const keepFd = fs.openSync(req, O_WRONLY | O_NONBLOCK); // never EOF while we read
  fs.ftruncateSync(pidFd, 0);
  fs.writeSync(pidFd, `${process.pid}\n`, 0);
  const requests = new net.Socket({ fd: readFd, readable: true, writable: false });
  const onSignal = () => { retire(); process.exit(0); };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, onSignal);
  let idle = setTimeout(() => retire(), SPARE_IDLE_MS);
  let busy = Promise.resolve();
  let retired = false;

  function retire(): void {
    if (retired) return;
    retired = true;
    clearTimeout(idle);
    requests.destroy();
    try { fs.closeSync(keepFd); } catch { /* closed */ }
    // The pid file goes before its lock: the launcher then sees no spare at once.
    // Only its own: the path may name the next spare's file by now.
    if (ownsPidFile(pidFd, pidFile)) fs.rmSync(pidFile, { force: true });
    fs.closeSync(pidFd);
  }

  /** The requester's reply FIFO, opened without blocking; undefined when it gave up (or the line is not a request). */
  function replyTo(line: string): { pid: number; answer(text: string): void } | undefined {
    const [pidText, reply] = line.trim().split(' ');
    const pid = Number(pidText);
    if (!(pid > 0) || !reply || path.dirname(reply) !== SOCKET_ROOT || !path.basename(reply).startsWith('capsa-reply-')) return undefined;
    let fd: number;
    try { fd = fs.openSync(reply, O_WRONLY | O_NONBLOCK); } catch { return undefined; }
    return {
      pid,
      answer(text: string) {
        try { fs.writeSync(fd, `${text}\n`); } catch { /* gave up meanwhile */ }
        fs.closeSync(fd);
      },
    };
  }

  async function handle(line: string): Promise<void> {
    const r = replyTo(line);
    if (!r) return;
    if (!retired && fs.statSync(bundleFile, { throwIfNoEntry: false })?.mtimeMs !== bootedWith) {
      retire();
      setImmediate(() => process.exit(0));
      return r.answer('error capsa was rebuilt since this spare started');
    }
    if (retired) return r.answer('error the spare was taken');
    const { pid, answer } = r;
    // Until stdin (the runtime options) is read, the launcher can still run
    // the ordinary start ("error"); after, only this answer has them ("fail").
    let consumedStdin = false;
    try {
      if (uidOf(pid) !== process.getuid!()) throw new CapsaError('INVALID_ARGUMENT', `request from pid ${pid} of another user`);
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(2, -1);
      const flags = parseFlags(argv);
      requireFlags(flags);
      if (flags.action !== 'start') throw new CapsaError('INVALID_ARGUMENT', `not a start: ${flags.action}`);
      const bundle = path.resolve(flags.bundle || fs.readlinkSync(`/proc/${pid}/cwd`));
      const env = environOf(pid);
      const containerd = readProcStat(pid)?.ppid;
      // The launcher's stdin, which it keeps as fd 5 (its fd 0 is the reply
      // FIFO while it reads). containerd gives a pipe or /dev/null; anything
      // that cannot be reopened (a socket) is left to the ordinary start.
      let stdin: Buffer;
      try {
        const handle = await fs.promises.open(`/proc/${pid}/fd/5`, 'r');
        consumedStdin = true;
        try { stdin = await handle.readFile(); } finally { await handle.close(); }
      } catch (e) {
        if (!consumedStdin) throw new CapsaError('UNSUPPORTED', `cannot reopen the launcher's stdin: ${(e as Error).message}`);
        throw e;
      }
      const options = parseOptions(stdin);
      const claim = await claimGroup(flags, bundle, options);
      if (claim.kind === 'joined') {
        answer(claim.address);
        return;
      }
      // This pod's shim from here on.
      retire();
      restoreNormalPriority();
      for (const k of Object.keys(process.env)) delete process.env[k];
      Object.assign(process.env, env);
      process.chdir(bundle);
      process.removeAllListeners('uncaughtException');
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.off(sig, onSignal);
      // serve() attaches the connection handler before it awaits anything: containerd's first call is not missed.
      void serve(flags, { server: claim.server, socketFile: claim.socket, config: claim.config });
      answer(claim.address);
      if (containerd) adjustOomScore(process.pid, containerd);
      ensureSpare();
    } catch (e) {
      answer(`${consumedStdin ? 'fail' : 'error'} ${(e as Error).message.replace(/\n/g, ' ')}`);
    }
  }

  let buffered = '';
  requests.on('data', (d: Buffer) => {
    buffered += d.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      clearTimeout(idle);
      busy = busy.then(() => handle(line)).catch(() => {});
      if (!retired) idle = setTimeout(() => retire(), SPARE_IDLE_MS);
    }
  });
  requests.on('error', () => retire());
  // Exits when retired without a pod (idle): nothing then holds the loop.
}
