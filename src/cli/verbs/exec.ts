import * as fs from 'node:fs';
import { CapsaError } from '../../errors';
import { validateProcess } from '../../spec/validate';
import type { Process } from '../../spec/types';
import { parseFlags } from '../args';
import type { Verb } from '../context';
import { foreground, SignalForwarder } from '../foreground';

function readProcessFile(file: string): Process {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CapsaError('INVALID_ARGUMENT', `process file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CapsaError('INVALID_ARGUMENT', `process file ${file}: invalid JSON: ${(e as Error).message}`);
  }
  validateProcess(raw, 'process');
  return raw as Process;
}

function parseUser(value: string): { uid: number; gid?: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(value);
  if (!m) throw new CapsaError('INVALID_ARGUMENT', `invalid --user "${value}": expected UID[:GID]`);
  return { uid: Number(m[1]), gid: m[2] === undefined ? undefined : Number(m[2]) };
}

/** runc exec's process: the container's, changed by the flags. */
function processFromFlags(base: Process, flags: Record<string, unknown>, args: string[]): Process {
  if (args.length === 0) throw new CapsaError('INVALID_ARGUMENT', 'exec: no command given: capsa exec [command options] <container-id> <command> [command options]');
  const env = [...(base.env ?? [])];
  for (const kv of (flags.env as string[] | undefined) ?? []) {
    const key = kv.split('=')[0];
    const i = env.findIndex((e) => e.split('=')[0] === key);
    if (i >= 0) env[i] = kv; else env.push(kv);
  }
  const user = { ...base.user };
  if (flags.user) {
    const u = parseUser(flags.user as string);
    user.uid = u.uid;
    if (u.gid !== undefined) user.gid = u.gid;
  }
  const gids = (flags['additional-gids'] as string[] | undefined)?.map((g) => {
    if (!/^\d+$/.test(g)) throw new CapsaError('INVALID_ARGUMENT', `invalid --additional-gids "${g}"`);
    return Number(g);
  });
  if (gids) user.additionalGids = gids;
  const caps = { ...(base.capabilities ?? {}) };
  for (const cap of (flags.cap as string[] | undefined) ?? []) {
    const name = cap.toUpperCase().startsWith('CAP_') ? cap.toUpperCase() : `CAP_${cap.toUpperCase()}`;
    for (const set of ['bounding', 'effective', 'permitted'] as const) caps[set] = [...(caps[set] ?? []), name];
  }
  const proc: Process = {
    ...base, args, env, user, capabilities: caps, terminal: !!flags.tty,
    cwd: (flags.cwd as string | undefined) ?? base.cwd,
    noNewPrivileges: !!flags['no-new-privs'] || !!base.noNewPrivileges,
  };
  delete proc.consoleSize;
  if (flags.apparmor) proc.apparmorProfile = flags.apparmor as string;
  if (flags['process-label']) proc.selinuxLabel = flags['process-label'] as string;
  validateProcess(proc, 'process');
  return proc;
}

export const exec: Verb = async (args, ctx) => {
  const { flags, positional } = parseFlags(args, [
    { name: 'process', short: 'p', type: 'string' },
    { name: 'tty', short: 't', type: 'bool' },
    { name: 'console-socket', type: 'string' },
    { name: 'detach', short: 'd', type: 'bool' },
    { name: 'pid-file', type: 'string' },
    { name: 'cwd', type: 'string' },
    { name: 'env', short: 'e', type: 'list' },
    { name: 'user', short: 'u', type: 'string' },
    { name: 'additional-gids', short: 'g', type: 'list' },
    { name: 'cap', short: 'c', type: 'list' },
    { name: 'no-new-privs', type: 'bool' },
    { name: 'apparmor', type: 'string' },
    { name: 'process-label', type: 'string' },
    { name: 'preserve-fds', type: 'int' },
    { name: 'cgroup', type: 'list' },
    { name: 'ignore-paused', type: 'bool' },
    { name: 'pidfd-socket', type: 'string' },
  ]);
  const [id, ...cmd] = positional;
  if (!id) throw new CapsaError('INVALID_ARGUMENT', '"exec" requires a minimum of 1 argument: capsa exec [command options] <container-id> <command> [command options]');
  try {
    return await execIn(id, cmd, flags, ctx);
  } catch (e) {
    // runc: any failure of the exec itself (after the arguments) exits 255.
    if (e instanceof CapsaError) e.exitStatus = 255;
    throw e;
  }
};

async function execIn(id: string, cmd: string[], flags: Record<string, unknown>, ctx: Parameters<Verb>[1]): Promise<number> {
  const rt = ctx.runtime();
  const proc = flags.process ? readProcessFile(flags.process as string) : processFromFlags(rt.process(id), flags, cmd);
  if (flags.process && flags.tty) proc.terminal = true;
  const detach = !!flags.detach;
  if (flags['console-socket'] && !detach) throw new CapsaError('INVALID_ARGUMENT', 'cannot use console socket if capsa will not detach or allocate tty');
  const foregroundTerminal = !!proc.terminal && !flags['console-socket'] && !detach;
  // Armed before the process starts, so a signal sent as soon as it runs is forwarded.
  const forwarder = detach ? undefined : new SignalForwarder(foregroundTerminal);
  let p;
  try {
    p = await rt.exec(id, proc, {
      consoleSocket: flags['console-socket'] as string | undefined,
      foregroundTerminal,
      pidFile: flags['pid-file'] as string | undefined,
      preserveFds: (flags['preserve-fds'] as number | undefined) ?? 0,
      cgroup: flags.cgroup as string[] | undefined,
      ignorePaused: !!flags['ignore-paused'],
      pidfdSocket: flags['pidfd-socket'] as string | undefined,
    });
  } catch (e) {
    forwarder?.close();
    throw e;
  }
  if (detach) return 0;
  const started = p;
  return foreground(started.handle(), () => started.wait(), started.io.ptyMaster, undefined, forwarder);
}
