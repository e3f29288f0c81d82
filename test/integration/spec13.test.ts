// runtime-spec 1.3 as a whole, as root with real containers: ociVersion 1.3.0
// runs; a newer config's unknown fields are named in one warning and the
// container still runs; `capsa features` says what capsa implements and, in
// its host annotations, what this host has (checked against the host itself).
import * as fs from 'node:fs';
import * as assert from 'uvu/assert';

import { makeBundle, type TestBundle } from '../helpers/bundle';
import { capsaSuite, capsaToFilesIn } from '../helpers/capsa';
import { addNamespace, all, cmd, type Config } from '../helpers/config';
import { alive } from '../helpers/proc';
import { runnersFor, stateHelpersFor } from '../helpers/run';
import { skipUnless } from '../helpers/skip';
import { processesOf, until } from '../helpers/wait';

const { test, root, capsa, capsaOk } = capsaSuite('spec13');
const { runIn } = runnersFor(capsa);
const { state } = stateHelpersFor({ capsa, capsaOk });
const capsaToFiles = capsaToFilesIn(root);

const version = (v: string) => (s: { ociVersion: string }) => { s.ociVersion = v; };

test('ociVersion 1.3.0: the container runs, without a warning', async () => {
  const r = await runIn(all(version('1.3.0'), cmd('echo', 'ran')));
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'ran\n');
  assert.not.match(r.stderr, /level=warning/);
});

test('ociVersion 1.4.0 with fields capsa does not know: one warning naming them, and the container runs', async () => {
  const r = await runIn(all(version('1.4.0'), cmd('echo', 'ran'), (s) => {
    (s.linux as Record<string, unknown>).quantumIsolation = { level: 3 };
    (s.process as unknown as Record<string, unknown>).newKnob = true;
  }));
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'ran\n');
  const warnings = r.stderr.split('\n').filter((l) => /level=warning/.test(l));
  assert.is(warnings.length, 1, r.stderr);
  assert.match(warnings[0]!, /ociVersion: 1\.4\.0 is newer than the runtime-spec 1\.3\.0 capsa implements/);
  assert.match(warnings[0]!, /linux\.quantumIsolation/);
  assert.match(warnings[0]!, /process\.newKnob/);
});

test('ociVersion 1.3.0 with an unknown field: ignored silently, as the spec asks', async () => {
  const r = await runIn(all(version('1.3.0'), cmd('true'), (s) => { (s.linux as Record<string, unknown>).quantumIsolation = 1; }));
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /level=warning/);
});

test('features: ociVersionMax 1.3.0, the 1.3 sections, and host annotations that match this host', async () => {
  const f = JSON.parse((await capsaOk(['features'])).stdout) as {
    ociVersionMax: string; linux: Record<string, unknown>; annotations: Record<string, string>; potentiallyUnsafeConfigAnnotations: string[];
  };
  assert.is(f.ociVersionMax, '1.3.0');
  for (const k of ['namespaces', 'capabilities', 'cgroup', 'seccomp', 'apparmor', 'selinux', 'intelRdt', 'mountExtensions', 'netDevices']) assert.ok(k in f.linux, `linux.${k}`);
  assert.ok(Array.isArray(f.potentiallyUnsafeConfigAnnotations));
  const host = f.annotations;
  // Each host fact against an independent look at the host.
  assert.is(host['io.github.capsa.host.selinux'], String(fs.existsSync('/sys/fs/selinux/enforce')));
  const apparmor = fs.existsSync('/sys/kernel/security/apparmor') && fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').startsWith('Y');
  assert.is(host['io.github.capsa.host.apparmor'], String(apparmor));
  const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[2]);
  assert.is(host['io.github.capsa.host.intelRdt'], String(mounts.includes('resctrl')));
  const v1 = mounts.includes('cgroup');
  const v2 = mounts.includes('cgroup2');
  assert.is(host['io.github.capsa.host.cgroup'], v1 && v2 ? 'hybrid' : v1 ? 'v1' : 'v2');
  const nsFiles = fs.readdirSync('/proc/self/ns');
  assert.is(host['io.github.capsa.host.namespaces']!.split(',').length, nsFiles.filter((n) => !n.endsWith('_for_children')).length);
  const lastCap = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  assert.is(host['io.github.capsa.host.lastCapability'], (f.linux.capabilities as string[])[lastCap]);
  assert.is(host['io.github.capsa.host.netDevices'], 'true', 'the suite runs as root');
  const systemdInit = fs.readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd';
  assert.is(host['io.github.capsa.host.systemd'], String(systemdInit));
  assert.is((f.linux.cgroup as { systemd: boolean }).systemd, true, 'the driver is built in, whatever this host runs');
});

