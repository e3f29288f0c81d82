// Captures the config.json (and exec process.json) that real clients write,
// for test/fixtures/real-configs/: a logging wrapper stands in for runc (it
// copies what it is given, then runs the real runc), and containerd 1.6 (ctr
// and CRI), podman and docker are driven through it on private roots, the way
// the engine tests run them (test/helpers/engines/). Host-specific values
// (bundle and storage paths, netns and sandbox namespace paths, cgroup paths,
// hook binaries) become placeholders that test/helpers/real-configs.ts fills.
//
// Usage (as root, engines installed by scripts/engine-setup.sh):
//   npx tsc -p tsconfig.json && node build/scripts/capture-real-configs.js [engine ...]
// engines: ctr cri podman docker (default: all). Writes the fixtures and
// prints what it captured; run again to refresh them.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { findRunc, removeTree, run, sandbox, until, type Result, type Sandbox } from '../test/helpers/engines/common';
import { importImage, startContainerd } from '../test/helpers/engines/containerd';
import { CriClient, getStr, int, msg, str, strs, sub, bool, type PodSpec } from '../test/helpers/engines/cri';
import { startDockerd } from '../test/helpers/engines/dockerd';
import { buildTestImage, CTR_IMAGE, DOCKER_IMAGE, PODMAN_IMAGE } from '../test/helpers/engines/image';
import { loadImage, makePodman, resetPodman } from '../test/helpers/engines/podman';
import { normalizeCaptured, type CaptureRecord } from '../test/helpers/real-configs';
import { REPO_ROOT } from '../test/helpers/rootfs';

const OUT = path.join(REPO_ROOT, 'test', 'fixtures', 'real-configs');
const version = (cmd: string, args: string[], re: RegExp) => { try { return re.exec(execFileSync(cmd, args, { encoding: 'utf8' }))?.[1] ?? '?'; } catch { return '?'; } };
const CONTAINERD_VERSION = version('containerd', ['--version'], /containerd \S+ (\S+)/);
const PODMAN_VERSION = version('podman', ['--version'], /version (\S+)/);
const DOCKER_VERSION = version('/usr/sbin/dockerd', ['--version'], /version ([^,]+)/);
const SLEEP = ['/bin/testinit', 'sleep', 'forever'];
const EXEC = ['/bin/testinit', 'id'];

// ---- the wrapper ----

interface Capture {
  dir: string;
  wrapper: string;
  /** Names what the wrapper records next; false when CAPTURE_ONLY leaves it out. */
  scenario(name: string, source: string): boolean;
  sources: Map<string, string>;
}

