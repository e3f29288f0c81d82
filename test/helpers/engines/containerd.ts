// A private containerd for the engine tests: its own config, root and state
// dirs and gRPC socket under the test's temp dir, its own namespace, started
// and stopped by pid. ctr talks to it with -a SOCKET -n NAMESPACE.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, pidsMatching, run, stopPid, until, type Result, type RunOpts, type Sandbox } from './common';

export interface Containerd {
  dir: string;
  address: string;
  namespace: string;
  pid: number;
  log: string;
  /** The runc-style state root the runc v2 shim passes to the runtime (`--root`). */
  runtimeRoot: string;
  /** Where ctr puts a task's stdio fifos (not the host's /run/containerd/fifo). */
  fifoDir: string;
  /** The full argv after `ctr` for args (address, namespace, --fifo-dir for run/exec). */
  ctrArgs(args: readonly string[]): string[];
  /** `ctr -a ADDRESS -n NAMESPACE ...args` */
  ctr(args: readonly string[], opts?: RunOpts): Promise<Result>;
  /** Kills leftover tasks and shims, then containerd itself; returns what it had to clean up. */
  stop(): Promise<string[]>;
  /** Stops containerd (SIGTERM: shims and tasks keep running) and starts it again with the same config; `pid` changes. */
  restart(): Promise<boolean>;
}

export interface ContainerdOptions {
  /** Sub-directory name under the sandbox (several daemons may coexist). */
  name?: string;
  /** containerd namespace for ctr (default: the sandbox mark). */
  namespace?: string;
  /** Extra TOML appended to the config (plugin sections). */
  extraConfig?: string;
  /** Keep the CRI plugin (off by default: the tests need no CRI). */
  cri?: boolean;
  /** Directories put in front of containerd's PATH (shim lookup). */
  pathPrefix?: string[];
}

export function containerdConfig(dir: string, opts: ContainerdOptions): string {
  return [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    opts.cri ? 'disabled_plugins = []' : 'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${dir}/containerd.sock"`,
    '[ttrpc]',
    `  address = "${dir}/containerd.sock.ttrpc"`,
    '[debug]',
    `  address = "${dir}/debug.sock"`,
    '  level = "info"',
    opts.extraConfig ?? '',
    '',
  ].join('\n');
}

export async function startContainerd(sb: Sandbox, opts: ContainerdOptions = {}): Promise<Containerd> {
  const dir = path.join(sb.dir, opts.name ?? 'containerd');
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'config.toml');
  fs.writeFileSync(configFile, containerdConfig(dir, opts));
  const address = path.join(dir, 'containerd.sock');
  const namespace = opts.namespace ?? sb.mark;
  const log = path.join(dir, 'containerd.log');
  const out = fs.openSync(log, 'a');
  const env = { ...process.env, PATH: [...(opts.pathPrefix ?? []), process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':') };
  let exited = false;
  const launch = (logFd: number): number => {
    const child = spawn('containerd', ['--config', configFile], { stdio: ['ignore', logFd, logFd], env, detached: true });
    fs.closeSync(logFd);
    child.unref();
    exited = false;
    child.on('exit', () => { exited = true; });
    return child.pid!;
  };
  let pid = launch(out);

  // ctr leaves its fifo dir behind when it is killed: keep them in our tree.
  const fifoDir = path.join(dir, 'fifo');
  fs.mkdirSync(fifoDir, { recursive: true });
  const ctrArgs = (args: readonly string[]): string[] => {
    const at = args[0] === 'run' ? 1 : args[0] === 'task' && args[1] === 'exec' ? 2 : -1;
    const withFifo = at < 0 ? [...args] : [...args.slice(0, at), '--fifo-dir', fifoDir, ...args.slice(at)];
    return ['-a', address, '-n', namespace, ...withFifo];
  };
  const ctr = (args: readonly string[], o: RunOpts = {}) => run('ctr', ctrArgs(args), { timeoutMs: 60_000, ...o });
  const tail = () => { try { return fs.readFileSync(log, 'utf8').split('\n').slice(-15).join('\n'); } catch { return ''; } };

  const stop = async (): Promise<string[]> => {
    const cleaned: string[] = [];
    if (!exited && fs.existsSync(address)) {
      // Tasks and containers first, so the shims exit on their own.
      for (const ns of await namespaces()) {
        const c = (args: string[]) => run('ctr', ['-a', address, '-n', ns, ...args], { timeoutMs: 30_000 });
        const tasks = (await c(['task', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
        for (const t of tasks) {
          cleaned.push(`task ${ns}/${t}`);
          await c(['task', 'kill', '-s', 'SIGKILL', t]);
          await until(`task ${t} to stop`, async () => ((await c(['task', 'ls'])).stdout.split('\n').some((l) => l.startsWith(`${t} `) && !/STOPPED/.test(l)) ? undefined : true), 10_000).catch(() => {});
          await c(['task', 'delete', '--force', t]);
        }
        const containers = (await c(['containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
        for (const ct of containers) {
          cleaned.push(`container ${ns}/${ct}`);
          await c(['containers', 'rm', ct]);
        }
      }
    }
    await stopPid(pid);
    // Shims outlive containerd; ours are the ones pointed at our socket.
    for (const shim of pidsMatching('containerd-shim', address)) {
      cleaned.push(`shim pid ${shim}`);
      await stopPid(shim, 3000);
    }
    return cleaned;
  };

  const namespaces = async (): Promise<string[]> => {
    const r = await run('ctr', ['-a', address, 'namespaces', 'ls', '-q'], { timeoutMs: 20_000 });
    return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [namespace];
  };

  const answering = () => until('containerd to answer', async () => {
    if (exited) throw new Error(`containerd exited during startup:\n${tail()}`);
    const r = await run('ctr', ['-a', address, 'version'], { timeoutMs: 5000 });
    return r.code === 0 ? true : undefined;
  }, 30_000);
  try {
    await answering();
  } catch (e) {
    await stopPid(pid, 3000);
    throw new Error(`cannot start containerd (config ${configFile}): ${(e as Error).message}\n${tail()}`);
  }
  const cd: Containerd = {
    dir, address, namespace, pid, log, runtimeRoot: path.join('/run/containerd/runc', namespace), fifoDir, ctrArgs, ctr, stop,
    async restart() {
      await stopPid(pid);
      pid = launch(fs.openSync(log, 'a'));
      cd.pid = pid;
      await answering();
      return true;
    },
  };
  return cd;
}

/** Imports an image archive; throws with ctr's output when it fails. */
export async function importImage(cd: Containerd, archive: string, namespace?: string): Promise<void> {
  const args = ['-a', cd.address, '-n', namespace ?? cd.namespace, 'images', 'import', archive];
  const r = await run('ctr', args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`ctr images import failed: ${describe(r)}`);
}
