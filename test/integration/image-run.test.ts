// Containers run from unpacked images, through the CLI at dist/capsa (needs
// root and `npm run build`): overlay, --flat and docker-save bundles, user
// and cwd from the image config, writes landing in the bundle's upper dir,
// and the image/bundle verbs end to end.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { mountsUnder } from '../../src/image/overlay';
import { unpackImage } from '../../src/image';
import { CAPSA_BIN, capsaSuite, runCommand } from '../helpers/capsa';
import { tempDir, type TreeEntry, writeDockerSave, writeOciLayout, type ImageSpec } from '../helpers/images';
import { testinitBinary } from '../helpers/rootfs';

const { test, capsa, capsaOk } = capsaSuite('image-run');

let seq = 0;
const newId = (): string => `capsa-image-run-${process.pid}-${seq++}`;

async function withDir(tag: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir(tag);
  try {
    await fn(dir);
  } finally {
    for (const m of mountsUnder(dir).reverse()) await runCommand('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function baseLayer(): TreeEntry[] {
  return [
    { path: 'bin/', type: 'directory' },
    { path: 'bin/testinit', content: fs.readFileSync(testinitBinary()), mode: 0o755 },
    { path: 'etc/', type: 'directory' },
    { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' },
    { path: 'etc/group', content: 'root:x:0:\napp:x:1000:\nvideo:x:44:app\n' },
    { path: 'data/', type: 'directory' },
    { path: 'data/old', content: 'old' },
    { path: 'data/kept', content: 'kept' },
    { path: 'srv/', type: 'directory' },
  ];
}

function image(cmd: string[], extra: Record<string, unknown> = {}): ImageSpec {
  return {
    layers: [
      { entries: baseLayer() },
      { compression: 'zstd', entries: [{ path: 'data/.wh.old' }, { path: 'data/new', content: 'new' }] },
    ],
    config: { Entrypoint: ['/bin/testinit'], Cmd: cmd, Env: ['GREETING=hello'], WorkingDir: '/srv', ...extra },
    refName: 'test',
  };
}

async function run(bundle: string): Promise<string> {
  const r = await capsaOk(['run', '-b', bundle, newId()]);
  return r.stdout;
}

test('overlay bundle from a multi-layer image: whiteouts hidden', async () => {
  await withDir('run-overlay', async (dir) => {
    await writeOciLayout(path.join(dir, 'layout'), image(['ls', '/data']));
    await unpackImage({ source: path.join(dir, 'layout'), bundle: path.join(dir, 'ls'), store: path.join(dir, 'store') });
    assert.is(await run(path.join(dir, 'ls')), 'kept\nnew\n');
  });
});

test('Config.User: the process runs as the image user with its groups', async () => {
  await withDir('run-user', async (dir) => {
    await writeOciLayout(path.join(dir, 'layout-id'), image(['id'], { User: 'app' }));
    await unpackImage({ source: path.join(dir, 'layout-id'), bundle: path.join(dir, 'id'), store: path.join(dir, 'store') });
    assert.match(await run(path.join(dir, 'id')), /^uid=1000 gid=1000 euid=1000 egid=1000 groups=.*44/);
  });
});

test('flat and docker-save bundles run; cwd and env come from the image', async () => {
  await withDir('run-flat', async (dir) => {
    await writeOciLayout(path.join(dir, 'layout'), image(['cwd']));
    await unpackImage({ source: path.join(dir, 'layout'), bundle: path.join(dir, 'flat'), flat: true });
    assert.is(await run(path.join(dir, 'flat')), '/srv\n');
    await writeDockerSave(path.join(dir, 'save.tar'), image(['env']), 'example/app:1');
    await unpackImage({ source: path.join(dir, 'save.tar'), bundle: path.join(dir, 'dsave'), store: path.join(dir, 'store') });
    assert.match(await run(path.join(dir, 'dsave')), /^GREETING=hello$/m);
  });
});

test("a container's writes land in its bundle's upper dir, not in the shared layers", async () => {
  await withDir('run-write', async (dir) => {
    await writeOciLayout(path.join(dir, 'layout'), image(['write', '/data/kept', 'changed']));
    for (const b of ['one', 'two']) await unpackImage({ source: path.join(dir, 'layout'), bundle: path.join(dir, b), store: path.join(dir, 'store') });
    await run(path.join(dir, 'one'));
    assert.is(fs.readFileSync(path.join(dir, 'one/overlay/upper/data/kept'), 'utf8'), 'changed');
    assert.is(fs.readFileSync(path.join(dir, 'two/rootfs/data/kept'), 'utf8'), 'kept');
  });
});

test('CLI: image unpack, run, bundle rm, image ls/rm/gc', async () => {
  await withDir('run-cli', async (dir) => {
    const store = path.join(dir, 'store');
    await writeOciLayout(path.join(dir, 'layout'), image(['echo', 'from', 'cli']));
    const help = await capsa(['image', 'ls', '--store', store]);
    assert.is(help.code, 0, `dist/capsa does not dispatch "image" yet (src/cli/main.ts VERBS): ${help.stderr.trim()}`);
    await capsaOk(['image', 'unpack', path.join(dir, 'layout'), path.join(dir, 'b'), '--ref', 'test', '--store', store]);
    assert.is(await run(path.join(dir, 'b')), 'from cli\n');
    const ls = await capsaOk(['image', 'ls', '--store', store, '--format', 'json']);
    const listed = JSON.parse(ls.stdout) as { images: { refNames: string[] }[]; layers: { bundles: number }[] };
    assert.equal(listed.images.map((i) => i.refNames), [['test']]);
    assert.equal(listed.layers.map((l) => l.bundles), [1, 1]);
    await capsaOk(['bundle', 'rm', path.join(dir, 'b')]);
    assert.not.ok(fs.existsSync(path.join(dir, 'b')));
    await capsaOk(['image', 'rm', 'test', '--store', store]);
    const gc = await capsaOk(['image', 'gc', '--store', store]);
    assert.match(gc.stdout, /removed 2 layers/);
    const bad = await capsa(['image', 'unpack', path.join(dir, 'nothing'), path.join(dir, 'c'), '--store', store]);
    assert.is(bad.code, 1);
    assert.match(bad.stderr, /image source .*nothing/);
  });
});

test.run();

export { CAPSA_BIN };
