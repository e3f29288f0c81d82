// Idmapped mounts (runtime-spec 1.2 mounts[].uidMappings/gidMappings, the
// idmap/ridmap options), as root with real containers. What is checked is
// file ownership: as the container sees it through the mount (testinit stat
// inside), and on the host side (what a write through the mount put on disk),
// with and without a container user namespace, for idmap and ridmap, next to a
// plain bind of the same directory; refusals are one-line errors naming the field.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { IdMapping, Mount, Spec } from '../../src/spec/types';
import { makeBundle } from '../helpers/bundle';
import { capsaSuite, capsaToFilesIn, oneLine } from '../helpers/capsa';
import { addMounts, all, cmd, type Config } from '../helpers/config';
import { tempDir, withRootfsCopy } from '../helpers/rootfs';
import { runnersFor } from '../helpers/run';
import { waitReaped } from '../helpers/wait';

const { test, root, capsa, capsaOk } = capsaSuite('idmap-mounts');
const { runIn, runOk } = runnersFor(capsa);
const capsaToFiles = capsaToFilesIn(root);

// ---- helpers ----

const HOST_ID = 100000;
const map = (containerID: number, hostID: number, size: number): IdMapping[] => [{ containerID, hostID, size }];
const userNs: Config = (s) => {
  s.linux!.namespaces = [...(s.linux!.namespaces ?? []), { type: 'user' }];
  s.linux!.uidMappings = map(0, HOST_ID, 65536);
  s.linux!.gidMappings = map(0, HOST_ID, 65536);
};
const chownRootfs = (rootfs: string) => { execFileSync('chown', ['-R', `${HOST_ID}:${HOST_ID}`, rootfs]); };
const writable: Config = (s) => { s.root!.readonly = false; };

/** "uid:gid" lines (testinit owners) as a list. */
const owners = (out: string) => out.trim().split('\n');
/** The entrypoint prints the owner of each path, as the container sees it. */
const statAll = (...paths: string[]): Config => cmd('owners', ...paths);

const hostOwner = (p: string) => { const st = fs.statSync(p); return `${st.uid}:${st.gid}`; };

