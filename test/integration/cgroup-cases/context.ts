// What the cgroup test cases share: a capsa suite that runs every call with
// the chosen cgroup driver (cgroupfs, or --systemd-cgroup), and helpers that
// find the container's cgroup from its init's /proc/PID/cgroup — so the same
// cases run on this hybrid host, on a pure cgroup v2 host, and under systemd
// (npm run test:cgroup2 boots one). Test files pick the cases they run.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as assert from 'uvu/assert';

import type { Spec } from '../../../src/spec/types';
import type { TestBundle } from '../../helpers/bundle';
import { CAPSA_BIN, capsaSuite, capsaToFilesIn, type CapsaSuite, type RunOptions } from '../../helpers/capsa';
import { ContainerCgroup } from '../../helpers/cgroupfs';
import type { Config } from '../../helpers/config';
import { snapshot } from '../../helpers/leaks';
import { stateHelpersFor, withBundleFor } from '../../helpers/run';

export type Driver = 'cgroupfs' | 'systemd';
export type Resources = NonNullable<NonNullable<Spec['linux']>['resources']>;

export const MiB = 1024 * 1024;
export const ID_PREFIX = 'capsa-test-cg';

export interface Running {
  pid: number;
  outFile: string;
  cg: ContainerCgroup;
}

export function cgroupContext(name: string, driver: Driver) {
  const suite: CapsaSuite = capsaSuite(name);
  const { test, root } = suite;
  const global = driver === 'systemd' ? ['--systemd-cgroup'] : [];
  const capsa = (args: readonly string[], opts?: RunOptions) => suite.capsa([...global, ...args], opts);
  const capsaOk = (args: readonly string[], opts?: RunOptions) => suite.capsaOk([...global, ...args], opts);
  const toFiles = capsaToFilesIn(root);
  const capsaToFiles = (args: readonly string[], dir: string, timeoutMs?: number) => toFiles([...global, ...args], dir, timeoutMs);
  const withBundleAnyDelete = withBundleFor(capsa, { idPrefix: ID_PREFIX });
  /** withBundle whose closing `delete --force` must succeed (its error is the test's, not a bare leak). */
  const withBundle: typeof withBundleAnyDelete = (config, fn, opts) =>
    withBundleAnyDelete(config, async (b) => {
      await fn(b);
      const d = await capsa(['delete', '--force', b.id]);
      assert.is(d.code, 0, `delete --force exited ${d.code}: ${d.stderr}`);
    }, opts);
  const { state, waitStatus } = stateHelpersFor({ capsa, capsaOk });

  /** `capsa run -d`: the running container's init (host pid) and its cgroup. */
  async function runDetached(b: TestBundle): Promise<Running> {
    const r = await capsaToFiles(['run', '-d', '-b', b.dir, b.id], b.dir);
    assert.is(r.code, 0, `run -d exited ${r.code}: ${r.stderr}`);
    const s = await state(b.id);
    assert.is(s.status, 'running');
    return { pid: s.pid, outFile: r.outFile, cg: ContainerCgroup.ofPid(s.pid) };
  }

  /** `capsa create`: the waiting init and its cgroup. */
  async function created(b: TestBundle): Promise<Running> {
    const r = await capsaToFiles(['create', '-b', b.dir, b.id], b.dir);
    assert.is(r.code, 0, `create exited ${r.code}: ${r.stderr}`);
    const s = await state(b.id);
    return { pid: s.pid, outFile: r.outFile, cg: ContainerCgroup.ofPid(s.pid) };
  }

  /** A long-running `capsa events ID` whose JSON lines are collected as they come. */
  function followEvents(id: string): EventsFollower {
    const child = spawn(CAPSA_BIN, ['--root', root, ...global, 'events', id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { err += d; });
    const exited = new Promise<number | null>((resolve) => { child.on('close', (code) => resolve(code)); child.on('error', () => resolve(null)); });
    const lines = () => out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
    return { lines, exited, child, stderr: () => err };
  }

  return { driver, test, root, capsa, capsaOk, capsaToFiles, withBundle, state, waitStatus, runDetached, created, followEvents };
}

export type CgroupContext = ReturnType<typeof cgroupContext>;

export interface EventsFollower { lines: () => Record<string, unknown>[]; exited: Promise<number | null>; child: ChildProcess; stderr: () => string }

export function stopFollower(f: EventsFollower | undefined): Promise<unknown> {
  if (!f) return Promise.resolve();
  if (f.child.exitCode === null && f.child.signalCode === null) f.child.kill('SIGKILL');
  return f.exited;
}

export const resources = (r: Resources): Config => (s) => {
  s.linux!.resources = { ...(s.linux!.resources ?? {}), ...r };
};

export const tmpfsTmp: Config = (s) => { s.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=1m'] }); };

export const userNs: Config = (s) => {
  s.linux!.namespaces!.push({ type: 'user' });
  s.linux!.uidMappings = [{ containerID: 0, hostID: 0, size: 65536 }];
  s.linux!.gidMappings = [{ containerID: 0, hostID: 0, size: 65536 }];
};

/** A live (not zombie) process's field from /proc/<pid>/status, or undefined. */
export function procStatus(pid: number, key: string): string | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    if (/^State:\s+[ZX]/m.test(text)) return undefined;
    return (new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text) ?? [])[1]?.trim();
  } catch {
    return undefined;
  }
}

/** Every cgroup dir (any hierarchy, any depth the leak walker covers) whose name contains `mark`. */
export const cgroupDirsNamed = (mark: string) => snapshot([]).cgroups.filter((c) => c.includes(mark));

/** The block device the guest or host has (for io limits), or undefined. */
export function blockDevice(): { major: number; minor: number; name: string } | undefined {
  for (const name of ['vda', 'sda', 'nvme0n1', 'xvda']) {
    try {
      const [major, minor] = fs.readFileSync(`/sys/block/${name}/dev`, 'utf8').trim().split(':').map(Number);
      return { major: major!, minor: minor!, name };
    } catch { /* not this one */ }
  }
  return undefined;
}
