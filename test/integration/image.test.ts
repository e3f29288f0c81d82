// image unpack end to end (needs root: chown, mknod, trusted xattrs, mount).
// Each test builds its own image, unpacks it and compares the rootfs — the
// mounted overlay, or the --flat directory — file by file with the expected tree.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { LayerStore, mountBundle, removeBundle, unpackImage, type UnpackOptions, type UnpackProgress } from '../../src/image';
import { lgetxattr } from '../../src/image/fsops';
import { isMountPoint, mountsUnder } from '../../src/image/overlay';
import type { Spec } from '../../src/spec/types';
import {
  blobFile,
  DEFAULT_MTIME,
  diffTree,
  type Expected,
  type ImageSpec,
  ociArchive,
  snapshotTree,
  tempDir,
  type TreeEntry,
  writeDockerSave,
  writeOciLayout,
} from '../helpers/images';

const BASE: Spec = { ociVersion: '1.2.0', process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/' }, root: { path: 'rootfs' } };

/** Unmounts whatever is mounted below dir, then deletes it. */
function cleanup(dir: string): void {
  for (const m of mountsUnder(dir).reverse()) execFileSync('umount', ['-l', m]);
  fs.rmSync(dir, { recursive: true, force: true });
}

async function withDir(tag: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir(tag);
  try {
    await fn(dir);
  } finally {
    cleanup(dir);
  }
}

function unpack(dir: string, source: string, bundle: string, more: Partial<UnpackOptions> = {}) {
  return unpackImage({ source, bundle: path.join(dir, bundle), store: path.join(dir, 'store'), baseSpec: BASE, ...more });
}

function assertTree(root: string, expected: Record<string, Expected>): void {
  const problems = diffTree(snapshotTree(root), expected);
  assert.equal(problems, [], problems.join('\n'));
}

async function expectImageError(p: Promise<unknown>, re: RegExp, code = 'IMAGE'): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, CapsaError, String(e));
    assert.is((e as CapsaError).code, code, (e as Error).message);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('unpack should have failed');
}

const d = (mode = 0o755, extra: Partial<Expected> = {}): Expected => ({ type: 'directory', mode, uid: 0, gid: 0, ...extra });
const f = (content: string, mode = 0o644, extra: Partial<Expected> = {}): Expected => ({ type: 'file', content, mode, uid: 0, gid: 0, mtime: DEFAULT_MTIME, ...extra });

const PASSWD: TreeEntry[] = [
  { path: 'etc/', type: 'directory' },
  { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' },
  { path: 'etc/group', content: 'root:x:0:\napp:x:1000:\nvideo:x:44:app\n' },
];
const PASSWD_TREE: Record<string, Expected> = {
  etc: d(),
  'etc/passwd': f('root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n'),
  'etc/group': f('root:x:0:\napp:x:1000:\nvideo:x:44:app\n'),
};

test('single-layer image: overlay rootfs, config.json, store records', async () => {
  await withDir('single', async (dir) => {
    await writeOciLayout(path.join(dir, 'layout'), {
      layers: [{ entries: [...PASSWD, { path: 'bin/', type: 'directory' }, { path: 'bin/app', content: '#!/bin/sh\n', mode: 0o755 }] }],
      config: { Entrypoint: ['/bin/app'], Cmd: ['--help'], Env: ['A=1'], WorkingDir: '/etc', User: 'app', Labels: { l: 'v' }, StopSignal: 'SIGTERM' },
      refName: 'v1',
    });
    const progress: UnpackProgress[] = [];
    const r = await unpack(dir, path.join(dir, 'layout'), 'b1', { onProgress: (p) => progress.push(p) });
    assert.is(r.mode, 'overlay');
    assert.equal(r.image.refNames, ['v1']);
    const rootfs = path.join(dir, 'b1/rootfs');
    assert.ok(isMountPoint(rootfs), 'rootfs is a mount point');
    assertTree(rootfs, { ...PASSWD_TREE, bin: d(), 'bin/app': f('#!/bin/sh\n', 0o755) });
    const spec = JSON.parse(fs.readFileSync(path.join(dir, 'b1/config.json'), 'utf8')) as Spec;
    assert.equal(spec.process!.args, ['/bin/app', '--help']);
    assert.equal(spec.process!.user, { uid: 1000, gid: 1000, additionalGids: [44] });
    assert.is(spec.process!.cwd, '/etc');
    assert.is(spec.annotations!['org.opencontainers.image.stopSignal'], 'SIGTERM');
    assert.is(spec.annotations!.l, 'v');
    assert.is(spec.root!.path, 'rootfs');
    const last = progress[progress.length - 1]!;
    assert.is(last.phase, 'done');
    assert.is(last.layersDone, 1);
    assert.is(last.bytesDone, last.bytesTotal);
    const store = new LayerStore(path.join(dir, 'store'));
    assert.is(store.listImages().length, 1);
    assert.is(store.listRefs()[0]!.bundle, path.join(dir, 'b1'));
    // The container's writes land in the bundle's upper dir, not in the shared layer.
    fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'changed');
    assert.is(fs.readFileSync(path.join(dir, 'b1/overlay/upper/etc/passwd'), 'utf8'), 'changed');
    assert.match(fs.readFileSync(path.join(store.layerRoot(r.layers[0]!.diffID), 'etc/passwd'), 'utf8'), /^root/);
    await removeBundle(path.join(dir, 'b1'));
    assert.not.ok(fs.existsSync(path.join(dir, 'b1')));
    assert.is(store.listRefs().length, 0);
  });
});

