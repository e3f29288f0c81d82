// --systemd-cgroup as Kubernetes nodes use it: the container's limits sent
// as properties of its transient scope (so systemd keeps them), updates sent
// with SetUnitProperties, org.systemd.property.* annotations, StopUnit on
// delete — checked by asking systemd what it recorded (D-Bus GetUnitProperty
// through python3-dbus, and systemctl show where systemd is real). Runs
// against the real systemd (npm run test:cgroup2) and the stand-in
// (test/fixtures/systemd/fake-systemd.py, which records but applies nothing).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { makeBundle } from '../../helpers/bundle';
import { messageOf } from '../../helpers/capsa';
import { V2 } from '../../helpers/cgroupfs';
import { all, cmd, type Config } from '../../helpers/config';
import { REPO_ROOT } from '../../helpers/rootfs';
import { MiB, resources, type CgroupContext } from './context';

const INFINITY = '18446744073709551615';

/** What systemd recorded for `unit` (null for a property it does not have); throws when the unit is not loaded. */
export function unitProperties(unit: string, names: string[]): Record<string, unknown> {
  const out = execFileSync('/usr/bin/python3', [path.join(REPO_ROOT, 'test/fixtures/systemd/unit-properties.py'), unit, ...names], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out) as Record<string, unknown>;
}

function unitLoaded(unit: string): boolean {
  try {
    unitProperties(unit, []);
    return true;
  } catch (e) {
    if (/NoSuchUnit/.test(String((e as { stderr?: string }).stderr))) return false;
    throw e;
  }
}

const KMSG = { type: 'c', path: '/dev/kmsg', major: 1, minor: 11, fileMode: 0o600, uid: 0, gid: 0 } as const;
const withKmsg: Config = (s) => { s.linux!.devices = [...(s.linux!.devices ?? []), { ...KMSG }]; };
const capSyslog: Config = (s) => {
  const caps = s.process!.capabilities!;
  for (const set of ['bounding', 'effective', 'permitted'] as const) caps[set] = [...(caps[set] ?? []), 'CAP_SYSLOG'];
};