function makeCapture(sb: Sandbox): Capture {
  const dir = path.join(sb.dir, 'captured');
  fs.mkdirSync(dir, { recursive: true });
  const wrapper = path.join(sb.binDir, 'runc-capture');
  // Records each bind source's kind while it exists (the suite makes a file or a dir for it).
  const kinds = path.join(sb.binDir, 'kinds.js');
  fs.writeFileSync(kinds, [
    "const fs = require('fs');",
    'const [config, out] = process.argv.slice(2);',
    "const c = JSON.parse(fs.readFileSync(config, 'utf8'));",
    'const k = {};',
    "for (const m of c.mounts || []) if (m.source && m.source.startsWith('/')) { try { k[m.source] = fs.statSync(m.source).isDirectory() ? 'dir' : 'file'; } catch { k[m.source] = 'missing'; } }",
    "const nsFile = { network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', pid: 'pid', user: 'user', cgroup: 'cgroup', time: 'time' };",
    "for (const n of (c.linux && c.linux.namespaces) || []) if (n.path) { try { const a = fs.statSync(n.path), b = fs.statSync('/proc/self/ns/' + nsFile[n.type]); k[n.path] = a.dev === b.dev && a.ino === b.ino ? 'ns-host' : 'ns'; } catch { k[n.path] = 'ns'; } }",
    'fs.writeFileSync(out, JSON.stringify(k));',
    '',
  ].join('\n'));
  fs.writeFileSync(wrapper, [
    '#!/bin/bash',
    `out=${dir}`,
    'scenario=$(cat "$out/current" 2>/dev/null); [ -n "$scenario" ] || scenario=unnamed',
    'bundle=; proc=; prev=; verb=',
    'for a in "$@"; do',
    '  case "$prev" in --bundle|-b) bundle=$a;; --process|-p) proc=$a;; esac',
    '  case "$a" in --bundle=*) bundle=${a#--bundle=};; --process=*) proc=${a#--process=};; create|exec) [ -z "$verb" ] && verb=$a;; esac',
    '  prev=$a',
    'done',
    'n=$(date +%s%N)',
    'if [ "$verb" = create ] && [ -f "$bundle/config.json" ]; then',
    '  cp "$bundle/config.json" "$out/$scenario.$n.create.json"',
    `  ${process.execPath} ${kinds} "$bundle/config.json" "$out/$scenario.$n.kinds.json"`,
    'fi',
    'if [ "$verb" = exec ] && [ -f "$proc" ]; then cp "$proc" "$out/$scenario.$n.exec.json"; fi',
    `exec ${findRunc()} "$@"`,
    '',
  ].join('\n'), { mode: 0o755 });
  const only = process.env.CAPTURE_ONLY ? new RegExp(process.env.CAPTURE_ONLY) : undefined;
  const sources = new Map<string, string>();
  const scenario = (name: string, source: string) => {
    if (only && !only.test(name)) return false;
    fs.writeFileSync(path.join(dir, 'current'), name.replace('/', '~'));
    sources.set(name.replace('/', '~'), source);
    return true;
  };
  return { dir, wrapper, scenario, sources };
}

function check(r: Result, what: string): Result {
  if (r.code !== 0 || r.timedOut) throw new Error(`${what} failed (${r.cmd}): exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

// ---- containerd 1.6: ctr run ----

async function captureCtr(sb: Sandbox, cap: Capture): Promise<string[]> {
  // ctr run ignores --runc-binary with --uidmap (the task runs the shim's
  // default "runc"): the wrapper is also "runc" on containerd's PATH.
  const pathDir = path.join(sb.dir, 'capture-path');
  fs.mkdirSync(pathDir, { recursive: true });
  fs.symlinkSync(cap.wrapper, path.join(pathDir, 'runc'));
  const cd = await startContainerd(sb, { name: 'capture-ctr', namespace: `${sb.mark}-capture`, pathPrefix: [pathDir] });
  const notes: string[] = [];
  try {
    await importImage(cd, path.join(sb.dir, 'image.tar'));
    const seccompFile = writeSeccompProfile(sb);
    const scenarios: [string, string[]][] = [
      ['default', []],
      ['privileged', ['--privileged']],
      ['net-host', ['--net-host']],
      ['read-only', ['--read-only']],
      ['userns', ['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536']],
      ['cap-add-drop', ['--cap-add', 'CAP_SYS_ADMIN', '--cap-drop', 'CAP_NET_RAW']],
      ['seccomp-default', ['--seccomp']],
      ['seccomp-profile', ['--seccomp', '--seccomp-profile', seccompFile]],
      ['device', ['--device', '/dev/fuse']],
      ['rootfs-propagation-shared', ['--rootfs-propagation', 'shared']],
      ['limits', ['--memory-limit', String(64 << 20), '--cpus', '0.5', '--cpu-shares', '512']],
    ];
    let n = 0;
    for (const [name, flags] of scenarios) {
      const id = `capture-${n++}`;
      if (!cap.scenario(`containerd-ctr/${name}`, `containerd ${CONTAINERD_VERSION}: ctr run -d --runc-binary WRAPPER ${flags.join(' ')} IMAGE ID /bin/testinit sleep forever; exec: ctr task exec --exec-id e1 ID /bin/testinit id`)) continue;
      const r = await cd.ctr(['run', '-d', '--runc-binary', cap.wrapper, ...flags, CTR_IMAGE, id, ...SLEEP], { timeoutMs: 90_000 });
      if (r.code !== 0) { notes.push(`ctr ${name}: ${r.stderr.trim().split('\n').pop()}`); await cd.ctr(['containers', 'rm', id]); continue; }
      const ex = await cd.ctr(['task', 'exec', '--exec-id', 'e1', id, ...EXEC]);
      if (ex.code !== 0) notes.push(`ctr ${name}: exec: ${ex.stdout.trim()} ${ex.stderr.trim()}`);
      await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
      await until(`${id} to stop`, async () => ((await cd.ctr(['task', 'ls'])).stdout.includes('RUNNING') ? undefined : true), 20_000).catch(() => {});
      await cd.ctr(['task', 'delete', '--force', id]);
      await cd.ctr(['containers', 'rm', id]);
    }
  } finally {
    notes.push(...(await cd.stop()).map((s) => `ctr cleanup: ${s}`));
  }
  return notes;
}

function writeSeccompProfile(sb: Sandbox): string {
  const file = path.join(sb.dir, 'seccomp.json');
  fs.writeFileSync(file, JSON.stringify({
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [{ names: ['kexec_load', 'open_by_handle_at', 'bpf'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  }));
  return file;
}

// ---- containerd 1.6: CRI ----

const HANDLER = 'capture';
const CRI_BRIDGE = 'capsa-cap0';

function criConfig(wrapper: string, dir: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    `[${cri}]`,
    `  sandbox_image = "${CTR_IMAGE}"`,
    '  enable_selinux = false',
    '  disable_apparmor = true',
    '  restrict_oom_score_adj = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.${HANDLER}]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.${HANDLER}.options]`,
    `  BinaryName = "${wrapper}"`,
    `[${cri}.cni]`,
    '  bin_dir = "/usr/lib/cni"',
    `  conf_dir = "${dir}/cni/net.d"`,
  ].join('\n');
}

