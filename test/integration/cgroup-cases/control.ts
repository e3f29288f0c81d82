// Verbs that act through the container's cgroup (pause/resume, ps, kill
// --all), the device rules (v1 devices controller or the v2 eBPF filter, at
// create and on update), where the cgroup goes (nested and relative paths),
// what is refused (a cgroup in use, bad values), on any layout and driver.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Spec } from '../../../src/spec/types';
import { makeBundle } from '../../helpers/bundle';
import { messageOf } from '../../helpers/capsa';
import { ContainerCgroup, FILES, LAYOUT, V2 } from '../../helpers/cgroupfs';
import { all, cmd, type Config } from '../../helpers/config';
import { tick, until } from '../../helpers/wait';
import { ID_PREFIX, MiB, cgroupDirsNamed, procStatus, resources, tmpfsTmp, type CgroupContext } from './context';

function frozen(cg: ContainerCgroup): boolean {
  if (V2) return cg.read('cgroup.freeze') === '1' && cg.keyed('cgroup.events').get('frozen') === 1;
  return cg.read('freezer.state') === 'FROZEN';
}

export function freezerCases(c: CgroupContext): void {
  const { test, withBundle, runDetached, capsaOk, state } = c;

  test(`pause freezes a counting process and resume thaws it (${V2 ? 'cgroup.freeze' : 'freezer.state'})`, async () => {
    await withBundle(all(tmpfsTmp, cmd('count', '/tmp/counter')), async (b) => {
      const { pid, cg } = await runDetached(b);
      const counterFile = `/proc/${pid}/root/tmp/counter`;
      const counter = () => {
        try { return Number(fs.readFileSync(counterFile, 'utf8').trim()); } catch { return undefined; }
      };
      await until('the counter to start', () => ((counter() ?? 0) > 2 ? true : undefined), 30_000);

      await capsaOk(['pause', b.id]);
      assert.is((await state(b.id)).status, 'paused');
      assert.ok(frozen(cg), 'the kernel reports the cgroup frozen');
      const frozenAt = counter();
      assert.ok(frozenAt !== undefined);
      await tick(300); // 30 of the counter's 10 ms steps
      assert.is(counter(), frozenAt, 'the counter did not move while frozen');
      assert.ok(frozen(cg));

      await capsaOk(['resume', b.id]);
      assert.is((await state(b.id)).status, 'running');
      assert.not.ok(frozen(cg));
      await until('the counter to move again', () => ((counter() ?? 0) > frozenAt! ? true : undefined), 30_000);
    });
  });

  test('a paused container can be force-deleted (the kill reaches frozen processes)', async () => {
    await withBundle(cmd('sleep', 'forever'), async (b) => {
      const { pid, cg } = await runDetached(b);
      await capsaOk(['pause', b.id]);
      assert.ok(frozen(cg));
      await capsaOk(['delete', '--force', b.id]);
      await until('the cgroup dir to go', () => (cg.exists() ? undefined : true));
      await until(`init ${pid} to die`, () => (procStatus(pid, 'State') === undefined ? true : undefined));
    });
  });

  test('ps lists the init and its forked child; kill --all KILL kills both', async () => {
    await withBundle(cmd('fork-sleep', '600'), async (b) => {
      const { pid: init, outFile, cg } = await runDetached(b);
      const nsChild = await until('the child pid line', () => (/^(\d+)\n/.exec(fs.readFileSync(outFile, 'utf8')) ?? [])[1], 30_000);

      const pids = JSON.parse((await capsaOk(['ps', '--format', 'json', b.id])).stdout) as number[];
      assert.is(pids.length, 2, `ps --format json: ${JSON.stringify(pids)}`);
      assert.ok(pids.includes(init), 'the init is listed');
      const child = pids.find((p) => p !== init)!;
      assert.is(procStatus(child, 'PPid'), String(init), 'the other one is the init\'s child');
      assert.is(procStatus(child, 'NSpid')!.split(/\s+/).pop(), nsChild);
      assert.equal(cg.procs().sort(), [...pids].sort(), 'both are in the container\'s cgroup');

      const table = (await capsaOk(['ps', b.id])).stdout.trimEnd().split('\n');
      const pidCol = table[0]!.trim().split(/\s+/).indexOf('PID');
      assert.ok(pidCol >= 0, table[0]);
      assert.equal(table.slice(1).map((l) => Number(l.trim().split(/\s+/)[pidCol])).sort(), [...pids].sort(), table.join('\n'));

      await capsaOk(['kill', '--all', b.id, 'KILL']);
      await c.waitStatus(b.id, 'stopped');
      await until(`child ${child} to be gone`, () => (procStatus(child, 'State') === undefined ? true : undefined));
      assert.equal(JSON.parse((await capsaOk(['ps', '--format', 'json', b.id])).stdout), []);
    });
  });
}

