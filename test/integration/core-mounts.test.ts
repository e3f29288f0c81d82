// The rootfs and config.mounts, as root with real containers. What the kernel
// did is read from the container's own /proc/self/mountinfo (testinit mounts),
// from /proc/<pid>/mountinfo on the host, and by writing files.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Spec } from '../../src/spec/types';
import { makeBundle } from '../helpers/bundle';
import { CAPSA_BIN, capsaSuite } from '../helpers/capsa';
import { addMounts, all, cmd, type Config } from '../helpers/config';
import { parseMountinfo, type MountInfo } from '../helpers/proc';
import { removeTestDir, sharedTestRootfs } from '../helpers/rootfs';
import { runnersFor, type RunInOptions } from '../helpers/run';

const { test, root, capsa, capsaOk } = capsaSuite('core-mounts');
const { runIn, runOk } = runnersFor(capsa);

// ---- local helpers ----

/** A running container (`run -d`); `fn` gets its host pid. */
async function withDetached(config: Config, fn: (pid: number) => Promise<void>, opts: { rootfs?: string } = {}): Promise<void> {
  const b = makeBundle({ config, rootfs: opts.rootfs });
  try {
    const out = fs.openSync(path.join(b.dir, 'stdout'), 'w');
    const child = spawn(CAPSA_BIN, ['--root', root, 'run', '-d', '-b', b.dir, b.id], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const code = await new Promise<number | null>((resolve, reject) => { child.on('exit', resolve); child.on('error', reject); });
    assert.is(code, 0, `run -d: ${fs.readFileSync(path.join(b.dir, 'stdout'), 'utf8')}`);
    const st = JSON.parse((await capsaOk(['state', b.id])).stdout) as { pid: number };
    await fn(st.pid);
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
}

function tempDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `capsa-test-${tag}-`));
  fs.chmodSync(d, 0o755);
  return d;
}

/** Unmounts everything at or below dir (deepest first), then removes it. */
function cleanupDir(dir: string): void {
  for (const m of hostMountsUnder(dir).reverse()) {
    try { execFileSync('umount', ['-l', m], { stdio: 'pipe' }); } catch { /* already gone */ }
  }
  removeTestDir(dir);
}

async function withTempDir(tag: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir(tag);
  try {
    await fn(dir);
  } finally {
    cleanupDir(dir);
  }
}

/** A private copy of the test rootfs, for tests that change it. */
async function withRootfsCopy(fn: (rootfs: string) => Promise<void>, prepare?: (rootfs: string) => void): Promise<void> {
  await withTempDir('rootfs-copy', async (dir) => {
    const rootfs = path.join(dir, 'rootfs');
    execFileSync('cp', ['-a', sharedTestRootfs(), rootfs]);
    prepare?.(rootfs);
    await fn(rootfs);
  });
}

function hostMountsUnder(dir: string): string[] {
  return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).map((m) => m.mountpoint).filter((m) => m === dir || m.startsWith(dir + '/'));
}

/** The container's mount table as testinit sees it. */
async function mountsInside(config: Config, opts: RunInOptions = {}): Promise<MountInfo[]> {
  return parseMountinfo(await runOk(all(config, cmd('mounts')), opts));
}

/** The last mount on `mountpoint` (the one on top). */
function at(mounts: MountInfo[], mountpoint: string): MountInfo {
  const found = mounts.filter((m) => m.mountpoint === mountpoint);
  assert.ok(found.length > 0, `no mount at ${mountpoint}; mounts: ${mounts.map((m) => m.mountpoint).join(' ')}`);
  return found[found.length - 1]!;
}

const writable: Config = (s) => { s.root!.readonly = false; };

// ---- root ----

test('root.path relative to the bundle dir', async () => {
  const marker = `relative-${process.pid}\n`;
  const b = makeBundle({ config: all((s) => { s.root!.path = 'rootfs'; }, cmd('cat', '/marker')) });
  try {
    execFileSync('cp', ['-a', sharedTestRootfs(), path.join(b.dir, 'rootfs')]);
    fs.writeFileSync(path.join(b.dir, 'rootfs/marker'), marker);
    // run from another cwd: the path is relative to the bundle, not the cwd
    const r = await capsa(['run', '-b', b.dir, b.id], { cwd: '/' });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, marker);
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
});

