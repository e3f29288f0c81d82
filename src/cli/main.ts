// capsa's command line: runc's grammar. Global flags, then a verb; each verb
// lives in its own module and is loaded only when called.
import { out } from './output';
import { CapsaError } from '../errors';
import { parseFlags, type FlagSpec } from './args';
import type { CliContext, Verb } from './context';
import { logDebug, logError, logWarning, type LogTarget } from './log';

declare const CAPSA_VERSION: string;
const VERSION = typeof CAPSA_VERSION === 'string' ? CAPSA_VERSION : '0.0.0-dev';
export const SPEC_VERSION = '1.3.0';

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', type: 'string' },
  { name: 'log', type: 'string' },
  { name: 'log-format', type: 'string' },
  { name: 'debug', type: 'bool' },
  { name: 'systemd-cgroup', type: 'bool' },
  { name: 'rootless', type: 'string' },
  { name: 'criu', type: 'string' },
  { name: 'version', short: 'v', type: 'bool' },
  { name: 'help', short: 'h', type: 'bool' },
];

const VERBS: Record<string, () => Verb> = {
  create: () => require('./verbs/create').create,
  start: () => require('./verbs/start').start,
  state: () => require('./verbs/state').state,
  kill: () => require('./verbs/kill').kill,
  delete: () => require('./verbs/delete').del,
  run: () => require('./verbs/run').run,
  exec: () => require('./verbs/exec').exec,
  pause: () => require('./verbs/pause-resume-ps-events-update').pause,
  resume: () => require('./verbs/pause-resume-ps-events-update').resume,
  ps: () => require('./verbs/pause-resume-ps-events-update').ps,
  events: () => require('./verbs/pause-resume-ps-events-update').events,
  update: () => require('./verbs/pause-resume-ps-events-update').update,
  image: () => (args, ctx) => imageVerbs().imageCommand(args, { root: ctx.root }),
  bundle: () => (args, ctx) => imageVerbs().bundleCommand(args, { root: ctx.root }),
  list: () => require('./verbs/list').list,
  spec: () => require('./verbs/spec').spec,
  features: () => require('./verbs/features').features,
};

// The image verbs pull in tar and zstd code that no other verb needs: the
// bundled CLI ships them as a separate file (dist/capsa-image.js) so every
// other command starts without parsing them. The compiled CLI has them inside
// (as bytecode, which costs nothing until called).
declare const CAPSA_COMPILED: boolean;
type ImageVerb = (args: string[], globals: { root: string }) => Promise<number>;
function imageVerbs(): { imageCommand: ImageVerb; bundleCommand: ImageVerb } {
  if (typeof CAPSA_COMPILED !== 'undefined' && CAPSA_COMPILED) {
    // Layers are hashed, decompressed and untarred here: hot loops, for the JIT.
    (require('./jit') as typeof import('./jit')).fullJit();
    return require('./image-chunk');
  }
  const path = require('node:path') as typeof import('node:path');
  const fs = require('node:fs') as typeof import('node:fs');
  const chunk = path.join(__dirname, 'capsa-image.js');
  const load = require;
  if (fs.existsSync(chunk)) return load(chunk);
  return { imageCommand: load('./verbs/image').imageCommand, bundleCommand: load('./verbs/bundle').bundleCommand };
}

const USAGE = `capsa — an OCI container runtime

usage: capsa [global options] command [command options] [arguments...]

commands:
  create, start, run, exec, state, kill, delete, list, pause, resume, ps,
  events, update, spec, features, image, bundle

global options:
  --root DIR         state directory (default /run/capsa)
  --log FILE         log file
  --log-format FMT   text or json
  --debug            debug logging
  --systemd-cgroup   use the systemd cgroup driver
  --version, -v      print the version
`;

export async function main(argv: string[]): Promise<number> {
  const log: LogTarget = { format: 'text', debug: false };
  try {
    const { flags, positional } = parseFlags(argv, GLOBAL_FLAGS);
    if (flags.log !== undefined) log.file = flags.log as string;
    if (flags['log-format'] !== undefined) {
      if (flags['log-format'] !== 'text' && flags['log-format'] !== 'json') throw new CapsaError('INVALID_ARGUMENT', `invalid log-format: ${flags['log-format'] as string}`);
      log.format = flags['log-format'];
    }
    log.debug = !!flags.debug;
    if (flags.version) {
      out(`capsa version ${VERSION}\nspec: ${SPEC_VERSION}\n`);
      return 0;
    }
    const [verb, ...rest] = positional;
    if (!verb || flags.help || verb === 'help') {
      out(USAGE);
      return 0;
    }
    const load = VERBS[verb];
    // runc (urfave/cli) exits 3 for an unknown command.
    if (!load) throw new CapsaError('INVALID_ARGUMENT', `No help topic for '${verb}'`, { exitStatus: 3 });
    let runtime: import('../runtime/runtime').Runtime | undefined;
    const ctx: CliContext = {
      root: (flags.root as string | undefined) ?? '/run/capsa',
      log,
      systemdCgroup: !!flags['systemd-cgroup'],
      warn: (m) => logWarning(log, m),
      runtime: () => {
        if (!runtime) {
          const { Runtime } = require('../runtime/runtime') as typeof import('../runtime/runtime');
          runtime = new Runtime({ root: ctx.root, systemdCgroup: ctx.systemdCgroup, reapChildren: false, onWarning: ctx.warn, onDebug: (m) => logDebug(log, m) });
        }
        return runtime;
      },
    };
    logDebug(log, `capsa ${argv.join(' ')}`);
    return await load()(rest, ctx);
  } catch (e) {
    if (e instanceof CapsaError) {
      logError(log, e.message);
      if (log.debug && e.cause) logDebug(log, String((e.cause as Error).stack ?? e.cause));
      return e.exitStatus ?? 1;
    }
    // A bug, not a user error: still one line for engines, the stack on --debug.
    const err = e as Error;
    logError(log, `internal error: ${err?.message ?? String(e)}`);
    logDebug(log, String(err?.stack));
    return 1;
  }
}
