// containerd-shim-capsa-v2: the entry point (bundled to
// dist/containerd-shim-capsa-v2.js; dist/containerd-shim-capsa-v2 runs it
// with the Node it was built with). Actions: `start`, `delete`, or none to
// serve. Bad flags: one line on stderr, exit status 1.
import { CapsaError } from '../errors';
import { parseFlags, requireFlags } from './flags';

declare const CAPSA_VERSION: string;

function fail(e: unknown): never {
  const msg = e instanceof CapsaError ? e.message : (e as Error)?.stack ?? String(e);
  process.stderr.write(`containerd-shim-capsa-v2: ${msg}\n`);
  process.exit(1);
}

export async function main(argv: string[]): Promise<void> {
  let flags;
  try {
    flags = parseFlags(argv);
    requireFlags(flags);
  } catch (e) {
    fail(e);
  }
  if (flags.version) {
    process.stdout.write(`containerd-shim-capsa-v2:\n  Version:  ${typeof CAPSA_VERSION === 'string' ? CAPSA_VERSION : 'dev'}\n  Runtime:  io.containerd.capsa.v2 (Node ${process.version})\n`);
    return;
  }
  if (flags.spare) {
    await (require('./spare') as typeof import('./spare')).runSpare().catch(() => process.exit(1));
    return;
  }
  try {
    switch (flags.action) {
      case 'start': {
        const { address, newDaemon } = await (require('./start') as typeof import('./start')).start(flags);
        // The next task's start can hand its pod to a shim that has already booted.
        if (newDaemon) (require('./spare') as typeof import('./spare')).ensureSpare();
        process.stdout.write(address);
        process.exit(0);
        break;
      }
      case 'delete': {
        const out = await (require('./delete') as typeof import('./delete')).deleteAction(flags);
        process.stdout.write(out);
        process.exit(0);
        break;
      }
      default:
        await (require('./daemon') as typeof import('./daemon')).serve(flags);
    }
  } catch (e) {
    fail(e);
  }
}
