// The README's library guide is a runnable file: run examples/database-test.mjs
// the way a user would (node, importing 'capsa' by package name) and check it
// passed and cleaned up after itself.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';

import { capsaSuite, runCommand } from '../helpers/capsa';
import { REPO_ROOT } from '../helpers/rootfs';

const { test, root } = capsaSuite('library-example');
const EXAMPLE = path.join(REPO_ROOT, 'examples', 'database-test.mjs');

const exampleBundles = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('capsa-example-')).sort();

test('examples/database-test.mjs passes and leaves nothing behind', async () => {
  const id = `capsa-test-example-${randomBytes(4).toString('hex')}`;
  const bundlesBefore = exampleBundles();
  const r = await runCommand(process.execPath, [EXAMPLE], {
    cwd: REPO_ROOT, timeoutMs: 120_000,
    env: { ...process.env, CAPSA_EXAMPLE_ROOT: root, CAPSA_EXAMPLE_ID: id, NO_COLOR: '1' },
  });
  assert.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^3 passed, 0 failed$/m);
  assert.is(r.stderr, '');
  // the database container and its bundle are gone; the suite's leak check
  // covers its cgroups and processes (the id carries the capsa-test mark)
  assert.equal(fs.existsSync(root) ? fs.readdirSync(root) : [], []);
  assert.equal(exampleBundles(), bundlesBefore);
});

test.run();
