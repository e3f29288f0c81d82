#!/usr/bin/env node
// The fuzz test's longer local mode: runs build/test/integration/fuzz.test.js
// (compile first: npx tsc -p tsconfig.json) with more cases and any seed.
//
// usage: node scripts/fuzz.mjs [CASES=20000] [SEED=0x5eed] [--only INDEX] [--dump DIR]
//   --only INDEX  replay one case of the run (as printed by a failure)
//   --dump DIR    save the config.json of every failing config case in DIR
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const file = path.join(REPO, 'build', 'test', 'integration', 'fuzz.test.js');
if (!existsSync(file)) {
  process.stderr.write(`${file} is missing: run npx tsc -p tsconfig.json first\n`);
  process.exit(2);
}

const env = { ...process.env, NO_COLOR: '1' };
const positional = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--only') env.FUZZ_ONLY = argv[++i];
  else if (argv[i] === '--dump') env.FUZZ_DUMP = path.resolve(argv[++i]);
  else positional.push(argv[i]);
}
env.FUZZ_CASES = positional[0] ?? env.FUZZ_CASES ?? '20000';
env.FUZZ_SEED = String(Number(positional[1] ?? env.FUZZ_SEED ?? 0x5eed));
process.stdout.write(`fuzz: ${env.FUZZ_CASES} cases, seed ${env.FUZZ_SEED}${env.FUZZ_ONLY ? `, only case ${env.FUZZ_ONLY}` : ''}\n`);
const child = spawn(process.execPath, [file], { env, stdio: 'inherit', cwd: REPO });
child.on('exit', (code, signal) => process.exit(signal ? 1 : code ?? 1));
