// `create`: bundle → container in the `created` state, its init waiting on
// the exec fifo. On any failure everything made so far is undone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError, fromSystemError } from '../errors';
import type { CgroupManager } from '../cgroups/manager';
import { compile } from '../plan/compile';
import { loadBundleSpec } from '../spec/load';
import { newerSpecWarning } from '../spec/known-fields';
import type { IdMapping, NamespaceType, Spec } from '../spec/types';
import { type ContainerDir, type StateRecord, StateStore } from '../state/store';
import { addon } from '../sys/addon';
import { hostLastCap, ownStartTime } from '../sys/proc';
import { cgroupMountSources, makeCgroupManager } from './container-cgroup';
import { startInit, type InitOptions } from './init-process';
import { processStartTime } from './status';
import { signalProcess, waitForExit, type ProcessHandle } from './process-exit';
import { writePidFile } from './pidfile';
import { runHooks, runHooksWarnOnly } from './hooks';
import { faultPoint } from './faults';
import { readFileInRoot } from '../image/rootpath';
import { rootfsFlagsToClear } from '../image/marker';
import { rootfsLayers, type RootfsMount } from '../plan/rootfs-mount';
import { connectPidfdSocket, sendPidfd } from './pidfd-socket';
import { hostTopology } from './topology';
import { prepareSeccomp } from './seccomp-agent';

export interface CreateOptions {
  /** The bundle dir; without one, give `spec` and `rootfs` and the state dir serves as the bundle. */
  bundle?: string;
  /** Use this spec instead of reading bundle/config.json. */
  spec?: Spec;
  /** Root filesystem dir, overriding spec.root.path. */
  rootfs?: string;
  /**
   * The root as a mount (a containerd snapshot: an overlay's lower/upper/work
   * dirs, or a bind) that capsa-init makes in the container's own mount
   * namespace, attached on the rootfs dir: nothing is mounted on the host.
   */
  rootfsMount?: RootfsMount;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  stdio?: InitOptions['stdio'];
  systemdCgroup?: boolean;
  stepTimeoutMs?: number;
  /** LISTEN_FDS passed on (included in preserveFds): the process gets LISTEN_FDS=n and LISTEN_PID=1. */
  listenFds?: number;
  /** `run -t` in the foreground: capsa relays the terminal, so it gets the pty master. */
  foregroundTerminal?: boolean;
  /** runc --pidfd-socket: a pidfd of the init is sent on this unix socket during create. */
  pidfdSocket?: string;
  /** Called with each non-fatal warning (capsa never prints). */
  onWarning?: (msg: string) => void;
  /** Called with details only worth a --debug log (e.g. syscalls a filter names that this kernel lacks). */
  onDebug?: (msg: string) => void;
}

export interface Created {
  record: StateRecord;
  dir: ContainerDir;
  cgroup?: CgroupManager;
  stdio: InitResultStdio;
  /** The pty master when foregroundTerminal was asked for. */
  ptyMaster?: number;
}
type InitResultStdio = Awaited<ReturnType<typeof startInit>>['stdio'];

function resolveRootfs(bundle: string, spec: Spec): string {
  const rootfs = path.resolve(bundle, spec.root!.path);
  let real: string;
  try {
    real = fs.realpathSync(rootfs);
  } catch (e) {
    throw new CapsaError('INVALID_CONFIG', `config.root.path: rootfs ${rootfs}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`, { configPath: 'root.path' });
  }
  if (real === '/') throw new CapsaError('INVALID_CONFIG', `config.root.path: ${rootfs} resolves to the host's root directory`, { configPath: 'root.path' });
  if (!fs.statSync(real).isDirectory()) throw new CapsaError('INVALID_CONFIG', `config.root.path: ${rootfs} is not a directory`, { configPath: 'root.path' });
  return real;
}

/**
 * The home directory of uid from the rootfs's /etc/passwd, its symlinks
 * resolved inside the rootfs; for a root given as a mount, from the first of
 * its layers that has the file.
 */
function homeOf(rootfs: string, uid: number, mount?: RootfsMount): string | undefined {
  try {
    const layers = mount ? rootfsLayers(mount) : [rootfs];
    let text: string | undefined;
    for (const layer of layers) if ((text = readFileInRoot(layer, '/etc/passwd', 1 << 20)) !== undefined) break;
    if (text === undefined) return undefined;
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f.length >= 6 && Number(f[2]) === uid && f[2] !== '') return f[5] || '/';
    }
  } catch { /* no passwd file: HOME=/ */ }
  return undefined;
}