test('root.path absolute', async () => {
  await withRootfsCopy(async (rootfs) => {
    assert.is(await runOk(cmd('cat', '/marker'), { rootfs }), 'absolute\n');
  }, (r) => fs.writeFileSync(path.join(r, 'marker'), 'absolute\n'));
});

test('root.path that does not exist fails create naming root.path, leaving nothing', async () => {
  const r = await runIn(cmd('true'), { rootfs: '/tmp/capsa-test-no-such-rootfs' });
  assert.is(r.code, 1);
  assert.match(r.stderr, 'root.path');
});

test('root.readonly: writing to / fails with EROFS, and / is mounted ro', async () => {
  const r = await runIn(cmd('write', '/newfile', 'x'));
  assert.is(r.code, 1);
  assert.is(r.stdout, 'EROFS\n');
  const mounts = await mountsInside((s) => { s.root!.readonly = true; });
  assert.ok(at(mounts, '/').opts.includes('ro'), `/ opts ${at(mounts, '/').opts}`);
});

test('root.readonly false: a write to / lands in the rootfs', async () => {
  await withRootfsCopy(async (rootfs) => {
    await runOk(all(writable, cmd('write', '/newfile', 'written inside')), { rootfs });
    assert.is(fs.readFileSync(path.join(rootfs, 'newfile'), 'utf8'), 'written inside');
    const mounts = await mountsInside(writable, { rootfs });
    assert.ok(at(mounts, '/').opts.includes('rw'));
  });
});

test('the rootfs host path is not visible inside (pivot_root dropped the old root)', async () => {
  const mounts = await mountsInside(() => {});
  for (const m of mounts) assert.not.ok(m.mountpoint.startsWith('/tmp/capsa-test'), m.mountpoint);
  // no mount of the host's root filesystem below the container's /
  assert.is(mounts.filter((m) => m.mountpoint === '/').length, 1);
});

test('--no-pivot: the container runs on its rootfs (MS_MOVE + chroot)', async () => {
  await withRootfsCopy(async (rootfs) => {
    assert.is(await runOk(cmd('cat', '/marker'), { rootfs, extraArgs: ['--no-pivot'] }), 'no-pivot\n');
    assert.is(await runOk(cmd('pid'), { rootfs, extraArgs: ['--no-pivot'] }), '1\n');
    const mounts = parseMountinfo(await runOk(cmd('mounts'), { rootfs, extraArgs: ['--no-pivot'] }));
    assert.ok(mounts.some((m) => m.mountpoint === '/'), 'a / mount');
    assert.ok(mounts.some((m) => m.mountpoint === '/proc' && m.fstype === 'proc'));
    const w = await runIn(cmd('write', '/x', 'y'), { rootfs, extraArgs: ['--no-pivot'] });
    assert.is(w.stdout, 'EROFS\n', 'root.readonly still applies');
  }, (r) => fs.writeFileSync(path.join(r, 'marker'), 'no-pivot\n'));
});

// ---- default mounts ----

test('the default spec mounts proc, /dev tmpfs, devpts, shm, mqueue, sysfs ro and cgroup ro', async () => {
  const mounts = await mountsInside(() => {});
  assert.is(at(mounts, '/proc').fstype, 'proc');
  const dev = at(mounts, '/dev');
  assert.is(dev.fstype, 'tmpfs');
  assert.ok(dev.opts.includes('nosuid'));
  assert.ok(dev.superOpts.includes('mode=755'), dev.superOpts.join(','));
  assert.ok(dev.superOpts.includes('size=65536k'), dev.superOpts.join(','));
  assert.is(at(mounts, '/dev/pts').fstype, 'devpts');
  assert.is(at(mounts, '/dev/shm').fstype, 'tmpfs');
  assert.is(at(mounts, '/dev/mqueue').fstype, 'mqueue');
  const sys = at(mounts, '/sys');
  assert.is(sys.fstype, 'sysfs');
  assert.ok(sys.opts.includes('ro'));
  const cg = mounts.filter((m) => m.mountpoint === '/sys/fs/cgroup' || m.mountpoint.startsWith('/sys/fs/cgroup/'));
  assert.ok(cg.length > 0, 'cgroup mounts');
  for (const m of cg) assert.ok(m.opts.includes('ro'), `${m.mountpoint} is ro: ${m.opts}`);
});