// runtime.v1 field numbers (k8s.io/cri-api api.proto) for what podSandboxConfig/containerConfig do not set.
function sandboxConfig(p: PodSpec, opts: { hostNetwork: boolean; privileged?: boolean; sysctls?: Record<string, string> }): Buffer {
  const ns = msg(int(1, opts.hostNetwork ? 2 : 0), int(2, 1), int(3, 0)); // network NODE|POD, pid CONTAINER, ipc POD
  const sysctls = Object.entries(opts.sysctls ?? {}).map(([k, v]) => sub(3, msg(str(1, k), str(2, v))));
  return msg(
    sub(1, msg(str(1, p.name), str(2, p.uid), str(3, p.namespace))),
    str(3, p.logDirectory),
    sub(8, msg(str(1, p.cgroupParent), sub(2, msg(sub(1, ns), bool(6, opts.privileged))), ...sysctls)),
  );
}

interface CriContainer {
  name: string;
  command: string[];
  securityContext?: Buffer;
  mounts?: Buffer[];
}

function criContainerConfig(c: CriContainer, logPath: string): Buffer {
  const ns = msg(int(1, 0), int(2, 1), int(3, 0));
  return msg(
    sub(1, msg(str(1, c.name))),
    sub(2, msg(str(1, CTR_IMAGE))),
    strs(3, c.command),
    ...(c.mounts ?? []).map((m) => sub(7, m)),
    str(11, logPath),
    sub(15, msg(sub(2, c.securityContext ?? msg(sub(3, ns))))),
  );
}