/** `capsa run -d` of a bundle made with `config`; the container and bundle are removed afterwards. */
async function withDetached(bundles: TestBundle[], config: Config, fn: (b: TestBundle) => Promise<void>): Promise<void> {
  const b = makeBundle({ config });
  bundles.push(b);
  const r = await capsaToFiles(['run', '-d', '--bundle', b.dir, b.id], b.dir);
  assert.is(r.code, 0, r.stderr);
  await fn(b);
}

// ---- linux.resources.memory.useHierarchy ----

/** The container's memory cgroup dir on the host, from its init's /proc/PID/cgroup (v1 "memory:" line or v2 "0::"). */
function memoryCgroupOf(pid: number): { v1: boolean; dir: string } {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => /^\d+:memory:/.test(l));
  if (v1) return { v1: true, dir: `/sys/fs/cgroup/memory${v1.split(':').slice(2).join(':')}` };
  return { v1: false, dir: `/sys/fs/cgroup${lines.find((l) => l.startsWith('0::'))!.slice(3)}` };
}

test('memory.useHierarchy true: memory.use_hierarchy reads 1 in the container\'s v1 memory cgroup (v2: always hierarchical)', async () => {
  const bundles: TestBundle[] = [];
  try {
    await withDetached(bundles, all(cmd('sleep', 'forever'), (s) => { s.linux!.resources = { ...s.linux!.resources, memory: { useHierarchy: true } }; }), async (b) => {
      const cg = memoryCgroupOf((await state(b.id)).pid);
      if (cg.v1) assert.is(fs.readFileSync(`${cg.dir}/memory.use_hierarchy`, 'utf8').trim(), '1');
      else assert.ok(fs.existsSync(`${cg.dir}/memory.max`), 'a v2 memory cgroup: hierarchical by design');
    });
  } finally {
    for (const b of bundles.reverse()) { await capsa(['delete', '--force', b.id]); b.cleanup(); }
  }
});

// Kernels before 5.10 could turn hierarchical accounting off: there false is applied, not refused.
function kernelTakesUseHierarchy0(): boolean {
  if (!fs.existsSync('/sys/fs/cgroup/memory/memory.use_hierarchy')) return false;
  const probe = `/sys/fs/cgroup/memory/capsa-test-uh-${process.pid}`;
  fs.mkdirSync(probe);
  try { fs.writeFileSync(`${probe}/memory.use_hierarchy`, '0'); return true; } catch { return false; } finally { fs.rmdirSync(probe); }
}
const takesUseHierarchy0 = kernelTakesUseHierarchy0();

test('memory.useHierarchy false where the kernel cannot do it: one line naming the field, nothing left', async () => {
  if (skipUnless(!takesUseHierarchy0, 'this kernel still turns memory.use_hierarchy off')) return;
  const r = await runIn(all(cmd('true'), (s) => { s.linux!.resources = { ...s.linux!.resources, memory: { useHierarchy: false } }; }));
  assert.is(r.code, 1, r.stderr);
  assert.not.match(r.stderr.trim(), /\n/, 'one line');
  assert.match(r.stderr, /linux\.resources\.memory\.useHierarchy: false cannot be honoured: .*always accounts memory hierarchically/);
});

// ---- linux.intelRdt ----

const resctrlMount = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' - ')[1]?.startsWith('resctrl '))?.split(' ')[4];

