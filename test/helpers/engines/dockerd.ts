// A private dockerd for the engine tests: capsa registered with
// --add-runtime, data and exec roots and the API socket under the test's temp
// dir, no bridge/iptables (no network set-up on this machine), its own
// containerd (the private one the test started), stopped by pid.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountsUnder, run, stopPid, until, type Result, type RunOpts, type Sandbox } from './common';
import type { Containerd } from './containerd';

export interface Dockerd {
  dir: string;
  pid: number;
  host: string;
  log: string;
  /** The runc-style root dockerd's shims pass to the runtime (`--root`). */
  runtimeRoot: string;
  cgroupParent: string;
  docker(args: readonly string[], opts?: RunOpts): Promise<Result>;
  stop(): Promise<string[]>;
}

/** The docker CLI from the docker.io package (another one on PATH may speak a newer API). */
export function dockerCli(): string {
  return fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
}

export async function startDockerd(sb: Sandbox, containerd: Containerd, runtimes: Record<string, string>): Promise<Dockerd> {
  const dir = path.join(sb.dir, 'docker');
  for (const d of ['data', 'exec', 'config']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const sock = path.join(dir, 'docker.sock');
  const host = `unix://${sock}`;
  const log = path.join(dir, 'dockerd.log');
  const daemonJson = path.join(dir, 'daemon.json');
  // Not the host's /etc/docker/daemon.json, and the trust key (20.10 writes
  // /etc/docker/key.json by default) stays in the temp dir too.
  fs.writeFileSync(daemonJson, JSON.stringify({ 'deprecated-key-path': path.join(dir, 'key.json') }));
  const cgroupParent = `/${sb.mark}-docker`;
  const args = [
    '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'docker.pid'),
    '-H', host, '--config-file', daemonJson, '--containerd', containerd.address, '--containerd-namespace', 'moby',
    '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--userland-proxy=false',
    '--cgroup-parent', cgroupParent, '--exec-opt', 'native.cgroupdriver=cgroupfs',
    ...Object.entries(runtimes).flatMap(([name, p]) => ['--add-runtime', `${name}=${p}`]),
  ];
  const out = fs.openSync(log, 'a');
  const dockerd = fs.existsSync('/usr/sbin/dockerd') ? '/usr/sbin/dockerd' : 'dockerd';
  const child = spawn(dockerd, args, { stdio: ['ignore', out, out], detached: true, env: { ...process.env, DOCKER_CONFIG: path.join(dir, 'config') } });
  fs.closeSync(out);
  child.unref();
  const pid = child.pid!;
  let exited = false;
  child.on('exit', () => { exited = true; });
  const env = { ...process.env, DOCKER_CONFIG: path.join(dir, 'config'), DOCKER_HOST: host };
  const docker = (a: readonly string[], o: RunOpts = {}) => run(dockerCli(), ['-H', host, ...a], { timeoutMs: 90_000, env, ...o });
  const tail = () => { try { return fs.readFileSync(log, 'utf8').split('\n').slice(-20).join('\n'); } catch { return ''; } };

  const stop = async (): Promise<string[]> => {
    const cleaned: string[] = [];
    if (!exited) {
      const ids = (await docker(['ps', '-aq'], { timeoutMs: 30_000 })).stdout.split('\n').filter(Boolean);
      if (ids.length) {
        cleaned.push(...ids.map((id) => `container ${id}`));
        await docker(['rm', '-f', ...ids], { timeoutMs: 60_000 });
      }
      await docker(['rmi', '-f', ...(await docker(['images', '-q'])).stdout.split('\n').filter(Boolean)], { timeoutMs: 60_000 });
    }
    await stopPid(pid, 20_000);
    // dockerd leaves its netns bind mount (exec-root/netns/default) behind.
    for (const m of mountsUnder(dir)) await run('umount', ['-l', m], { timeoutMs: 10_000 });
    return cleaned;
  };

  try {
    await until('dockerd to answer', async () => {
      if (exited) throw new Error('dockerd exited during startup');
      const r = await docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 5000 });
      return r.code === 0 ? true : undefined;
    }, 60_000);
  } catch (e) {
    await stopPid(pid, 5000);
    for (const m of mountsUnder(dir)) await run('umount', ['-l', m], { timeoutMs: 10_000 });
    throw new Error(`dockerd cannot run here: ${(e as Error).message}\ndockerd ${args.join(' ')}\n--- dockerd.log (tail) ---\n${tail()}`);
  }
  return { dir, pid, host, log, runtimeRoot: path.join(dir, 'exec', 'runtime-runc', 'moby'), cgroupParent, docker, stop };
}
