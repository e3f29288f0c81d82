// Bad bundles and bad calls, as root: `create` must fail with exit 1, one line
// on stderr (no stack trace) naming the field at fault, and leave nothing
// behind (no state dir, no process, no cgroup, no mount).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import type { Spec } from '../../src/spec/types';
import type { TestBundle } from '../helpers/bundle';
import { capsaSuite, capsaToFilesIn, messageOf, type RunResult } from '../helpers/capsa';
import { snapshot } from '../helpers/leaks';
import { removeTestDir, sharedTestRootfs } from '../helpers/rootfs';
import { withBundleFor } from '../helpers/run';
import { until } from '../helpers/wait';

const { test, root, capsa } = capsaSuite('core-errors');
// stdout/stderr in files: if create wrongly succeeded, the waiting container
// would hold pipes open and hide the result.
const capsaToFiles = capsaToFilesIn(root);
const withBundle = withBundleFor(capsa);

// ---- local helpers ----

interface Failure { r: RunResult; msg: string }

/** Processes that appeared since `before` and belong to container `id` (by cgroup). */
function ownProcesses(before: readonly string[], id: string): string[] {
  return snapshot([]).processes.filter((p) => {
    if (before.includes(p)) return false;
    try {
      return fs.readFileSync(`/proc/${p.split(' ')[0]}/cgroup`, 'utf8').includes(id);
    } catch {
      return false;
    }
  });
}

/**
 * `capsa create` of the bundle must fail cleanly: exit 1, one stderr line, no
 * stack, and no state dir, process, cgroup or mount left behind.
 */
