// Driving a command from a pseudo-terminal, as a person at a terminal would:
// a small python3 driver (Node cannot make a controlling terminal) opens a
// pty pair, sets its window size, starts the command in a new session with
// the slave as its controlling terminal and stdio, and relays:
//   our stdin -> master, master -> our stdout.
// Control lines on fd 3 resize the terminal ("resize ROWS COLS"). When the
// command exits the driver drains the master (until every holder of the
// slave closed it, or 5 s of silence), then prints one JSON line to stderr:
// {"exit", "signal", "restored", "hungUp"}: restored says the terminal's
// termios are as they were before the command; hungUp that nothing still
// holds the terminal open.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';

const DRIVER = String.raw`
import errno, fcntl, json, os, pty, select, signal, struct, sys, termios

rows, cols = int(sys.argv[1]), int(sys.argv[2])
cmd = sys.argv[3:]
master, slave = pty.openpty()
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
before = termios.tcgetattr(slave)
slave_name = os.ttyname(slave)
pid = os.fork()
if pid == 0:
    os.close(master)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    try:
        os.closerange(3, 256)
    except OSError:
        pass
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
os.close(slave)
ctl = 3
inp = 0
status = None
open_fds = [master, inp, ctl]
ctl_buf = b''
def read_master(wait):
    """One read: 'data', 'idle' (nothing within wait) or 'hup' (no slave left)."""
    r, _, _ = select.select([master], [], [], wait)
    if not r:
        return 'idle'
    try:
        data = os.read(master, 65536)
    except OSError as e:
        if e.errno == errno.EIO:
            return 'hup'
        raise
    if not data:
        return 'hup'
    os.write(1, data)
    return 'data'
while status is None:
    fds = [f for f in open_fds if f is not None]
    r, _, _ = select.select(fds, [], [], 0.05)
    for f in r:
        if f == master:
            if read_master(0) == 'hup':
                open_fds[0] = None
        elif f == inp:
            data = os.read(inp, 65536)
            if not data:
                open_fds[1] = None
            else:
                os.write(master, data)
        elif f == ctl:
            data = os.read(ctl, 4096)
            if not data:
                open_fds[2] = None
            ctl_buf += data
            while b'\n' in ctl_buf:
                line, ctl_buf = ctl_buf.split(b'\n', 1)
                parts = line.decode().split()
                if parts and parts[0] == 'resize':
                    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', int(parts[1]), int(parts[2]), 0, 0))
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
# The command exited: read what is left until every slave holder is gone.
hung_up = open_fds[0] is None
while not hung_up:
    got = read_master(5)
    if got == 'idle':
        break
    hung_up = got == 'hup'

s = os.open(slave_name, os.O_RDWR | os.O_NOCTTY)
after = termios.tcgetattr(s)
os.close(s)
res = {'exit': os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
       'signal': os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
       'restored': after == before, 'hungUp': hung_up}
sys.stderr.write('\n' + json.dumps(res) + '\n')
`;

export interface PtyExit {
  exit: number | null;
  signal: number | null;
  /** The terminal's modes after the command equal those before it. */
  restored: boolean;
  /** Every holder of the terminal closed it (no process left behind on it). */
  hungUp: boolean;
}

export interface PtySession {
  /** Output seen on the terminal so far. */
  readonly output: string;
  write(text: string): void;
  resize(rows: number, cols: number): void;
  /** Waits until the output (from `from` on) matches re. */
  waitFor(re: RegExp, timeoutMs?: number, from?: number): Promise<RegExpMatchArray>;
  /** Resolves when the command exited and its output was drained. */
  exited: Promise<PtyExit>;
  /** Kills the driver (and with it the terminal) if it is still running. */
  kill(): void;
}

export function runInPty(command: string, args: readonly string[], opts: { rows?: number; cols?: number; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): PtySession {
  const child: ChildProcess = spawn('python3', ['-c', DRIVER, String(opts.rows ?? 24), String(opts.cols ?? 80), command, ...args], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  let finished = false;
  child.stdout!.on('data', (d: Buffer) => { out += d.toString('latin1'); for (const w of [...waiters]) w(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  child.stdin!.on('error', () => {});
  const ctl = child.stdio[3] as Writable;
  ctl.on('error', () => {});
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const exited = new Promise<PtyExit>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${command} ${args.join(' ')} in a pty did not finish in ${timeoutMs} ms; output: ${JSON.stringify(out)}`)); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      finished = true;
      for (const w of [...waiters]) w();
      const last = err.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as PtyExit);
      } catch {
        reject(new Error(`pty driver exited ${code}: ${err}`));
      }
    });
  });
  exited.catch(() => {});
  return {
    get output() { return out; },
    write(text) { child.stdin!.write(text); },
    resize(rows, cols) { ctl.write(`resize ${rows} ${cols}\n`); },
    waitFor(re, ms = 10_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.slice(from).match(re);
          if (m) { finish(); resolve(m); return; }
          if (finished) { finish(); reject(new Error(`command ended before ${re} appeared; output: ${JSON.stringify(out)}; stderr: ${err}`)); }
        };
        const timer = setTimeout(() => { finish(); reject(new Error(`timed out after ${ms} ms waiting for ${re}; output: ${JSON.stringify(out)}`)); }, ms);
        const finish = () => { clearTimeout(timer); waiters.delete(check); };
        waiters.add(check);
        check();
      });
    },
    exited,
    kill() { if (!finished) child.kill('SIGKILL'); },
  };
}
