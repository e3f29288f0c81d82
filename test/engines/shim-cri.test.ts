// The Kubernetes path through containerd-shim-capsa-v2: containerd's CRI
// plugin with a runtime entry `runtime_type = "io.containerd.capsa.v2"`
// (what a RuntimeClass `handler: capsa` selects), driven by the engine
// tests' CRI client playing the kubelet. One shim per pod: the sandbox and
// its containers are children of one shim process, which exits when the pod
// is stopped. Host networking (no CNI here).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { alive, cgroupsContaining, sleep, until } from '../helpers/engines/common';
import { importImage, startContainerd, type Containerd } from '../helpers/engines/containerd';
import { CONTAINER_STATE, containerConfig, CriClient, decode, getInt, getMsg, getStr, int, msg, podSandboxConfig, str, sub, type PodSpec } from '../helpers/engines/cri';
import { buildTestImage, CTR_IMAGE } from '../helpers/engines/image';
import { leftoverSockets, removeSockets, SHIM_DIST, shimBuilt, shimPids, shimRoot, shimSparePid, spareFiles, stopSpare } from '../helpers/engines/shim';
import { engineGroup } from '../helpers/engines/suite';
import { readProcStat } from '../../src/sys/proc';

const HANDLER = 'capsa';
const CRI_NAMESPACE = 'k8s.io';

interface Ctx { cd: Containerd; cri: CriClient; logDir: string; cgroupParent: string }

/**
 * The runtime entry docs/engines.md gives cluster admins. containerd 1.6's
 * CRI has no runtime_path (1.7 added it): it finds the shim by name on its PATH.
 */
function criConfig(dir: string): string {
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
    '  runtime_type = "io.containerd.capsa.v2"',
    `[${cri}.cni]`,
    `  bin_dir = "${dir}/cni/bin"`,
    `  conf_dir = "${dir}/cni/net.d"`,
  ].join('\n');
}

let seq = 0;
const sandboxes = new Set<string>();

