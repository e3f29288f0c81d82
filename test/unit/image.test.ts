// Image module pieces that need no root: config conversion, user lookup,
// platforms, ref names, manifest selection, PAX xattrs, overlay options.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { imageAnnotations, imageToSpec, VOLUMES_ANNOTATION } from '../../src/image/config';
import { overlayMountData } from '../../src/image/overlay';
import { parsePaxXattrs } from '../../src/image/paxraw';
import { hostPlatform, parsePlatform, platformMatches } from '../../src/image/platform';
import { refMatches, resolveImage } from '../../src/image/resolve';
import { resolveInRoot } from '../../src/image/rootpath';
import { openSource } from '../../src/image/source';
import { resolveUser } from '../../src/image/user';
import type { Spec } from '../../src/spec/types';
import { blobFile, ociArchive, tempDir, writeImageBlobs, writeIndex, writeJsonBlob, writeOciLayout } from '../helpers/images';

const BASE: Spec = {
  ociVersion: '1.2.0',
  process: { terminal: true, user: { uid: 0, gid: 0 }, args: ['sh'], env: ['PATH=/bin', 'TERM=xterm'], cwd: '/' },
  root: { path: 'rootfs', readonly: true },
  hostname: 'runc',
};

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n# comment\nsvc:x:999:999::/:/sbin/nologin\n';
const GROUP = 'root:x:0:\nwheel:x:10:app,svc\napp:x:1001:\naudio:x:29:app\nstaff:x:50:\n';

function expectCapsa(fn: () => unknown, code: string, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).code, code);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('expected a CapsaError');
}

async function expectReject(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).code, code, (e as Error).message);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('expected a CapsaError');
}

test('Config.User forms resolve as the conversion spec says', () => {
  assert.equal(resolveUser('', PASSWD, GROUP), { uid: 0, gid: 0 });
  assert.equal(resolveUser('app', PASSWD, GROUP), { uid: 1000, gid: 1001, additionalGids: [10, 29] });
  assert.equal(resolveUser('1000', PASSWD, GROUP), { uid: 1000, gid: 1001 });
  assert.equal(resolveUser('4242', PASSWD, GROUP), { uid: 4242, gid: 0 });
  assert.equal(resolveUser('app:staff', PASSWD, GROUP), { uid: 1000, gid: 50 });
  assert.equal(resolveUser('1000:7', PASSWD, GROUP), { uid: 1000, gid: 7 });
  assert.equal(resolveUser('4242:audio', PASSWD, GROUP), { uid: 4242, gid: 29 });
  assert.equal(resolveUser('svc:12', PASSWD, GROUP), { uid: 999, gid: 12 });
  expectCapsa(() => resolveUser('nobody', PASSWD, GROUP), 'IMAGE', /no user "nobody"/);
  expectCapsa(() => resolveUser('app:nogroup', PASSWD, GROUP), 'IMAGE', /no group "nogroup"/);
  expectCapsa(() => resolveUser('app', undefined, undefined), 'IMAGE', /no user "app"/);
});