function connectConsoleSocket(socketPath: string): number {
  try {
    return addon().connectUnix(path.resolve(socketPath));
  } catch (e) {
    throw fromSystemError(e, `console socket ${socketPath}`, 'INVALID_ARGUMENT');
  }
}

function mapLines(maps: IdMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

/** This process's start time (for the state's creator field): it never changes. */
let myStartTime: number | undefined;

function isDirectory(p: string): boolean {
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}

const NS_FILE: Record<NamespaceType, string> = { mount: 'mnt', network: 'net', uts: 'uts', ipc: 'ipc', pid: 'pid', user: 'user', cgroup: 'cgroup', time: 'time' };

/** Whether a namespace path names the runtime's own namespace (same nsfs inode, as runc compares). */
function isRuntimeNamespace(type: NamespaceType, nsPath: string): boolean {
  let given: fs.Stats;
  try { given = fs.statSync(nsPath); } catch { return false; /* joining it fails with its own error */ }
  let own: fs.Stats;
  try {
    own = fs.statSync(`/proc/self/ns/${NS_FILE[type]}`);
  } catch (e) {
    throw fromSystemError(e, `read /proc/self/ns/${NS_FILE[type]} (is procfs mounted on /proc?)`);
  }
  return given.dev === own.dev && given.ino === own.ino;
}

export async function createContainer(store: StateStore, id: string, opts: CreateOptions): Promise<Created> {
  if (opts.bundle === undefined && !(opts.spec && opts.rootfs)) {
    throw new CapsaError('INVALID_ARGUMENT', 'create: give a bundle, or a spec and a rootfs');
  }
  // Without a bundle, the container's state dir becomes one (config.json is written there).
  const bundle = opts.bundle === undefined ? path.resolve(store.root, id) : path.resolve(opts.bundle);
  let spec = opts.spec ?? loadBundleSpec(bundle);
  if (opts.rootfs !== undefined) spec = { ...spec, root: { ...spec.root, path: path.resolve(opts.rootfs) } };
  if (opts.listenFds && spec.process) {
    const env = (spec.process.env ?? []).filter((e) => !e.startsWith('LISTEN_FDS=') && !e.startsWith('LISTEN_PID='));
    spec.process.env = [...env, `LISTEN_FDS=${opts.listenFds}`, 'LISTEN_PID=1'];
  }
  const rootfs = resolveRootfs(bundle, spec);
  const warn = (m: string) => opts.onWarning?.(m);
  const newer = newerSpecWarning(spec);
  if (newer) warn(newer);
  const terminal = !!spec.process?.terminal;
  if (terminal && !opts.consoleSocket && !opts.foregroundTerminal) {
    throw new CapsaError('INVALID_ARGUMENT', 'cannot allocate tty if capsa will detach without setting console socket');
  }
  if (opts.consoleSocket && !terminal) {
    throw new CapsaError('INVALID_ARGUMENT', 'cannot use console socket if capsa will not detach or allocate tty');
  }
  // Loaded only for configs with a filter (keeps the CLI's other paths light).
  const seccomp = spec.linux?.seccomp ? (require('../seccomp') as typeof import('../seccomp')).compileSeccomp(spec.linux.seccomp) : undefined;
  if (seccomp) {
    seccomp.warnings.forEach(warn);
    seccomp.notes.forEach((m) => opts.onDebug?.(m));
  }

  const { detectLsm, planContainerLsm } = require('../security/lsm') as typeof import('../security/lsm');
  const lsm = planContainerLsm(spec, detectLsm());
  lsm.warnings.forEach(warn);
  // The links must exist before anything is made for the container.
  const netDevices = spec.linux?.netDevices ? (require('./netdev') as typeof import('./netdev')).planNetDevices(spec) : [];

  // Before the claim: a /proc that cannot be read must leave nothing behind.
  myStartTime ??= ownStartTime();
  const dir = store.claim(id);
  const record: StateRecord = {
    ociVersion: spec.ociVersion, id, bundle, rootfs, created: new Date().toISOString(), owner: '',
    annotations: spec.annotations, pid: 0, initStartTime: 0, creator: { pid: process.pid, startTime: myStartTime },
    phase: 'creating', hasPrivatePidNs: (spec.linux?.namespaces ?? []).some((n) => n.type === 'pid' && !n.path),
    hooks: spec.hooks, useSystemd: opts.systemdCgroup, process: spec.process,
    seccomp: seccomp && { program: seccomp.program.toString('base64'), flags: seccomp.flags, listener: seccomp.listener },
    ...(spec.linux?.memoryPolicy ? { memoryPolicy: spec.linux.memoryPolicy } : {}),
  };
  let cgroup: CgroupManager | undefined;
  let childPid = 0;
  // The console socket end capsa-init sends the pty master on, and our end of
  // it for a foreground terminal.
  let consoleFd: number | undefined;
  let ptyPeer: number | undefined;
  let pidfdSock: number | undefined;
  let agent: ReturnType<typeof prepareSeccomp> | undefined;
  try {
    if (opts.pidfdSocket !== undefined) pidfdSock = connectPidfdSocket(opts.pidfdSocket);
    if (terminal) {
      if (opts.consoleSocket) consoleFd = connectConsoleSocket(opts.consoleSocket);
      else [ptyPeer, consoleFd] = addon().socketPair();
    }
    await dir.lock();
    // The cgroup is recorded with the claim, before it is made, so a crash
    // in between can be cleaned.
    cgroup = makeCgroupManager(id, spec, !!opts.systemdCgroup);
    record.cgroup = { ...cgroup.toJSON(), creating: true };
    dir.write(record);
    if (opts.bundle === undefined) fs.writeFileSync(path.join(dir.dir, 'config.json'), JSON.stringify(spec), { mode: 0o600 });
    try {
      addon().mkfifo(dir.fifoPath, 0o622);
      // mkfifo applies the umask; a non-root container user must be able to open it.
      fs.chmodSync(dir.fifoPath, 0o622);
    } catch (e) {
      throw fromSystemError(e, `create exec fifo ${dir.fifoPath}`);
    }
    cgroup.create();
    record.cgroup = cgroup.toJSON();
    dir.write(record);
    faultPoint('create:cgroup');
    // The pids limit waits for the container's process (see ApplyOptions.withoutPids).
    cgroup.apply(spec.linux?.resources, { withoutPids: true });
    cgroup.warnings?.forEach(warn);
    let warned = cgroup.warnings?.length ?? 0;
    if (spec.linux?.intelRdt) {
      const rdt = require('./resctrl') as typeof import('./resctrl');
      record.intelRdt = rdt.setupIntelRdt(spec.linux.intelRdt, id, rdt.hostResctrlMount());
      dir.write(record);
    }

    const syncIndex = 3 + (opts.preserveFds ?? 0);
    const startHooks = spec.hooks?.startContainer?.length ? path.join(dir.dir, 'hook-state.json') : undefined;
    if (startHooks) fs.writeFileSync(startHooks, '{}', { mode: 0o600 });
    const extraFds = consoleFd === undefined ? [] : [consoleFd];
    agent = prepareSeccomp(seccomp, syncIndex + 1 + extraFds.length, { id, bundle, annotations: spec.annotations, status: 'creating', initPid: 0 });
    extraFds.push(...agent.extraFds);
    const plan = compile({
      spec, bundle, rootfs, fifoPath: dir.fifoPath, preserveFds: opts.preserveFds ?? 0, noPivot: !!opts.noPivot,
      lastCap: hostLastCap(), cgroupMounts: cgroupMountSources(cgroup), cgroupMembership: cgroup.membership?.(), seccomp: agent.seccomp,
      home: homeOf(rootfs, spec.process!.user.uid, opts.rootfsMount), isDirectory, isRuntimeNamespace,
      consoleFd: consoleFd === undefined ? undefined : syncIndex + 1, hookStatePath: startHooks,
      id, noNewKeyring: opts.noNewKeyring, lsm, rootfsAttrClear: rootfsFlagsToClear(bundle, rootfs), rootfsMount: opts.rootfsMount,
      topology: hostTopology(spec.process, spec.linux?.memoryPolicy),
      mountLabel: lsm.mountLabel, netDevices,
      resctrlTasks: record.intelRdt && (require('./resctrl') as typeof import('./resctrl')).resctrlTasksFiles(record.intelRdt),
    });
    plan.warnings.forEach(warn);
    faultPoint('create:before-init');
    const result = await startInit(plan.ops, {
      preserveFds: opts.preserveFds ?? 0, stdio: opts.stdio ?? 'inherit', stepTimeoutMs: opts.stepTimeoutMs ?? 30_000,
      extraFds, onDebug: opts.onDebug,
    }, {
      onSeccomp: agent.onSeccomp,
      onReady: (pid) => cgroup!.addProcess(pid),
      onMaps: (pid) => {
        faultPoint('create:maps');
        for (const [file, field] of [['uid_map', 'uidMappings'], ['gid_map', 'gidMappings']] as const) {
          try {
            fs.writeFileSync(`/proc/${pid}/${file}`, mapLines(spec.linux![field]!));
          } catch (e) {
            throw fromSystemError(e, `config.linux.${field}: write ${file}`, 'INVALID_CONFIG');
          }
        }
      },
      onHooks: async (pid) => {
        const state = { ociVersion: spec.ociVersion, id, status: 'creating' as const, pid, bundle, annotations: spec.annotations };
        faultPoint('create:hooks');
        await runHooks('prestart', spec.hooks?.prestart, state);
        await runHooks('createRuntime', spec.hooks?.createRuntime, state);
        await runHooks('createContainer', spec.hooks?.createContainer, state, { namespacesOf: pid });
      },
      onNetDevices: (pid) => (require('./netdev') as typeof import('./netdev')).moveNetDevices(netDevices, pid),
      onChild: (pid) => {
        childPid = pid;
        record.pid = pid;
        record.initStartTime = processStartTime(pid);
        // Not written yet: until "created" the recorded cgroup is what finds
        // this process (delete kills everything in it), so one state write
        // at the end does.
        faultPoint('create:child');
        // startContainer hooks run inside the container: give its view of the pid.
        if (startHooks) fs.writeFileSync(startHooks, JSON.stringify({ ociVersion: spec.ociVersion, id, status: 'created', pid: record.hasPrivatePidNs ? 1 : pid, bundle, annotations: spec.annotations ?? {} }));
      },
    });
    result.warnings.forEach(warn);
    const pids = spec.linux?.resources?.pids;
    if (pids) await cgroup.update({ pids });
    // What the cgroup driver noted since (the systemd scope started, the pids limit).
    cgroup.warnings?.slice(warned).forEach(warn);
    warned = cgroup.warnings?.length ?? 0;
    record.phase = 'created';
    dir.write(record);
    faultPoint('create:created');
    if (opts.pidFile) writePidFile(opts.pidFile, result.pid);
    if (pidfdSock !== undefined) sendPidfd(pidfdSock, result.pid, opts.pidfdSocket!);
    // The master was sent before "created", so this does not block.
    const ptyMaster = ptyPeer === undefined ? undefined : addon().recvFd(ptyPeer);
    return { record, dir, cgroup, stdio: result.stdio, ptyMaster };
  } catch (e) {
    await undoCreate(dir, cgroup, childPid ? { pid: childPid, startTime: record.initStartTime } : undefined);
    if (record.intelRdt) (require('./resctrl') as typeof import('./resctrl')).removeIntelRdt(record.intelRdt, warn);
    // runtime-spec lifecycle: a failed create is destroyed, then poststop runs.
    if (spec.hooks?.poststop?.length) {
      await runHooksWarnOnly('poststop', spec.hooks.poststop, { ociVersion: spec.ociVersion, id, status: 'stopped', pid: 0, bundle, annotations: spec.annotations ?? {} }, warn).catch(() => {});
    }
    throw e;
  } finally {
    if (consoleFd !== undefined) addon().closeFd(consoleFd);
    if (ptyPeer !== undefined) addon().closeFd(ptyPeer);
    if (pidfdSock !== undefined) addon().closeFd(pidfdSock);
    agent?.close();
    dir.unlock();
  }
}

/** Best-effort teardown of a half-made container: process, cgroup, state dir. */
async function undoCreate(dir: ContainerDir, cgroup: CgroupManager | undefined, init: ProcessHandle | undefined): Promise<void> {
  if (init) {
    // Wait for it to die and reap it (it is our child): no zombie left behind.
    const exited = waitForExit(init, 5_000).catch(() => null);
    signalProcess(init, 9);
    await exited;
  }
  if (cgroup) {
    try { for (const p of cgroup.pids()) process.kill(p, 'SIGKILL'); } catch { /* empty or gone */ }
    try { await cgroup.destroy(); } catch { /* reported by the leak check, not here */ }
  }
  dir.remove();
}
