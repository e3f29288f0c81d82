// Bundles the CLI into one CommonJS file (fast startup: no module resolution,
// no ESM loader) and the library into CJS + ESM entry points.
import { build } from 'esbuild';
import { chmodSync, copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  define: { CAPSA_VERSION: JSON.stringify(pkg.version) },
  external: ['*.node'],
  logLevel: 'warning',
};

/**
 * esbuild wraps every `import * as fs from 'node:fs'` in __toESM, which copies
 * each export into a fresh object: ~6 ms of the CLI's startup for 47 imports.
 * A builtin's own module object serves the same property reads, so use it
 * where nothing asks for `.default`.
 */
function plainBuiltins(file) {
  let code = readFileSync(file, 'utf8');
  code = code.replace(/\b([\w$]+) = __toESM\((require\("node:\w+"\))\)/g, (all, name, req) =>
    code.includes(`${name}.default`) ? all : `${name} = ${req}`);
  writeFileSync(file, code);
}

// The CLI: a launcher (dist/capsa, with the V8 code cache) and the bundle it runs.
await build({ ...common, entryPoints: ['src/cli/entry.ts'], outfile: 'dist/capsa-cli.js', format: 'cjs' });
plainBuiltins('dist/capsa-cli.js');
copyFileSync('scripts/cli-launcher.js', 'dist/capsa');
chmodSync('dist/capsa', 0o755);
rmSync('dist/.cache', { recursive: true, force: true });
// containerd-shim-capsa-v2: its bundle, the Node launcher (code cache) and the
// sh front that names this Node by absolute path (containerd may only have an older one).
await build({ ...common, entryPoints: ['src/shim/main.ts'], outfile: 'dist/containerd-shim-capsa-v2.js', format: 'cjs' });
plainBuiltins('dist/containerd-shim-capsa-v2.js');
copyFileSync('scripts/shim-launcher.cjs', 'dist/containerd-shim-capsa-v2.cjs');
const shimLauncher = readFileSync('scripts/shim-launcher.sh', 'utf8').replace(/^NODE=.*$/m, `NODE='${process.execPath.replace(/'/g, "'\\''")}'`);
writeFileSync('dist/containerd-shim-capsa-v2', shimLauncher, { mode: 0o755 });
chmodSync('dist/containerd-shim-capsa-v2', 0o755);
// The image verbs, loaded by the CLI only when called (see imageVerbs in src/cli/main.ts).
await build({ ...common, entryPoints: ['src/cli/image-chunk.ts'], outfile: 'dist/capsa-image.js', format: 'cjs' });
plainBuiltins('dist/capsa-image.js');
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.cjs', format: 'cjs' });
plainBuiltins('dist/index.cjs');
await build({
  ...common,
  entryPoints: ['src/index.ts'],
  outfile: 'dist/index.mjs',
  format: 'esm',
  // The library finds its native files relative to itself; give ESM a __dirname.
  banner: { js: "import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __dirname = __dn(__fu(import.meta.url));" },
});