const KMSG = { type: 'c', path: '/dev/kmsg', major: 1, minor: 11, fileMode: 0o600, uid: 0, gid: 0 } as const;
const withKmsg: Config = (s) => { s.linux!.devices = [...(s.linux!.devices ?? []), { ...KMSG }]; };
// reading /dev/kmsg also needs CAP_SYSLOG when kernel.dmesg_restrict is set:
// grant it, so only the device rules decide
const capSyslog: Config = (s) => {
  const caps = s.process!.capabilities!;
  for (const set of ['bounding', 'effective', 'permitted'] as const) caps[set] = [...(caps[set] ?? []), 'CAP_SYSLOG'];
};
type DeviceRules = NonNullable<NonNullable<NonNullable<Spec['linux']>['resources']>['devices']>;
const deviceRules = (...rules: DeviceRules): Config => (s) => {
  s.linux!.resources = { ...(s.linux!.resources ?? {}), devices: [...(s.linux!.resources?.devices ?? []), ...rules] };
};
const allowKmsg = { allow: true, type: 'c', major: 1, minor: 11, access: 'rwm' } as const;
const denyKmsg = { allow: false, type: 'c', major: 1, minor: 11, access: 'rwm' } as const;

export function deviceCases(c: CgroupContext): void {
  const { test, withBundle, created, runDetached, capsaOk, waitStatus } = c;
  const filter = V2 ? 'the eBPF device filter' : 'the devices controller';

  /** Runs the container in the foreground and returns testinit's one-line verdict ("ok" or an errno name). */
  async function openIn(config: Config, devicesList?: (list: string[]) => void): Promise<string> {
    let verdict = '';
    await withBundle(config, async (b) => {
      const { cg, outFile } = await created(b);
      if (!V2) devicesList?.(cg.read('devices.list').split('\n'));
      await capsaOk(['start', b.id]);
      await waitStatus(b.id, 'stopped');
      verdict = fs.readFileSync(outFile, 'utf8').trim();
    });
    return verdict;
  }

  test(`devices (${filter}): a deny rule after an allow makes opening the node fail with EPERM`, async () => {
    const allowed = await openIn(all(withKmsg, capSyslog, deviceRules(allowKmsg), cmd('open', '/dev/kmsg', 'r')), (list) => {
      assert.ok(list.includes('c 1:11 rwm'), `devices.list allows c 1:11: ${list.join(' | ')}`);
    });
    assert.is(allowed, 'ok', 'control: allowed, the node opens');
    const denied = await openIn(all(withKmsg, capSyslog, deviceRules(allowKmsg, denyKmsg), cmd('open', '/dev/kmsg', 'r')), (list) => {
      assert.not.ok(list.some((l) => l.startsWith('c 1:11 ')), `devices.list has no c 1:11: ${list.join(' | ')}`);
      assert.not.ok(list.includes('a *:* rwm'), 'not allow-all');
    });
    assert.is(denied, 'EPERM');
    // the node is there all the same: only the cgroup refused it
    assert.is(await openIn(all(withKmsg, deviceRules(allowKmsg, denyKmsg), cmd('stat', '/dev/kmsg'))), 'type=char mode=0600 uid=0 gid=0 major=1 minor=11');
  });

  test(`devices (${filter}): a default device (/dev/null) still opens beside a denied one, and partial access is enforced`, async () => {
    assert.is(await openIn(all(withKmsg, deviceRules(denyKmsg), cmd('open', '/dev/null', 'rw'))), 'ok');
    const readOnly = { allow: true, type: 'c', major: 1, minor: 11, access: 'r' } as const;
    assert.is(await openIn(all(withKmsg, capSyslog, deviceRules(readOnly), cmd('open', '/dev/kmsg', 'r')), (list) => {
      assert.ok(list.includes('c 1:11 r'), list.join(' | '));
    }), 'ok');
    assert.is(await openIn(all(withKmsg, capSyslog, deviceRules(readOnly), cmd('open', '/dev/kmsg', 'w'))), 'EPERM');
  });

  test(`devices (${filter}): an update of other limits keeps the rules; ${V2 ? 'an update with devices replaces them (allowed → denied → allowed)' : 'devices in an update are left alone with a warning, as runc leaves them'}`, async () => {
    await withBundle(all(withKmsg, capSyslog, deviceRules(allowKmsg), cmd('sleep', 'forever')), async (b) => {
      await runDetached(b);
      const open = async (node = '/dev/kmsg', mode = 'r') => (await c.capsa(['exec', b.id, '/bin/testinit', 'open', node, mode])).stdout.trim();
      assert.is(await open(), 'ok');
      assert.is(await open('/dev/kmsg', 'w'), 'ok');
      await capsaOk(['update', '--memory', '100M', b.id]);
      assert.is(await open(), 'ok', 'still allowed after an update without devices');
      // a node no rule allows stays denied (the filter is still there)
      const partial = { allow: true, type: 'c', major: 1, minor: 11, access: 'r' } as const;
      const u = await capsaOk(['update', '--resources', '-', b.id], { input: JSON.stringify({ devices: [partial] }) });
      if (V2) {
        assert.is(await open('/dev/kmsg', 'r'), 'ok');
        assert.is(await open('/dev/kmsg', 'w'), 'EPERM', 'write no longer allowed');
        assert.is(await open('/dev/null', 'rw'), 'ok', 'the defaults stay');
        await capsaOk(['update', '--resources', '-', b.id], { input: JSON.stringify({ devices: [denyKmsg] }) });
        assert.is(await open(), 'EPERM', 'denied');
        await capsaOk(['update', '--resources', '-', b.id], { input: JSON.stringify({ devices: [allowKmsg] }) });
        assert.is(await open('/dev/kmsg', 'w'), 'ok', 'allowed again');
      } else {
        assert.match(u.stderr, /linux\.resources\.devices is not changed by update/);
        assert.is(await open('/dev/kmsg', 'w'), 'ok', 'unchanged');
      }
    });
  });
}

