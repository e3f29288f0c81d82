// Runs test/bin/seccomp-agent.c (node-gyp's capsa-seccomp-agent, or compiled once per source hash under /tmp)
// on a socket in a temp dir, for SCMP_ACT_NOTIFY tests. stop() kills it and
// removes the dir, whatever happened.

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { REPO_ROOT } from './rootfs';

const SOURCE = path.join(REPO_ROOT, 'test', 'bin', 'seccomp-agent.c');
const BUILT = path.join(REPO_ROOT, 'build', 'Release', 'capsa-seccomp-agent');

/** node-gyp's build (scripts/setup.sh) when it is newer than the source, else a gcc build under /tmp. */
function agentBinary(): string {
  if (fs.existsSync(BUILT) && fs.statSync(BUILT).mtimeMs >= fs.statSync(SOURCE).mtimeMs) return BUILT;
  const text = fs.readFileSync(SOURCE);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const dir = path.join(os.tmpdir(), `capsa-test-seccomp-agent-${process.getuid?.() ?? 0}-${hash}`);
  const bin = path.join(dir, 'seccomp-agent');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}`;
  try {
    execFileSync('gcc', ['-std=gnu11', '-O1', '-Wall', '-o', tmp, SOURCE], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`cannot compile seccomp-agent:\n${(e as { stderr?: Buffer }).stderr?.toString() ?? String(e)}`);
  }
  fs.renameSync(tmp, bin);
  return bin;
}

export interface Agent {
  socket: string;
  /** The JSON states it received, parsed, and its other log lines. */
  states(): Record<string, any>[];
  lines(): string[];
  stop(): Promise<void>;
}

/** Answers syscall `nr` with -errno; with `killable`, see seccomp-agent.c. */
export async function startAgent(nr: number, errno: number, killable = false): Promise<Agent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-agent-'));
  const socket = path.join(dir, 'agent.sock');
  const log = path.join(dir, 'agent.log');
  const child = spawn(agentBinary(), [socket, log, String(nr), String(errno), ...(killable ? ['killable'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`seccomp-agent exited ${code} before it was ready`)));
  });
  const lines = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  return {
    socket,
    lines,
    states: () => lines().filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