test('imageToSpec: args, env, cwd, user, annotations on the base spec', () => {
  const root = tempDir('unit-spec');
  try {
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc/passwd'), PASSWD);
    fs.writeFileSync(path.join(root, 'etc/group'), GROUP);
    const spec = imageToSpec(
      {
        os: 'linux',
        architecture: 'amd64',
        author: 'someone',
        created: '2024-01-01T00:00:00Z',
        config: {
          Entrypoint: ['/bin/app', '--serve'],
          Cmd: ['--port', '80'],
          Env: ['FOO=bar', 'PATH=/opt/bin'],
          WorkingDir: '/srv',
          User: 'app',
          StopSignal: 'SIGQUIT',
          ExposedPorts: { '80/tcp': {}, '53/udp': {} },
          Volumes: { '/data': {} },
          Labels: { 'org.opencontainers.image.author': 'label wins', custom: 'x' },
        },
      },
      root,
      BASE,
    );
    assert.equal(spec.process!.args, ['/bin/app', '--serve', '--port', '80']);
    assert.equal(spec.process!.env, ['FOO=bar', 'PATH=/opt/bin']);
    assert.is(spec.process!.cwd, '/srv');
    assert.is(spec.process!.terminal, false);
    assert.equal(spec.process!.user, { uid: 1000, gid: 1001, additionalGids: [10, 29] });
    assert.equal(spec.root, { path: 'rootfs', readonly: false });
    assert.is(spec.hostname, 'runc');
    const a = spec.annotations!;
    assert.is(a['org.opencontainers.image.stopSignal'], 'SIGQUIT');
    assert.is(a['org.opencontainers.image.exposedPorts'], '80/tcp,53/udp');
    assert.is(a[VOLUMES_ANNOTATION], '/data');
    assert.is(a['org.opencontainers.image.author'], 'label wins');
    assert.is(a['org.opencontainers.image.os'], 'linux');
    assert.is(a['org.opencontainers.image.created'], '2024-01-01T00:00:00Z');
    assert.is(a.custom, 'x');
    // The base is not mutated.
    assert.is(BASE.process!.terminal, true);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('imageToSpec: Cmd alone, PATH added when missing, relative WorkingDir', () => {
  const spec = imageToSpec({ config: { Cmd: ['echo', 'hi'], Env: ['A=1'], WorkingDir: 'work' } }, '/nonexistent', BASE);
  assert.equal(spec.process!.args, ['echo', 'hi']);
  assert.equal(spec.process!.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1']);
  assert.is(spec.process!.cwd, '/work');
  assert.is(spec.annotations, undefined);
  assert.equal(imageAnnotations({}), {});
});

test('passwd is read inside the rootfs: absolute symlinks do not reach the host', () => {
  const root = tempDir('unit-rootpath');
  try {
    fs.mkdirSync(path.join(root, 'etc'));
    fs.mkdirSync(path.join(root, 'real'));
    fs.writeFileSync(path.join(root, 'real/passwd'), 'ghost:x:77:77::/:/bin/sh\n');
    fs.symlinkSync('/real/passwd', path.join(root, 'etc/passwd'));
    fs.symlinkSync('../../../../etc/shadow', path.join(root, 'etc/group'));
    assert.is(resolveInRoot(root, '/etc/passwd'), path.join(root, 'real/passwd'));
    assert.is(resolveInRoot(root, '/etc/group'), undefined);
    const spec = imageToSpec({ config: { User: 'ghost' } }, root, BASE);
    assert.equal(spec.process!.user, { uid: 77, gid: 77 });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('platforms parse, normalize and match', () => {
  assert.equal(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  assert.equal(parsePlatform('linux/aarch64/v8'), { os: 'linux', architecture: 'arm64' });
  assert.equal(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  expectCapsa(() => parsePlatform('amd64'), 'INVALID_ARGUMENT', /os\/arch/);
  const want = parsePlatform('linux/arm64');
  assert.ok(platformMatches(want, { os: 'linux', architecture: 'arm64', variant: 'v8' }));
  assert.ok(platformMatches(want, undefined));
  assert.not.ok(platformMatches(want, { os: 'linux', architecture: 'amd64' }));
  assert.not.ok(platformMatches(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v6' }));
  assert.is(hostPlatform().os, 'linux');
});

test('ref names match tags, names and docker.io short forms', () => {
  assert.ok(refMatches(['latest'], 'latest'));
  assert.ok(refMatches(['docker.io/library/alpine:3.19'], 'alpine:3.19'));
  assert.ok(refMatches(['docker.io/library/alpine:latest'], 'alpine'));
  assert.ok(refMatches(['example.com/app:v1'], 'v1'));
  assert.not.ok(refMatches(['example.com/app:v1'], 'v2'));
  assert.not.ok(refMatches(['alpine:3.19'], 'alpine'));
});

test('PAX xattr records keep binary values', () => {
  const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0xff, 0x00, 0x00]);
  const body = Buffer.concat([Buffer.from(' SCHILY.xattr.security.capability='), value, Buffer.from('\n')]);
  const rec = Buffer.concat([Buffer.from(String(body.length + 2)), body]);
  const other = Buffer.from('16 path=a/b/cde\n');
  const x = parsePaxXattrs(Buffer.concat([other, rec]));
  assert.equal([...x.keys()], ['security.capability']);
  assert.ok(x.get('security.capability')!.equals(value));
});

test('overlay mount data: relative short lowers, one page at most', () => {
  const data = overlayMountData({ cwd: '/s', lowers: ['l/aaaa', 'l/bbbb'], upper: '/b/overlay/upper', work: '/b/overlay/work', target: '/b/rootfs' });
  assert.match(data, /^lowerdir=l\/aaaa:l\/bbbb,upperdir=\/b\/overlay\/upper,workdir=\/b\/overlay\/work/);
  const many = Array.from({ length: 250 }, (_, i) => `l/${i.toString(16).padStart(12, '0')}`);
  assert.ok(overlayMountData({ cwd: '/s', lowers: many, upper: '/u', work: '/w', target: '/t' }).length < 4096);
  expectCapsa(() => overlayMountData({ cwd: '/s', lowers: [...many, ...many], upper: '/u', work: '/w', target: '/t' }), 'UNSUPPORTED', /one page/);
  expectCapsa(() => overlayMountData({ cwd: '/s', lowers: ['l/a'], upper: '/a,b', work: '/w', target: '/t' }), 'INVALID_ARGUMENT', /contains/);
});

test('resolveImage follows nested indexes by platform and ref name', async () => {
  const dir = tempDir('unit-resolve');
  try {
    const amd = await writeImageBlobs(dir, { layers: [{ entries: [{ path: 'amd', content: '1' }] }], architecture: 'amd64' });
    const arm = await writeImageBlobs(dir, { layers: [{ entries: [{ path: 'arm', content: '2' }] }], architecture: 'arm64', variant: 'v8' });
    const other = await writeImageBlobs(dir, { layers: [{ entries: [{ path: 'o', content: '3' }] }], architecture: 'amd64' });
    const nested = writeJsonBlob(dir, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [amd.manifest, arm.manifest] }, 'application/vnd.oci.image.index.v1+json');
    nested.annotations = { 'org.opencontainers.image.ref.name': 'multi' };
    writeIndex(dir, [nested, { ...other.manifest, annotations: { 'org.opencontainers.image.ref.name': 'single' } }]);
    const src = await openSource(dir);
    const a = await resolveImage(src, { ref: 'multi', platform: parsePlatform('linux/arm64') });
    assert.is(a.id, arm.manifest.digest);
    assert.equal(a.refNames, ['multi']);
    assert.equal(a.layers.map((l) => l.diffID), arm.diffIDs);
    const b = await resolveImage(src, { ref: 'multi', platform: parsePlatform('linux/amd64') });
    assert.is(b.id, amd.manifest.digest);
    const c = await resolveImage(src, { ref: 'single', platform: parsePlatform('linux/amd64') });
    assert.is(c.id, other.manifest.digest);
    await expectReject(resolveImage(src, { platform: parsePlatform('linux/amd64') }), 'INVALID_ARGUMENT', /several images; choose one with --ref \(multi, single\)/);
    await expectReject(resolveImage(src, { ref: 'nope', platform: parsePlatform('linux/amd64') }), 'NOT_FOUND', /no image named "nope"/);
    await expectReject(resolveImage(src, { ref: 'multi', platform: parsePlatform('linux/s390x') }), 'NOT_FOUND', /no image for platform linux\/s390x .*it has: linux\/amd64, linux\/arm64\/v8/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('resolveImage verifies manifest and config digests, and reads archives in place', async () => {
  const dir = tempDir('unit-verify');
  try {
    const layout = path.join(dir, 'layout');
    const img = await writeOciLayout(layout, { layers: [{ entries: [{ path: 'f', content: 'x' }] }], refName: 'v1' });
    const archive = path.join(dir, 'img.tar');
    ociArchive(layout, archive);
    const fromArchive = await resolveImage(await openSource(archive), { platform: hostPlatform() });
    assert.is(fromArchive.id, img.manifest.digest);
    const cfg = blobFile(layout, img.config.digest);
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('2024', '2025'));
    await expectReject(resolveImage(await openSource(layout), { platform: hostPlatform() }), 'IMAGE', /image config sha256:[0-9a-f]{64}: digest mismatch \(expected sha256:/);
    await expectReject(openSource(path.join(dir, 'missing')), 'NOT_FOUND', /missing/);
    await expectReject(
      writeOciLayout(path.join(dir, 'nd'), { layers: [{ entries: [{ path: 'f', content: 'x' }], mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip' }] }).then(async () =>
        resolveImage(await openSource(path.join(dir, 'nd')), { platform: hostPlatform() }),
      ),
      'IMAGE',
      /non-distributable/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