async function expectCreateFails(b: TestBundle, id = b.id, extraArgs: string[] = []): Promise<Failure> {
  const before = snapshot([root]);
  const r = await capsaToFiles(['create', ...extraArgs, '--bundle', b.dir, id], b.dir);
  assert.is(r.code, 1, `create should fail with exit 1; stderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.is(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  assert.not.match(r.stderr, /internal error/i, 'a user error, not a crash');
  assert.is(r.stdout, '');
  assert.not.ok(fs.existsSync(path.join(root, id)), 'no state dir');
  // Only what this container could have made counts (other suites may run
  // containers at the same time). A failed init may linger as a zombie until
  // the host's init reaps it, so wait for that.
  await until('no process left behind', () => (ownProcesses(before.processes, id).length === 0 ? true : undefined), 15_000);
  const after = snapshot([root]);
  assert.equal(after.cgroups.filter((c) => !before.cgroups.includes(c) && c.includes(id)), [], 'no cgroup left behind');
  assert.equal(after.mounts.filter((m) => !before.mounts.includes(m) && (m.includes(id) || m.includes(b.dir))), [], 'no mount left behind');
  assert.equal(after.stateDirs.filter((d) => !before.stateDirs.includes(d)), [], 'no state dir left behind');
  return { r, msg: messageOf(r.stderr) };
}

function writeConfig(b: TestBundle, text: string): void {
  fs.writeFileSync(path.join(b.dir, 'config.json'), text);
}

function readConfig(b: TestBundle): Spec {
  return JSON.parse(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8')) as Spec;
}

// ---- the bundle itself ----

test('missing config.json', async () => {
  await withBundle(undefined, async (b) => {
    fs.rmSync(path.join(b.dir, 'config.json'));
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'config.json');
    assert.match(msg, /no such file or directory/);
  });
});

test('a bundle dir that does not exist', async () => {
  await withBundle(undefined, async (b) => {
    const before = snapshot([root]);
    const r = await capsaToFiles(['create', '--bundle', path.join(b.dir, 'nope'), b.id], b.dir);
    assert.is(r.code, 1);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(messageOf(r.stderr), path.join(b.dir, 'nope'));
    assert.equal(snapshot([root]).stateDirs, before.stateDirs);
  });
});

test('invalid JSON', async () => {
  await withBundle(undefined, async (b) => {
    writeConfig(b, '{"ociVersion": "1.2.0", "process": ');
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'config.json');
    assert.match(msg, /invalid JSON/i);
  });
});

test('config.json that is not an object', async () => {
  await withBundle(undefined, async (b) => {
    writeConfig(b, '[1, 2, 3]');
    await expectCreateFails(b);
  });
});

test('unknown ociVersion major (2.0.0)', async () => {
  await withBundle((s) => { s.ociVersion = '2.0.0'; }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'ociVersion');
    assert.match(msg, '2.0.0');
  });
});

test('missing rootfs', async () => {
  await withBundle(undefined, async (b) => {
    const spec = readConfig(b);
    spec.root!.path = 'no-such-rootfs';
    writeConfig(b, JSON.stringify(spec));
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'root.path');
    assert.match(msg, path.join(b.dir, 'no-such-rootfs'));
  });
});

test('rootfs that is a file, not a directory', async () => {
  await withBundle(undefined, async (b) => {
    fs.writeFileSync(path.join(b.dir, 'rootfs-file'), '');
    const spec = readConfig(b);
    spec.root!.path = 'rootfs-file';
    writeConfig(b, JSON.stringify(spec));
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'root.path');
  });
});

test('config.json as a symlink is refused', async () => {
  await withBundle(undefined, async (b) => {
    const real = path.join(b.dir, 'real-config.json');
    fs.renameSync(path.join(b.dir, 'config.json'), real);
    fs.symlinkSync(real, path.join(b.dir, 'config.json'));
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'config.json');
    assert.match(msg, /symlink/);
  });
});

test('a FIFO config.json is refused without hanging', async () => {
  await withBundle(undefined, async (b) => {
    fs.rmSync(path.join(b.dir, 'config.json'));
    execFileSync('mkfifo', [path.join(b.dir, 'config.json')]);
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'config.json');
    assert.match(msg, /regular file/);
  });
});

test('a directory config.json is refused', async () => {
  await withBundle(undefined, async (b) => {
    fs.rmSync(path.join(b.dir, 'config.json'));
    fs.mkdirSync(path.join(b.dir, 'config.json'));
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'config.json');
  });
});

// ---- process ----

test('process.args missing', async () => {
  await withBundle((s) => { delete s.process!.args; }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'process.args');
  });
});

test('process missing', async () => {
  await withBundle((s) => { delete s.process; }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'process');
  });
});

test('args[0] not found: runc\'s "executable file not found in $PATH"', async () => {
  await withBundle((s) => { s.process!.args = ['no-such-binary']; }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'exec: "no-such-binary": executable file not found in $PATH');
  });
});

test('args[0] an absolute path that does not exist', async () => {
  await withBundle((s) => { s.process!.args = ['/bin/no-such-binary']; }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, '/bin/no-such-binary');
    assert.match(msg, 'no such file or directory');
  });
});

test('non-executable entrypoint: permission denied', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capsa-test-rootfs-copy-'));
  try {
    fs.chmodSync(dir, 0o755);
    const rootfs = path.join(dir, 'rootfs');
    execFileSync('cp', ['-a', sharedTestRootfs(), rootfs]);
    fs.copyFileSync(path.join(rootfs, 'bin/testinit'), path.join(rootfs, 'bin/not-executable'));
    fs.chmodSync(path.join(rootfs, 'bin/not-executable'), 0o644);
    await withBundle((s) => { s.process!.args = ['/bin/not-executable', 'true']; }, async (b) => {
      const { msg } = await expectCreateFails(b);
      assert.match(msg, 'exec: "/bin/not-executable": permission denied');
    }, { rootfs });
  } finally {
    removeTestDir(dir);
  }
});

test('an entrypoint that is a directory: permission denied', async () => {
  await withBundle((s) => { s.process!.args = ['/bin']; }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, /exec: "\/bin": (permission denied|is a directory)/);
  });
});

test('cwd that is not absolute', async () => {
  await withBundle((s) => { s.process!.cwd = 'relative/dir'; }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'process.cwd');
  });
});

test('unknown rlimit', async () => {
  await withBundle((s) => { s.process!.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }]; }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'process.rlimits[0]');
    assert.match(msg, 'RLIMIT_BOGUS');
  });
});

test('rlimit with soft above hard', async () => {
  await withBundle((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 }]; }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'process.rlimits[0]');
  });
});

test('unknown capability: a warning naming it, and the container runs without it (runtime-spec: SHOULD NOT fail; runc warns too)', async () => {
  await withBundle((s) => { s.process!.capabilities!.bounding = ['CAP_KILL', 'CAP_BOGUS']; s.process!.args = ['/bin/testinit', 'caps']; }, async (b) => {
    const r = await capsa(['run', '--bundle', b.dir, b.id]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /level=warning msg=".*process\.capabilities\.bounding: unknown capability \\"CAP_BOGUS\\", skipping"/);
    assert.match(r.stdout, /CapBnd:\s+0000000000000020/, 'only CAP_KILL (5) in the bounding set');
  });
});

test('oomScoreAdj out of range', async () => {
  await withBundle((s) => { s.process!.oomScoreAdj = 5000; }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'process.oomScoreAdj');
  });
});

// ---- linux ----

test('unknown namespace type', async () => {
  await withBundle((s) => { s.linux!.namespaces!.push({ type: 'bogus' as 'pid' }); }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, /linux\.namespaces\[\d+\]\.type/);
    assert.match(msg, 'bogus');
  });
});

test('hostname without a uts namespace', async () => {
  await withBundle((s) => { s.hostname = 'capsa-test'; s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts'); }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'hostname');
    assert.match(msg, /UTS/i);
  });
});

test('user namespace without uid mappings', async () => {
  await withBundle((s) => { s.linux!.namespaces!.push({ type: 'user' }); }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, /uidMappings|mappings/);
  });
});

test('a mount with a bad tmpfs option names config.mounts[N]', async () => {
  await withBundle((s) => { s.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=not-a-size'] }); }, async (b) => {
    const n = readConfig(b).mounts!.length - 1;
    const { msg } = await expectCreateFails(b);
    assert.match(msg, `config.mounts[${n}]`);
    assert.match(msg, '/scratch');
    assert.match(msg, 'invalid argument');
  });
});

test('a mount with an unknown filesystem type names config.mounts[N]', async () => {
  await withBundle((s) => { s.mounts!.push({ destination: '/x', type: 'capsa-no-such-fs', source: 'none' }); }, async (b) => {
    const n = readConfig(b).mounts!.length - 1;
    const { msg } = await expectCreateFails(b);
    assert.match(msg, `config.mounts[${n}]`);
  });
});

test('a mount with a relative destination names config.mounts[N].destination', async () => {
  await withBundle((s) => { s.mounts!.push({ destination: 'relative', type: 'tmpfs', source: 'tmpfs' }); }, async (b) => {
    const n = readConfig(b).mounts!.length - 1;
    const { msg } = await expectCreateFails(b);
    assert.match(msg, `config.mounts[${n}].destination`);
  });
});

test('a device with an unknown type names linux.devices[N]', async () => {
  await withBundle((s) => { s.linux!.devices = [{ type: 'x' as 'c', path: '/dev/x', major: 1, minor: 3 }]; }, async (b) => {
    const { msg } = await expectCreateFails(b);
    assert.match(msg, 'linux.devices[0].type');
  });
});

test('an init failure after setup started (missing bind source) still leaves nothing', async () => {
  await withBundle((s) => { s.mounts!.push({ destination: '/data', type: 'bind', source: '/tmp/capsa-test-no-such-source', options: ['bind'] }); }, async (b) => {
    const n = readConfig(b).mounts!.length - 1;
    const { msg } = await expectCreateFails(b);
    assert.match(msg, `config.mounts[${n}]`);
    assert.match(msg, 'no such file or directory');
  });
});

// ---- the command line ----

test('an unknown flag: "flag provided but not defined"', async () => {
  await withBundle(undefined, async (b) => {
    const { msg } = await expectCreateFails(b, b.id, ['--bogus', 'x']);
    assert.match(msg, 'flag provided but not defined: -bogus');
  });
});

test('create without an id', async () => {
  await withBundle(undefined, async (b) => {
    const r = await capsaToFiles(['create', '--bundle', b.dir], b.dir);
    assert.is(r.code, 1);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});

test('--log-format json: the error is a JSON line in the log file, with one line on stderr', async () => {
  await withBundle((s) => { s.ociVersion = '2.0.0'; }, async (b) => {
    const log = path.join(b.dir, 'capsa.log');
    const r = await capsaToFiles(['--log', log, '--log-format', 'json', 'create', '--bundle', b.dir, b.id], b.dir);
    assert.is(r.code, 1);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; time: string });
    const errors = lines.filter((l) => l.level === 'error');
    assert.is(errors.length, 1, fs.readFileSync(log, 'utf8'));
    assert.match(errors[0]!.msg, 'ociVersion');
    assert.ok(!Number.isNaN(Date.parse(errors[0]!.time)));
    assert.not.ok(fs.existsSync(path.join(root, b.id)));
  });
});

test('--log-format with an unknown value is refused', async () => {
  const r = await capsa(['--log-format', 'xml', 'list']);
  assert.is(r.code, 1);
  assert.match(r.stderr, 'log-format');
});

test.run();
