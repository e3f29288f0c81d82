// `capsa bundle rm|mount`: release a bundle made by `image unpack`, or remount
// its overlay rootfs after a reboot.
import { CapsaError } from '../../errors';
import { mountBundle, removeBundle } from '../../image';
import { parseVerbArgs } from './image';

const USAGE = `usage:
  capsa bundle rm BUNDLE_DIR      unmount the rootfs, release the layers, delete the bundle
  capsa bundle mount BUNDLE_DIR   mount the overlay rootfs again (after a reboot)`;

export async function bundleCommand(args: string[], _globals: { root: string }): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return sub === undefined ? 1 : 0;
  }
  if (sub !== 'rm' && sub !== 'mount') throw new CapsaError('INVALID_ARGUMENT', `unknown bundle command "${sub}"\n${USAGE}`);
  const { positional } = parseVerbArgs(rest, {});
  if (positional.length !== 1) throw new CapsaError('INVALID_ARGUMENT', `"bundle ${sub}" requires 1 argument: BUNDLE_DIR\n${USAGE}`);
  if (sub === 'rm') {
    await removeBundle(positional[0]!);
    return 0;
  }
  const outcome = await mountBundle(positional[0]!);
  if (process.stdout.isTTY && outcome !== 'mounted') {
    process.stdout.write(outcome === 'flat' ? 'flat bundle: nothing to mount\n' : 'already mounted\n');
  }
  return 0;
}