async function captureCri(sb: Sandbox, cap: Capture): Promise<string[]> {
  const dir = path.join(sb.dir, 'capture-cri');
  fs.mkdirSync(path.join(dir, 'cni', 'net.d'), { recursive: true });
  // Pod networking: the sandbox gets a network namespace containerd makes
  // (pinned under /run/netns, passed by path), on a bridge of its own with a
  // private subnet, no gateway, no masquerading; removed at the end.
  fs.writeFileSync(path.join(dir, 'cni', 'net.d', '10-capture.conflist'), JSON.stringify({
    cniVersion: '0.4.0', name: 'capsa-capture',
    plugins: [{ type: 'bridge', bridge: CRI_BRIDGE, isGateway: false, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: '10.201.77.0/24' }]], dataDir: path.join(dir, 'ipam') } }],
  }));
  const cd = await startContainerd(sb, { name: 'capture-cri', namespace: 'k8s.io', cri: true, extraConfig: criConfig(cap.wrapper, dir) });
  const notes: string[] = [];
  const cri = new CriClient(cd.address);
  const logDir = path.join(sb.dir, 'capture-pod-logs');
  let seq = 0;
  const pods: string[] = [];
  try {
    await importImage(cd, path.join(sb.dir, 'image.tar'), 'k8s.io');
    const shared = path.join(sb.dir, 'capture-bidir');
    fs.mkdirSync(shared, { recursive: true });
    execFileSync('mount', ['--bind', shared, shared]);
    execFileSync('mount', ['--make-shared', shared]);
    const ns = msg(int(1, 0), int(2, 1), int(3, 0));
    const caps = (add: string[], drop: string[]) => sub(1, msg(strs(1, add), strs(2, drop)));
    const scenarios: { name: string; note: string; hostNetwork: boolean; privileged?: boolean; sysctls?: Record<string, string>; app: CriContainer }[] = [
      { name: 'hostnetwork', note: '(no securityContext)', hostNetwork: true, app: { name: 'app', command: SLEEP } },
      { name: 'podnetwork', note: '(no securityContext)', hostNetwork: false, app: { name: 'app', command: SLEEP } },
      {
        name: 'securitycontext', note: '(securityContext: capabilities +NET_ADMIN -NET_RAW -MKNOD, runAsUser 1000, runAsGroup 1000, readOnlyRootFilesystem, noNewPrivs, seccomp RuntimeDefault)', hostNetwork: false, sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647', 'kernel.shm_rmid_forced': '1' },
        app: {
          name: 'app', command: SLEEP,
          // capabilities(1), namespace_options(3), run_as_user(5) 1000, readonly_rootfs(7), run_as_group(12) 1000, no_new_privs(11), seccomp(15) RuntimeDefault
          securityContext: msg(caps(['NET_ADMIN'], ['NET_RAW', 'MKNOD']), sub(3, ns), sub(5, msg(int(1, 1000))), bool(7, true), sub(12, msg(int(1, 1000))), bool(11, true),
            sub(15, msg())), // seccomp: RuntimeDefault (profile_type 0)
        },
      },
      { name: 'privileged', note: '(securityContext: privileged)', hostNetwork: false, privileged: true, app: { name: 'app', command: SLEEP, securityContext: msg(bool(2, true), sub(3, ns)) } },
      {
        name: 'bidirectional', note: '(securityContext: +SYS_ADMIN; a mount with propagation Bidirectional from a shared host dir)', hostNetwork: true,
        app: { name: 'app', command: SLEEP, securityContext: msg(caps(['SYS_ADMIN'], []), sub(3, ns)), mounts: [msg(str(1, '/vol'), str(2, shared), int(5, 2))] },
      },
    ];
    for (const s of scenarios) {
      const n = seq++;
      if (!cap.scenario(`containerd-cri/${s.name}`, `containerd ${CONTAINERD_VERSION} CRI (runtime.v1 over gRPC, runtime handler "${HANDLER}" = io.containerd.runc.v2 with BinaryName WRAPPER): RunPodSandbox (${s.hostNetwork ? 'hostNetwork' : 'pod network: a netns containerd made, CNI loopback only'}${s.privileged ? ', privileged' : ''}${s.sysctls ? `, sysctls ${Object.keys(s.sysctls).join(' ')}` : ''}), CreateContainer ${s.note}, StartContainer; exec: ExecSync /bin/testinit id. configs[0] is the sandbox (pause), configs[1] the app container`)) continue;
      const p: PodSpec = { name: `capture-pod-${n}`, uid: `capture-uid-${n}`, namespace: 'default', logDirectory: path.join(logDir, String(n)), cgroupParent: `/${sb.mark}-capture-cri` };
      fs.mkdirSync(p.logDirectory, { recursive: true });
      const sbConfig = sandboxConfig(p, s);
      let podId: string;
      try {
        podId = getStr(await cri.runtime('RunPodSandbox', msg(sub(1, sbConfig), str(2, HANDLER)), 120_000), 1);
      } catch (e) {
        notes.push(`cri ${s.name}: RunPodSandbox: ${(e as Error).message}`);
        continue;
      }
      pods.push(podId);
      try {
        const created = await cri.runtime('CreateContainer', msg(str(1, podId), sub(2, criContainerConfig(s.app, `${s.app.name}.log`)), sub(3, sbConfig)));
        const cid = getStr(created, 1);
        await cri.runtime('StartContainer', msg(str(1, cid)));
        await cri.runtime('ExecSync', msg(str(1, cid), ...EXEC.map((c) => str(2, c)), int(3, 20)), 30_000).catch((e) => notes.push(`cri ${s.name}: exec: ${(e as Error).message}`));
      } catch (e) {
        notes.push(`cri ${s.name}: container: ${(e as Error).message}`);
      }
      await cri.runtime('StopPodSandbox', msg(str(1, podId))).catch(() => {});
      await cri.runtime('RemovePodSandbox', msg(str(1, podId))).catch(() => {});
    }
    execFileSync('umount', ['-l', shared]);
  } finally {
    await run('ip', ['link', 'delete', CRI_BRIDGE]);
    for (const id of pods) await cri.runtime('RemovePodSandbox', msg(str(1, id))).catch(() => {});
    cri.close();
    notes.push(...(await cd.stop()).map((s) => `cri cleanup: ${s}`));
  }
  return notes;
}

