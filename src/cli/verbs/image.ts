// `capsa image unpack|ls|rm|gc`: images into bundles, and the layer store.
import { CapsaError } from '../../errors';
import { LayerStore, DEFAULT_STORE, unpackImage, type UnpackProgress } from '../../image';

const USAGE = `usage:
  capsa image unpack SOURCE BUNDLE_DIR [--ref TAG] [--platform OS/ARCH[/VARIANT]] [--flat] [--store DIR] [--max-layer-size SIZE] [--quiet]
  capsa image ls [--store DIR] [--format table|json]
  capsa image rm REF [--store DIR]
  capsa image gc [--store DIR]
SOURCE is an OCI image layout directory, an oci-archive tarball or a docker save tarball.`;

interface FlagDef {
  bool?: boolean;
  alias?: string;
}

/** Flags anywhere among the positionals (`unpack SRC DST --ref x`), --flag value or --flag=value. */
export function parseVerbArgs(args: string[], defs: Record<string, FlagDef>): { flags: Record<string, string | boolean>; positional: string[] } {
  const flags: Record<string, string | boolean> = {};
  const positional: string[] = [];
  const names = new Map<string, string>();
  for (const [name, def] of Object.entries(defs)) {
    names.set(name, name);
    if (def.alias) names.set(def.alias, name);
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = names.get(eq >= 0 ? body.slice(0, eq) : body);
    if (!name) throw new CapsaError('INVALID_ARGUMENT', `flag provided but not defined: ${arg}\n${USAGE}`);
    if (defs[name]!.bool) flags[name] = eq < 0 || body.slice(eq + 1) === 'true';
    else if (eq >= 0) flags[name] = body.slice(eq + 1);
    else if (i + 1 < args.length) flags[name] = args[++i]!;
    else throw new CapsaError('INVALID_ARGUMENT', `flag needs an argument: ${arg}`);
  }
  return { flags, positional };
}

function str(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** A one-line progress bar on a terminal, redrawn at most every 100 ms. */
function progressRenderer(out: NodeJS.WriteStream): { update(p: UnpackProgress): void; clear(): void } {
  let last = 0;
  let drawn = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 100 && p.phase === 'layers' && p.bytesDone < p.bytesTotal) return;
      last = now;
      const width = 30;
      const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : p.phase === 'done' ? 1 : 0;
      const filled = Math.round(frac * width);
      const current = Math.min(p.layersDone + 1, p.layersTotal);
      const what =
        p.phase !== 'layers' ? p.phase : p.layersTotal === 0 ? `${p.layersCached} layers cached` : `layer ${current}/${p.layersTotal}${p.layersCached ? ` (+${p.layersCached} cached)` : ''}`;
      const line = `${what.padEnd(26)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(frac * 100)).padStart(3)}%  ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}`;
      out.write(`\r\x1b[K${line}`);
      drawn = true;
    },
    clear() {
      if (drawn) out.write('\r\x1b[K');
    },
  };
}

/** "4096", "512m", "64G" → bytes; undefined stays undefined. */
function byteSize(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)([kmgt]?)i?b?$/i.exec(value.trim());
  if (!m) throw new CapsaError('INVALID_ARGUMENT', `${flag}: expected a size like 4096, 512m or 64g, got ${JSON.stringify(value)}`);
  return Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
}

async function unpackVerb(args: string[]): Promise<number> {
  const { flags, positional } = parseVerbArgs(args, {
    ref: {},
    platform: {},
    store: {},
    flat: { bool: true },
    quiet: { bool: true, alias: 'q' },
    'max-layer-size': {},
  });
  if (positional.length !== 2) throw new CapsaError('INVALID_ARGUMENT', `"image unpack" requires 2 arguments: SOURCE BUNDLE_DIR\n${USAGE}`);
  const out = process.stdout;
  const show = out.isTTY === true && !flags.quiet;
  const bar = show ? progressRenderer(out) : undefined;
  try {
    const r = await unpackImage({
      source: positional[0]!,
      bundle: positional[1]!,
      ref: str(flags.ref),
      platform: str(flags.platform),
      flat: flags.flat === true,
      store: str(flags.store),
      onProgress: bar?.update,
      maxLayerBytes: byteSize(str(flags['max-layer-size']), '--max-layer-size'),
    });
    bar?.clear();
    if (show) {
      const cached = r.layers.filter((l) => l.cached).length;
      const name = r.image.refNames[0] ?? r.image.id.slice(0, 19);
      out.write(`unpacked ${name} into ${r.bundle} (${r.mode}, ${r.layers.length} layers${cached ? `, ${cached} cached` : ''})\n`);
    }
  } catch (e) {
    bar?.clear();
    throw e;
  }
  return 0;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ')).join('\n') + '\n';
}

