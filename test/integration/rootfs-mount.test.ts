// A container root given as a mount (CreateOptions.rootfsMount: what the
// containerd shim gets from a snapshot) is made by capsa-init before any user
// namespace and attached only in the container's mount namespace: the
// container sees its files and writes to the upper dir, while the host's mount
// table never shows it and nothing is left to unmount.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { spec } from '../../src/builder';
import { CapsaError } from '../../src/errors';
import type { RootfsMount } from '../../src/plan/rootfs-mount';
import type { Spec } from '../../src/spec/types';
import { Runtime } from '../../src/runtime/runtime';
import { capsaSuite } from '../helpers/capsa';
import { removeTestDir, sharedTestRootfs } from '../helpers/rootfs';

const { test, root } = capsaSuite('rootfs-mount');
const runtime = new Runtime({ root });
const newId = () => `capsa-test-rm-${randomBytes(4).toString('hex')}`;

/** A bundle dir with an empty rootfs dir (the attach point) and overlay upper/work dirs. */
function scratch(): { dir: string; attach: string; upper: string; work: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-rootfs-mount-'));
  const attach = path.join(dir, 'rootfs');
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  for (const d of [attach, upper, work]) fs.mkdirSync(d);
  return { dir, attach, upper, work };
}

const mountedAt = (p: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);

async function runIn(mount: RootfsMount, attach: string, args: string[], config?: (b: ReturnType<typeof spec>) => void, edit?: (s: Spec) => void): Promise<string> {
  const b = spec().withArgs('/bin/testinit', ...args).withReadonlyRoot(false);
  config?.(b);
  const sp = b.build();
  edit?.(sp);
  const id = newId();
  const c = await runtime.create(id, { spec: sp, rootfs: attach, rootfsMount: mount, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    assert.not.ok(mountedAt(attach), 'the root is not mounted on the host while the container exists');
    let out = '';
    c.io.stdio[1]!.on('data', (d: Buffer) => { out += d; });
    let err = '';
    c.io.stdio[2]!.on('data', (d: Buffer) => { err += d; });
    await c.start();
    const res = await c.wait();
    assert.equal(res, { exitCode: 0, signal: null }, err);
    return out;
  } finally {
    await c.delete({ force: true });
    assert.not.ok(mountedAt(attach), 'nothing to unmount after delete');
  }
}

test('an overlay root (lower: the test rootfs): the container sees its files, its writes land in the upper dir only', async () => {
  const s = scratch();
  try {
    const mount: RootfsMount = { type: 'overlay', source: 'overlay', options: [`lowerdir=${sharedTestRootfs()}`, `upperdir=${s.upper}`, `workdir=${s.work}`] };
    await runIn(mount, s.attach, ['write', '/written-inside', 'hello\n']);
    assert.is(fs.readFileSync(path.join(s.upper, 'written-inside'), 'utf8'), 'hello\n');
    assert.not.ok(fs.existsSync(path.join(sharedTestRootfs(), 'written-inside')), 'the lower dir is untouched');
    assert.equal(fs.readdirSync(s.attach), [], 'the attach dir on the host stays empty');
    assert.match(await runIn(mount, s.attach, ['cat', '/written-inside']), /^hello$/m);
  } finally {
    removeTestDir(s.dir);
  }
});

test('a bind root and a read-only one: the container runs from the directory; "ro" makes its root read-only', async () => {
  const s = scratch();
  try {
    assert.match(await runIn({ type: 'bind', source: sharedTestRootfs(), options: ['rbind', 'rw'] }, s.attach, ['ls', '/bin']), /testinit/);
    const r = await runIn({ type: 'bind', source: sharedTestRootfs(), options: ['rbind', 'ro'] }, s.attach, ['mounts']);
    const rootLine = r.split('\n').find((l) => l.split(' ')[4] === '/');
    assert.match(rootLine ?? '', / ro[, ]/, `root mount: ${rootLine}\n${r}`);
  } finally {
    removeTestDir(s.dir);
  }
});

test('with a user namespace: the overlay is made before it exists, and the container still runs from it', async () => {
  const s = scratch();
  try {
    const mount: RootfsMount = { type: 'overlay', source: 'overlay', options: [`lowerdir=${sharedTestRootfs()}`, `upperdir=${s.upper}`, `workdir=${s.work}`] };
    const out = await runIn(mount, s.attach, ['id'], (b) => {
      b.withNamespace('user');
    }, (sp) => {
      sp.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      sp.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    assert.match(out, /uid=0/);
  } finally {
    removeTestDir(s.dir);
  }
});

test('an overlay of 40 layers whose lowerdir is longer than fsconfig takes (256 bytes): the paths are made relative, HOME comes from the top layer\'s passwd', async () => {
  const s = scratch();
  try {
    const layers: string[] = [];
    for (let i = 0; i < 40; i++) {
      const l = path.join(s.dir, 'layers', `layer-with-a-long-name-${i}`);
      fs.mkdirSync(l, { recursive: true });
      layers.push(l);
    }
    fs.mkdirSync(path.join(layers[0]!, 'etc'));
    fs.writeFileSync(path.join(layers[0]!, 'etc/passwd'), 'root:x:0:0:root:/capsa-top-home:/bin/sh\n');
    // containerd's snapshots share a parent dir; so do these.
    const base = path.join(s.dir, 'layers', 'base');
    execFileSync('cp', ['-a', sharedTestRootfs(), base]);
    const lower = [...layers, base].join(':');
    assert.ok(`lowerdir=${lower}`.length > 256);
    const mount: RootfsMount = { type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${s.upper}`, `workdir=${s.work}`] };
    const out = await runIn(mount, s.attach, ['env'], (b) => b.withEnv('PATH', '/bin'));
    assert.match(out, /^HOME=\/capsa-top-home$/m);
  } finally {
    removeTestDir(s.dir);
  }
});

test('a root given as a mount with a joined mount namespace is refused in one line, and nothing is left', async () => {
  const s = scratch();
  try {
    const b = spec().withArgs('/bin/testinit', 'true').build();
    b.linux!.namespaces = b.linux!.namespaces!.map((n) => (n.type === 'mount' ? { type: 'mount', path: '/proc/self/ns/mnt' } : n));
    const id = newId();
    let err: unknown;
    try {
      await runtime.create(id, { spec: b, rootfs: s.attach, rootfsMount: { type: 'bind', source: sharedTestRootfs(), options: ['rbind'] } });
    } catch (e) {
      err = e;
    }
    assert.instance(err, CapsaError);
    assert.match((err as Error).message, /root given as a mount needs a mount namespace/);
    assert.not.ok(runtime.list().some((c) => c.id === id));
  } finally {
    removeTestDir(s.dir);
  }
});

test.run();