const MULTI: ImageSpec = {
  layers: [
    {
      entries: [
        { path: 'keep/', type: 'directory' },
        { path: 'keep/a', content: 'a1' },
        { path: 'gone', content: 'bye' },
        { path: 'gonedir/', type: 'directory' },
        { path: 'gonedir/x', content: 'x' },
        { path: 'opq/', type: 'directory', mode: 0o750 },
        { path: 'opq/old', content: 'old' },
        { path: 'opq/sub/', type: 'directory' },
        { path: 'opq/sub/deep', content: 'deep' },
        { path: 'tmp/', type: 'directory', mode: 0o1777 },
        { path: 'replaced', content: 'file first' },
      ],
    },
    {
      compression: 'zstd',
      entries: [
        { path: '.wh.gone' },
        { path: '.wh.gonedir' },
        { path: 'opq/', type: 'directory', mode: 0o750 },
        { path: 'opq/.wh..wh..opq' },
        { path: 'opq/new', content: 'new' },
        // No entry for tmp/: its 1777 mode must come from the lower layer.
        { path: 'tmp/t', content: 't' },
        { path: 'keep/b', content: 'b2' },
        { path: 'replaced/', type: 'directory' },
        { path: 'replaced/inside', content: 'dir now' },
      ],
    },
    {
      compression: 'none',
      entries: [
        { path: 'keep/.wh.a' },
        { path: 'gone', content: 'back again' },
        { path: '.wh.never-existed' },
      ],
    },
  ],
};

const MULTI_TREE: Record<string, Expected> = {
  keep: d(),
  'keep/b': f('b2'),
  gone: f('back again'),
  opq: d(0o750),
  'opq/new': f('new'),
  tmp: d(0o1777),
  'tmp/t': f('t'),
  replaced: d(),
  'replaced/inside': f('dir now'),
};