/** `capsa create` must fail: exit 1, one stderr line naming `field`, and nothing left behind. */
async function expectRefused(c: CgroupContext, config: Config, field: string, leftover: (id: string) => string[] = () => []): Promise<string> {
  const b = makeBundle({ config: all(config, cmd('sleep', 'forever')), idPrefix: ID_PREFIX });
  try {
    const r = await c.capsaToFiles(['create', '-b', b.dir, b.id], b.dir);
    assert.is(r.code, 1, `exit ${r.code}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
    const msg = messageOf(r.stderr);
    assert.ok(msg.includes(field), `"${msg}" names ${field}`);
    assert.not.ok(fs.existsSync(path.join(c.root, b.id)), 'no state dir');
    assert.equal(cgroupDirsNamed(b.id), [], 'no cgroup dir for the id');
    assert.equal(leftover(b.id), [], 'nothing else left behind');
    assert.is((await c.capsa(['state', b.id])).code, 1, 'the container does not exist');
    return msg;
  } finally {
    await c.capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
}

export function badInputCases(c: CgroupContext): void {
  const { test } = c;

  test('a value the kernel rejects (a cpuset CPU this host lacks) is reported with the file and value written', async () => {
    const effective = V2 ? '/sys/fs/cgroup/cpuset.cpus.effective' : '/sys/fs/cgroup/cpuset/cpuset.effective_cpus';
    const cpus = fs.readFileSync(effective, 'utf8').trim();
    assert.not.ok(cpus.split(',').some((r) => { const [a, b = a] = r.split('-').map(Number); return 63 >= a! && 63 <= b!; }), `host has cpu 63: ${cpus}`);
    const msg = await expectRefused(c, resources({ cpu: { cpus: '63' } }), 'linux.resources.cpu.cpus');
    assert.match(msg, /write 63 to \/sys\/fs\/cgroup\/\S*cpuset\.cpus/);
  });

  test('bad input: a negative memory limit is refused', async () => {
    assert.match(await expectRefused(c, resources({ memory: { limit: -5 * MiB } }), 'linux.resources.memory.limit'), 'negative');
  });

  test(`bad input: an unknown unified key is refused on this ${LAYOUT} host`, async () => {
    await expectRefused(c, resources({ unified: { 'memory.capsa_no_such_file': '1' } }), 'linux.resources.unified["memory.capsa_no_such_file"]');
  });

  if (c.driver === 'cgroupfs') {
    test('bad input: a linux.cgroupsPath with ".." is refused', async () => {
      const parent = `${ID_PREFIX}-parent-${process.pid}`;
      const escaped = `${ID_PREFIX}-escaped-${process.pid}`;
      await expectRefused(c, (s) => { s.linux!.cgroupsPath = `${parent}/../../${escaped}`; }, 'linux.cgroupsPath', () => [...cgroupDirsNamed(parent), ...cgroupDirsNamed(escaped)]);
    });
  } else {
    test('bad input (systemd): a slice name systemd would refuse is refused before anything is made', async () => {
      assert.match(await expectRefused(c, (s) => { s.linux!.cgroupsPath = 'capsatest--x.slice:capsa:bad'; }, 'linux.cgroupsPath'), 'invalid slice name');
    });
  }
}

/** The v1 hierarchies (or the cgroup2 root) a pre-made cgroup needs a dir in. */
function hierarchyRoots(): string[] {
  if (V2) return ['/sys/fs/cgroup'];
  return fs.readdirSync('/sys/fs/cgroup').filter((n) => n !== 'unified' && !fs.lstatSync(`/sys/fs/cgroup/${n}`).isSymbolicLink()).map((n) => `/sys/fs/cgroup/${n}`);
}

export function pathCases(c: CgroupContext): void {
  const { test, withBundle, runDetached, capsaOk } = c;

  if (c.driver === 'cgroupfs') {
    for (const [label, where] of [['nested absolute', 'abs'], ['relative (under /capsa)', 'rel']] as const) {
      test(`cgroupsPath ${label}: the container lands there with its controllers, and delete removes what create made`, async () => {
        const top = `${ID_PREFIX}-${where}-${process.pid}`;
        let cgPath = '';
        await withBundle(all(cmd('sleep', 'forever'), resources({ memory: { limit: 48 * MiB }, pids: { limit: 30 } }), (s) => {
          s.linux!.cgroupsPath = where === 'abs' ? `/${top}/mid/leaf` : `${top}/leaf`;
        }), async (b) => {
          const { cg } = await runDetached(b);
          cgPath = cg.path;
          assert.is(cg.path, where === 'abs' ? `/${top}/mid/leaf` : `/capsa/${top}/leaf`);
          assert.is(cg.int(FILES.memoryLimit), 48 * MiB);
          assert.is(cg.read('pids.max'), '30');
          if (V2) assert.ok(cg.read('cgroup.controllers').split(' ').includes('memory'), 'controllers enabled on the way down');
          await capsaOk(['delete', '--force', b.id]);
          assert.equal(cgroupDirsNamed(top), [], 'the dirs create made are gone');
        });
        assert.ok(cgPath);
      });
    }
  } else {
    test('cgroupsPath slice:prefix:name with a nested slice: the scope lands in it, delete stops it', async () => {
      await withBundle(all(cmd('sleep', 'forever'), resources({ pids: { limit: 30 } })), async (b) => {
        // the id is only known now: use it as the scope's name
        const cfg = path.join(b.dir, 'config.json');
        const spec = JSON.parse(fs.readFileSync(cfg, 'utf8')) as Spec;
        spec.linux!.cgroupsPath = `capsatest-nest.slice:capsa:${b.id}`;
        fs.writeFileSync(cfg, JSON.stringify(spec));
        const { cg } = await runDetached(b);
        assert.is(cg.path, `/capsatest.slice/capsatest-nest.slice/capsa-${b.id}.scope`);
        assert.is(cg.read('pids.max'), '30');
        await capsaOk(['delete', '--force', b.id]);
        await until('the scope dir to go', () => (cg.exists() ? undefined : true));
      });
    });
  }

  test('a cgroup that already holds a process is refused (runc ≥ 1.2), and the process is left alone', async () => {
    if (c.driver === 'systemd') {
      // systemd's form of it: the scope exists (another container's)
      await withBundle(cmd('sleep', 'forever'), async (a) => {
        const first = await runDetached(a);
        const msg = await expectRefused(c, (s) => { s.linux!.cgroupsPath = `system.slice:capsa:${a.id}`; }, 'systemd');
        assert.match(msg, /UnitExists|already exists|already loaded/, msg);
        assert.is(procStatus(first.pid, 'State')?.[0] ?? '', 'S', 'the first container still runs');
        assert.ok(first.cg.procs().includes(first.pid), 'and is still in its scope');
      });
      return;
    }
    const name = `${ID_PREFIX}-occupied-${process.pid}`;
    const dirs = hierarchyRoots().map((r) => path.join(r, name));
    for (const d of dirs) fs.mkdirSync(d);
    const squatter = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      // in every hierarchy (v1: so it is the one pids() reads, whichever that is);
      // a new v1 cpuset takes no process until it has cpus and mems
      for (const d of dirs) {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          if (!V2 && fs.existsSync(path.join(d, f))) fs.writeFileSync(path.join(d, f), fs.readFileSync(path.join(path.dirname(d), f), 'utf8').trim());
        }
        fs.writeFileSync(path.join(d, 'cgroup.procs'), String(squatter.pid));
      }
      const msg = await expectRefused(c, (s) => { s.linux!.cgroupsPath = `/${name}`; }, 'linux.cgroupsPath', () => []);
      assert.match(msg, /container's cgroup is not empty: 1 process\(es\) found/);
      assert.ok(procStatus(squatter.pid!, 'State'), 'the process there is alive');
      assert.ok(fs.readFileSync(`/proc/${squatter.pid}/cgroup`, 'utf8').includes(`/${name}\n`), 'and still in that cgroup');
      for (const d of dirs) assert.ok(fs.existsSync(d), `${d} is not removed`);
    } finally {
      squatter.kill('SIGKILL');
      await new Promise((r) => squatter.once('exit', r));
      for (const d of dirs) await until(`${d} to be removable`, () => { try { fs.rmdirSync(d); return true; } catch { return undefined; } });
    }
  });

  if (c.driver === 'cgroupfs') {
    test('a frozen cgroup is refused (runc ≥ 1.2) and stays as it was', async () => {
      const name = `${ID_PREFIX}-frozen-${process.pid}`;
      const dirs = V2 ? [`/sys/fs/cgroup/${name}`] : ['freezer', 'pids'].map((h) => `/sys/fs/cgroup/${h}/${name}`);
      for (const d of dirs) fs.mkdirSync(d);
      try {
        fs.writeFileSync(V2 ? path.join(dirs[0]!, 'cgroup.freeze') : path.join(dirs[0]!, 'freezer.state'), V2 ? '1' : 'FROZEN');
        const msg = await expectRefused(c, (s) => { s.linux!.cgroupsPath = `/${name}`; }, 'linux.cgroupsPath');
        assert.match(msg, /unexpectedly frozen/);
        assert.is(fs.readFileSync(V2 ? path.join(dirs[0]!, 'cgroup.freeze') : path.join(dirs[0]!, 'freezer.state'), 'utf8').trim(), V2 ? '1' : 'FROZEN');
      } finally {
        for (const d of dirs) fs.rmdirSync(d);
      }
    });
  }
}
