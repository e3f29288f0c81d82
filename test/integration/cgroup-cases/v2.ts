// What only a cgroup v2 host has: cgroup namespaces rooted at the
// container's cgroup, the cgroup handed to a user namespace's root
// (runtime-spec 1.1), cgroup.kill, pressure (PSI) in `events --stats`, and
// exec --cgroup into a sub-cgroup, with either driver.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { all, cmd, dropNamespace, type Config } from '../../helpers/config';
import { until } from '../../helpers/wait';
import { MiB, resources, type CgroupContext } from './context';

const cgroupNs: Config = (s) => { s.linux!.namespaces!.push({ type: 'cgroup' }); };
const HOST_ROOT = 200_000;
const mappedUserNs: Config = (s) => {
  s.linux!.namespaces!.push({ type: 'user' });
  s.linux!.uidMappings = [{ containerID: 0, hostID: HOST_ROOT, size: 65536 }];
  s.linux!.gidMappings = [{ containerID: 0, hostID: HOST_ROOT, size: 65536 }];
};
const writableCgroupfs: Config = (s) => {
  for (const m of s.mounts!) if (m.destination === '/sys/fs/cgroup') m.options = (m.options ?? []).filter((o) => o !== 'ro');
};

export function v2Cases(c: CgroupContext): void {
  const { test, withBundle, runDetached, capsa, capsaOk } = c;

  test('cgroup namespace: the container sees its own cgroup as the root ("0::/", its limits at /sys/fs/cgroup), and so does exec', async () => {
    await withBundle(all(cgroupNs, resources({ memory: { limit: 40 * MiB } }), cmd('sleep', 'forever')), async (b) => {
      const { cg } = await runDetached(b);
      assert.is(cg.int('memory.max'), 40 * MiB);
      assert.is((await capsaOk(['exec', b.id, '/bin/testinit', 'cgroup'])).stdout, '0::/\n');
      assert.is((await capsaOk(['exec', b.id, '/bin/testinit', 'cat', '/sys/fs/cgroup/memory.max'])).stdout.trim(), String(40 * MiB));
    });
  });

  test('user + cgroup namespace with a writable cgroupfs: the cgroup is handed to the container\'s root (runtime-spec 1.1), which can make and enter a sub-cgroup', async () => {
    await withBundle(all(mappedUserNs, cgroupNs, writableCgroupfs, cmd('sleep', 'forever')), async (b) => {
      const { cg } = await runDetached(b);
      const owner = (f: string) => fs.statSync(f).uid;
      assert.is(owner(cg.dir()), HOST_ROOT, 'the dir');
      for (const f of ['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads']) assert.is(owner(cg.file(f)), HOST_ROOT, f);
      assert.is(owner(cg.file('memory.max')), 0, 'limits stay the host\'s');
      assert.match((await capsaOk(['exec', b.id, '/bin/testinit', 'stat', '/sys/fs/cgroup'])).stdout, / uid=0 /);
      await capsaOk(['exec', b.id, '/bin/testinit', 'mkdir', '/sys/fs/cgroup/sub']);
      assert.is(owner(path.join(cg.dir(), 'sub')), HOST_ROOT);
      // the exec'd shell moves itself there, then a child of it reads where it is
      const moved = await capsa(['exec', b.id, '/bin/sh', '-c', '/bin/testinit write /sys/fs/cgroup/sub/cgroup.procs $$ && /bin/testinit cgroup']);
      assert.is(moved.code, 0, moved.stderr);
      assert.is(moved.stdout, '0::/sub\n');
    });
  });

  test('user + cgroup namespace but a read-only cgroupfs: nothing is handed over (as runc)', async () => {
    await withBundle(all(mappedUserNs, cgroupNs, cmd('sleep', 'forever')), async (b) => {
      const { cg } = await runDetached(b);
      assert.is(fs.statSync(cg.dir()).uid, 0);
      assert.is(fs.statSync(cg.file('cgroup.procs')).uid, 0);
    });
  });

  // That it is cgroup.kill that does it is checked in test/unit/cgroups-v2 (the
  // write); here, that one call leaves nothing, whatever forks meanwhile.
  test('kill --all KILL (cgroup.kill on v2) of a running fork loop, no pid namespace: the cgroup is empty after the one call', async () => {
    await withBundle(all(dropNamespace('pid'), resources({ pids: { limit: 2000 } }), (s) => {
      s.process!.args = ['/bin/sh', '-c', 'while :; do /bin/testinit sleep 1000 & /bin/testinit sleep 0.02; done'];
    }), async (b) => {
      const { cg } = await runDetached(b);
      await until('the loop to fill the cgroup', () => (cg.procs().length > 20 ? true : undefined), 60_000);
      await capsaOk(['kill', '--all', b.id, 'KILL']);
      // (systemd removes a scope's cgroup once it is empty)
      const empty = () => { try { return cg.procs().length === 0; } catch { return !cg.exists(); } };
      await until('the cgroup to be empty', () => (empty() ? true : undefined), 20_000);
    });
  });

  test('events --stats: cpu, memory and io pressure (PSI) beside the usage figures', async () => {
    await withBundle(all(resources({ memory: { limit: 64 * MiB }, pids: { limit: 50 } }), cmd('sleep', 'forever')), async (b) => {
      const { cg } = await runDetached(b);
      assert.ok(cg.exists('cpu.pressure'), 'this kernel reports pressure (booted with psi=1)');
      const ev = JSON.parse((await capsaOk(['events', '--stats', b.id])).stdout) as { type: string; data: Record<string, Record<string, unknown>> };
      assert.is(ev.type, 'stats');
      const psi = (x: unknown) => x as { some: { avg10: number; total: number }; full: { total: number } };
      for (const [section, file] of [['cpu', 'cpu.pressure'], ['memory', 'memory.pressure'], ['blkio', 'io.pressure']] as const) {
        const p = psi(ev.data[section]!.psi);
        assert.ok(p && typeof p.some.avg10 === 'number' && typeof p.full.total === 'number', `${section}.psi: ${JSON.stringify(ev.data[section])}`);
        const kernelTotal = Number(/^some .*total=(\d+)$/m.exec(cg.read(file))![1]);
        assert.ok(p.some.total <= kernelTotal, `${section}: reported ${p.some.total} ≤ the kernel's count now ${kernelTotal}`);
      }
      assert.equal(ev.data.pids, { current: 1, limit: 50 });
      assert.is((ev.data.memory!.usage as { limit: number }).limit, 64 * MiB);
    });
  });

  test('exec --cgroup SUB puts the process in a sub-cgroup of the container\'s (v2: a path, no controller)', async () => {
    await withBundle(cmd('sleep', 'forever'), async (b) => {
      const { cg } = await runDetached(b);
      fs.mkdirSync(path.join(cg.dir(), 'capsa-sub'));
      const r = await capsaOk(['exec', '--cgroup', 'capsa-sub', b.id, '/bin/testinit', 'cgroup']);
      assert.is(r.stdout, `0::${cg.path}/capsa-sub\n`);
      const bad = await capsa(['exec', '--cgroup', 'no-such-sub', b.id, '/bin/testinit', 'true']);
      assert.is(bad.code, 255, "a failed exec exits 255, as runc");
      assert.match(bad.stderr, /no-such-sub.*does not exist/);
    });
  });
}