test('mounts are made in config order (a later mount nests on an earlier one)', async () => {
  const mounts = await mountsInside(all(writable, addMounts(
    { destination: '/m', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
    { destination: '/m/inner', type: 'tmpfs', source: 'tmpfs', options: ['size=2m'] },
  )), {});
  const outer = at(mounts, '/m');
  const inner = at(mounts, '/m/inner');
  assert.is(inner.parent, outer.id, 'inner is mounted on the outer tmpfs');
  assert.ok(mounts.indexOf(outer) < mounts.indexOf(inner));
  assert.ok(inner.superOpts.includes('size=2048k'), inner.superOpts.join(','));
});

// ---- bind mounts ----

test('bind mount of a host dir shows its files; ro makes it read-only inside only', async () => {
  await withTempDir('bind-src', async (src) => {
    fs.writeFileSync(path.join(src, 'hello'), 'from the host\n');
    const bind = (opts: string[]) => addMounts({ destination: '/data', type: 'bind', source: src, options: ['bind', ...opts] });
    assert.is(await runOk(all(bind([]), cmd('cat', '/data/hello'))), 'from the host\n');

    const rw = await runIn(all(bind(['rw']), cmd('write', '/data/rw', 'ok')));
    assert.is(rw.code, 0, rw.stderr);
    assert.is(fs.readFileSync(path.join(src, 'rw'), 'utf8'), 'ok', 'the write reached the host dir');

    const ro = await runIn(all(bind(['ro']), cmd('write', '/data/ro', 'no')));
    assert.is(ro.code, 1);
    assert.is(ro.stdout, 'EROFS\n');
    assert.not.ok(fs.existsSync(path.join(src, 'ro')));
    const mounts = await mountsInside(bind(['ro']));
    assert.ok(at(mounts, '/data').opts.includes('ro'));
    // the host side stays writable
    fs.writeFileSync(path.join(src, 'host-write'), 'still rw');
  });
});

test('bind mount with type "none" and the bind option works like type bind', async () => {
  await withTempDir('bind-src', async (src) => {
    fs.writeFileSync(path.join(src, 'f'), 'none-type\n');
    assert.is(await runOk(all(addMounts({ destination: '/data', type: 'none', source: src, options: ['bind'] }), cmd('cat', '/data/f'))), 'none-type\n');
  });
});

test('bind source relative to the bundle dir', async () => {
  const b = makeBundle({ config: all(addMounts({ destination: '/data', type: 'bind', source: 'shared', options: ['bind'] }), cmd('cat', '/data/f')) });
  try {
    fs.mkdirSync(path.join(b.dir, 'shared'));
    fs.writeFileSync(path.join(b.dir, 'shared/f'), 'bundle-relative\n');
    const r = await capsa(['run', '-b', b.dir, b.id], { cwd: '/' });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'bundle-relative\n');
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
});

test('bind vs rbind: only rbind carries submounts', async () => {
  await withTempDir('rbind-src', async (src) => {
    fs.mkdirSync(path.join(src, 'sub'));
    fs.writeFileSync(path.join(src, 'sub/under'), 'hidden by the submount');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'capsa-test-sub', path.join(src, 'sub')]);
    fs.writeFileSync(path.join(src, 'sub/on-submount'), 'x');
    const ls = (opt: string) => runOk(all(addMounts({ destination: '/data', type: 'bind', source: src, options: [opt] }), cmd('ls', '/data/sub')));
    assert.is(await ls('rbind'), 'on-submount\n');
    assert.is(await ls('bind'), 'under\n');
  });
});

