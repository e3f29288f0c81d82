// pause, resume, ps, events and update: the verbs that work through cgroups.
import { out } from '../output';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { CapsaError } from '../../errors';
import type { Resources } from '../../spec/types';
import { expectArgs, parseFlags } from '../args';
import type { Verb } from '../context';

export const pause: Verb = async (args, ctx) => {
  const { positional } = parseFlags(args, []);
  expectArgs('pause', positional, 1, 'capsa pause <container-id>');
  await ctx.runtime().pause(positional[0]!);
  return 0;
};

export const resume: Verb = async (args, ctx) => {
  const { positional } = parseFlags(args, []);
  expectArgs('resume', positional, 1, 'capsa resume <container-id>');
  await ctx.runtime().resume(positional[0]!);
  return 0;
};

export const ps: Verb = async (args, ctx) => {
  const { flags, positional } = parseFlags(args, [{ name: 'format', short: 'f', type: 'string' }]);
  const [id, ...psArgs] = positional;
  if (!id) throw new CapsaError('INVALID_ARGUMENT', '"ps" requires a minimum of 1 argument: capsa ps [command options] <container-id> [ps options]');
  const format = (flags.format as string | undefined) ?? 'table';
  if (format !== 'table' && format !== 'json') throw new CapsaError('INVALID_ARGUMENT', `invalid format option: ${format}`);
  const pids = await ctx.runtime().pids(id);
  if (format === 'json') {
    out(JSON.stringify(pids) + '\n');
    return 0;
  }
  // Like runc: run the host's ps and keep the header and the container's lines.
  const r = spawnSync('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8' });
  if (r.status !== 0) throw new CapsaError('INVALID_ARGUMENT', `ps: ${(r.stderr || r.error?.message || 'failed').trim()}`);
  const lines = r.stdout.split('\n');
  const header = lines[0] ?? '';
  const col = header.trim().split(/\s+/).indexOf('PID');
  if (col < 0) throw new CapsaError('INVALID_ARGUMENT', "ps: couldn't find PID field in ps output");
  const wanted = new Set(pids);
  const table = [header, ...lines.slice(1).filter((l) => wanted.has(Number(l.trim().split(/\s+/)[col])))];
  out(table.join('\n') + '\n');
  return 0;
};

