// Bundles the CLI into one CommonJS file (fast startup: no module resolution,
// no ESM loader) and the library into CJS + ESM entry points.
import { build } from 'esbuild';
import { chmodSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  define: { CAPSA_VERSION: JSON.stringify(pkg.version) },
  external: ['*.node'],
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: ['src/cli/entry.ts'],
  outfile: 'dist/capsa',
  format: 'cjs',
  // env -S -u: skip loading NODE_EXTRA_CA_CERTS, which costs ~50 ms at startup.
  banner: { js: '#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node' },
});
chmodSync('dist/capsa', 0o755);
// The image verbs, loaded by the CLI only when called (see imageVerbs in src/cli/main.ts).
await build({ ...common, entryPoints: ['src/cli/image-chunk.ts'], outfile: 'dist/capsa-image.js', format: 'cjs' });
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.cjs', format: 'cjs' });
await build({
  ...common,
  entryPoints: ['src/index.ts'],
  outfile: 'dist/index.mjs',
  format: 'esm',
  // The library finds its native files relative to itself; give ESM a __dirname.
  banner: { js: "import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __dirname = __dn(__fu(import.meta.url));" },
});
