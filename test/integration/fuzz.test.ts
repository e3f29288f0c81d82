// Hostile input. A seeded fuzzer (test/helpers/fuzz.ts) mutates a valid
// config.json and valid CLI argument lists; every case must either work or
// fail with exit 1 and one line on stderr — never a stack trace, an
// "internal error", a hang, a signal, or anything left behind. Then the
// special inputs: config.json as a symlink or FIFO, a rootfs symlinked to /,
// ids with path separators, a read-only --root, a full disk, a stale state
// dir from a previous boot, a foreign directory in the state root.
//
// FUZZ_CASES (default 2000) and FUZZ_SEED (default 0x5eed) choose the run;
// a failing case prints its index, seed and mutations, and
// FUZZ_SEED=<seed> FUZZ_ONLY=<index> replays just that case (FUZZ_DUMP=<dir>
// also saves the config.json of each failing config case there).
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { defaultSpec } from '../../src/spec/defaults';
import type { Spec } from '../../src/spec/types';
import { makeBundle } from '../helpers/bundle';
import { capsaSuite } from '../helpers/capsa';
import { sharedTestRootfs } from '../helpers/rootfs';
import { baseArgs, ESCAPE_CANARY, mutateArgs, mutateConfig, Rng } from '../helpers/fuzz';
import { allCgroupPaths, allProcesses, alive, CGROUP_ROOT, mountLines, settle, waitContainerGone } from '../helpers/host';
import { capsaFiles, errorMessage, errorOutputProblems, hasStack, tempDir, type FileRunResult, type OciState, reapingTest } from '../helpers/kit';