// ---- podman 4.3 ----

async function capturePodman(sb: Sandbox, cap: Capture): Promise<string[]> {
  const pm = makePodman(sb, { name: 'pc', runtime: cap.wrapper }); // podman refuses a runroot over 50 characters
  const notes: string[] = [];
  const seccompFile = writeSeccompProfile(sb);
  try {
    await loadImage(pm, path.join(sb.dir, 'image.tar'));
    const keepId = ['--uidmap', '0:100000:1000', '--uidmap', '1000:1000:1', '--uidmap', '1001:101001:64535',
      '--gidmap', '0:100000:1000', '--gidmap', '1000:1000:1', '--gidmap', '1001:101001:64535', '--user', '1000:1000'];
    const scenarios: [string, string[], string?][] = [
      ['default', ['--network', 'none']],
      ['privileged', ['--network', 'none', '--privileged']],
      ['device', ['--network', 'none', '--device', '/dev/fuse', '--device', '/dev/full:/dev/capsa-full:r']],
      ['cap-add-all', ['--network', 'none', '--cap-add', 'ALL']],
      ['userns-maps', ['--network', 'none', '--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536']],
      ['keep-id-like-maps', ['--network', 'none', ...keepId]],
      ['read-only', ['--network', 'none', '--read-only']],
      ['pid-host', ['--network', 'none', '--pid', 'host']],
      ['network-host', ['--network', 'host']],
      ['seccomp-profile', ['--network', 'none', '--security-opt', `seccomp=${seccompFile}`]],
      ['seccomp-unconfined', ['--network', 'none', '--security-opt', 'seccomp=unconfined']],
      ['sysctl', ['--network', 'none', '--sysctl', 'net.ipv4.ip_forward=1', '--sysctl', 'kernel.msgmax=65536']],
      ['ipc-shareable-uts-host', ['--network', 'none', '--ipc', 'shareable', '--uts', 'host']],
      ['limits', ['--network', 'none', '--memory', '64m', '--pids-limit', '100', '--cpu-shares', '512']],
      ['userns-auto', ['--network', 'none', '--userns', 'auto'], 'subuid'],
    ];
    let n = 0;
    for (const [name, flags, needs] of scenarios) {
      const cname = `capture-${n++}`;
      if (!cap.scenario(`podman/${name}`, `podman ${PODMAN_VERSION} (conmon, cgroupfs, private storage): podman run -d ${flags.join(' ')} IMAGE /bin/testinit sleep forever; exec: podman exec NAME /bin/testinit id`)) continue;
      const args = ['run', '-d', ...pm.runFlags, '--cgroup-parent', pm.cgroupParent, '--name', cname, ...flags, PODMAN_IMAGE, ...SLEEP];
      const r = needs === 'subuid' ? await withSubids(pm.line(args)) : await pm.podman(args);
      if (r.code !== 0) { notes.push(`podman ${name}: ${r.stderr.trim().split('\n').pop()}`); await pm.podman(['rm', '-f', cname]); continue; }
      if (needs !== 'subuid') await pm.podman(['exec', cname, ...EXEC]);
      await (needs === 'subuid' ? withSubids(pm.line(['rm', '-f', '-t', '0', cname])) : pm.podman(['rm', '-f', '-t', '0', cname]));
    }
  } finally {
    notes.push(...(await resetPodman(pm)).map((s) => `podman cleanup: ${s}`));
  }
  return notes;
}

