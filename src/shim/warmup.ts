// A spare shim's warm-up: one throwaway task through the shim's own Task
// service (Create, a few Execs, Start, Wait, Delete, with the requests
// encoded as containerd sends them) before the spare announces itself. The
// first pod a spare serves then runs code V8 has already compiled and
// profiled: a cold create took ~33 ms here against ~13 ms warm, all of it on
// the pod's clock. (The spare runs it at nice 19, on idle CPU: see spare.ts.)
// The task mirrors what containerd sends for a plain container (its own
// pid, ipc, uts, mount and network namespaces; an overlay rootfs made in
// the container; a cgroup); its entrypoint (and the execs' command) is
// capsa-init bound read-only over an empty file, which exits at once.
// Everything it makes lives under one directory in /run and one cgroup, both
// named capsa-spare-warmup-<pid>, and is removed before the spare is
// announced. A failure only means a colder first pod.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Runtime } from '../runtime/runtime';
import { defaultSpec } from '../spec/defaults';
import { EventPublisher } from './events';
import { encode } from './proto/codec';
import { task as T, TYPE_URL } from './proto/messages';
import { TaskService } from './service';
import { initBinaryPath } from '../sys/paths';
import type { CallContext, Method } from './ttrpc/server';

export const WARMUP_PREFIX = 'capsa-spare-warmup-';
const TASK_ID = 'warmup';
/** Two rounds: the second create ran at about half the first's time here, a third gained little more. */
export const WARMUP_ROUNDS = 2;

/** Execs per round: a few, for the code of the exec path (each is a real capsa-init). */
export const WARMUP_EXECS = 2;

/** One exec of the entrypoint (capsa-init, exits 2); its outcome does not matter. */
async function warmExec(m: Record<string, Method>, ctx: CallContext, id: string, execId: string): Promise<void> {
  const spec = { typeUrl: TYPE_URL.process, value: Buffer.from(JSON.stringify({ args: [`/${TASK_ID}`], cwd: '/', env: ['PATH=/'], user: { uid: 0, gid: 0 } })) };
  const waiting = new AbortController();
  try {
    await m.Exec!(encode(T.ExecProcessRequest, { id, execId, spec }), ctx);
    await m.State!(encode(T.StateRequest, { id, execId }), ctx);
    const waited = Promise.resolve(m.Wait!(encode(T.WaitRequest, { id, execId }), { metadata: ctx.metadata, signal: waiting.signal }));
    waited.catch(() => {});
    await m.Start!(encode(T.StartRequest, { id, execId }), ctx);
    await waited;
  } catch {
    /* a failed exec still warmed what it ran */
  } finally {
    waiting.abort();
    await Promise.resolve(m.Delete!(encode(T.DeleteRequest, { id, execId }), ctx)).catch(() => {});
  }
}

/** The warm-up's directory (removed when it ends) and cgroup path for this process. */
export function warmupNames(pid = process.pid): { dir: string; cgroupsPath: string } {
  return { dir: path.join('/run', `${WARMUP_PREFIX}${pid}`), cgroupsPath: `/${WARMUP_PREFIX}${pid}` };
}

function writeBundle(dir: string, cgroupsPath: string): { bundle: string; lower: string; upper: string; work: string } {
  const bundle = path.join(dir, 'bundle');
  const lower = path.join(dir, 'lower');
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  for (const d of [bundle, path.join(bundle, 'rootfs'), lower, upper, work]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'run']) fs.mkdirSync(path.join(lower, d));
  fs.writeFileSync(path.join(lower, TASK_ID), '', { mode: 0o755 });
  const spec = defaultSpec();
  spec.process!.terminal = false;
  spec.process!.args = [`/${TASK_ID}`];
  spec.root = { path: 'rootfs' };
  // The entrypoint is capsa-init itself, bound over the empty file: it
  // exits at once (status 2, no arguments), after a successful execve, so
  // the start path is warmed to its end. (An empty file fails its execve,
  // which ended the warm-up at its first start.)
  spec.mounts = [...(spec.mounts ?? []), { destination: `/${TASK_ID}`, type: 'bind', source: initBinaryPath(), options: ['bind', 'ro', 'nosuid', 'nodev'] }];
  spec.linux!.cgroupsPath = cgroupsPath;
  spec.linux!.resources = { ...spec.linux!.resources, cpu: { shares: 1024 } };
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  return { bundle, lower, upper, work };
}

/**
 * Runs the warm-up task `rounds` times and removes what it made. Resolves in every case;
 * `unified` is the host's cgroup layout, as the daemon passes it.
 */
export async function warmUp(unified: boolean, rounds = WARMUP_ROUNDS): Promise<void> {
  const { dir, cgroupsPath } = warmupNames();
  const namespace = `${WARMUP_PREFIX}${process.pid}`;
  let runtime: Runtime | undefined;
  try {
    fs.rmSync(dir, { recursive: true, force: true });
    const { bundle, lower, upper, work } = writeBundle(dir, cgroupsPath);
    const service = new TaskService({
      namespace, publisher: new EventPublisher('', namespace), config: { mode: 'pod', root: path.join(dir, 'state') }, unified,
      log: () => {}, onShutdown: () => {}, trackChild: () => {}, trackProcess: () => {},
      runtimeFor: (root, systemdCgroup) => (runtime ??= new Runtime({ root, systemdCgroup })),
    });
    const m = service.methods();
    const ctx: CallContext = { metadata: new Map(), signal: new AbortController().signal };
    const id = TASK_ID;
    for (let round = 0; round < rounds; round++) {
      // What containerd asks of a shim for `ctr run --rm`, in its order.
      try {
        await m.Create!(encode(T.CreateTaskRequest, {
          id, bundle, rootfs: [{ type: 'overlay', source: 'overlay', options: ['index=off', `workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lower}`] }],
        }), ctx);
        await m.Connect!(encode(T.ConnectRequest, { id }), ctx);
        // Execs as containerd makes them (an exec probe's path: Exec, the
        // prepared process, Start, Wait, Delete), into the created task.
        for (let e = 0; e < WARMUP_EXECS; e++) await warmExec(m, ctx, id, `warmup-${round}-${e}`);
        await m.Start!(encode(T.StartRequest, { id }), ctx);
        await m.State!(encode(T.StateRequest, { id }), ctx);
        await m.Wait!(encode(T.WaitRequest, { id }), ctx);
      } finally {
        if (service.tasks.has(id)) await m.Delete!(encode(T.DeleteRequest, { id }), ctx);
      }
    }
  } catch {
    // A failed create removes what it made; a later step's failure leaves
    // the container to the forced delete below.
    await runtime?.delete(TASK_ID, { force: true }).catch(() => {});
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