function lsVerb(args: string[]): number {
  const { flags, positional } = parseVerbArgs(args, { store: {}, format: { alias: 'f' } });
  if (positional.length > 0) throw new CapsaError('INVALID_ARGUMENT', `"image ls" takes no arguments\n${USAGE}`);
  const store = new LayerStore(str(flags.store) ?? DEFAULT_STORE);
  const images = store.listImages();
  const layers = store.listLayers();
  const refs = store.listRefs();
  const users = (diffID: string): number => refs.filter((r) => r.layers.includes(diffID)).length;
  const size = new Map(layers.map((l) => [l.diffID, l.bytes]));
  const format = str(flags.format) ?? 'table';
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify({ images, layers: layers.map((l) => ({ ...l, bundles: users(l.diffID) })) }, null, 2)}\n`);
    return 0;
  }
  if (format !== 'table') throw new CapsaError('INVALID_ARGUMENT', `invalid format "${format}": table or json`);
  const imageRows = images.map((img) => [
    img.id.slice(0, 19),
    img.refNames.join(',') || '<none>',
    String(img.layers.length),
    formatBytes(img.layers.reduce((n, d) => n + (size.get(d) ?? 0), 0)),
    img.source,
  ]);
  process.stdout.write(table([['IMAGE', 'NAMES', 'LAYERS', 'SIZE', 'SOURCE'], ...imageRows]));
  process.stdout.write('\n');
  const layerRows = layers.map((l) => [l.diffID.slice(0, 19), formatBytes(l.bytes), String(l.entries), String(users(l.diffID))]);
  process.stdout.write(table([['LAYER', 'SIZE', 'ENTRIES', 'BUNDLES'], ...layerRows]));
  return 0;
}

function rmVerb(args: string[]): number {
  const { flags, positional } = parseVerbArgs(args, { store: {} });
  if (positional.length !== 1) throw new CapsaError('INVALID_ARGUMENT', `"image rm" requires 1 argument: REF\n${USAGE}`);
  const removed = new LayerStore(str(flags.store) ?? DEFAULT_STORE).removeImage(positional[0]!);
  if (removed.length === 0) throw new CapsaError('NOT_FOUND', `image ${positional[0]} is not in the store`);
  for (const img of removed) process.stdout.write(`${img.id}\n`);
  return 0;
}

function gcVerb(args: string[]): number {
  const { flags, positional } = parseVerbArgs(args, { store: {}, quiet: { bool: true, alias: 'q' } });
  if (positional.length > 0) throw new CapsaError('INVALID_ARGUMENT', `"image gc" takes no arguments\n${USAGE}`);
  const r = new LayerStore(str(flags.store) ?? DEFAULT_STORE).gc();
  if (!flags.quiet) {
    const bytes = r.layers.reduce((n, l) => n + l.bytes, 0);
    process.stdout.write(`removed ${r.layers.length} layers (${formatBytes(bytes)})${r.staleRefs.length ? `, ${r.staleRefs.length} stale bundle refs` : ''}\n`);
  }
  return 0;
}

export async function imageCommand(args: string[], _globals: { root: string }): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'unpack':
      return unpackVerb(rest);
    case 'ls':
    case 'list':
      return lsVerb(rest);
    case 'rm':
      return rmVerb(rest);
    case 'gc':
      return gcVerb(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return sub === undefined ? 1 : 0;
    default:
      throw new CapsaError('INVALID_ARGUMENT', `unknown image command "${sub}"\n${USAGE}`);
  }
}