/** A source dir (0755) with foo owned 0:0, bar 1000:1000, baz 5:7, removed afterwards; tmpfs submounts unmounted. */
async function withSource(fn: (src: string) => Promise<void>): Promise<void> {
  const dir = tempDir('idmap');
  const src = path.join(dir, 'src');
  try {
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(src, { mode: 0o755 });
    fs.chmodSync(src, 0o777);
    for (const [name, uid, gid] of [['foo', 0, 0], ['bar', 1000, 1000], ['baz', 5, 7]] as const) {
      fs.writeFileSync(path.join(src, name), name);
      fs.chownSync(path.join(src, name), uid, gid);
    }
    await fn(src);
  } finally {
    for (const m of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((p) => p?.startsWith(dir)).reverse()) {
      try { execFileSync('umount', ['-l', m!]); } catch { /* already gone */ }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A tmpfs at src/sub holding sub/file owned 0:0 (a submount for rbind/ridmap). */
function addSubmount(src: string): void {
  const sub = path.join(src, 'sub');
  fs.mkdirSync(sub);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0777', 'capsa-test-idmap', sub]);
  fs.writeFileSync(path.join(sub, 'file'), 'x');
}

const bind = (source: string, destination: string, options: string[], extra: Partial<Mount> = {}): Mount => ({ destination, type: 'bind', source, options, ...extra });

// ---- without a container user namespace ----

test('no user namespace: mappings 0:100000 show foo (0:0 on disk) as 100000 through the mount, while a plain bind shows 0', async () => {
  await withSource(async (src) => {
    const out = await runOk(all(
      addMounts(bind(src, '/mnt/idmapped', ['bind'], { uidMappings: map(0, HOST_ID, 65536), gidMappings: map(0, HOST_ID, 65536) }), bind(src, '/mnt/plain', ['bind'])),
      statAll('/mnt/idmapped/foo', '/mnt/idmapped/bar', '/mnt/plain/foo'),
    ));
    assert.equal(owners(out), [`${HOST_ID}:${HOST_ID}`, `${HOST_ID + 1000}:${HOST_ID + 1000}`, '0:0']);
  });
});

test('no user namespace, different uid and gid mappings, several ranges: each id goes through its own range', async () => {
  await withSource(async (src) => {
    const m = bind(src, '/mnt/m', ['bind'], {
      uidMappings: [{ containerID: 0, hostID: 3000, size: 1 }, { containerID: 1000, hostID: 4000, size: 1 }, { containerID: 5, hostID: 5000, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: 6000, size: 10 }, { containerID: 1000, hostID: 7000, size: 1 }],
    });
    const out = await runOk(all(addMounts(m), statAll('/mnt/m/foo', '/mnt/m/bar', '/mnt/m/baz')));
    assert.equal(owners(out), ['3000:6000', '4000:7000', '5000:6007']);
  });
});

test('no user namespace, writes: a process user 100000 creates files owned 0:0 on the host; root (unmapped in the mount) gets EOVERFLOW', async () => {
  await withSource(async (src) => {
    const m = bind(src, '/mnt/w', ['bind'], { uidMappings: map(0, HOST_ID, 65536), gidMappings: map(0, HOST_ID, 65536) });
    const out = await runOk(all(addMounts(m), (s) => { s.process!.user = { uid: HOST_ID, gid: HOST_ID }; }, cmd('touch', '/mnt/w/new')));
    assert.is(out, '');
    assert.is(hostOwner(path.join(src, 'new')), '0:0', 'on disk through the inverse mapping');
    const r = await runIn(all(addMounts(m), cmd('touch', '/mnt/w/by-root')));
    assert.is.not(r.code, 0);
    assert.match(r.stderr, /EOVERFLOW/);
    assert.not.ok(fs.existsSync(path.join(src, 'by-root')));
  });
});

test('no user namespace, rbind: idmap maps only the top mount, ridmap the submounts too', async () => {
  await withSource(async (src) => {
    addSubmount(src);
    const ids = { uidMappings: map(0, HOST_ID, 65536), gidMappings: map(0, HOST_ID, 65536) };
    const out = await runOk(all(
      addMounts(bind(src, '/mnt/i', ['rbind', 'idmap'], ids), bind(src, '/mnt/r', ['rbind', 'ridmap'], ids)),
      statAll('/mnt/i/foo', '/mnt/i/sub/file', '/mnt/r/foo', '/mnt/r/sub/file'),
    ));
    assert.equal(owners(out), [`${HOST_ID}:${HOST_ID}`, '0:0', `${HOST_ID}:${HOST_ID}`, `${HOST_ID}:${HOST_ID}`]);
  });
});

test('an idmapped new filesystem: a tmpfs with idmap (its root 0:0) shows as 100000 inside', async () => {
  const out = await runOk(all(
    addMounts({ destination: '/mnt/t', type: 'tmpfs', source: 'tmpfs', options: ['idmap', 'size=1m', 'mode=755'], uidMappings: map(0, HOST_ID, 10), gidMappings: map(0, HOST_ID, 10) }),
    cmd('owners', '/mnt/t'),
  ));
  assert.equal(owners(out), [`${HOST_ID}:${HOST_ID}`]);
});

// ---- with a container user namespace (0 -> 100000) ----

test('user namespace: mappings 0:100000 show foo as 0 inside, a plain bind shows it unmapped (65534); root\'s writes land as 0:0 on the host', async () => {
  await withSource(async (src) => {
    await withRootfsCopy(async (rootfs) => {
      const idm = bind(src, '/mnt/idmapped', ['bind'], { uidMappings: map(0, HOST_ID, 65536), gidMappings: map(0, HOST_ID, 65536) });
      const out = await runOk(all(userNs, writable, addMounts(idm, bind(src, '/mnt/plain', ['bind'])), statAll('/mnt/idmapped/foo', '/mnt/idmapped/bar', '/mnt/plain/foo')), { rootfs });
      assert.equal(owners(out), ['0:0', '1000:1000', '65534:65534']);
      assert.is(await runOk(all(userNs, writable, addMounts(idm), cmd('touch', '/mnt/idmapped/from-userns')), { rootfs }), '');
      assert.is(hostOwner(path.join(src, 'from-userns')), '0:0');
    }, chownRootfs);
  });
});

test('user namespace: idmap and ridmap without mappings use the container\'s own mappings (rbind: ridmap reaches the submount)', async () => {
  await withSource(async (src) => {
    addSubmount(src);
    await withRootfsCopy(async (rootfs) => {
      const out = await runOk(all(
        userNs, writable, addMounts(bind(src, '/mnt/i', ['rbind', 'idmap']), bind(src, '/mnt/r', ['rbind', 'ridmap'])),
        statAll('/mnt/i/foo', '/mnt/i/sub/file', '/mnt/r/foo', '/mnt/r/sub/file'),
      ), { rootfs });
      assert.equal(owners(out), ['0:0', '65534:65534', '0:0', '0:0']);
    }, chownRootfs);
  });
});

test('user namespace joined by path: idmap without mappings uses that namespace', async () => {
  await withSource(async (src) => {
    await withRootfsCopy(async (rootfs) => {
      const a = makeBundle({ config: all(userNs, cmd('sleep', 'forever')), rootfs });
      const dir = tempDir('idmap-join');
      try {
        assert.is((await capsaToFiles(['run', '-d', '--bundle', a.dir, a.id], dir)).code, 0);
        const pid = JSON.parse((await capsaOk(['state', a.id])).stdout).pid as number;
        const joined: Config = (s) => { s.linux!.namespaces = [...(s.linux!.namespaces ?? []), { type: 'user', path: `/proc/${pid}/ns/user` }]; };
        const out = await runOk(all(joined, writable, addMounts(bind(src, '/mnt/j', ['bind', 'idmap'])), statAll('/mnt/j/foo', '/mnt/j/bar')), { rootfs });
        assert.equal(owners(out), ['0:0', '1000:1000']);
      } finally {
        await capsa(['delete', '--force', a.id]);
        a.cleanup();
        fs.rmSync(dir, { recursive: true, force: true });
        await waitReaped(a.id);
      }
    }, chownRootfs);
  });
});

test('exec sees the idmapped mount as the init does: ownership inside, and its writes land as 0:0 on the host', async () => {
  await withSource(async (src) => {
    await withRootfsCopy(async (rootfs) => {
      const idm = bind(src, '/mnt/idmapped', ['bind'], { uidMappings: map(0, HOST_ID, 65536), gidMappings: map(0, HOST_ID, 65536) });
      const b = makeBundle({ config: all(userNs, writable, addMounts(idm), cmd('sleep', 'forever')), rootfs });
      const dir = tempDir('idmap-exec');
      try {
        assert.is((await capsaToFiles(['run', '-d', '--bundle', b.dir, b.id], dir)).code, 0);
        const seen = await capsaOk(['exec', b.id, '/bin/testinit', 'owners', '/mnt/idmapped/foo', '/mnt/idmapped/bar', '/mnt/idmapped/baz']);
        assert.equal(owners(seen.stdout), ['0:0', '1000:1000', '5:7']);
        await capsaOk(['exec', b.id, '/bin/testinit', 'touch', '/mnt/idmapped/from-exec']);
        assert.is(hostOwner(path.join(src, 'from-exec')), '0:0');
      } finally {
        await capsa(['delete', '--force', b.id]);
        b.cleanup();
        fs.rmSync(dir, { recursive: true, force: true });
        await waitReaped(b.id);
      }
    }, chownRootfs);
  });
});

test('podman\'s option form: idmap=uids=...;gids=... without a user namespace maps like uidMappings/gidMappings (several ranges with #)', async () => {
  await withSource(async (src) => {
    const out = await runOk(all(
      addMounts(bind(src, '/mnt/both', ['bind', `idmap=uids=0-${HOST_ID}-65536;gids=0-3000-1#1000-4000-1`])),
      statAll('/mnt/both/foo', '/mnt/both/bar'),
    ));
    assert.equal(owners(out), [`${HOST_ID}:3000`, `${HOST_ID + 1000}:4000`]);
  });
});

test('podman\'s option form with a user namespace: "@" triplets are relative to the container\'s mappings (uids=@0-0-65536 is 0-100000-65536)', async () => {
  await withSource(async (src) => {
    await withRootfsCopy(async (rootfs) => {
      const out = await runOk(all(
        userNs, writable,
        addMounts(bind(src, '/mnt/rel', ['bind', 'idmap=uids=@0-0-65536;gids=@0-0-65536']), bind(src, '/mnt/shift', ['bind', 'idmap=uids=@0-1000-1;gids=@0-1000-1'])),
        statAll('/mnt/rel/foo', '/mnt/rel/bar', '/mnt/shift/foo', '/mnt/shift/bar'),
      ), { rootfs });
      // shift: disk 0 shows as container 1000; disk 1000 is not mapped.
      assert.equal(owners(out), ['0:0', '1000:1000', '1000:1000', '65534:65534']);
      assert.is(await runOk(all(userNs, writable, addMounts(bind(src, '/mnt/rel', ['bind', 'idmap=uids=@0-0-65536;gids=@0-0-65536'])), cmd('touch', '/mnt/rel/from-option')), { rootfs }), '');
      assert.is(hostOwner(path.join(src, 'from-option')), '0:0');
    }, chownRootfs);
  });
});

// ---- refusals and features ----

test('refused with one line naming the field: idmap without mappings or user namespace, one of two mappings, bad entries, a filesystem the kernel cannot idmap, overlapping ranges', async () => {
  await withSource(async (src) => {
    const idx = (s: Spec | undefined) => s?.mounts?.length ?? 0;
    const expectRefusal = async (m: Mount, field: (i: number) => string, re: RegExp, extra?: Config) => {
      let i = 0;
      const r = await runIn(all(extra, (s) => { i = idx(s); s.mounts!.push(m); }, cmd('true')));
      assert.is(r.code, 1, `${JSON.stringify(m)}: ${r.stdout}${r.stderr}`);
      const line = oneLine(r.stderr);
      assert.ok(line.startsWith(`config.${field(i)}`) || line.includes(`config.${field(i)}`), line);
      assert.match(line, re);
    };
    await expectRefusal(bind(src, '/mnt/x', ['bind', 'idmap']), (i) => `mounts[${i}].options`, /needs uidMappings\/gidMappings on the mount, or a user namespace/);
    await expectRefusal(bind(src, '/mnt/x', ['bind'], { uidMappings: map(0, 1, 1) }), (i) => `mounts[${i}].gidMappings`, /both/);
    await expectRefusal(bind(src, '/mnt/x', ['bind'], { uidMappings: map(0, 1, 0), gidMappings: map(0, 1, 1) }), (i) => `mounts[${i}].uidMappings[0].size`, /integer/);
    await expectRefusal({ destination: '/mnt/mq', type: 'mqueue', source: 'mqueue', options: ['idmap'], uidMappings: map(0, HOST_ID, 1), gidMappings: map(0, HOST_ID, 1) }, (i) => `mounts[${i}]`, /invalid argument/);
    await expectRefusal(bind(src, '/mnt/x', ['bind'], { uidMappings: [{ containerID: 0, hostID: 1, size: 10 }, { containerID: 5, hostID: 50, size: 10 }], gidMappings: map(0, 1, 1) }), (i) => `mounts[${i}]`, /invalid argument/);
    // podman's option form: malformed, mixed with mappings, "@" outside the container's mappings.
    await expectRefusal(bind(src, '/mnt/x', ['bind', 'idmap=uids=0-1']), (i) => `mounts[${i}].options`, /0-1\\?" is not <container>-<host>-<size>/);
    await expectRefusal(bind(src, '/mnt/x', ['bind', 'idmap=users=0-1-1']), (i) => `mounts[${i}].options`, /expected uids=/);
    await expectRefusal(bind(src, '/mnt/x', ['bind', 'idmap=uids=0-1-1']), (i) => `mounts[${i}].options`, /gids= is missing/);
    await expectRefusal(bind(src, '/mnt/x', ['bind', 'idmap=uids=0-1-1;gids=0-1-1'], { uidMappings: map(0, 1, 1), gidMappings: map(0, 1, 1) }), (i) => `mounts[${i}].options`, /give the mappings once/);
    await expectRefusal(bind(src, '/mnt/x', ['bind', 'idmap=uids=@0-70000-1;gids=@0-0-1']), (i) => `mounts[${i}].options`, /no range of linux\.uidMappings holds container ids 70000-70000/, userNs);
    await expectRefusal(bind(src, '/mnt/x', ['bind', 'idmap=uids=@0-0-1;gids=@0-0-1']), (i) => `mounts[${i}].options`, /no range of linux\.uidMappings/);
  });
});

test('capsa features: mountExtensions.idmap.enabled is true here, where the mounts above work; idmap and ridmap are known options', async () => {
  const f = JSON.parse((await capsaOk(['features'])).stdout) as { mountOptions: string[]; linux: { mountExtensions: { idmap: { enabled: boolean } } }; annotations: Record<string, string> };
  assert.equal(f.linux.mountExtensions, { idmap: { enabled: true } });
  assert.is(f.annotations['io.github.capsa.host.idmap'], 'true', 'the probe agrees with the mounts made above');
  assert.ok(f.mountOptions.includes('idmap') && f.mountOptions.includes('ridmap'));
});

test.run();