test('bind mount of a single file', async () => {
  await withTempDir('bind-file', async (dir) => {
    const file = path.join(dir, 'file.conf');
    fs.writeFileSync(file, 'single file\n');
    const config = addMounts({ destination: '/etc/file.conf', type: 'bind', source: file, options: ['bind', 'ro'] });
    await withRootfsCopy(async (rootfs) => {
      assert.is(await runOk(all(config, cmd('cat', '/etc/file.conf')), { rootfs }), 'single file\n');
      assert.match(await runOk(all(config, cmd('stat', '/etc/file.conf')), { rootfs }), /^type=file /);
      const mounts = await mountsInside(config, { rootfs });
      assert.ok(at(mounts, '/etc/file.conf').opts.includes('ro'));
      // the destination was created as a file in the rootfs, not a dir
      assert.ok(fs.lstatSync(path.join(rootfs, 'etc/file.conf')).isFile());
    });
  });
});

// ---- flags ----

test('nosuid, nodev and noexec on a tmpfs and on a bind mount', async () => {
  await withTempDir('bind-src', async (src) => {
    const mounts = await mountsInside(addMounts(
      { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec'] },
      { destination: '/b', type: 'bind', source: src, options: ['rbind', 'nosuid', 'nodev', 'noexec'] },
      { destination: '/plain', type: 'tmpfs', source: 'tmpfs', options: [] },
    ));
    for (const mp of ['/t', '/b']) {
      const m = at(mounts, mp);
      for (const flag of ['nosuid', 'nodev', 'noexec']) assert.ok(m.opts.includes(flag), `${mp} has ${flag}: ${m.opts}`);
    }
    const plain = at(mounts, '/plain');
    for (const flag of ['nosuid', 'nodev', 'noexec', 'ro']) assert.not.ok(plain.opts.includes(flag), `/plain lacks ${flag}: ${plain.opts}`);
  });
});

test('noexec really prevents exec (a binary on a noexec bind cannot be the entrypoint)', async () => {
  await withTempDir('noexec', async (src) => {
    fs.copyFileSync(path.join(sharedTestRootfs(), 'bin/testinit'), path.join(src, 'testinit'));
    fs.chmodSync(path.join(src, 'testinit'), 0o755);
    const mount = (opts: string[]) => addMounts({ destination: '/x', type: 'bind', source: src, options: ['bind', ...opts] });
    assert.is(await runOk(all(mount([]), (s) => { s.process!.args = ['/x/testinit', 'echo', 'exec ok']; })), 'exec ok\n');
    const r = await runIn(all(mount(['noexec']), (s) => { s.process!.args = ['/x/testinit', 'echo', 'exec ok']; }));
    assert.is(r.code, 1);
    assert.match(r.stderr, /permission denied/i);
  });
});

test('atime options: relatime, noatime, strictatime', async () => {
  const mounts = await mountsInside(addMounts(
    { destination: '/rel', type: 'tmpfs', source: 'tmpfs', options: ['relatime'] },
    { destination: '/noa', type: 'tmpfs', source: 'tmpfs', options: ['noatime'] },
    { destination: '/strict', type: 'tmpfs', source: 'tmpfs', options: ['strictatime'] },
    { destination: '/nodir', type: 'tmpfs', source: 'tmpfs', options: ['nodiratime'] },
  ));
  assert.ok(at(mounts, '/rel').opts.includes('relatime'), at(mounts, '/rel').opts.join());
  assert.ok(at(mounts, '/noa').opts.includes('noatime'), at(mounts, '/noa').opts.join());
  const strict = at(mounts, '/strict').opts;
  assert.not.ok(strict.includes('relatime') || strict.includes('noatime'), strict.join());
  assert.ok(at(mounts, '/nodir').opts.includes('nodiratime'), at(mounts, '/nodir').opts.join());
});

test('tmpfs data options: size and mode', async () => {
  const config = addMounts({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1m', 'mode=1770'] });
  const m = at(await mountsInside(config), '/scratch');
  assert.is(m.fstype, 'tmpfs');
  assert.ok(m.superOpts.includes('size=1024k'), m.superOpts.join());
  assert.ok(m.superOpts.includes('mode=1770'), m.superOpts.join());
  assert.match(await runOk(all(config, cmd('stat', '/scratch'))), /^type=dir mode=1770 /);
});

test('mqueue, devpts and proc mounts at extra places', async () => {
  const mounts = await mountsInside(addMounts(
    { destination: '/mq', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'nodev', 'noexec'] },
    { destination: '/pts2', type: 'devpts', source: 'devpts', options: ['newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/proc2', type: 'proc', source: 'proc', options: ['nosuid', 'nodev', 'noexec'] },
  ));
  assert.is(at(mounts, '/mq').fstype, 'mqueue');
  const pts = at(mounts, '/pts2');
  assert.is(pts.fstype, 'devpts');
  assert.ok(pts.superOpts.includes('ptmxmode=666'), pts.superOpts.join());
  assert.ok(pts.superOpts.includes('mode=620'), pts.superOpts.join());
  assert.is(at(mounts, '/proc2').fstype, 'proc');
});

// ---- propagation ----

/** A host dir bind-mounted on itself and made shared, so propagation can be observed. */
async function withSharedHostDir(fn: (dir: string) => Promise<void>): Promise<void> {
  await withTempDir('prop', async (dir) => {
    execFileSync('mount', ['--bind', dir, dir]);
    execFileSync('mount', ['--make-shared', dir]);
    fs.mkdirSync(path.join(dir, 'late'));
    await fn(dir);
  });
}

function pidMounts(pid: number): MountInfo[] {
  return parseMountinfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
}

for (const [opt, optionalRe, propagates] of [
  ['private', null, false],
  ['rprivate', null, false],
  ['slave', /^master:\d+$/, true],
  ['rslave', /^master:\d+$/, true],
  ['shared', /^shared:\d+$/, true],
  ['unbindable', /^unbindable$/, false],
] as const) {
  test(`mount propagation "${opt}": mountinfo fields and whether a host mount shows up inside`, async () => {
    await withSharedHostDir(async (dir) => {
      await withDetached(all(addMounts({ destination: '/prop', type: 'bind', source: dir, options: ['rbind', opt] }), cmd('sleep', 'forever')), async (pid) => {
        const m = at(pidMounts(pid), '/prop');
        if (optionalRe) assert.ok(m.optional.some((f) => optionalRe.test(f)), `optional fields of /prop: [${m.optional.join(' ')}]`);
        else assert.equal(m.optional, [], `a private mount has no optional fields: [${m.optional.join(' ')}]`);
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'capsa-test-late', path.join(dir, 'late')]);
        try {
          const seen = pidMounts(pid).some((x) => x.mountpoint === '/prop/late');
          assert.is(seen, propagates, `host mount under the source ${propagates ? 'propagates' : 'does not propagate'} into the container`);
        } finally {
          execFileSync('umount', [path.join(dir, 'late')]);
        }
      });
    });
  });
}

test('linux.rootfsPropagation rprivate: host mounts under a bind source do not propagate in', async () => {
  await withSharedHostDir(async (dir) => {
    const config = all((s) => { s.linux!.rootfsPropagation = 'rprivate'; }, addMounts({ destination: '/prop', type: 'bind', source: dir, options: ['rbind'] }), cmd('sleep', 'forever'));
    await withDetached(config, async (pid) => {
      assert.equal(at(pidMounts(pid), '/').optional, []);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'capsa-test-late', path.join(dir, 'late')]);
      try {
        assert.not.ok(pidMounts(pid).some((x) => x.mountpoint === '/prop/late'));
      } finally {
        execFileSync('umount', [path.join(dir, 'late')]);
      }
    });
  });
});

