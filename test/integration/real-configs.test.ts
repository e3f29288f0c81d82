// The corpus of real configs (test/fixtures/real-configs/, captured from
// containerd 1.6 ctr/CRI, podman 4.3 and docker 20.10 with a logging wrapper
// in place of runc, plus hand-written containerd 2.x and Kubernetes pod
// shapes): every entry is created, started, exec'd into and deleted on capsa
// the way an engine does it, and — when runc is installed — on runc too, and
// the two compared: the outcome of each step, and what the container saw
// from inside (hostname, ids, capabilities, mounts, sysctls, cgroup limits,
// devices, namespaces). A difference fails unless divergences.md lists it
// with the reason capsa is right.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';

import { CAPSA_BIN, capsaSuite } from '../helpers/capsa';
import { compareResults, formatDifference, hostFacts, listedAs, loadDivergences, runEntry, type EntryResult, type Runtime } from '../helpers/differential';
import { CORPUS_DIR, loadCorpus } from '../helpers/real-configs';

const { test, root } = capsaSuite('real-configs');
const corpus = loadCorpus();
const divergences = loadDivergences(path.join(CORPUS_DIR, 'divergences.md'));
const host = hostFacts();
const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc'].find((p) => fs.existsSync(p));
const capsaRt: Runtime = { name: 'capsa', bin: CAPSA_BIN, root };
const runcRt: Runtime | undefined = RUNC ? { name: 'runc', bin: RUNC, root: `${root}-runc` } : undefined;
test.after(() => { if (runcRt) fs.rmSync(runcRt.root, { recursive: true, force: true }); });

const steps = (r: EntryResult) => `sandbox ${r.sandbox?.code ?? '-'} create ${r.create.code} start ${r.start?.code ?? '-'} exec ${r.exec?.code ?? '-'} delete ${r.delete?.code ?? '-'}`;

test('the corpus: captured from containerd (ctr and CRI), podman and docker, plus the containerd 2.x and Kubernetes pod shapes', () => {
  const engines = new Set(corpus.map((e) => e.name.split('/')[0]));
  for (const e of ['containerd-ctr', 'containerd-cri', 'podman', 'docker', 'containerd-2x', 'kubernetes']) assert.ok(engines.has(e), `entries from ${e}: ${[...engines].join(', ')}`);
  process.stdout.write(`\n  corpus: ${corpus.length} entries\n`);
});

let seq = 0;
for (const entry of corpus) {
  test(`${entry.name}: create, start, exec, delete on capsa${runcRt ? ' with the same outcome and the same view from inside as runc' : ''}`, async () => {
    const n = seq++;
    const capsa = await runEntry(capsaRt, entry, { seq: n, host });
    if (!runcRt) {
      // Every entry runs on runc (that is how it was captured): capsa must run it too.
      assert.ok(!capsa.sandbox && capsa.create.code === 0 && capsa.start?.code === 0 && capsa.delete?.code === 0 && (!entry.exec || capsa.exec?.code === 0), `${steps(capsa)}: ${capsa.create.error || capsa.start?.error || capsa.exec?.error || capsa.delete?.error || capsa.sandbox?.error}`);
      return;
    }
    const runc = await runEntry(runcRt, entry, { seq: n, host });
    // Refused by both (a config this host cannot run, e.g. docker --privileged
    // asks for capabilities this machine does not have): the same outcome.
    if (runc.create.code !== 0 || runc.sandbox) process.stdout.write(`\n  ${entry.name}: runc refuses it here (${runc.sandbox?.error || runc.create.error}); capsa: ${steps(capsa)} ${capsa.create.error}\n`);
    const unlisted = compareResults(capsa, runc).filter((d) => !listedAs(d, divergences, entry.name));
    assert.equal(unlisted.map(formatDifference), [], `capsa and runc differ on ${entry.name} (not in divergences.md)`);
  });
}

if (!runcRt) test.skip('differential against runc [SKIPPED: runc is not installed; only capsa ran the corpus]', () => {});

test.run();