/**
 * --userns=auto takes ids from /etc/subuid's "containers" entry, which this
 * machine does not have: the command runs in a mount namespace of its own
 * where /etc/subuid and /etc/subgid say so. The host's files are untouched.
 */
async function withSubids(cmdline: string): Promise<Result> {
  const ids = '/tmp/capsa-test-capture-subids';
  fs.writeFileSync(ids, 'containers:200000:1000000\n');
  try {
    return await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind ${ids} /etc/subuid && mount --bind ${ids} /etc/subgid && ${cmdline}`], { timeoutMs: 120_000 });
  } finally {
    fs.rmSync(ids, { force: true });
  }
}

// ---- docker 20.10 ----

function volumeDir(sb: Sandbox): string {
  const dir = path.join(sb.dir, 'vol');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

async function captureDocker(sb: Sandbox, cap: Capture): Promise<string[]> {
  const cd = await startContainerd(sb, { name: 'capture-containerd-docker', namespace: 'moby' });
  const notes: string[] = [];
  let stopDocker = async (): Promise<string[]> => [];
  try {
    const dk = await startDockerd(sb, cd, { capture: cap.wrapper });
    stopDocker = dk.stop;
    check(await dk.docker(['load', '-i', path.join(sb.dir, 'image.tar')], { timeoutMs: 120_000 }), 'docker load');
    const seccompFile = writeSeccompProfile(sb);
    const scenarios: [string, string[]][] = [
      ['default', ['--network', 'none']],
      ['privileged', ['--network', 'none', '--privileged']],
      ['device', ['--network', 'none', '--device', '/dev/fuse', '--device', '/dev/full:/dev/capsa-full:r']],
      ['cap-add-all', ['--network', 'none', '--cap-add', 'ALL']],
      ['read-only', ['--network', 'none', '--read-only']],
      ['pid-host', ['--network', 'none', '--pid', 'host']],
      ['network-host', ['--network', 'host']],
      ['seccomp-profile', ['--network', 'none', '--security-opt', `seccomp=${seccompFile}`]],
      ['seccomp-unconfined', ['--network', 'none', '--security-opt', 'seccomp=unconfined']],
      ['sysctl', ['--network', 'none', '--sysctl', 'net.ipv4.ip_forward=1', '--sysctl', 'kernel.msgmax=65536']],
      ['ipc-shareable-uts-host', ['--network', 'none', '--ipc', 'shareable', '--uts', 'host']],
      ['limits', ['--network', 'none', '--memory', '64m', '--pids-limit', '100', '--cpu-shares', '512']],
      ['tmpfs-volume', ['--network', 'none', '--tmpfs', '/scratch:size=1m,mode=1777', '-v', `${volumeDir(sb)}:/hostdir:ro`]],
    ];
    let n = 0;
    for (const [name, flags] of scenarios) {
      const cname = `capture-${n++}`;
      if (!cap.scenario(`docker/${name}`, `docker ${DOCKER_VERSION} (dockerd --add-runtime capture=WRAPPER, its own containerd, cgroupfs, no bridge): docker run -d --runtime capture ${flags.join(' ')} IMAGE /bin/testinit sleep forever; exec: docker exec NAME /bin/testinit id`)) continue;
      const r = await dk.docker(['run', '-d', '--runtime', 'capture', '--name', cname, ...flags, DOCKER_IMAGE, ...SLEEP]);
      if (r.code !== 0) { notes.push(`docker ${name}: ${r.stderr.trim().split('\n').pop()}`); await dk.docker(['rm', '-f', cname]); continue; }
      await dk.docker(['exec', cname, ...EXEC]);
      await dk.docker(['rm', '-f', cname]);
    }
  } finally {
    notes.push(...(await stopDocker()).map((s) => `docker cleanup: ${s}`));
    notes.push(...(await cd.stop()).map((s) => `docker containerd cleanup: ${s}`));
  }
  return notes;
}

// ---- collecting ----

/** Scenario "engine/name" is recorded as "engine~name" (file names); written to OUT/engine/name.json. */
function collect(cap: Capture, sandboxDir: string): string[] {
  const files = fs.readdirSync(cap.dir);
  const byScenario = new Map<string, CaptureRecord[]>();
  for (const f of files.filter((x) => x.endsWith('.create.json')).sort()) {
    const [scenario, stamp] = f.split('.');
    const base = path.join(cap.dir, `${scenario}.${stamp}`);
    const kinds = `${base}.kinds.json`;
    const list = byScenario.get(scenario!) ?? [];
    list.push({ config: JSON.parse(fs.readFileSync(`${base}.create.json`, 'utf8')), kinds: fs.existsSync(kinds) ? JSON.parse(fs.readFileSync(kinds, 'utf8')) : {} });
    byScenario.set(scenario!, list);
  }
  const written: string[] = [];
  for (const [scenario, records] of byScenario) {
    const exec = files.filter((x) => x.startsWith(`${scenario}.`) && x.endsWith('.exec.json')).sort()[0];
    let entry: ReturnType<typeof normalizeCaptured>;
    try {
      entry = normalizeCaptured(records, exec ? JSON.parse(fs.readFileSync(path.join(cap.dir, exec), 'utf8')) : undefined, sandboxDir);
    } catch (e) {
      written.push(`(not written) ${scenario}: ${(e as Error).message}`);
      continue;
    }
    // The description names the engine's command; its temp paths say nothing.
    entry.source = (cap.sources.get(scenario) ?? '').split(sandboxDir).join('{{SANDBOX}}');
    const file = path.join(OUT, ...scenario.split('~'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.json`, JSON.stringify(entry, null, 2) + '\n');
    written.push(path.relative(REPO_ROOT, `${file}.json`));
  }
  return written;
}

async function main(): Promise<void> {
  const which = process.argv.slice(2);
  const want = (e: string) => which.length === 0 || which.includes(e);
  const sb = sandbox();
  const notes: string[] = [];
  const cap = makeCapture(sb);
  try {
    buildTestImage(sb.dir);
    const engines: [string, (sb: Sandbox, cap: Capture) => Promise<string[]>][] = [['ctr', captureCtr], ['cri', captureCri], ['podman', capturePodman], ['docker', captureDocker]];
    for (const [name, capture] of engines) {
      if (!want(name)) continue;
      try {
        notes.push(...(await capture(sb, cap)));
      } catch (e) {
        notes.push(`${name}: ${(e as Error).message.split('\n').slice(0, 4).join(' / ')}`);
      }
    }
    const written = collect(cap, sb.dir);
    process.stdout.write(`captured ${written.length} entries:\n  ${written.join('\n  ')}\n`);
    if (notes.length) process.stdout.write(`notes:\n  ${notes.join('\n  ')}\n`);
  } finally {
    const left = removeTree(sb.dir);
    if (left.length) process.stderr.write(`cleanup: ${left.join('; ')}\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