test('linux.rootfsPropagation default (rslave): host mounts under a bind source propagate in', async () => {
  await withSharedHostDir(async (dir) => {
    const config = all(addMounts({ destination: '/prop', type: 'bind', source: dir, options: ['rbind'] }), cmd('sleep', 'forever'));
    await withDetached(config, async (pid) => {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'capsa-test-late', path.join(dir, 'late')]);
      try {
        assert.ok(pidMounts(pid).some((x) => x.mountpoint === '/prop/late'));
      } finally {
        execFileSync('umount', [path.join(dir, 'late')]);
      }
    });
  });
});

test('linux.rootfsPropagation shared: the container\'s / is a shared mount', async () => {
  const mounts = await mountsInside((s) => { s.linux!.rootfsPropagation = 'shared'; });
  assert.ok(at(mounts, '/').optional.some((f) => /^shared:\d+$/.test(f)), `optional fields of /: [${at(mounts, '/').optional.join(' ')}]`);
});

test('linux.rootfsPropagation private: the container\'s / has no propagation', async () => {
  const mounts = await mountsInside((s) => { s.linux!.rootfsPropagation = 'private'; });
  assert.equal(at(mounts, '/').optional, []);
});

test('an unknown rootfsPropagation value is refused naming the field', async () => {
  const r = await runIn((s) => { s.linux!.rootfsPropagation = 'sideways'; });
  assert.is(r.code, 1);
  assert.match(r.stderr, 'rootfsPropagation');
});