test('multi-layer with whiteouts and opaque dirs: overlay and --flat agree', async () => {
  await withDir('multi', async (dir) => {
    const img = await writeOciLayout(path.join(dir, 'layout'), MULTI);
    await unpack(dir, path.join(dir, 'layout'), 'ov');
    assertTree(path.join(dir, 'ov/rootfs'), MULTI_TREE);
    const r = await unpack(dir, path.join(dir, 'layout'), 'flat', { flat: true });
    assert.is(r.mode, 'flat');
    assertTree(path.join(dir, 'flat/rootfs'), MULTI_TREE);
    assert.not.ok(isMountPoint(path.join(dir, 'flat/rootfs')));
    // In the store, whiteouts are overlayfs's: 0/0 char devices and the opaque xattr.
    const store = new LayerStore(path.join(dir, 'store'));
    const l2 = store.layerRoot(img.diffIDs[1]!);
    assert.is(snapshotTree(l2).get('gone')!.type, 'whiteout');
    assert.is(snapshotTree(l2).get('gonedir')!.type, 'whiteout');
    assert.equal(lgetxattr(path.join(l2, 'opq'), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.is(snapshotTree(store.layerRoot(img.diffIDs[2]!)).get('never-existed')!.type, 'whiteout');
    await removeBundle(path.join(dir, 'flat'));
    await removeBundle(path.join(dir, 'ov'));
  });
});

const META_LAYER: TreeEntry[] = [
  { path: 'bin/', type: 'directory', mtime: 1_500_000_000 },
  { path: 'bin/su', content: 'suid', mode: 0o4755, uid: 0, gid: 0 },
  { path: 'bin/sg', content: 'sgid', mode: 0o2711, uid: 1000, gid: 50 },
  { path: 'bin/ping', content: 'caps', mode: 0o755, xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0x80, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 'user.note': Buffer.from('hi') } },
  { path: 'bin/ln1', type: 'link', linkname: 'bin/su' },
  { path: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', uid: 5, gid: 6 },
  { path: 'bin/rel', type: 'symlink', linkname: '../etc/nowhere' },
  { path: 'dev/', type: 'directory' },
  { path: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  { path: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
  { path: 'dev/fifo', type: 'fifo', mode: 0o600 },
  { path: 'sticky/', type: 'directory', mode: 0o1777, uid: 1000, gid: 1000, mtime: 1_400_000_000 },
  { path: 'sticky/owned', content: 'mine', uid: 1234, gid: 5678, mode: 0o600, mtime: 1_300_000_000 },
  { path: '/abs/made/relative', content: 'abs' },
  { path: './dot/./x', content: 'dot' },
];

const META_TREE: Record<string, Expected> = {
  bin: d(0o755, { mtime: 1_500_000_000 }),
  'bin/su': f('suid', 0o4755),
  'bin/sg': f('sgid', 0o2711, { uid: 1000, gid: 50 }),
  'bin/ping': f('caps', 0o755),
  'bin/ln1': f('suid', 0o4755),
  'bin/sh': { type: 'symlink', linkname: '/bin/busybox', uid: 5, gid: 6, mtime: DEFAULT_MTIME },
  'bin/rel': { type: 'symlink', linkname: '../etc/nowhere' },
  dev: d(),
  'dev/null': { type: 'character-device', rdev: [1, 3], mode: 0o666, uid: 0, gid: 0 },
  'dev/loop0': { type: 'block-device', rdev: [7, 0], mode: 0o660, gid: 6 },
  'dev/fifo': { type: 'fifo', mode: 0o600 },
  sticky: d(0o1777, { uid: 1000, gid: 1000, mtime: 1_400_000_000 }),
  'sticky/owned': f('mine', 0o600, { uid: 1234, gid: 5678, mtime: 1_300_000_000 }),
  abs: d(),
  'abs/made': d(),
  'abs/made/relative': f('abs'),
  dot: d(),
  'dot/x': f('dot'),
};

for (const flat of [false, true]) {
  test(`metadata: owners, setuid/setgid/sticky, mtimes, xattrs, hard links, symlinks, devices, fifos (${flat ? 'flat' : 'overlay'})`, async () => {
    await withDir('meta', async (dir) => {
      await writeOciLayout(path.join(dir, 'layout'), { layers: [{ entries: META_LAYER }] });
      await unpack(dir, path.join(dir, 'layout'), 'b', { flat });
      const rootfs = path.join(dir, 'b/rootfs');
      const snap = snapshotTree(rootfs);
      const problems = diffTree(snap, META_TREE);
      assert.equal(problems, [], problems.join('\n'));
      assert.is(snap.get('bin/ln1')!.ino, snap.get('bin/su')!.ino, 'hard link shares the inode');
      const cap = lgetxattr(path.join(rootfs, 'bin/ping'), 'security.capability');
      assert.ok(cap && cap[4] === 0x80 && cap[5] === 0x20, `capability kept byte for byte: ${cap?.toString('hex')}`);
      assert.equal(lgetxattr(path.join(rootfs, 'bin/ping'), 'user.note'), Buffer.from('hi'));
    });
  });
}

test('gzip, zstd (CLI and pure JS) and uncompressed layers unpack alike', async () => {
  await withDir('codecs', async (dir) => {
    const big = Buffer.alloc(3 << 20, 'zstd-and-gzip ').toString();
    const image = (compression: 'gzip' | 'zstd' | 'none'): ImageSpec => ({ layers: [{ compression, entries: [{ path: 'big', content: big }, { path: 'small', content: compression }] }] });
    for (const [name, compression, env] of [
      ['gz', 'gzip', undefined],
      ['zst', 'zstd', undefined],
      ['zstjs', 'zstd', 'js'],
      ['tar', 'none', undefined],
    ] as const) {
      await writeOciLayout(path.join(dir, name), image(compression));
      if (env) process.env.CAPSA_ZSTD = env;
      try {
        await unpack(dir, path.join(dir, name), `b-${name}`, { flat: name === 'zstjs' });
      } finally {
        delete process.env.CAPSA_ZSTD;
      }
      assertTree(path.join(dir, `b-${name}/rootfs`), { big: f(big), small: f(compression) });
    }
  });
});

test('docker save archives (old layout and OCI inside) and oci-archive tarballs', async () => {
  await withDir('archives', async (dir) => {
    const spec: ImageSpec = {
      layers: [{ entries: [...PASSWD, { path: 'one', content: '1' }] }, { entries: [{ path: '.wh.one' }, { path: 'two', content: '2' }] }],
      config: { Cmd: ['/two'], User: '1000:44' },
    };
    const expected = { ...PASSWD_TREE, two: f('2') };
    await writeDockerSave(path.join(dir, 'old.tar'), spec, 'example/app:1.0');
    await writeDockerSave(path.join(dir, 'new.tar'), spec, 'example/app:1.0', { oci: true });
    await writeOciLayout(path.join(dir, 'layout'), { ...spec, refName: 'stable' });
    ociArchive(path.join(dir, 'layout'), path.join(dir, 'oci.tar'));
    execFileSync('sh', ['-c', `gzip -c ${dir}/old.tar > ${dir}/old.tar.gz`]);
    for (const [src, ref] of [
      ['old.tar', 'example/app:1.0'],
      ['old.tar.gz', '1.0'],
      ['new.tar', 'example/app:1.0'],
      ['oci.tar', 'stable'],
    ] as const) {
      const bundle = `b-${src}`;
      const r = await unpack(dir, path.join(dir, src), bundle, { ref });
      assert.ok(r.image.refNames.length > 0, `${src}: ref names recorded`);
      assertTree(path.join(dir, bundle, 'rootfs'), expected);
      const spec2 = JSON.parse(fs.readFileSync(path.join(dir, bundle, 'config.json'), 'utf8')) as Spec;
      assert.equal(spec2.process!.user, { uid: 1000, gid: 44 }, src);
      assert.equal(spec2.process!.args, ['/two']);
    }
    await expectImageError(unpack(dir, path.join(dir, 'old.tar'), 'b-x', { ref: 'other' }), /no image named "other".*example\/app:1\.0/, 'NOT_FOUND');
    assert.not.ok(fs.existsSync(path.join(dir, 'b-x')));
  });
});

test('warm second bundle from the same image reuses the layers', async () => {
  await withDir('warm', async (dir) => {
    await writeOciLayout(path.join(dir, 'layout'), MULTI);
    const first = await unpack(dir, path.join(dir, 'layout'), 'b1');
    assert.ok(first.layers.every((l) => !l.cached));
    const t0 = process.hrtime.bigint();
    const second = await unpack(dir, path.join(dir, 'layout'), 'b2');
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(second.layers.every((l) => l.cached));
    assert.ok(ms < 200, `warm unpack took ${ms} ms`);
    assertTree(path.join(dir, 'b2/rootfs'), MULTI_TREE);
    // Bundles are independent: writes to one do not show in the other.
    fs.writeFileSync(path.join(dir, 'b1/rootfs/keep/b'), 'changed');
    assert.is(fs.readFileSync(path.join(dir, 'b2/rootfs/keep/b'), 'utf8'), 'b2');
  });
});

test('gc keeps layers while an image record or a bundle refers to them', async () => {
  await withDir('gc', async (dir) => {
    const img = await writeOciLayout(path.join(dir, 'layout'), { ...MULTI, refName: 'v1' });
    await unpack(dir, path.join(dir, 'layout'), 'b1');
    const store = new LayerStore(path.join(dir, 'store'));
    assert.is(store.listLayers().length, 3);
    assert.is(store.gc().layers.length, 0);
    assert.is(store.removeImage('v1').length, 1);
    assert.is(store.gc().layers.length, 0, 'the bundle still refers to its layers');
    await removeBundle(path.join(dir, 'b1'));
    const removed = store.gc().layers.map((l) => l.diffID).sort();
    assert.equal(removed, [...img.diffIDs].sort());
    assert.is(store.listLayers().length, 0);
    assert.equal(fs.readdirSync(path.join(dir, 'store/l')), []);
    assert.equal(fs.readdirSync(path.join(dir, 'store/tmp')), []);
  });
});

test('bundle mount recovers a lost mount (as after a reboot)', async () => {
  await withDir('remount', async (dir) => {
    await writeOciLayout(path.join(dir, 'layout'), MULTI);
    await unpack(dir, path.join(dir, 'layout'), 'b');
    const bundle = path.join(dir, 'b');
    fs.writeFileSync(path.join(bundle, 'rootfs/keep/mine'), 'survives');
    execFileSync('umount', [path.join(bundle, 'rootfs')]);
    assert.equal(fs.readdirSync(path.join(bundle, 'rootfs')), []);
    assert.is(await mountBundle(bundle), 'mounted');
    assert.is(await mountBundle(bundle), 'already-mounted');
    assertTree(path.join(bundle, 'rootfs'), { ...MULTI_TREE, 'keep/mine': { type: 'file', content: 'survives' } });
  });
});

test('hostile layers are refused and leave nothing behind', async () => {
  const cases: [string, TreeEntry[][], RegExp][] = [
    ['dotdot', [[{ path: 'ok', content: 'x' }, { path: '../../../../tmp/capsa-test-image-escaped', content: 'pwned' }]], /has a "\.\." component/],
    ['symlink-then-write', [[{ path: 'evil', type: 'symlink', linkname: '/tmp' }, { path: 'evil/capsa-test-image-escaped', content: 'pwned' }]], /symlink of the same layer/],
    ['hardlink-out', [[{ path: 'h', type: 'link', linkname: '../../../../etc/passwd' }]], /"\.\." component/],
    ['hardlink-through-symlink', [[{ path: 'e', type: 'symlink', linkname: '/etc' }, { path: 'h', type: 'link', linkname: 'e/passwd' }]], /through the symlink "e"/],
    ['hardlink-missing', [[{ path: 'h', type: 'link', linkname: 'nothing' }]], /not in the layer/],
  ];
  for (const flat of [false, true]) {
    for (const [name, layers, re] of cases) {
      await withDir(`hostile-${name}`, async (dir) => {
        await writeOciLayout(path.join(dir, 'layout'), { layers: layers.map((entries) => ({ entries })) });
        await expectImageError(unpack(dir, path.join(dir, 'layout'), 'b', { flat }), re);
        assert.not.ok(fs.existsSync('/tmp/capsa-test-image-escaped'), `${name}: nothing written outside`);
        assert.not.ok(fs.existsSync(path.join(dir, 'b')), `${name}: no bundle left`);
        if (!flat) {
          const store = new LayerStore(path.join(dir, 'store'));
          assert.is(store.listLayers().length, 0, `${name}: no layer committed`);
          assert.equal(fs.readdirSync(path.join(dir, 'store/tmp')), [], `${name}: no partial layer`);
          assert.is(store.listRefs().length, 0);
        }
      });
    }
  }
});

test('an absolute symlink to /etc in one layer and a file under it in the next stay inside', async () => {
  for (const flat of [false, true]) {
    await withDir('abs-symlink', async (dir) => {
      const marker = `capsa-test-image-${process.pid}-${flat}`;
      await writeOciLayout(path.join(dir, 'layout'), {
        layers: [{ entries: [{ path: 'etc', type: 'symlink', linkname: '/etc' }, { path: 'tmp', type: 'symlink', linkname: '/tmp' }] }, { entries: [{ path: `etc/${marker}`, content: 'inside' }, { path: `tmp/.wh.${marker}` }] }],
      });
      fs.writeFileSync(`/tmp/${marker}`, 'host file');
      try {
        await unpack(dir, path.join(dir, 'layout'), 'b', { flat });
        assert.not.ok(fs.existsSync(`/etc/${marker}`), 'no write to the host /etc');
        assert.is(fs.readFileSync(`/tmp/${marker}`, 'utf8'), 'host file', 'a whiteout does not delete through a symlink');
        const snap = snapshotTree(path.join(dir, 'b/rootfs'));
        assert.is(snap.get('etc')!.type, 'directory');
        assert.is(snap.get(`etc/${marker}`)!.content, 'inside');
      } finally {
        fs.rmSync(`/etc/${marker}`, { force: true });
        fs.rmSync(`/tmp/${marker}`, { force: true });
      }
    });
  }
});

test('corrupted blob, wrong size and wrong diff ID are refused with nothing partial', async () => {
  await withDir('corrupt', async (dir) => {
    const spec: ImageSpec = { layers: [{ entries: [{ path: 'a', content: 'ok' }] }, { entries: [{ path: 'b', content: 'x'.repeat(100000) }] }] };
    const store = new LayerStore(path.join(dir, 'store'));
    const check = async (name: string, tamper: (layout: string, img: Awaited<ReturnType<typeof writeOciLayout>>) => void, re: RegExp): Promise<void> => {
      const layout = path.join(dir, name);
      const img = await writeOciLayout(layout, spec);
      tamper(layout, img);
      for (const flat of [false, true]) {
        await expectImageError(unpack(dir, layout, `b-${name}`, { flat }), re);
        assert.not.ok(fs.existsSync(path.join(dir, `b-${name}`)));
      }
      assert.not.ok(store.hasLayer(img.diffIDs[1]!), `${name}: bad layer not in the store`);
      assert.equal(fs.readdirSync(path.join(dir, 'store/tmp')), []);
    };
    await check(
      'flipped',
      (layout, img) => {
        const file = blobFile(layout, img.layers[1]!.digest);
        const data = fs.readFileSync(file);
        data[data.length >> 1] ^= 0xff;
        fs.writeFileSync(file, data);
      },
      /layer sha256:[0-9a-f]{12}: digest mismatch \(expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}\)/,
    );
    await check(
      'truncated',
      (layout, img) => {
        const file = blobFile(layout, img.layers[1]!.digest);
        fs.truncateSync(file, fs.statSync(file).size - 10);
      },
      /size mismatch/,
    );
    await check(
      'appended',
      (layout, img) => fs.appendFileSync(blobFile(layout, img.layers[1]!.digest), 'trailing'),
      /size mismatch \(expected \d+ bytes, got /,
    );
    // A docker save whose layer does not match the config's diff ID.
    const dsave = path.join(dir, 'ds.tar');
    await writeDockerSave(dsave, spec, 'x:1');
    const buf = fs.readFileSync(dsave);
    const at = buf.indexOf(Buffer.from('x'.repeat(1000)));
    buf[at + 10] = 0x79;
    fs.writeFileSync(dsave, buf);
    await expectImageError(unpack(dir, dsave, 'b-ds'), /content: digest mismatch \(expected diff ID sha256:/);
    assert.not.ok(fs.existsSync(path.join(dir, 'b-ds')));
  });
});

test('non-empty bundle dir, non-distributable layers and missing overlay options are refused', async () => {
  await withDir('refuse', async (dir) => {
    await writeOciLayout(path.join(dir, 'layout'), { layers: [{ entries: [{ path: 'a', content: 'a' }] }] });
    fs.mkdirSync(path.join(dir, 'full'));
    fs.writeFileSync(path.join(dir, 'full/x'), 'x');
    await expectImageError(unpack(dir, path.join(dir, 'layout'), 'full'), /exists and is not empty/, 'EXISTS');
    assert.ok(fs.existsSync(path.join(dir, 'full/x')));
    await writeOciLayout(path.join(dir, 'nd'), { layers: [{ entries: [{ path: 'a', content: 'a' }], mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' }] });
    await expectImageError(unpack(dir, path.join(dir, 'nd'), 'b'), /non-distributable/);
    await expectImageError(removeBundle(path.join(dir, 'full')), /not a bundle made by capsa/, 'NOT_FOUND');
  });
});

test.run();
