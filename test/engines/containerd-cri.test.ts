// The Kubernetes path: containerd's CRI plugin with a runtime entry for capsa
// in its config (runtime_type io.containerd.runc.v2, options.BinaryName =
// capsa), selected per pod by the runtime handler name, which is what a
// RuntimeClass `handler: capsa` makes the kubelet send. A small CRI client
// plays the kubelet: pod sandbox (host network: no CNI here), container,
// exec, resource update, stop, removal. The sandbox ("pause") container
// runs under capsa too, as it would in a cluster.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { callsSince, cgroupsContaining, formatCalls, readCalls, sleep, until, verbOf } from '../helpers/engines/common';
import { importImage, startContainerd, type Containerd } from '../helpers/engines/containerd';
import {
  CONTAINER_STATE, containerConfig, CriClient, getInt, getMsg, getStr, msg, podSandboxConfig, str, int, sub, type PodSpec,
} from '../helpers/engines/cri';
import { buildTestImage, CTR_IMAGE } from '../helpers/engines/image';
import { engineGroup } from '../helpers/engines/suite';

const HANDLER = 'capsa';
const CRI_NAMESPACE = 'k8s.io';

interface Ctx {
  cd: Containerd;
  cri: CriClient;
  logDir: string;
  cgroupParent: string;
}

function criConfig(capsa: string, dir: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    `[${cri}]`,
    `  sandbox_image = "${CTR_IMAGE}"`,
    '  enable_selinux = false',
    '  disable_apparmor = true',
    // The CRI gives sandboxes oom_score_adj -998; lowering it needs
    // CAP_SYS_RESOURCE, which this kind of machine lacks (runc fails alike).
    // This setting (meant for such hosts) clamps it to our own value.
    '  restrict_oom_score_adj = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    // The entry under test: what docs/engines.md tells a cluster admin to add.
    `[${cri}.containerd.runtimes.${HANDLER}]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.${HANDLER}.options]`,
    `  BinaryName = "${capsa}"`,
    `[${cri}.cni]`,
    `  bin_dir = "${dir}/cni/bin"`,
    `  conf_dir = "${dir}/cni/net.d"`,
  ].join('\n');
}

let seq = 0;