void engineGroup<Ctx>('engines/shim-cri', {
  async setup(sb) {
    const why = shimBuilt();
    if (why) throw new Error(why);
    const dir = path.join(sb.dir, 'containerd-shim-cri');
    fs.mkdirSync(path.join(dir, 'cni', 'bin'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'cni', 'net.d'), { recursive: true });
    const binDir = path.join(dir, 'bin');
    fs.mkdirSync(binDir, { recursive: true });
    fs.symlinkSync(SHIM_DIST, path.join(binDir, 'containerd-shim-capsa-v2'));
    const cd = await startContainerd(sb, { name: 'containerd-shim-cri', namespace: CRI_NAMESPACE, cri: true, extraConfig: criConfig(dir), pathPrefix: [binDir] });
    try {
      await importImage(cd, buildTestImage(sb.dir).archive, CRI_NAMESPACE);
      const cri = new CriClient(cd.address);
      await cri.runtime('Version', msg(str(1, 'v1')));
      const logDir = path.join(sb.dir, 'shim-pod-logs');
      fs.mkdirSync(logDir, { recursive: true });
      return { cd, cri, logDir, cgroupParent: `/${sb.mark}-shimcri` };
    } catch (e) {
      await cd.stop();
      throw e;
    }
  },
  async leftovers({ cd, cri }) {
    const left: string[] = [];
    const pods = await cri.runtime('ListPodSandbox', msg());
    for (const item of pods.get(1) ?? []) {
      const id = getStr(getMsg(new Map([[1, [item as Buffer]]]), 1), 1);
      left.push(`pod sandbox ${id}`);
      await cri.runtime('StopPodSandbox', msg(str(1, id))).catch(() => {});
      await cri.runtime('RemovePodSandbox', msg(str(1, id))).catch(() => {});
    }
    await until('the shims to exit', () => (shimPids(cd).length ? undefined : true), 5000).catch(() => left.push(`shims still running: ${shimPids(cd)}`));
    for (const id of sandboxes) if (fs.existsSync(path.join(shimRoot(CRI_NAMESPACE), id))) left.push(`capsa state ${id}`);
    const sockets = leftoverSockets(cd, sandboxes, CRI_NAMESPACE);
    if (sockets.length) { left.push(`shim sockets: ${sockets.join(', ')}`); removeSockets(sockets); }
    sandboxes.clear();
    return left;
  },
  async teardown({ cd, cri }) {
    cri.close();
    const forced = await cd.stop();
    await stopSpare();
    try { fs.rmdirSync(shimRoot(CRI_NAMESPACE)); } catch { /* absent, or not empty: reported below */ }
    return forced.map((f) => `had to clean up at teardown: ${f}`);
  },
  hostLeftovers: () => {
    const root = shimRoot(CRI_NAMESPACE);
    const left = fs.existsSync(root) ? fs.readdirSync(root) : [];
    return left.length ? [`shim state left in ${root}: ${left.join(', ')}`] : [];
  },
  daemonPids: ({ cd }) => [cd.pid, ...shimPids(cd), ...[shimSparePid()].filter((p): p is number => p !== undefined)],
  // k8s.io is not ours alone: only the state of the pods this file made.
  emergencyPaths: (_ctx, killed) => [...[...sandboxes].map((id) => path.join(shimRoot(CRI_NAMESPACE), id)), ...spareFiles(killed)],
}, ({ test, ctx }) => {
  const { cri, cd } = ctx;
  const pod = (): PodSpec => {
    const n = seq++;
    const p = { name: `shim-pod-${n}`, uid: `uid-${process.pid}-${n}`, namespace: 'default', logDirectory: path.join(ctx.logDir, String(n)), cgroupParent: ctx.cgroupParent };
    fs.mkdirSync(p.logDirectory, { recursive: true });
    return p;
  };
  const status = async (id: string) => {
    const s = getMsg(await cri.runtime('ContainerStatus', msg(str(1, id))), 1);
    return { state: CONTAINER_STATE[getInt(s, 3)], exitCode: getInt(s, 7), reason: getStr(s, 10) };
  };
  const execSync = async (id: string, cmd: string[]) => {
    const r = await cri.runtime('ExecSync', msg(str(1, id), ...cmd.map((c) => str(2, c)), int(3, 20)), 30_000);
    return { stdout: (r.get(1)?.[0] as Buffer | undefined)?.toString() ?? '', stderr: (r.get(2)?.[0] as Buffer | undefined)?.toString() ?? '', exitCode: getInt(r, 3) };
  };
  const runPod = async (p: PodSpec) => {
    const config = podSandboxConfig(p);
    const id = getStr(await cri.runtime('RunPodSandbox', msg(sub(1, config), str(2, HANDLER)), 120_000), 1);
    sandboxes.add(id);
    return { id, config };
  };
  const startContainer = async (podId: string, podConfig: Buffer, name: string, command: string[], memoryLimit?: number) => {
    const config = containerConfig({ name, image: CTR_IMAGE, command: [command[0]!], args: command.slice(1), logPath: `${name}.log`, memoryLimit });
    const id = getStr(await cri.runtime('CreateContainer', msg(str(1, podId), sub(2, config), sub(3, podConfig)), 120_000), 1);
    await cri.runtime('StartContainer', msg(str(1, id)), 120_000);
    return id;
  };
  const stopPod = async (id: string) => {
    await cri.runtime('StopPodSandbox', msg(str(1, id)), 60_000).catch(() => {});
    await cri.runtime('RemovePodSandbox', msg(str(1, id)), 60_000).catch(() => {});
  };

  test('RuntimeClass handler "capsa" (io.containerd.capsa.v2): sandbox, two containers, exec probe, logs, update, stop, removal — one shim for the pod', async () => {
    const p = pod();
    const { id: podId, config } = await runPod(p);
    try {
      const shims = shimPids(cd);
      assert.is(shims.length, 1, `one shim for the sandbox: ${shims}`);
      const main = await startContainer(podId, config, 'main', ['/bin/sh', '-c', 'echo hello-log; echo err-log >&2; exec /bin/testinit sleep forever'], 64 << 20);
      const side = await startContainer(podId, config, 'side', ['/bin/testinit', 'sleep', 'forever']);
      assert.is((await status(main)).state, 'CONTAINER_RUNNING');
      assert.equal(shimPids(cd), shims, 'the pod\'s containers joined the sandbox\'s shim');
      // every container's init is the shim's child (verbose ContainerStatus: info["info"] is JSON with the pid)
      for (const c of [main, side]) {
        const resp = await cri.runtime('ContainerStatus', msg(str(1, c), int(2, 1)));
        const entries = (resp.get(2) ?? []).map((e) => decode(e as Buffer));
        const info = entries.find((e) => getStr(e, 1) === 'info');
        const pid = Number((JSON.parse(info ? getStr(info, 2) : '{}') as { pid?: number }).pid);
        assert.is(readProcStat(pid)?.ppid, shims[0], `container ${c} (pid ${pid}) is a child of the pod's shim`);
      }
      // an exec probe, as the kubelet runs it
      assert.equal(await execSync(main, ['/bin/sh', '-c', 'echo probe-ok; exit 0']), { stdout: 'probe-ok\n', stderr: '', exitCode: 0 });
      assert.is((await execSync(main, ['/bin/testinit', 'exit', '3'])).exitCode, 3);
      // container logs: the CRI log file has both streams
      const logFile = path.join(p.logDirectory, 'main.log');
      const log = await until('the container log', () => {
        const t = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
        return t.includes('hello-log') && t.includes('err-log') ? t : undefined;
      });
      assert.match(log, /^\S+ stdout F hello-log$/m);
      assert.match(log, /^\S+ stderr F err-log$/m);
      // UpdateContainerResources reaches the cgroup
      const limit = async () => (await execSync(main, ['/bin/sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'])).stdout.trim();
      assert.is(await limit(), String(64 << 20));
      await cri.runtime('UpdateContainerResources', msg(str(1, main), sub(2, msg(int(4, 128 << 20)))));
      assert.is(await limit(), String(128 << 20));
      // StopContainer: SIGTERM ignored by testinit sleep → SIGKILL → 137
      await cri.runtime('StopContainer', msg(str(1, main), int(2, 2)), 60_000);
      const stopped = await until('main to exit', async () => { const s = await status(main); return s.state === 'CONTAINER_EXITED' ? s : undefined; });
      assert.is(stopped.exitCode, 137, JSON.stringify(stopped));
      await cri.runtime('RemoveContainer', msg(str(1, main)), 60_000);
      assert.ok(alive(shims[0]!), 'the shim stays while the pod has tasks');
      await cri.runtime('StopPodSandbox', msg(str(1, podId)), 60_000);
      await until('the pod\'s shim to exit', () => (alive(shims[0]!) ? undefined : true), 10_000);
      await cri.runtime('RemovePodSandbox', msg(str(1, podId)), 60_000);
      assert.not.ok(fs.existsSync(path.join(shimRoot(CRI_NAMESPACE), podId)), 'sandbox state removed');
      assert.equal(cgroupsContaining(podId), [], 'sandbox cgroup removed');
    } finally {
      await stopPod(podId);
    }
  });

  test('an OOM-killed pod container is OOMKilled with exit 137 (TaskOOM reached the CRI)', async () => {
    const { id: podId, config } = await runPod(pod());
    try {
      const id = await startContainer(podId, config, 'hog', ['/bin/testinit', 'hog', '256'], 32 << 20);
      const s = await until('the container to exit', async () => { const st = await status(id); return st.state === 'CONTAINER_EXITED' ? st : undefined; }, 30_000);
      assert.is(s.exitCode, 137, JSON.stringify(s));
      assert.is(s.reason, 'OOMKilled', JSON.stringify(s));
      await cri.runtime('RemoveContainer', msg(str(1, id)), 60_000);
    } finally {
      await stopPod(podId);
      await sleep(100);
    }
  });
});