function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s);
  if (!m) throw new CapsaError('INVALID_ARGUMENT', `invalid duration "${s}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = Number(m[1]) * unit;
  if (ms <= 0) throw new CapsaError('INVALID_ARGUMENT', 'duration interval must be greater than 0');
  return ms;
}

export const events: Verb = async (args, ctx) => {
  const { flags, positional } = parseFlags(args, [
    { name: 'stats', type: 'bool' },
    { name: 'interval', type: 'string' },
  ]);
  expectArgs('events', positional, 1, 'capsa events [command options] <container-id>');
  const id = positional[0]!;
  const runtime = ctx.runtime();
  if (flags.stats) {
    const data = await runtime.stats(id);
    out(JSON.stringify({ type: 'stats', id, data }) + '\n');
    return 0;
  }
  const interval = parseDuration((flags.interval as string | undefined) ?? '5s');
  await runtime.events(id, interval, (e) => out(JSON.stringify(e) + '\n'));
  return 0;
};

// "128m", "1g", "1024": docker-style sizes (binary units), -1 for unlimited.
function parseBytes(flag: string, s: string): number {
  const m = /^(-?\d+)([bkmg]?)b?$/i.exec(s.trim());
  if (!m) throw new CapsaError('INVALID_ARGUMENT', `invalid value for --${flag}: ${s}`);
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}

function parseNumber(flag: string, s: string): number {
  if (!/^-?\d+$/.test(s)) throw new CapsaError('INVALID_ARGUMENT', `invalid value for --${flag}: ${s}`);
  return Number(s);
}

function readResources(source: string): Resources {
  let text: string;
  try {
    text = source === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(source, 'utf8');
  } catch (e) {
    throw new CapsaError('INVALID_ARGUMENT', `--resources ${source}: ${(e as Error).message}`);
  }
  try {
    const r = JSON.parse(text) as unknown;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error('expected a JSON object');
    return r as Resources;
  } catch (e) {
    throw new CapsaError('INVALID_ARGUMENT', `--resources ${source}: invalid JSON: ${(e as Error).message}`);
  }
}

export const update: Verb = async (args, ctx) => {
  const { flags, positional } = parseFlags(args, [
    { name: 'resources', short: 'r', type: 'string' },
    { name: 'memory', type: 'string' },
    { name: 'memory-swap', type: 'string' },
    { name: 'memory-reservation', type: 'string' },
    { name: 'kernel-memory', type: 'string' },
    { name: 'kernel-memory-tcp', type: 'string' },
    { name: 'cpu-quota', type: 'string' },
    { name: 'cpu-period', type: 'string' },
    { name: 'cpu-share', type: 'string' },
    { name: 'cpu-burst', type: 'string' },
    { name: 'cpu-idle', type: 'string' },
    { name: 'cpu-rt-period', type: 'string' },
    { name: 'cpu-rt-runtime', type: 'string' },
    { name: 'cpuset-cpus', type: 'string' },
    { name: 'cpuset-mems', type: 'string' },
    { name: 'pids-limit', type: 'string' },
    { name: 'blkio-weight', type: 'string' },
    { name: 'l3-cache-schema', type: 'string' },
    { name: 'mem-bw-schema', type: 'string' },
  ]);
  expectArgs('update', positional, 1, 'capsa update [command options] <container-id>');
  const r: Resources = flags.resources ? readResources(flags.resources as string) : {};
  const f = (name: string) => flags[name] as string | undefined;
  const mem = { ...(r.memory ?? {}) };
  if (f('memory') !== undefined) mem.limit = parseBytes('memory', f('memory')!);
  if (f('memory-swap') !== undefined) mem.swap = parseBytes('memory-swap', f('memory-swap')!);
  if (f('memory-reservation') !== undefined) mem.reservation = parseBytes('memory-reservation', f('memory-reservation')!);
  if (f('kernel-memory') !== undefined) mem.kernel = parseBytes('kernel-memory', f('kernel-memory')!);
  if (f('kernel-memory-tcp') !== undefined) mem.kernelTCP = parseBytes('kernel-memory-tcp', f('kernel-memory-tcp')!);
  if (Object.keys(mem).length) r.memory = mem;
  const cpu = { ...(r.cpu ?? {}) };
  if (f('cpu-quota') !== undefined) cpu.quota = parseNumber('cpu-quota', f('cpu-quota')!);
  if (f('cpu-period') !== undefined) cpu.period = parseNumber('cpu-period', f('cpu-period')!);
  if (f('cpu-share') !== undefined) cpu.shares = parseNumber('cpu-share', f('cpu-share')!);
  if (f('cpu-burst') !== undefined) cpu.burst = parseNumber('cpu-burst', f('cpu-burst')!);
  if (f('cpu-idle') !== undefined) cpu.idle = parseNumber('cpu-idle', f('cpu-idle')!);
  if (f('cpu-rt-period') !== undefined) cpu.realtimePeriod = parseNumber('cpu-rt-period', f('cpu-rt-period')!);
  if (f('cpu-rt-runtime') !== undefined) cpu.realtimeRuntime = parseNumber('cpu-rt-runtime', f('cpu-rt-runtime')!);
  if (f('cpuset-cpus') !== undefined) cpu.cpus = f('cpuset-cpus');
  if (f('cpuset-mems') !== undefined) cpu.mems = f('cpuset-mems');
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (f('pids-limit') !== undefined) r.pids = { limit: parseNumber('pids-limit', f('pids-limit')!) };
  if (f('blkio-weight') !== undefined) r.blockIO = { ...(r.blockIO ?? {}), weight: parseNumber('blkio-weight', f('blkio-weight')!) };
  if (f('l3-cache-schema') || f('mem-bw-schema')) throw new CapsaError('UNSUPPORTED', 'Intel RDT is not supported by capsa');
  const warnings = await ctx.runtime().update(positional[0]!, r);
  warnings.forEach(ctx.warn);
  return 0;
};