void engineGroup<Ctx>('engines/containerd-cri', {
  async setup(sb) {
    const dir = path.join(sb.dir, 'containerd-cri');
    fs.mkdirSync(path.join(dir, 'cni', 'bin'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'cni', 'net.d'), { recursive: true });
    const cd = await startContainerd(sb, { name: 'containerd-cri', namespace: CRI_NAMESPACE, cri: true, extraConfig: criConfig(sb.capsa, dir) });
    try {
      await importImage(cd, buildTestImage(sb.dir).archive, CRI_NAMESPACE);
      const cri = new CriClient(cd.address);
      const v = await cri.runtime('Version', msg(str(1, 'v1')));
      if (!getStr(v, 2)) throw new Error('CRI Version returned no runtime name');
      const logDir = path.join(sb.dir, 'pod-logs');
      fs.mkdirSync(logDir, { recursive: true });
      return { cd, cri, logDir, cgroupParent: `/${sb.mark}-cri` };
    } catch (e) {
      await cd.stop();
      throw new Error(`containerd with the CRI plugin: ${(e as Error).message}\n${fs.readFileSync(path.join(sb.dir, 'containerd-cri', 'containerd.log'), 'utf8').split('\n').filter((l) => /level=(error|fatal)/.test(l)).slice(-10).join('\n')}`);
    }
  },
  async leftovers({ cri }) {
    const left: string[] = [];
    const pods = await cri.runtime('ListPodSandbox', msg());
    for (const item of pods.get(1) ?? []) {
      const id = getStr(decodeItem(item as Buffer), 1);
      left.push(`pod sandbox ${id}`);
      await cri.runtime('StopPodSandbox', msg(str(1, id))).catch(() => {});
      await cri.runtime('RemovePodSandbox', msg(str(1, id))).catch(() => {});
    }
    return left;
  },
  async teardown({ cd, cri }) {
    cri.close();
    const forced = await cd.stop();
    try { fs.rmdirSync(cd.runtimeRoot); } catch { /* absent, or reported below */ }
    return forced.map((f) => `had to clean up at teardown: ${f}`);
  },
  hostLeftovers: ({ cd }) => (fs.existsSync(cd.runtimeRoot) ? [`runtime root ${cd.runtimeRoot}: ${fs.readdirSync(cd.runtimeRoot).join(', ')}`] : []),
  daemonPids: ({ cd }) => [cd.pid],
}, ({ test, ctx }) => {
  const { cri, cd } = ctx;

  const pod = (): PodSpec => {
    const n = seq++;
    return { name: `capsa-pod-${n}`, uid: `uid-${process.pid}-${n}`, namespace: 'default', logDirectory: path.join(ctx.logDir, String(n)), cgroupParent: ctx.cgroupParent };
  };

  const status = async (id: string) => {
    const s = getMsg(await cri.runtime('ContainerStatus', msg(str(1, id))), 1);
    return { state: CONTAINER_STATE[getInt(s, 3)], exitCode: getInt(s, 7), reason: getStr(s, 10), message: getStr(s, 11) };
  };

  const execSync = async (id: string, cmd: string[], timeoutS = 20) => {
    const r = await cri.runtime('ExecSync', msg(str(1, id), ...cmd.map((c) => str(2, c)), int(3, timeoutS)), (timeoutS + 10) * 1000);
    return { stdout: (r.get(1)?.[0] as Buffer | undefined)?.toString() ?? '', stderr: (r.get(2)?.[0] as Buffer | undefined)?.toString() ?? '', exitCode: getInt(r, 3) };
  };

  test('RuntimeClass handler "capsa": pod sandbox, container, exec, update, stop, remove', async () => {
    const mark = readCalls().length;
    const p = pod();
    fs.mkdirSync(p.logDirectory, { recursive: true });
    const sandboxConfig = podSandboxConfig(p);
    const podId = getStr(await cri.runtime('RunPodSandbox', msg(sub(1, sandboxConfig), str(2, HANDLER)), 120_000), 1);
    assert.ok(podId, 'a pod sandbox id');
    let containerId = '';
    try {
      const sandboxCreate = callsSince(mark).find((c) => verbOf(c.args) === 'create' && c.args[c.args.length - 1] === podId);
      assert.ok(sandboxCreate && sandboxCreate.runtime === 'capsa' && sandboxCreate.rc === 0, `the sandbox container ran under capsa:\n${formatCalls(callsSince(mark))}`);

      const config = containerConfig({
        name: 'main', image: CTR_IMAGE, command: ['/bin/testinit'], args: ['sleep', 'forever'], env: { FROM_POD: 'yes' }, logPath: 'main.log', memoryLimit: 64 << 20,
      });
      containerId = getStr(await cri.runtime('CreateContainer', msg(str(1, podId), sub(2, config), sub(3, sandboxConfig)), 120_000), 1);
      assert.ok(containerId, 'a container id');
      assert.is((await status(containerId)).state, 'CONTAINER_CREATED');
      await cri.runtime('StartContainer', msg(str(1, containerId)), 120_000);
      assert.is((await status(containerId)).state, 'CONTAINER_RUNNING');

      const calls = callsSince(mark).filter((c) => c.args.includes(containerId));
      assert.equal(calls.map((c) => verbOf(c.args)), ['create', 'start'], formatCalls(calls));
      assert.ok(calls.every((c) => c.runtime === 'capsa' && c.rc === 0), formatCalls(calls));

      const hello = await execSync(containerId, ['/bin/sh', '-c', 'echo hello $FROM_POD']);
      assert.equal(hello, { stdout: 'hello yes\n', stderr: '', exitCode: 0 });
      const failing = await execSync(containerId, ['/bin/testinit', 'exit', '4']);
      assert.is(failing.exitCode, 4);

      const limit = () => execSync(containerId, ['/bin/sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max']);
      assert.is((await limit()).stdout.trim(), String(64 << 20));
      const updMark = readCalls().length;
      await cri.runtime('UpdateContainerResources', msg(str(1, containerId), sub(2, msg(int(4, 128 << 20)))));
      assert.is((await limit()).stdout.trim(), String(128 << 20), formatCalls(callsSince(updMark)));
      const update = callsSince(updMark).find((c) => verbOf(c.args) === 'update');
      assert.ok(update && update.rc === 0 && update.args.includes('-'), `update --resources - (JSON on stdin):\n${formatCalls(callsSince(updMark))}`);

      await cri.runtime('StopContainer', msg(str(1, containerId), int(2, 2)), 60_000);
      const stopped = await until('the container to exit', async () => {
        const s = await status(containerId);
        return s.state === 'CONTAINER_EXITED' ? s : undefined;
      });
      assert.is(stopped.exitCode, 137, JSON.stringify(stopped));
      await cri.runtime('RemoveContainer', msg(str(1, containerId)), 60_000);
      containerId = '';
    } finally {
      if (containerId) await cri.runtime('RemoveContainer', msg(str(1, containerId))).catch(() => {});
      await cri.runtime('StopPodSandbox', msg(str(1, podId)), 60_000).catch(() => {});
      await cri.runtime('RemovePodSandbox', msg(str(1, podId)), 60_000).catch(() => {});
    }
    await sleep(100);
    const failed = callsSince(mark).filter((c) => c.rc !== undefined && c.rc !== 0);
    assert.is(failed.length, 0, `failed runtime calls:\n${formatCalls(failed)}`);
    assert.not.ok(fs.existsSync(path.join(cd.runtimeRoot, podId)), 'sandbox state removed');
    assert.equal(cgroupsContaining(podId), [], 'sandbox cgroup removed');
  });

  test('an OOM-killed pod container is reported as OOMKilled (exit 137)', async () => {
    const p = pod();
    fs.mkdirSync(p.logDirectory, { recursive: true });
    const sandboxConfig = podSandboxConfig(p);
    const podId = getStr(await cri.runtime('RunPodSandbox', msg(sub(1, sandboxConfig), str(2, HANDLER)), 120_000), 1);
    try {
      const config = containerConfig({
        name: 'hog', image: CTR_IMAGE, command: ['/bin/sh'], args: ['-c', 'sleep 1; exec /bin/testinit hog 256'], logPath: 'hog.log', memoryLimit: 32 << 20,
      });
      const id = getStr(await cri.runtime('CreateContainer', msg(str(1, podId), sub(2, config), sub(3, sandboxConfig)), 120_000), 1);
      await cri.runtime('StartContainer', msg(str(1, id)), 120_000);
      const s = await until('the container to exit', async () => {
        const st = await status(id);
        return st.state === 'CONTAINER_EXITED' ? st : undefined;
      }, 30_000);
      assert.is(s.exitCode, 137, JSON.stringify(s));
      assert.is(s.reason, 'OOMKilled', JSON.stringify(s));
      await cri.runtime('RemoveContainer', msg(str(1, id)), 60_000);
    } finally {
      await cri.runtime('StopPodSandbox', msg(str(1, podId)), 60_000).catch(() => {});
      await cri.runtime('RemovePodSandbox', msg(str(1, podId)), 60_000).catch(() => {});
    }
  });
});

function decodeItem(b: Buffer) {
  return getMsg(new Map([[1, [b]]]), 1);
}