const suite = capsaSuite('fuzz');
const { root } = suite;
const test = reapingTest(suite.test);
const CASES = Number(process.env.FUZZ_CASES ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const ONLY = process.env.FUZZ_ONLY === undefined ? undefined : Number(process.env.FUZZ_ONLY);
const CONCURRENCY = 4;
const CASE_TIMEOUT_MS = 20_000;
const CONFIG_SHARE = 0.75;

const work = tempDir('fuzz');
suite.test.after(() => { fs.rmSync(work, { recursive: true, force: true }); });

function baseConfig(variant: number, caseIndex: number): Spec {
  const s = defaultSpec();
  s.root = { path: sharedTestRootfs() };
  s.process = { ...s.process!, terminal: false, args: ['/bin/testinit', 'true'], user: { uid: 0, gid: 0, additionalGids: [5, 10] } };
  s.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }, { type: 'RLIMIT_NPROC', hard: 512, soft: 512 }];
  s.hostname = 'fuzz';
  s.annotations = { 'org.capsa.fuzz': String(caseIndex) };
  s.linux!.sysctl = { 'net.ipv4.ip_forward': '0', 'kernel.msgmax': '8192' };
  s.linux!.resources = {
    ...s.linux!.resources,
    memory: { limit: 256 << 20 },
    cpu: { shares: 512, quota: 50_000, period: 100_000 },
    pids: { limit: 128 },
  };
  if (variant === 1) {
    s.linux!.namespaces = [...s.linux!.namespaces!, { type: 'user' }];
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  }
  if (variant === 2) {
    s.linux!.cgroupsPath = `capsa-test-fuzz-cg-${caseIndex}`;
    s.linux!.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [{ names: ['kexec_load', 'open_by_handle_at'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
    };
    s.linux!.devices = [{ path: '/dev/fuzz0', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }];
    s.mounts = [...(s.mounts ?? []), { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1m'] }];
  }
  return s;
}

interface Failure { index: number; kind: string; what: string; problems: string[]; stderr: string }

interface Stats { created: number; refused: number; cli: number; cliOk: number }

function describeCase(f: Failure): string {
  return `case ${f.index} (${f.kind}; FUZZ_SEED=${SEED} FUZZ_ONLY=${f.index}) ${f.what}\n      ${f.problems.join('\n      ')}\n      stderr: ${JSON.stringify(f.stderr.slice(0, 400))}`;
}

const hierarchies = fs.readdirSync(CGROUP_ROOT).map((h) => path.join(CGROUP_ROOT, h));

function quickTraces(id: string, cgroupRel: string): string[] {
  const traces: string[] = [];
  if (fs.existsSync(path.join(root, id))) traces.push(`state dir ${path.join(root, id)}`);
  for (const h of hierarchies) if (fs.existsSync(path.join(h, cgroupRel))) traces.push(`cgroup ${path.join(h, cgroupRel)}`);
  for (const m of mountLines()) if (m.includes(id)) traces.push(`mount ${m}`);
  return traces;
}

async function configCase(index: number, rng: Rng, dir: string, stats: Stats): Promise<Failure | undefined> {
  const id = `capsa-test-fuzz-${index}`;
  const variant = rng.int(3);
  const mutated = mutateConfig(baseConfig(variant, index), rng);
  fs.writeFileSync(path.join(dir, 'config.json'), mutated.text);
  const what = `variant ${variant}: ${mutated.applied.join(', ')}`;
  const problems: string[] = [];
  let r: FileRunResult | undefined;
  try {
    r = await capsaFiles(root, ['create', '--bundle', dir, id], dir, { cwd: dir, timeoutMs: CASE_TIMEOUT_MS });
  } catch (e) {
    problems.push((e as Error).message.split('\n')[0]!);
  }
  if (process.env.FUZZ_VERBOSE) process.stdout.write(`  [${index}] ${what.slice(0, 200)} → ${r ? `exit ${r.code}: ${errorMessage(r.stderr).slice(0, 200)}` : 'no result'}\n`);
  if (r?.code === 0) {
    stats.created++;
    const del = await capsaFiles(root, ['delete', '--force', id], dir, { cwd: dir, timeoutMs: CASE_TIMEOUT_MS }).catch((e: Error) => ({ code: -1, signal: null, stdout: '', stderr: e.message, ms: 0 }));
    if (del.code !== 0) problems.push(`created, but delete --force failed: exit ${del.code} ${del.stderr.trim()}`);
  } else if (r) {
    stats.refused++;
    problems.push(...errorOutputProblems(r));
  }
  // Nothing of the container may remain: the cheap per-case look (state dir,
  // its cgroup where the base config puts it, mounts); processes and cgroups
  // elsewhere are caught by the whole-host comparison at the end of the run.
  const cgroupRel = variant === 2 ? path.join('capsa', `capsa-test-fuzz-cg-${index}`) : id;
  const left = await settle(() => quickTraces(id, cgroupRel), problems.length ? 0 : 2000);
  if (left.length) {
    problems.push(...left.map((l) => `left behind: ${l}`));
    await capsaFiles(root, ['delete', '--force', id], dir, { timeoutMs: CASE_TIMEOUT_MS }).catch(() => undefined);
  }
  if (problems.length && process.env.FUZZ_DUMP) {
    fs.mkdirSync(process.env.FUZZ_DUMP, { recursive: true });
    fs.writeFileSync(path.join(process.env.FUZZ_DUMP, `case-${index}.json`), mutated.text);
  }
  return problems.length ? { index, kind: 'config', what, problems, stderr: r?.stderr ?? '' } : undefined;
}

async function cliCase(index: number, rng: Rng, worker: { dir: string; bundle: string; live: string; sleeper: string }, stats: Stats): Promise<Failure | undefined> {
  stats.cli++;
  // The long-running container some calls aim at; a previous case may have killed or deleted it.
  if (!fs.existsSync(path.join(root, worker.live))) {
    await capsaFiles(root, ['run', '--detach', '--bundle', worker.sleeper, worker.live], worker.dir, { timeoutMs: CASE_TIMEOUT_MS }).catch(() => undefined);
  }
  // A previous case may have rewritten the bundle (spec --bundle): restore it.
  fs.writeFileSync(path.join(worker.bundle, 'config.json'), JSON.stringify(baseConfig(0, index)));
  const ids = [worker.live, `capsa-test-fuzz-cli-${worker.live}`, 'capsa-test-fuzz-missing', junkId(rng)];
  const base = baseArgs(rng, { bundle: worker.bundle, ids });
  const { args, applied } = mutateArgs(base, rng);
  const what = `capsa ${args.map((a) => (a.length > 80 ? `${JSON.stringify(a.slice(0, 20))}…(${a.length})` : JSON.stringify(a))).join(' ')} [${applied.join(', ')}]`;
  let r: FileRunResult;
  try {
    r = await capsaFiles(root, args, worker.dir, { cwd: worker.dir, timeoutMs: CASE_TIMEOUT_MS });
  } catch (e) {
    return { index, kind: 'cli', what, problems: [(e as Error).message.split('\n')[0]!], stderr: '' };
  }
  if (r.code === 0) { stats.cliOk++; return undefined; }
  // run and exec pass the container's own exit status and stderr through.
  const foreground = args.includes('exec') || args.includes('run');
  const problems = foreground && !/level=error/.test(r.stderr)
    ? [...(r.signal ? [`killed by ${r.signal}`] : []), ...(hasStack(r.stderr) ? ['a stack trace on stderr'] : [])]
    // runc: exec exits 255 for every failure after its arguments were parsed.
    : errorOutputProblems(r, /No help topic/.test(r.stderr) ? [3] : args.includes('exec') ? [1, 255] : [1], { debug: args.includes('--debug') });
  return problems.length ? { index, kind: 'cli', what, problems, stderr: r.stderr } : undefined;
}

/**
 * Whether a host resource belongs to another test running on the same machine
 * (a developer box; in CI nothing else runs): it names a test container id
 * that is not this file's. What a fuzz case leaks names this file's ids, its
 * rootfs or bundle dirs — or nothing recognisable, and that is counted.
 */
function othersTest(text: string): boolean {
  if (/capsatest|capsa-bench/.test(text)) return true;
  const tokens = text.match(/capsa-test-[\w.+-]+/g) ?? [];
  return tokens.length > 0 && !tokens.some((t) => t.startsWith('capsa-test-fuzz') || t === `capsa-test-rootfs-${process.pid}` || text.includes(root));
}

function junkId(rng: Rng): string {
  return rng.pick(['', '.', '..', 'a/b', '../x', 'x'.repeat(300), 'capsa-test-ü', 'capsa-test fuzz', '-', '--', `capsa-test-fuzz-${rng.int(1000)}`]);
}

test(`fuzz: ${CASES} mutated configs and CLI argument lists (seed ${SEED}, ${CONCURRENCY} at a time): one-line errors, no hangs, nothing left behind`, async () => {
  const cgroupsBefore = new Set(allCgroupPaths());
  const mountsBefore = new Set(mountLines().map((l) => l.split(' ')[4]));
  const procsBefore = new Set(allProcesses().map((p) => `${p.pid}:${p.startTime}`));
  const stats: Stats = { created: 0, refused: 0, cli: 0, cliOk: 0 };
  const failures: Failure[] = [];
  const master = new Rng(SEED);
  const caseRngs = Array.from({ length: CASES }, () => master.fork());
  const workers = Array.from({ length: CONCURRENCY }, (_, w) => {
    const dir = path.join(work, `w${w}`);
    const bundle = path.join(work, `w${w}-bundle`);
    const sleeper = path.join(work, `w${w}-sleeper`);
    for (const d of [dir, bundle, sleeper]) fs.mkdirSync(d, { recursive: true });
    const s = baseConfig(0, 0);
    s.process!.args = ['/bin/testinit', 'sleep', 'forever'];
    fs.writeFileSync(path.join(sleeper, 'config.json'), JSON.stringify(s));
    return { dir, bundle, sleeper, live: `capsa-test-fuzz-live-${w}` };
  });
  let next = 0;
  const started = Date.now();
  try {
    await Promise.all(workers.map(async (worker) => {
      for (;;) {
        const index = next++;
        if (index >= CASES) return;
        if (ONLY !== undefined && index !== ONLY) continue;
        const rng = caseRngs[index]!;
        const f = rng.float() < CONFIG_SHARE ? await configCase(index, rng, worker.dir, stats) : await cliCase(index, rng, worker, stats);
        if (f) failures.push(f);
      }
    }));
  } finally {
    // Remove whatever the CLI cases made, then compare the host with before.
    for (const id of fs.existsSync(root) ? fs.readdirSync(root) : []) await capsaFiles(root, ['delete', '--force', id], work, { timeoutMs: CASE_TIMEOUT_MS }).catch(() => undefined);
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`\n  fuzz: ${CASES} cases in ${secs} s (seed ${SEED}): ${stats.created} configs created, ${stats.refused} refused, ${stats.cli} CLI cases (${stats.cliOk} exit 0), ${failures.length} failures\n`);

  const leftover = await settle(() => [
    ...allCgroupPaths().filter((p) => !cgroupsBefore.has(p) && !othersTest(p)).map((p) => `cgroup ${p}`),
    ...mountLines().filter((l) => !mountsBefore.has(l.split(' ')[4]) && !othersTest(l)).map((l) => `mount ${l}`),
    ...allProcesses()
      .filter((p) => !procsBefore.has(`${p.pid}:${p.startTime}`) && /capsa-init|testinit/.test(p.comm) && p.state !== 'Z' && !othersTest(p.cgroup))
      .map((p) => `process ${p.pid} ${p.comm} (${p.state}) ${p.cgroup.split('\n').find((l) => l.includes('capsa')) ?? ''}`),
    ...(fs.existsSync(root) ? fs.readdirSync(root).map((e) => `state dir ${e}`) : []),
    ...(fs.existsSync(ESCAPE_CANARY) ? [`${ESCAPE_CANARY} exists: a config path escaped the rootfs`] : []),
  ]);
  failures.sort((a, b) => a.index - b.index);
  const shown = failures.slice(0, 25).map(describeCase);
  assert.equal(shown, [], `${failures.length} of ${CASES} cases failed (first 25 shown)`);
  assert.equal(leftover, [], 'the fuzz run left resources on the host');
});

// ---- special inputs ----

const out = () => path.join(work, 'out');
const capsa = (args: readonly string[], opts: { root?: string; timeoutMs?: number } = {}) => {
  fs.mkdirSync(out(), { recursive: true });
  return capsaFiles(opts.root ?? root, args, out(), { timeoutMs: opts.timeoutMs ?? 15_000 });
};

function oneLineError(r: FileRunResult, what: string): string {
  assert.equal(errorOutputProblems(r), [], `${what}: ${JSON.stringify(r.stderr)}`);
  return errorMessage(r.stderr);
}

test('config.json that is a symlink: refused with one line (or followed) — never a hang', async () => {
  const b = makeBundle();
  const real = path.join(b.dir, 'real-config.json');
  try {
    fs.renameSync(path.join(b.dir, 'config.json'), real);
    fs.symlinkSync(real, path.join(b.dir, 'config.json'));
    const r = await capsa(['create', '--bundle', b.dir, b.id]);
    if (r.code === 0) await capsa(['delete', '--force', b.id]);
    else assert.match(oneLineError(r, 'symlinked config.json'), /config\.json/);
    // A symlink to an endless file must not be read forever.
    fs.rmSync(path.join(b.dir, 'config.json'));
    fs.symlinkSync('/dev/zero', path.join(b.dir, 'config.json'));
    const z = await capsa(['create', '--bundle', b.dir, b.id]);
    assert.match(oneLineError(z, 'config.json → /dev/zero'), /config\.json/);
    assert.equal(await waitContainerGone(root, b.id), []);
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
});

test('config.json that is a FIFO nobody writes to: refused with one line, no hang', async () => {
  const b = makeBundle();
  try {
    fs.rmSync(path.join(b.dir, 'config.json'));
    execFileSync('mkfifo', [path.join(b.dir, 'config.json')]);
    const r = await capsa(['create', '--bundle', b.dir, b.id]);
    assert.match(oneLineError(r, 'FIFO config.json'), /config\.json/);
    assert.ok(r.ms < 5000, `took ${r.ms} ms`);
    assert.equal(await waitContainerGone(root, b.id), []);
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
});

test('a rootfs that is a symlink to /: refused with one line naming root.path, nothing created', async () => {
  const b = makeBundle();
  try {
    fs.symlinkSync('/', path.join(b.dir, 'rootfs'));
    const spec = JSON.parse(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8')) as Spec;
    spec.root = { path: 'rootfs' };
    fs.writeFileSync(path.join(b.dir, 'config.json'), JSON.stringify(spec));
    const r = await capsa(['create', '--bundle', b.dir, b.id]);
    assert.match(oneLineError(r, 'rootfs → /'), /root\.path/);
    assert.equal(await waitContainerGone(root, b.id), []);
  } finally {
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
});

test('ids with path separators or dots are refused by every verb, and nothing outside the root is touched', async () => {
  const b = makeBundle();
  const outside = path.join(path.dirname(root), `capsa-test-outside-${process.pid}`);
  fs.mkdirSync(path.join(outside, 'victim'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'victim', 'state.json'), '{}');
  try {
    fs.mkdirSync(root, { recursive: true });
    const rel = path.relative(root, path.join(outside, 'victim'));
    const ids = ['a/b', '../x', '..', '.', '/abs', `/${outside}/victim`, rel, `${rel}/`, 'a\\b', 'x y', 'ü', '', 'a/../b'];
    for (const id of ids) {
      for (const args of [['create', '--bundle', b.dir, id], ['state', id], ['delete', '--force', id], ['kill', id, 'KILL'], ['start', id]]) {
        const r = await capsa(args);
        assert.match(oneLineError(r, `capsa ${args.join(' ')}`), /container id|does not exist/);
      }
    }
    assert.ok(fs.existsSync(path.join(outside, 'victim', 'state.json')), 'the directory outside the root is intact');
    assert.equal(fs.readdirSync(root), [], 'nothing appeared in the state root');
  } finally {
    fs.rmSync(outside, { recursive: true, force: true });
    b.cleanup();
  }
});

/** A tmpfs this test mounts under /tmp/capsa-test-* and always unmounts. */
async function withTmpfs(tag: string, options: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir(tag);
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, `capsa-test-${tag}`, dir]);
  try {
    await fn(dir);
  } finally {
    execFileSync('umount', ['-l', dir]);
    fs.rmdirSync(dir);
  }
}

test('a --root on a read-only filesystem: create fails with one line, nothing is left; list and state work', async () => {
  const b = makeBundle();
  try {
    await withTmpfs('rofs', 'size=64k,ro', async (ro) => {
      for (const r0 of [path.join(ro, 'root'), ro]) {
        const r = await capsa(['create', '--bundle', b.dir, b.id], { root: r0 });
        assert.match(oneLineError(r, `create with --root ${r0}`), new RegExp(r0.replace(/[/.-]/g, '\\$&')));
        assert.equal(await waitContainerGone(r0, b.id), []);
        const list = await capsa(['list'], { root: r0 });
        assert.is(list.code, 0, list.stderr);
        const st = await capsa(['state', b.id], { root: r0 });
        assert.is(oneLineError(st, 'state'), 'container does not exist');
      }
    });
  } finally {
    b.cleanup();
  }
});

test('a --root on a read-only filesystem: the error names the real reason (read-only), not ENOENT', async () => {
  const b = makeBundle();
  try {
    await withTmpfs('rofs', 'size=64k,ro', async (ro) => {
      const r = await capsa(['create', '--bundle', b.dir, b.id], { root: path.join(ro, 'root') });
      assert.match(oneLineError(r, 'create on a read-only root'), /read-only/);
    });
  } finally {
    b.cleanup();
  }
});

test('a full disk for the state dir: create fails with one line (no space), nothing is left; delete and state of an existing container still work', async () => {
  const b = makeBundle({ config: (s) => { s.process!.args = ['/bin/testinit', 'sleep', 'forever']; } });
  const b2 = makeBundle();
  try {
    await withTmpfs('full', 'size=64k', async (disk) => {
      const r0 = path.join(disk, 'root');
      // One container made while there is room…
      const c = await capsa(['create', '--bundle', b.dir, b.id], { root: r0 });
      assert.is(c.code, 0, c.stderr);
      // …then the disk is filled.
      const fill = fs.openSync(path.join(disk, 'fill'), 'w');
      try {
        const chunk = Buffer.alloc(4096, 1);
        for (;;) fs.writeSync(fill, chunk);
      } catch (e) {
        assert.is((e as NodeJS.ErrnoException).code, 'ENOSPC');
      } finally {
        fs.closeSync(fill);
      }
      const r = await capsa(['create', '--bundle', b2.dir, b2.id], { root: r0 });
      assert.match(oneLineError(r, 'create on a full disk'), /no space left on device/);
      assert.equal(await waitContainerGone(r0, b2.id), []);
      const st = await capsa(['state', b.id], { root: r0 });
      assert.is(st.code, 0, st.stderr);
      assert.is((JSON.parse(st.stdout) as OciState).status, 'created');
      const d = await capsa(['delete', '--force', b.id], { root: r0 });
      assert.is(d.code, 0, d.stderr);
      assert.equal(await waitContainerGone(r0, b.id), []);
    });
  } finally {
    b.cleanup();
    b2.cleanup();
  }
});

test('a stale state dir from a previous boot (dead pid, reused pid with another start time): stopped, not signalled, deletable', async () => {
  const b = makeBundle({ config: (s) => { s.process!.args = ['/bin/testinit', 'sleep', 'forever']; } });
  // A live host process that now owns the pid the stale record names.
  const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const c = await capsa(['create', '--bundle', b.dir, b.id]);
    assert.is(c.code, 0, c.stderr);
    const record = JSON.parse(fs.readFileSync(path.join(root, b.id, 'state.json'), 'utf8')) as Record<string, unknown>;
    const d = await capsa(['delete', '--force', b.id]);
    assert.is(d.code, 0, d.stderr);
    await waitContainerGone(root, b.id);

    const bystanderStart = allProcesses().find((p) => p.pid === bystander.pid)!.startTime;
    const stale: [string, Record<string, unknown>][] = [
      ['dead pid', { ...record, pid: 4194000, initStartTime: 12345 }],
      ['reused pid, other start time', { ...record, pid: bystander.pid, initStartTime: bystanderStart + 1 }],
      ['creating, creator gone', { ...record, phase: 'creating', pid: 0, initStartTime: 0, creator: { pid: 4194001, startTime: 1 } }],
      ['creating, creator pid reused', { ...record, phase: 'creating', pid: 0, initStartTime: 0, creator: { pid: bystander.pid, startTime: bystanderStart + 7 } }],
    ];
    for (const [label, rec] of stale) {
      const dir = path.join(root, b.id);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(rec));
      if (label.startsWith('reused')) execFileSync('mkfifo', [path.join(dir, 'exec.fifo')]);
      const st = await capsa(['state', b.id]);
      assert.is(st.code, 0, `${label}: ${st.stderr}`);
      const s = JSON.parse(st.stdout) as OciState;
      assert.is(s.status, 'stopped', label);
      assert.is(s.pid, 0, label);
      const k = await capsa(['kill', b.id, 'KILL']);
      assert.is(oneLineError(k, `${label}: kill`), 'container not running');
      const start = await capsa(['start', b.id]);
      assert.match(oneLineError(start, `${label}: start`), /^cannot start/);
      const del = await capsa(['delete', b.id]);
      assert.is(del.code, 0, `${label}: ${del.stderr}`);
      assert.not.ok(fs.existsSync(dir), `${label}: state dir removed`);
      assert.ok(alive(bystander.pid!, bystanderStart), `${label}: the process that reused the pid was not signalled`);
    }
  } finally {
    bystander.kill('SIGKILL');
    await capsa(['delete', '--force', b.id]);
    b.cleanup();
  }
});

test('a corrupt or truncated state.json: state says "container does not exist" in one line, delete --force removes it', async () => {
  const id = `capsa-test-corrupt-${process.pid}`;
  const dir = path.join(root, id);
  try {
    for (const text of ['', '{', '{"id":', 'null', '[]', '\u0000\u0000', '{"ociVersion":"1.2.0"}']) {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'state.json'), text);
      for (const verb of [['state', id], ['kill', id], ['start', id]]) {
        const r = await capsa(verb);
        if (r.code === 0 && verb[0] === 'state') continue;
        assert.equal(errorOutputProblems(r), [], `${JSON.stringify(text)}: capsa ${verb.join(' ')}: ${JSON.stringify(r.stderr)}`);
      }
      const list = await capsa(['list']);
      assert.is(list.code, 0, `${JSON.stringify(text)}: list: ${list.stderr}`);
      const del = await capsa(['delete', '--force', id]);
      assert.is(del.code, 0, `${JSON.stringify(text)}: delete --force: ${del.stderr}`);
      assert.not.ok(fs.existsSync(dir), `${JSON.stringify(text)}: state dir removed`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a directory in the state root that capsa did not make is not deleted by `capsa delete`', async () => {
  const name = `capsa-test-foreign-${process.pid}`;
  const dir = path.join(root, name);
  try {
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'data', 'precious.txt'), 'keep me');
    for (const args of [['delete', name], ['delete', '--force', name]]) {
      const r = await capsa(args);
      assert.ok(fs.existsSync(path.join(dir, 'data', 'precious.txt')), `capsa ${args.join(' ')} (exit ${r.code}) removed a directory it did not create, with its files`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

suite.test.run();