// ---- destinations: creation and symlinks ----

test('missing mount destinations are created (dirs for fs mounts, a file for a file bind)', async () => {
  await withTempDir('bind-file', async (dir) => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'file\n');
    await withRootfsCopy(async (rootfs) => {
      const config = addMounts(
        { destination: '/new/deep/dir', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
        { destination: '/another/new/file', type: 'bind', source: file, options: ['bind'] },
      );
      const mounts = await mountsInside(config, { rootfs });
      assert.is(at(mounts, '/new/deep/dir').fstype, 'tmpfs');
      at(mounts, '/another/new/file');
      assert.ok(fs.statSync(path.join(rootfs, 'new/deep/dir')).isDirectory());
      assert.ok(fs.lstatSync(path.join(rootfs, 'another/new/file')).isFile());
      assert.is(await runOk(all(config, cmd('cat', '/another/new/file')), { rootfs }), 'file\n');
    });
  });
});

test('a mount over a symlink to an absolute path lands inside the rootfs (etc2 -> /etc)', async () => {
  const hostEtcBefore = fs.readdirSync('/etc').sort();
  await withRootfsCopy(async (rootfs) => {
    const config = addMounts({ destination: '/etc2', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
    const mounts = await mountsInside(config, { rootfs });
    assert.is(at(mounts, '/etc').fstype, 'tmpfs', 'the tmpfs is on the container\'s /etc');
    assert.not.ok(mounts.some((m) => m.mountpoint === '/etc2'));
    assert.is(await runOk(all(config, cmd('ls', '/etc')), { rootfs }), '', 'the tmpfs hides the rootfs /etc');
    // nothing happened to the rootfs or the host
    assert.ok(fs.lstatSync(path.join(rootfs, 'etc2')).isSymbolicLink());
    assert.ok(fs.existsSync(path.join(rootfs, 'etc/passwd')));
    assert.equal(fs.readdirSync('/etc').sort(), hostEtcBefore);
    const hostMounts = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
    assert.not.ok(hostMounts.some((m) => m.mountpoint === '/etc' || m.mountpoint.startsWith(rootfs)), 'no mount on the host\'s /etc or in the rootfs');
  }, (r) => fs.symlinkSync('/etc', path.join(r, 'etc2')));
});

test('creating a destination through a symlink never writes outside the rootfs', async () => {
  await withTempDir('escape', async (outside) => {
    await withRootfsCopy(async (rootfs) => {
      const config = addMounts(
        { destination: '/evil/sub', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
        { destination: '/rel-evil/sub2', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
      );
      const r = await runIn(all(config, cmd('mounts')), { rootfs });
      assert.equal(fs.readdirSync(outside), [], `nothing created in the host dir ${outside}`);
      if (r.code === 0) {
        const mounts = parseMountinfo(r.stdout);
        // resolved inside the rootfs: <rootfs>/<outside>/sub and <rootfs>/<outside>/sub2
        assert.is(at(mounts, path.join(outside, 'sub')).fstype, 'tmpfs');
        assert.is(at(mounts, path.join(outside, 'sub2')).fstype, 'tmpfs');
        assert.ok(fs.statSync(path.join(rootfs, outside, 'sub')).isDirectory());
      } else {
        // refusing is also safe, but it must say why in one line
        assert.is(r.code, 1);
        assert.match(r.stderr, 'config.mounts[');
      }
    }, (r) => {
      fs.symlinkSync(outside, path.join(r, 'evil'));
      fs.symlinkSync(`../../../../../../../..${outside}`, path.join(r, 'rel-evil'));
    });
  });
});

test('a destination that is a dangling symlink is made at its target, inside the rootfs (as runc does)', async () => {
  await withTempDir('dangling', async (outside) => {
    const file = path.join(outside, 'resolv.conf');
    fs.writeFileSync(file, 'nameserver 192.0.2.1\n');
    const host = path.join(outside, 'host-side');
    fs.mkdirSync(host);
    await withRootfsCopy(async (rootfs) => {
      const config = addMounts(
        // an image's /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf, with /run empty
        { destination: '/etc/resolv.conf', type: 'bind', source: file, options: ['rbind', 'ro'] },
        // an absolute target naming a host dir: made under the rootfs, never on the host
        { destination: '/dangling-dir', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
      );
      assert.is(await runOk(all(config, cmd('cat', '/etc/resolv.conf')), { rootfs }), 'nameserver 192.0.2.1\n');
      const mounts = await mountsInside(config, { rootfs });
      at(mounts, '/run/systemd/resolve/stub-resolv.conf');
      assert.is(at(mounts, path.join(host, 'made')).fstype, 'tmpfs');
      assert.ok(fs.lstatSync(path.join(rootfs, 'run/systemd/resolve/stub-resolv.conf')).isFile());
      assert.ok(fs.lstatSync(path.join(rootfs, 'etc/resolv.conf')).isSymbolicLink(), 'the symlink itself is left as it was');
      assert.ok(fs.statSync(path.join(rootfs, host, 'made')).isDirectory());
      assert.equal(fs.readdirSync(host), [], `nothing created in the host dir ${host}`);
    }, (r) => {
      fs.rmSync(path.join(r, 'etc/resolv.conf'), { force: true });
      fs.rmSync(path.join(r, 'run'), { recursive: true, force: true });
      fs.symlinkSync('../run/systemd/resolve/stub-resolv.conf', path.join(r, 'etc/resolv.conf'));
      fs.symlinkSync(path.join(host, 'made'), path.join(r, 'dangling-dir'));
    });
  });
});

test('a symlink loop as a mount destination fails naming config.mounts[N], leaving nothing', async () => {
  await withRootfsCopy(async (rootfs) => {
    const config = all(addMounts({ destination: '/loop', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }));
    const r = await runIn(config, { rootfs });
    assert.is(r.code, 1);
    assert.match(r.stderr, `config.mounts[${makeBundleMountIndex(config, '/loop')}]`);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }, (r) => {
    fs.symlinkSync('loop2', path.join(r, 'loop'));
    fs.symlinkSync('loop', path.join(r, 'loop2'));
  });
});

test('a bind mount source that does not exist fails naming config.mounts[N]', async () => {
  const config = all(addMounts({ destination: '/data', type: 'bind', source: '/tmp/capsa-test-does-not-exist', options: ['bind'] }));
  const r = await runIn(config);
  assert.is(r.code, 1);
  const n = makeBundleMountIndex(config, '/data');
  assert.match(r.stderr, `config.mounts[${n}]`);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
});

/** Index of the mount with this destination once `config` is applied to the default spec. */
function makeBundleMountIndex(config: Config, destination: string): number {
  const b = makeBundle({ config });
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8')) as Spec;
    return spec.mounts!.findIndex((m) => m.destination === destination);
  } finally {
    b.cleanup();
  }
}

test.run();
