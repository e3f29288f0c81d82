'use strict';
// dist/containerd-shim-capsa-v2.cjs, started by dist/containerd-shim-capsa-v2
// (scripts/shim-launcher.sh) with the Node capsa was built with. Runs the
// shim bundle from V8's code cache, as dist/capsa does for the CLI: `start`
// and the daemon are both a Node start, so compiling once pays on every task.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const file = path.join(__dirname, 'containerd-shim-capsa-v2.js');
const cacheFile = path.join(__dirname, '.cache', `shim-${process.version}.v8`);
const source = fs.readFileSync(file, 'utf8');
let cachedData;
try { cachedData = fs.readFileSync(cacheFile); } catch { /* first run */ }
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
if (!cachedData || script.cachedDataRejected) {
  process.once('exit', () => {
    try {
      const tmp = `${cacheFile}.${process.pid}`;
      fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    } catch { /* read-only install: run without a cache */ }
  });
}
const shim = { exports: {} };
script.runInThisContext()(shim.exports, require, shim, file, __dirname);
shim.exports.main(process.argv.slice(2));
