// The shim's command line, as containerd writes it (runtime/v2/shim/util.go:
// Command): Go `flag` syntax — one or two dashes, `-f v` or `-f=v` — up to the
// first positional word, the action: `start`, `delete`, or none to serve.
import { CapsaError } from '../errors';

export interface ShimFlags {
  namespace: string;
  /** containerd's gRPC socket path (-address). */
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  /** Serve on this socket path instead of the inherited fd 3. */
  socket: string;
  debug: boolean;
  version: boolean;
  /** Wait as a spare shim for a pod (see spare.ts); only capsa starts it so. */
  spare: boolean;
  titleRoom: string;
  action: '' | 'start' | 'delete';
}

const VALUE_FLAGS: Record<string, keyof ShimFlags> = {
  namespace: 'namespace', address: 'address', 'publish-binary': 'publishBinary', id: 'id', bundle: 'bundle', socket: 'socket',
  // a spare's room for the title it takes on with a pod (see spare.ts); ignored
  'title-room': 'titleRoom',
};
const BOOL_FLAGS: Record<string, keyof ShimFlags> = { debug: 'debug', v: 'version', spare: 'spare' };

export function parseFlags(argv: readonly string[]): ShimFlags {
  const f: ShimFlags = { namespace: '', address: '', publishBinary: '', id: '', bundle: '', socket: '', debug: false, version: false, spare: false, titleRoom: '', action: '' };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { i++; break; }
    if (!a.startsWith('-') || a === '-') break;
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (BOOL_FLAGS[name]) {
      const v = eq >= 0 ? body.slice(eq + 1) : 'true';
      if (!/^(1|0|t|f|true|false|TRUE|FALSE|True|False)$/.test(v)) throw new CapsaError('INVALID_ARGUMENT', `invalid boolean value ${JSON.stringify(v)} for -${name}`);
      (f as unknown as Record<string, unknown>)[BOOL_FLAGS[name]!] = /^(1|t|true)$/i.test(v);
      continue;
    }
    const key = VALUE_FLAGS[name];
    if (!key) throw new CapsaError('INVALID_ARGUMENT', `flag provided but not defined: -${name}`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new CapsaError('INVALID_ARGUMENT', `flag needs an argument: -${name}`);
      value = argv[++i]!;
    }
    (f as unknown as Record<string, unknown>)[key] = value;
  }
  const action = argv[i];
  if (action !== undefined) {
    if (action !== 'start' && action !== 'delete') throw new CapsaError('INVALID_ARGUMENT', `unknown action ${JSON.stringify(action)} (want start, delete, or none to serve)`);
    f.action = action;
  }
  return f;
}

/** The flags every action needs. */
export function requireFlags(f: ShimFlags): void {
  if (f.version || f.spare) return;
  if (!f.namespace) throw new CapsaError('INVALID_ARGUMENT', 'shim namespace cannot be empty (-namespace)');
  if (!f.id && f.action !== '') throw new CapsaError('INVALID_ARGUMENT', 'shim id cannot be empty (-id)');
}
