// Differential test against runc: variants of every corpus entry (test/
// fixtures/real-configs/), made by the fuzzer in test/helpers/fuzz.ts seeded
// from the corpus, run through capsa and through runc the way an engine runs
// them (create, start, exec, delete). Compared: accepted or refused, the exit
// of each step, and what the container reports from inside (hostname,
// uid/gid, capabilities, mounts, sysctls, cgroup limits, devices,
// namespaces). A difference fails unless divergences.md lists it with the
// spec clause that makes capsa right.
//
// Two kinds of variant per entry: meaningful ones (mutateSemantic: other
// namespaces, propagation, user, capabilities, sysctls, mounts, devices,
// limits...) and hostile ones (mutateConfig: junk values, wrong types).
// DIFF_VARIANTS (default 1) and DIFF_JUNK (default 1) per entry, DIFF_SEED
// (default 0x19) choose the run; DIFF_ONLY=<entry>#<n> replays one case.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { CAPSA_BIN, capsaSuite } from '../helpers/capsa';
import { compareResults, formatDifference, hostFacts, hostState, listedAs, loadDivergences, reportConfig, runcWouldChangeHost, runEntry, type Runtime } from '../helpers/differential';
import { mutateConfig, mutateSemantic, Rng } from '../helpers/fuzz';
import { CORPUS_DIR, loadCorpus } from '../helpers/real-configs';

const { test, root } = capsaSuite('differential');
const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc'].find((p) => fs.existsSync(p));
const VARIANTS = Number(process.env.DIFF_VARIANTS ?? 1);
const JUNK = Number(process.env.DIFF_JUNK ?? 1);
const SEED = Number(process.env.DIFF_SEED ?? 0x19);
const ONLY = process.env.DIFF_ONLY;

interface Variant { name: string; entry: ReturnType<typeof loadCorpus>[number]; text: string; applied: string[] }

function variants(): Variant[] {
  const out: Variant[] = [];
  loadCorpus().forEach((entry, i) => {
    const rng = new Rng(SEED + i * 7919);
    const base = reportConfig(entry);
    for (let k = 0; k < VARIANTS + JUNK; k++) {
      const r = rng.fork();
      if (k < VARIANTS) {
        const { config, applied } = mutateSemantic(base, r);
        out.push({ name: `${entry.name}#${k}`, entry, text: JSON.stringify(config), applied });
      } else {
        const { text, applied } = mutateConfig(base, r);
        out.push({ name: `${entry.name}#${k}`, entry, text, applied: ['junk', ...applied] });
      }
    }
  });
  return ONLY ? out.filter((v) => v.name === ONLY) : out;
}

if (!RUNC) {
  test.skip('capsa and runc agree on fuzzed variants of the corpus [SKIPPED: runc is not installed]', () => {});
} else {
  const runcRt: Runtime = { name: 'runc', bin: RUNC, root: `${root}-runc` };
  const capsaRt: Runtime = { name: 'capsa', bin: CAPSA_BIN, root };
  const divergences = loadDivergences(path.join(CORPUS_DIR, 'divergences.md'));
  const host = hostFacts();
  const all = variants();
  test.after(() => { fs.rmSync(runcRt.root, { recursive: true, force: true }); });
  test(`the variants: ${VARIANTS} meaningful and ${JUNK} hostile per corpus entry (DIFF_SEED=${SEED})`, () => {
    process.stdout.write(`\n  fuzzed variants: ${all.length}\n`);
    assert.ok(all.length > 0);
  });
  let seq = 1000;
  let notRun = 0;
  test.after(() => { process.stdout.write(`\n  ${all.length} fuzzed variants: ${all.length - notRun} through both runtimes, ${notRun} through capsa only (runc would have changed the host)\n`); });
  for (const v of all) {
    test(`${v.name}: ${v.applied.join(', ').slice(0, 160)}`, async () => {
      const n = seq++;
      // A variant runc would let change the host (it has done so here): capsa
      // alone, and the host must be as it was.
      const danger = runcWouldChangeHost(v.text);
      if (danger) {
        const before = hostState();
        const capsa = await runEntry(capsaRt, v.entry, { seq: n, host }, v.text);
        assert.equal(hostState(), before, `capsa left the host as it was (${v.name})`);
        process.stdout.write(`\n  ${v.name}: runc not run (${danger}); capsa: create ${capsa.create.code}${capsa.create.error ? ` ${capsa.create.error}` : ''}\n`);
        notRun++;
        return;
      }
      const capsa = await runEntry(capsaRt, v.entry, { seq: n, host }, v.text);
      const runc = await runEntry(runcRt, v.entry, { seq: n, host }, v.text);
      const unlisted = compareResults(capsa, runc).filter((d) => !listedAs(d, divergences, `${v.name} ${v.applied.join(', ')}`));
      assert.equal(unlisted.map(formatDifference), [], `capsa and runc differ on ${v.name} (DIFF_SEED=${SEED} DIFF_ONLY=${v.name}), not in divergences.md`);
    });
  }
}

test.run();
