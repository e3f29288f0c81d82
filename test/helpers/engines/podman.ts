// podman on private storage for the engine tests: its own --root, --runroot
// and --tmpdir under the test's temp dir, cgroupfs and file events (no
// systemd here), a containers.conf of its own (so the host's does not leak
// in) and the machine's ulimit quirk handled in that file. No daemon: every
// podman command is a process of its own, run with a timeout.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, run, type Result, type RunOpts, type Sandbox } from './common';

export interface Podman {
  dir: string;
  /** The runtime path given to --runtime. */
  runtime: string;
  /** Global flags every podman call gets. */
  globalArgs: string[];
  env: NodeJS.ProcessEnv;
  /** The cgroup parent containers are put under (carries the sandbox mark). */
  cgroupParent: string;
  /** Flags `podman run`/`create` need on this machine (see ULIMITS). */
  runFlags: string[];
  podman(args: readonly string[], opts?: RunOpts): Promise<Result>;
  /** A shell command line for the same podman call (for script(1)). */
  line(args: readonly string[]): string;
}

export interface PodmanOptions {
  /** Sub-directory under the sandbox (default "podman"). */
  name?: string;
  /** Path of the OCI runtime (default: the sandbox's capsa wrapper). */
  runtime?: string;
  /**
   * Register the runtime by name in containers.conf (engine.runtimes) and
   * list it in runtime_supports_json, as a user configuring podman for capsa
   * would: podman then passes --log-format=json --log FILE to it.
   */
  configured?: boolean;
}

// podman's default ulimits exceed this kind of machine's hard nofile limit,
// and without CAP_SYS_RESOURCE no runtime can raise it (runc fails the same).
const ULIMITS = ['nofile=1024:1024', 'nproc=1024:1024'];

export function makePodman(sb: Sandbox, opts: PodmanOptions = {}): Podman {
  const dir = path.join(sb.dir, opts.name ?? 'podman');
  for (const d of ['root', 'runroot', 'tmp']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const runtime = opts.runtime ?? sb.capsa;
  const runtimeName = path.basename(runtime);
  const conf = path.join(dir, 'containers.conf');
  // The configured variant replaces the distribution's containers.conf: carry
  // over what Debian's sets (the ping sysctl), so containers look the same.
  if (opts.configured) {
    fs.writeFileSync(conf, [
      '[containers]',
      'default_sysctls = ["net.ipv4.ping_group_range=0 0"]',
      `default_ulimits = [${ULIMITS.map((u) => `"${u}"`).join(', ')}]`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `runtime = "${runtimeName}"`,
      `runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "${runtimeName}"]`,
      '[engine.runtimes]',
      `${runtimeName} = ["${runtime}"]`,
      '',
    ].join('\n'));
  }
  const storageConf = path.join(dir, 'storage.conf');
  fs.writeFileSync(storageConf, [
    '[storage]',
    'driver = "overlay"',
    `runroot = "${dir}/runroot"`,
    `graphroot = "${dir}/root"`,
    '',
  ].join('\n'));
  const globalArgs = [
    '--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'runroot'), '--tmpdir', path.join(dir, 'tmp'),
    '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--storage-driver', 'overlay',
    ...(opts.configured ? [] : ['--runtime', runtime]),
  ];
  // The plain variant keeps the host's containers.conf (podman's defaults as a
  // user gets them) and only names the runtime on the command line.
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_STORAGE_CONF: storageConf, ...(opts.configured ? { CONTAINERS_CONF: conf } : {}) };
  delete env.CONTAINERS_CONF_OVERRIDE;
  if (!opts.configured) delete env.CONTAINERS_CONF;
  const runFlags = opts.configured ? [] : ULIMITS.flatMap((u) => ['--ulimit', u]);
  const cgroupParent = `/${sb.mark}-${opts.name ?? 'podman'}`;
  const podman = (args: readonly string[], o: RunOpts = {}) => run('podman', [...globalArgs, ...args], { timeoutMs: 90_000, env, ...o });
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const line = (args: readonly string[]) =>
    [...(opts.configured ? [`CONTAINERS_CONF=${q(conf)}`] : []), `CONTAINERS_STORAGE_CONF=${q(storageConf)}`, ...['podman', ...globalArgs, ...args].map(q)].join(' ');
  return { dir, runtime, globalArgs, env, cgroupParent, runFlags, podman, line };
}

export async function loadImage(p: Podman, archive: string): Promise<void> {
  const r = await p.podman(['load', '-i', archive], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`podman load failed: ${describe(r)}`);
}

/** Removes every container (force) and image, then the storage; returns what was still there. */
export async function resetPodman(p: Podman): Promise<string[]> {
  const left: string[] = [];
  const ids = (await p.podman(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
  if (ids.length) {
    left.push(...ids.map((id) => `container ${id}`));
    await p.podman(['rm', '-f', '-t', '0', ...ids]);
  }
  await p.podman(['rmi', '-af']);
  await p.podman(['system', 'reset', '--force'], { timeoutMs: 120_000 });
  return left;
}
