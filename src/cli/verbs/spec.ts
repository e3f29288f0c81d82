import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError } from '../../errors';
import { defaultSpec, rootlessSpec } from '../../spec/defaults';
import { parseFlags } from '../args';
import type { Verb } from '../context';

export const spec: Verb = async (args) => {
  const { flags } = parseFlags(args, [
    { name: 'bundle', short: 'b', type: 'string' },
    { name: 'rootless', type: 'bool' },
  ]);
  const file = path.join((flags.bundle as string | undefined) ?? '.', 'config.json');
  if (fs.existsSync(file)) throw new CapsaError('EXISTS', 'File config.json exists. Remove it first');
  // runc adds a cgroup namespace on a pure cgroup v2 host.
  const opts = { cgroupNamespace: fs.existsSync('/sys/fs/cgroup/cgroup.controllers') };
  const s = flags.rootless ? rootlessSpec(undefined, undefined, opts) : defaultSpec(opts);
  try {
    fs.writeFileSync(file, JSON.stringify(s, null, '\t') + '\n', { flag: 'wx', mode: 0o666 });
  } catch (e) {
    throw new CapsaError('INVALID_ARGUMENT', `write ${file}: ${(e as Error).message}`);
  }
  return 0;
};