test('intelRdt without resctrl: one line naming linux.intelRdt, nothing left', async () => {
  if (skipUnless(!resctrlMount, 'resctrl is mounted here; the applied case runs instead')) return;
  for (const rdt of [{}, { closID: 'gold', schemata: ['L3:0=ff'] }, { enableMonitoring: true }]) {
    const r = await runIn(all(cmd('true'), (s) => { s.linux!.intelRdt = rdt; }));
    assert.is(r.code, 1, r.stderr);
    assert.not.match(r.stderr.trim(), /\n/, 'one line');
    assert.match(r.stderr, /config\.linux\.intelRdt: Intel RDT needs the resctrl filesystem, which is not mounted on this host/);
  }
});

test('intelRdt where resctrl is mounted: the container\'s init and an exec\'d process are in its group; delete removes the group', async () => {
  if (skipUnless(resctrlMount !== undefined, 'no resctrl filesystem on this host (no "resctrl" in /proc/filesystems: kernel without CONFIG_X86_CPU_RESCTRL)')) return;
  const mount = resctrlMount!;
  const bundles: TestBundle[] = [];
  try {
    await withDetached(bundles, all(cmd('sleep', 'forever'), (s) => { s.linux!.intelRdt = {}; }), async (b) => {
      const group = `${mount}/${b.id}`;
      const tasks = () => fs.readFileSync(`${group}/tasks`, 'utf8').trim().split('\n').map(Number);
      assert.ok(tasks().includes((await state(b.id)).pid), 'the init is in the group');
      const ex = await capsaToFiles(['exec', '-d', b.id, '/bin/testinit', 'sleep', 'forever'], b.dir);
      assert.is(ex.code, 0, ex.stderr);
      const procs = await until('the exec\'d process', () => { const p = processesOf(b.id); return p.length === 2 ? p : undefined; });
      for (const p of procs) assert.ok(tasks().includes(p), `${p} is in the group`);
      await capsaOk(['delete', '--force', b.id]);
      assert.not.ok(fs.existsSync(group), 'removed with the container');
    });
  } finally {
    for (const b of bundles.reverse()) { await capsa(['delete', '--force', b.id]); b.cleanup(); }
  }
});

// ---- kill (runc >= 1.2) ----

test('kill KILL of a container sharing another\'s pid namespace kills all its processes, not only its init; the other container lives on', async () => {
  const bundles: TestBundle[] = [];
  try {
    await withDetached(bundles, cmd('sleep', 'forever'), async (a) => {
      const aPid = (await state(a.id)).pid;
      await withDetached(bundles, all(addNamespace('pid', `/proc/${aPid}/ns/pid`), cmd('fork-sleep', '600')), async (b) => {
        const procs = await until(`${b.id}'s init and its child`, () => { const p = processesOf(b.id); return p.length === 2 ? p : undefined; });
        const r = await capsa(['kill', b.id, 'KILL']);
        assert.is(r.code, 0, r.stderr);
        // The init's death alone would leave its child running, reparented into a's pid namespace.
        await until('every process of the container to be dead', () => (procs.every((p) => !alive(p)) ? true : undefined));
        assert.ok(alive(aPid), 'the container owning the pid namespace is untouched');
        assert.is((await state(b.id)).status, 'stopped');
        assert.is((await state(a.id)).status, 'running');
      });
    });
  } finally {
    for (const b of bundles.reverse()) {
      await capsa(['delete', '--force', b.id]);
      b.cleanup();
    }
  }
});

test('kill TERM of such a container signals only its init, as runc does (only SIGKILL goes to all)', async () => {
  const bundles: TestBundle[] = [];
  try {
    await withDetached(bundles, cmd('sleep', 'forever'), async (a) => {
      const aPid = (await state(a.id)).pid;
      await withDetached(bundles, all(addNamespace('pid', `/proc/${aPid}/ns/pid`), cmd('fork-sleep', '600')), async (b) => {
        const init = (await state(b.id)).pid;
        const procs = await until(`${b.id}'s init and its child`, () => { const p = processesOf(b.id); return p.length === 2 ? p : undefined; });
        const child = procs.find((p) => p !== init)!;
        assert.is((await capsa(['kill', b.id, 'TERM'])).code, 0);
        await until('the init to die of SIGTERM', () => (alive(init) ? undefined : true));
        assert.ok(alive(child), 'its child was not signalled');
      });
    });
  } finally {
    for (const b of bundles.reverse()) {
      await capsa(['delete', '--force', b.id]);
      b.cleanup();
    }
  }
});

test.run();
