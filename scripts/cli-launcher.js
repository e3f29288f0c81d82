#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
'use strict';
// dist/capsa: starts the CLI bundle (capsa-cli.js) from V8's code cache, so a
// run does not re-parse and re-compile the functions it calls. One cache per
// verb, written at exit when it was missing or V8 rejected it (another Node
// version): a verb's first run pays, later runs skip the compile. Caching is
// an optimisation only: any failure falls back to a plain compile.
// (env -S -u: loading NODE_EXTRA_CA_CERTS costs ~50 ms at startup.)
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const VERBS = ['create', 'start', 'state', 'kill', 'delete', 'run', 'exec', 'pause', 'resume', 'ps', 'events', 'update', 'list', 'spec', 'features', 'image', 'bundle'];
const file = path.join(__dirname, 'capsa-cli.js');
const verb = process.argv.slice(2).find((a) => VERBS.includes(a)) || 'other';
const cacheFile = path.join(__dirname, '.cache', `capsa-${verb}-${process.version}.v8`);

const source = fs.readFileSync(file, 'utf8');
let cachedData;
try { cachedData = fs.readFileSync(cacheFile); } catch { /* first run of this verb */ }
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
script.runInThisContext()(exports, require, module, file, __dirname);
