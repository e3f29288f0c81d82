// Bundles the CLI into one CommonJS file (fast startup: no module resolution,
// no ESM loader) and the library into CJS + ESM entry points, then makes
// dist/capsa (scripts/compile-cli.mjs).
import { build } from 'esbuild';
import { makeCli } from './compile-cli.mjs';
import { lazyFunctions } from './lazy-functions.mjs';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';

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
    new RegExp(`(?<![\\w$])${name.replace(/\$/g, '\\$')}\\.default\\b`).test(code) ? all : `${name} = ${req}`);
  writeFileSync(file, code);
}

/**
 * esbuild defines the exports object of every lazily required module at the
 * top level (`__export(x_exports, {...})`: one getter per export), so each
 * start paid for all 28 such modules, ~0.6 ms in the compiled CLI. Each call
 * moves into its module's init function: every use of `x_exports` comes after
 * `init_x()`, and the call is the init's first statement, so even a circular
 * require sees the exports.
 */
function lazyExports(file) {
  let code = readFileSync(file, 'utf8');
  const exportCall = /^__export\(\w+, \{\n(?:  .*\n)*?\}\);\n/m;
  const initHead = /^var init_\w+ = __esm\(\{\n  "[^"\n]+"\(\) \{\n(?:    "use strict";\n)?/m;
  let out = '';
  for (let m = exportCall.exec(code); m; m = exportCall.exec(code)) {
    const rest = code.slice(m.index + m[0].length);
    const head = initHead.exec(rest);
    if (!head) break; // not a lazy module: leave it and the rest alone
    const body = m[0].replace(/^/gm, '    ').replace(/    $/, '');
    out += code.slice(0, m.index) + rest.slice(0, head.index + head[0].length) + body;
    code = rest.slice(head.index + head[0].length);
  }
  writeFileSync(file, out + code);
}

/**
 * esbuild's `require()` of a bundled ES module returns a fresh copy of its
 * exports (__toCommonJS: one getter copied per export), ~0.4 ms of the
 * compiled CLI's start over the modules a verb loads. The exports object
 * itself, marked as an ES module, serves the same property reads.
 */
function directRequires(file) {
  const code = readFileSync(file, 'utf8');
  const copy = 'var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);';
  if (!code.includes(copy)) return;
  writeFileSync(file, code.replace(copy, 'var __toCommonJS = (mod) => (__hasOwnProp.call(mod, "__esModule") || __defProp(mod, "__esModule", { value: true }), mod);'));
}

// The CLI for Node: a launcher (dist/capsa-node, with the V8 code cache) and the bundle it runs.
await build({ ...common, define: { ...common.define, CAPSA_COMPILED: 'false' }, entryPoints: ['src/cli/entry.ts'], outfile: 'dist/capsa-cli.js', format: 'cjs' });
plainBuiltins('dist/capsa-cli.js');
lazyExports('dist/capsa-cli.js');
directRequires('dist/capsa-cli.js');
copyFileSync('scripts/cli-launcher.js', 'dist/capsa-node');
chmodSync('dist/capsa-node', 0o755);
rmSync('dist/.cache', { recursive: true, force: true });
// The same CLI for `bun build --compile` (scripts/compile-cli.mjs): the image verbs inside.
await build({ ...common, define: { ...common.define, CAPSA_COMPILED: 'true' }, entryPoints: ['src/cli/entry.ts'], outfile: 'dist/capsa-compiled.js', format: 'cjs' });
plainBuiltins('dist/capsa-compiled.js');
lazyExports('dist/capsa-compiled.js');
directRequires('dist/capsa-compiled.js');
lazyFunctions('dist/capsa-compiled.js');
// containerd-shim-capsa-v2: its bundle, the Node launcher (code cache) and the
// sh front that names this Node by absolute path (containerd may only have an older one).
await build({ ...common, entryPoints: ['src/shim/main.ts'], outfile: 'dist/containerd-shim-capsa-v2.js', format: 'cjs' });
plainBuiltins('dist/containerd-shim-capsa-v2.js');
copyFileSync('scripts/shim-launcher.cjs', 'dist/containerd-shim-capsa-v2.cjs');
// The spare shim's path names this install (see spareBase in src/shim/spare.ts).
const distDir = realpathSync('dist');
const spare = `/run/containerd/s/capsa-spare-${createHash('sha256').update(`${distDir}\0${process.execPath}`).digest('hex').slice(0, 16)}`;
const shQuote = (v) => `'${v.replace(/'/g, "'\\''")}'`;
const shimLauncher = readFileSync('scripts/shim-launcher.sh', 'utf8')
  .replace(/^NODE=.*$/m, `NODE=${shQuote(process.execPath)}`)
  .replace(/^SPARE=.*$/m, `SPARE=${shQuote(spare)}`);
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

// dist/capsa: the compiled executable where it can be made, else the Node launcher.
makeCli();
