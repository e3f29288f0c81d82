// dist/capsa as a compiled executable (bun build --compile, made by
// scripts/compile-cli.mjs where a Bun binary for this machine is installed):
// it is what every CLI test in this suite runs; here, what is particular to it.
// It needs no Node, reads nothing Bun would autoload from the working
// directory (engines run the runtime in the bundle's dir), and still starts
// capsa-init from a sealed in-memory copy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { bunBinary } from '../helpers/bun';
import { CAPSA_BIN, capsaSuite, capsaToFilesIn } from '../helpers/capsa';
import { cmd } from '../helpers/config';
import { stateHelpersFor, withBundleFor } from '../helpers/run';

const { test, root, capsa, capsaOk } = capsaSuite('cli-compiled');
const capsaToFiles = capsaToFilesIn(root);
const withBundle = withBundleFor(capsa);
const { state } = stateHelpersFor({ capsa, capsaOk });

const bun = bunBinary();
const isElf = fs.readFileSync(CAPSA_BIN).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
const compiledTest = bun ? test : test.skip;
const why = bun ? '' : ' (skipped: no Bun binary for this architecture, dist/capsa is the Node launcher)';

compiledTest(`dist/capsa is the compiled executable on a machine with a Bun binary: an ELF file, not a script${why}`, () => {
  assert.ok(isElf, `dist/capsa starts with ${JSON.stringify(fs.readFileSync(CAPSA_BIN).subarray(0, 16).toString('latin1'))}`);
});

compiledTest(`with no Node reachable (PATH empty, nothing else in its environment) it runs a container and prints its output${why}`, async () => {
  await withBundle(cmd('echo', 'no node needed'), async (b) => {
    const r = await capsa(['run', '-b', b.dir, b.id], { env: { PATH: '/nonexistent' } });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'no node needed\n');
  });
});

compiledTest(`a .env, bunfig.toml or package.json in the working directory changes nothing (engines run the runtime in the bundle's dir)${why}`, async () => {
  await withBundle(cmd('echo', 'plain'), async (b) => {
    const marker = path.join(b.dir, 'preloaded');
    // Each would break the run or leave the marker if it were read.
    fs.writeFileSync(path.join(b.dir, '.env'), 'CAPSA_INIT=/nonexistent/capsa-init\nNODE_OPTIONS=--bogus\n');
    fs.writeFileSync(path.join(b.dir, 'preload.js'), `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x');\n`);
    fs.writeFileSync(path.join(b.dir, 'bunfig.toml'), 'preload = ["./preload.js"]\n');
    fs.writeFileSync(path.join(b.dir, 'package.json'), JSON.stringify({ name: 'x', type: 'module', imports: { '#x': './preload.js' } }));
    const r = await capsa(['run', '-b', '.', b.id], { cwd: b.dir });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'plain\n');
    assert.not.ok(fs.existsSync(marker), 'bunfig.toml preload ran');
  });
});

test('the waiting init runs from a sealed in-memory copy of capsa-init, not from the file beside the CLI (CVE-2019-5736)', async () => {
  await withBundle(cmd('sleep', 'forever'), async (b) => {
    const c = await capsaToFiles(['create', '-b', b.dir, b.id], b.dir);
    assert.is(c.code, 0, c.stderr);
    const { pid } = await state(b.id);
    assert.match(fs.readlinkSync(`/proc/${pid}/exe`), /^\/memfd:capsa-init/);
    // Sealed: not even root can write through the exe link.
    let err: NodeJS.ErrnoException | undefined;
    try { fs.writeFileSync(`/proc/${pid}/exe`, 'x'); } catch (e) { err = e as NodeJS.ErrnoException; }
    assert.ok(err && ['EPERM', 'ETXTBSY', 'EACCES'].includes(err.code!), `write through /proc/${pid}/exe: ${err?.code ?? 'succeeded'}`);
  });
});

test.run();
