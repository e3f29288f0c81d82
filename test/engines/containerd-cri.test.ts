// The Kubernetes path: containerd's CRI plugin with a runtime entry for capsa
// in its config (runtime_type io.containerd.runc.v2, options.BinaryName =
// capsa), selected per pod by the runtime handler name, which is what a
// RuntimeClass `handler: capsa` makes the kubelet send. A small CRI client
// plays the kubelet: pod sandbox (host network: no CNI here), container,
// exec, resource update, stop, removal. The sandbox ("pause") container
// runs under capsa too, as it would in a cluster.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { callsSince, cgroupsContaining, formatCalls, mountsUnder, pidsMatching, readCalls, sleep, until, verbOf } from '../helpers/engines/common';
import { importImage, startContainerd, type Containerd } from '../helpers/engines/containerd';
import {
  CONTAINER_STATE, containerConfig, CriClient, getInt, getMsg, getStr, map, msg, NAMESPACE_MODE, podSandboxConfig, str, strs, int, sub, type PodSpec,
} from '../helpers/engines/cri';
import { buildTestImage, CTR_IMAGE } from '../helpers/engines/image';
import { engineGroup } from '../helpers/engines/suite';
import { skipUnless } from '../helpers/skip';

const HANDLER = 'capsa';
const CRI_NAMESPACE = 'k8s.io';
// Pod networking (a network namespace containerd makes, pinned under
// /run/netns and passed to the runtime by path): the host's CNI plugins, a
// bridge of the test's own with no gateway, no masquerading, no forwarding;
// the bridge is removed after each test that uses it.
const CNI_PLUGINS = '/usr/lib/cni';
const HAVE_CNI = ['bridge', 'host-local', 'loopback'].every((p) => fs.existsSync(path.join(CNI_PLUGINS, p)));
const CNI_BRIDGE = 'capsa-cri-br';

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
    if (HAVE_CNI) {
      for (const p of ['bridge', 'host-local', 'loopback']) fs.symlinkSync(path.join(CNI_PLUGINS, p), path.join(dir, 'cni', 'bin', p));
      fs.writeFileSync(path.join(dir, 'cni', 'net.d', '10-capsa-test.conflist'), JSON.stringify({
        cniVersion: '0.4.0', name: 'capsa-test',
        plugins: [{ type: 'bridge', bridge: CNI_BRIDGE, isGateway: false, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: '10.201.78.0/24' }]], dataDir: path.join(dir, 'ipam') } }],
      }));
    }
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
    deleteBridge();
    const forced = await cd.stop();
    try { fs.rmdirSync(cd.runtimeRoot); } catch { /* absent, or reported below */ }
    return forced.map((f) => `had to clean up at teardown: ${f}`);
  },
  hostLeftovers: ({ cd }) => (fs.existsSync(cd.runtimeRoot) ? [`runtime root ${cd.runtimeRoot}: ${fs.readdirSync(cd.runtimeRoot).join(', ')}`] : []),
  daemonPids: ({ cd }) => [cd.pid, ...pidsMatching('containerd-shim-runc-v2', cd.address)],
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

  // runtime.v1 field numbers (k8s.io/cri-api api.proto) beyond what the cri helper sets.
  const POD_NS = msg(int(1, NAMESPACE_MODE.POD), int(2, NAMESPACE_MODE.CONTAINER), int(3, NAMESPACE_MODE.POD));
  const HOST_NET_NS = msg(int(1, NAMESPACE_MODE.NODE), int(2, NAMESPACE_MODE.CONTAINER), int(3, NAMESPACE_MODE.POD));
  const sandboxWith = (p: PodSpec, opts: { podNetwork: boolean; sysctls?: Record<string, string> }) => msg(
    sub(1, msg(str(1, p.name), str(2, p.uid), str(3, p.namespace))),
    str(3, p.logDirectory),
    // LinuxPodSandboxConfig: cgroup_parent 1, security_context 2 (namespace_options 1), sysctls 3
    sub(8, msg(str(1, p.cgroupParent), sub(2, msg(sub(1, opts.podNetwork ? POD_NS : HOST_NET_NS))), map(3, opts.sysctls))),
  );
  const appWith = (c: { command: string[]; capAdd?: string[]; mounts?: Buffer[]; podNetwork: boolean }) => msg(
    sub(1, msg(str(1, 'app'))),
    sub(2, msg(str(1, CTR_IMAGE))),
    strs(3, c.command),
    ...(c.mounts ?? []).map((m) => sub(7, m)),
    str(11, 'app.log'),
    // LinuxContainerSecurityContext: capabilities 1 (add 1), namespace_options 3
    sub(15, msg(sub(2, msg(c.capAdd ? sub(1, msg(strs(1, c.capAdd))) : undefined, sub(3, c.podNetwork ? POD_NS : HOST_NET_NS))))),
  );
  /** Runs a pod (sandbox + one app container, both under capsa), hands fn the ids, and removes it all even when fn fails. */
  const withPod = async (sandboxConfig: (p: PodSpec) => Buffer, app: Buffer, fn: (ids: { podId: string; appId: string; mark: number }) => Promise<void>) => {
    const mark = readCalls().length;
    const p = pod();
    fs.mkdirSync(p.logDirectory, { recursive: true });
    const sbConfig = sandboxConfig(p);
    let podId = '';
    try {
      podId = getStr(await cri.runtime('RunPodSandbox', msg(sub(1, sbConfig), str(2, HANDLER)), 120_000), 1);
      const appId = getStr(await cri.runtime('CreateContainer', msg(str(1, podId), sub(2, app), sub(3, sbConfig)), 120_000), 1);
      await cri.runtime('StartContainer', msg(str(1, appId)), 120_000);
      assert.is((await status(appId)).state, 'CONTAINER_RUNNING', formatCalls(callsSince(mark)));
      await fn({ podId, appId, mark });
    } finally {
      if (podId) {
        await cri.runtime('StopPodSandbox', msg(str(1, podId)), 60_000).catch(() => {});
        await cri.runtime('RemovePodSandbox', msg(str(1, podId)), 60_000).catch(() => {});
      }
    }
    const failed = callsSince(mark).filter((c) => c.rc !== undefined && c.rc !== 0);
    assert.is(failed.length, 0, `failed runtime calls:\n${formatCalls(failed)}`);
    assert.ok(callsSince(mark).filter((c) => verbOf(c.args) === 'create').every((c) => c.runtime === 'capsa'), formatCalls(callsSince(mark)));
  };
  /** The config.json a create call was given (read while the container exists). */
  const configOf = (call: { args: string[] } | undefined) => {
    assert.ok(call, 'a create call');
    const bundle = call!.args[call!.args.indexOf('--bundle') + 1]!;
    return JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { linux: { namespaces: { type: string; path?: string }[]; sysctl?: Record<string, string> } };
  };

  const SYSCTLS = { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647' };

  test('a pod in a network namespace containerd made, given by path, with the net.* sysctls containerd 2.x sets by default: sandbox and container run, the sysctls set in the pod\'s netns (issue 19 item 4)', async () => {
    if (skipUnless(HAVE_CNI, `no CNI plugins (bridge, host-local, loopback) in ${CNI_PLUGINS}: install containernetworking-plugins`)) return;
    try {
      const hostValues = Object.keys(SYSCTLS).map((k) => fs.readFileSync(`/proc/sys/${k.replace(/\./g, '/')}`, 'utf8'));
      await withPod((p) => sandboxWith(p, { podNetwork: true, sysctls: SYSCTLS }), appWith({ command: ['/bin/testinit', 'sleep', 'forever'], podNetwork: true }), async ({ podId, appId, mark }) => {
        const creates = callsSince(mark).filter((c) => verbOf(c.args) === 'create');
        for (const [what, id] of [['sandbox', podId], ['app container', appId]] as const) {
          const config = configOf(creates.find((c) => c.args[c.args.length - 1] === id));
          const net = config.linux.namespaces.find((n) => n.type === 'network');
          assert.ok(net?.path && net.path.startsWith('/'), `the ${what}'s network namespace is given by path: ${JSON.stringify(config.linux.namespaces)}`);
          // The sandbox sets the pod's sysctls; the app container joins its namespaces and sets none.
          if (what === 'sandbox') assert.equal(Object.fromEntries(Object.keys(SYSCTLS).map((k) => [k, config.linux.sysctl?.[k]])), SYSCTLS, 'the sandbox\'s linux.sysctl');
        }
        // Read from the app container: what the sandbox set in the netns they share.
        const r = await execSync(appId, ['/bin/sh', '-c', 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range; ls /sys/class/net']);
        assert.is(r.exitCode, 0, r.stderr);
        const lines = r.stdout.trim().split('\n').map((l) => l.replace(/\s+/g, ' '));
        assert.equal(lines.slice(0, 2), ['0', '0 2147483647'], r.stdout);
        assert.ok(lines.includes('eth0'), `the pod's own interface: ${r.stdout}`);
      });
      assert.equal(Object.keys(SYSCTLS).map((k) => fs.readFileSync(`/proc/sys/${k.replace(/\./g, '/')}`, 'utf8')), hostValues, 'the host\'s values unchanged');
    } finally {
      deleteBridge();
    }
  });

  test('mountPropagation Bidirectional (rshared volume): a mount made inside reaches the host, a host mount reaches the container (issue 19 item 7)', async () => {
    const shared = fs.mkdtempSync(path.join(ctx.logDir, '..', 'bidir-'));
    try {
      // The CRI wants a Bidirectional volume's source on a shared mount (as a kubelet's pod volumes are).
      assert.is(spawnSync('mount', ['--bind', shared, shared]).status, 0);
      assert.is(spawnSync('mount', ['--make-shared', shared]).status, 0);
      // Mount: container_path 1, host_path 2, propagation 5 (PROPAGATION_BIDIRECTIONAL = 2)
      const volume = msg(str(1, '/vol'), str(2, shared), int(5, 2));
      await withPod((p) => sandboxWith(p, { podNetwork: false }), appWith({ command: ['/bin/testinit', 'sleep', 'forever'], capAdd: ['SYS_ADMIN'], mounts: [volume], podNetwork: false }), async ({ appId, mark }) => {
        const config = configOf(callsSince(mark).find((c) => verbOf(c.args) === 'create' && c.args[c.args.length - 1] === appId)) as unknown as { linux: { rootfsPropagation?: string }; mounts: { destination: string; options?: string[] }[] };
        assert.is(config.linux.rootfsPropagation, 'rshared', 'what containerd asks for a Bidirectional volume');
        assert.ok(config.mounts.find((m) => m.destination === '/vol')?.options?.includes('rshared'), JSON.stringify(config.mounts.find((m) => m.destination === '/vol')));

        const inside = await execSync(appId, ['/bin/sh', '-c', 'mkdir -p /vol/from-container && mount -t tmpfs capsa-bidir /vol/from-container && echo made > /vol/from-container/f']);
        assert.is(inside.exitCode, 0, inside.stderr);
        assert.ok(mountsUnder(shared).includes(path.join(shared, 'from-container')), `the container's mount on the host: ${mountsUnder(shared).join(', ')}`);
        assert.is(fs.readFileSync(path.join(shared, 'from-container', 'f'), 'utf8'), 'made\n');

        fs.mkdirSync(path.join(shared, 'from-host'));
        assert.is(spawnSync('mount', ['-t', 'tmpfs', 'capsa-bidir', path.join(shared, 'from-host')]).status, 0);
        fs.writeFileSync(path.join(shared, 'from-host', 'f'), 'host\n');
        const seen = await execSync(appId, ['/bin/cat', '/vol/from-host/f']);
        assert.equal([seen.exitCode, seen.stdout], [0, 'host\n'], seen.stderr);
      });
    } finally {
      for (const m of mountsUnder(shared)) spawnSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 });
      fs.rmSync(shared, { recursive: true, force: true });
    }
  });
});

/** Removes the test bridge the CNI plugin made on the host (a no-op when there is none). */
function deleteBridge(): void {
  if (fs.existsSync(`/sys/class/net/${CNI_BRIDGE}`)) spawnSync('ip', ['link', 'delete', CNI_BRIDGE], { stdio: 'ignore', timeout: 10_000 });
}

function decodeItem(b: Buffer) {
  return getMsg(new Map([[1, [b]]]), 1);
}