/** `real`: systemd itself (systemctl works, daemon-reload re-applies units); otherwise the stand-in. */
export function systemdCases(c: CgroupContext, real: boolean): void {
  const { test, withBundle, runDetached, capsaOk } = c;
  const unitOf = (id: string) => `capsa-${id}.scope`;

  test('limits go to systemd as the scope\'s properties at start: systemd records each one (GetUnitProperty)', async () => {
    await withBundle(all(cmd('sleep', 'forever'), withKmsg, resources({
      memory: { limit: 64 * MiB, reservation: 32 * MiB, swap: 96 * MiB },
      cpu: { shares: 512, quota: 50_000, period: 100_000, cpus: '0', mems: '0' },
      pids: { limit: 100 },
      // (this hybrid host's kernel has no blkio weight file at all: BFQ is not loaded)
      ...(V2 ? { blockIO: { weight: 500 } } : {}),
      devices: [{ allow: true, type: 'c', major: 1, minor: 11, access: 'r' }],
    })), async (b) => {
      await runDetached(b);
      const unit = unitOf(b.id);
      const names = V2
        ? ['MemoryMax', 'MemoryLow', 'MemorySwapMax', 'CPUWeight', 'CPUQuotaPerSecUSec', 'CPUQuotaPeriodUSec', 'AllowedCPUs', 'AllowedMemoryNodes', 'TasksMax', 'IOWeight', 'DevicePolicy', 'DeviceAllow', 'Delegate']
        : ['MemoryLimit', 'CPUShares', 'CPUQuotaPerSecUSec', 'CPUQuotaPeriodUSec', 'AllowedCPUs', 'AllowedMemoryNodes', 'TasksMax', 'DevicePolicy', 'DeviceAllow', 'Delegate'];
      const p = unitProperties(unit, names);
      const want: Record<string, unknown> = V2
        ? { MemoryMax: String(64 * MiB), MemoryLow: String(32 * MiB), MemorySwapMax: String(32 * MiB), CPUWeight: '20', IOWeight: '4950' }
        : { MemoryLimit: String(64 * MiB), CPUShares: '512' };
      Object.assign(want, { CPUQuotaPerSecUSec: '500000', CPUQuotaPeriodUSec: '100000', AllowedCPUs: ['1'], AllowedMemoryNodes: ['1'], TasksMax: '100', DevicePolicy: 'strict', Delegate: true });
      // systemd pads the cpu/node masks with zero bytes
      for (const k of ['AllowedCPUs', 'AllowedMemoryNodes']) {
        const bytes = [...(p[k] as string[])];
        while (bytes.length > 1 && bytes[bytes.length - 1] === '0') bytes.pop();
        p[k] = bytes;
      }
      for (const [k, v] of Object.entries(want)) assert.equal(p[k], v, `${k}: ${JSON.stringify(p)}`);
      const allowed = p.DeviceAllow as [string, string][];
      for (const e of [['/dev/char/1:11', 'r'], ['/dev/char/1:3', 'rwm'], ['char-136', 'rwm'], ['char-*', 'm']]) {
        assert.ok(allowed.some((x) => x[0] === e[0] && x[1] === e[1]), `DeviceAllow has ${e.join(' ')}: ${JSON.stringify(allowed)}`);
      }
      if (real) {
        const show = execFileSync('systemctl', ['show', '-p', 'MemoryMax,TasksMax,DevicePolicy', unit], { encoding: 'utf8' });
        assert.equal(show.trim().split('\n').sort(), ['DevicePolicy=strict', `MemoryMax=${64 * MiB}`, 'TasksMax=100'], 'systemctl show agrees');
      }
    });
  });

  test('update sends the new limits with SetUnitProperties: systemd records them, and the files hold them', async () => {
    await withBundle(all(cmd('sleep', 'forever'), resources({ memory: { limit: 64 * MiB }, pids: { limit: 50 }, cpu: { quota: 50_000, period: 100_000 } })), async (b) => {
      const { cg } = await runDetached(b);
      await capsaOk(['update', '--memory', '128M', '--pids-limit', '200', '--cpu-quota', '20000', b.id]);
      const limitName = V2 ? 'MemoryMax' : 'MemoryLimit';
      const p = unitProperties(unitOf(b.id), [limitName, 'TasksMax', 'CPUQuotaPerSecUSec', 'CPUQuotaPeriodUSec']);
      assert.equal(p, { [limitName]: String(128 * MiB), TasksMax: '200', CPUQuotaPerSecUSec: '200000', CPUQuotaPeriodUSec: '100000' });
      assert.is(cg.read('pids.max'), '200');
      assert.is(cg.int(V2 ? 'memory.max' : 'memory.limit_in_bytes'), 128 * MiB);
      await capsaOk(['update', '--pids-limit', '-1', b.id]);
      assert.equal(unitProperties(unitOf(b.id), ['TasksMax']), { TasksMax: INFINITY });
      assert.is(cg.read('pids.max'), 'max');
    });
  });

  test('org.systemd.property.* annotations become scope properties (…Sec sent as …USec in µs, as runc)', async () => {
    await withBundle(all(cmd('sleep', 'forever'), (s) => {
      s.annotations = { ...(s.annotations ?? {}), 'org.systemd.property.TimeoutStopSec': 'uint64 42', 'org.systemd.property.CollectMode': "'inactive-or-failed'" };
    }), async (b) => {
      await runDetached(b);
      assert.equal(unitProperties(unitOf(b.id), ['TimeoutStopUSec', 'CollectMode']), { TimeoutStopUSec: '42000000', CollectMode: 'inactive-or-failed' });
    });
  });

  test('a malformed org.systemd.property.* annotation: one-line error naming it, no scope started, nothing left', async () => {
    const b = makeBundle({ config: all(cmd('sleep', 'forever'), (s) => { s.annotations = { 'org.systemd.property.CPU-Weight': '5' }; }), idPrefix: 'capsa-test-cg' });
    try {
      const r = await c.capsaToFiles(['create', '-b', b.dir, b.id], b.dir);
      assert.is(r.code, 1, r.stderr);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.is(messageOf(r.stderr), 'annotation org.systemd.property.CPU-Weight name incorrect: contains non-alphabetic character');
      assert.not.ok(unitLoaded(unitOf(b.id)), 'no scope');
      assert.not.ok(fs.existsSync(path.join(c.root, b.id)), 'no state dir');
    } finally {
      await c.capsa(['delete', '--force', b.id]);
      b.cleanup();
    }
  });

  test('delete stops the scope (StopUnit): systemd no longer has the unit, its cgroup is gone', async () => {
    await withBundle(cmd('sleep', 'forever'), async (b) => {
      const { cg } = await runDetached(b);
      assert.ok(unitLoaded(unitOf(b.id)));
      await capsaOk(['delete', '--force', b.id]);
      assert.not.ok(unitLoaded(unitOf(b.id)), 'unit gone');
      assert.not.ok(cg.exists(), 'cgroup gone');
    });
  });

  if (!real) return;

  test('systemctl daemon-reload while the container runs does not change its limits or device rules (it does reset what systemd was not told)', async () => {
    await withBundle(all(cmd('sleep', 'forever'), withKmsg, capSyslog, resources({
      memory: { limit: 64 * MiB }, pids: { limit: 77 }, cpu: { shares: 512, quota: 30_000, period: 100_000, cpus: '0' },
      devices: [{ allow: true, type: 'c', major: 1, minor: 11, access: 'r' }],
    })), async (b) => {
      const { cg } = await runDetached(b);
      const files = ['memory.max', 'pids.max', 'cpu.max', 'cpu.weight', 'cpuset.cpus'];
      const before = files.map((f) => cg.read(f));
      assert.equal(before, [String(64 * MiB), '77', '30000 100000', '20', '0']);
      const open = async (node: string, mode: string) => (await c.capsa(['exec', b.id, '/bin/testinit', 'open', node, mode])).stdout.trim();
      assert.is(await open('/dev/kmsg', 'r'), 'ok');
      assert.is(await open('/dev/kmsg', 'w'), 'EPERM');
      // the control: a value written behind systemd's back, for a property the unit does not have
      fs.writeFileSync(cg.file('memory.high'), String(100 * MiB));
      execFileSync('systemctl', ['daemon-reload'], { stdio: 'pipe' });
      assert.is(cg.read('memory.high'), 'max', 'daemon-reload re-applied the unit: what systemd was not told is reset');
      assert.equal(files.map((f) => cg.read(f)), before, 'the container\'s limits stay');
      assert.is(await open('/dev/kmsg', 'r'), 'ok', 'allowed still');
      assert.is(await open('/dev/kmsg', 'w'), 'EPERM', 'denied still');
      assert.is(await open('/dev/null', 'rw'), 'ok');
    });
  });
}
