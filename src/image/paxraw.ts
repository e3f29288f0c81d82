// tar-stream decodes PAX records as UTF-8 text, which mangles binary xattr
// values (security.capability, ACLs). We keep tar-stream as the parser and
// only re-read the raw PAX bytes of each entry for the SCHILY.xattr.* records.
import type { Extract } from 'tar-stream';

const XATTR_PREFIX = 'SCHILY.xattr.';

/** Parses "LEN KEY=VALUE\n" records; returns the xattrs with their raw bytes. */
export function parsePaxXattrs(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    const space = buf.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number.parseInt(buf.toString('latin1', pos, space), 10);
    if (!(len > 0) || pos + len > buf.length) break;
    const eq = buf.indexOf(0x3d, space + 1);
    const end = pos + len - 1; // the record's trailing newline
    if (eq > space && eq < end) {
      const key = buf.toString('utf8', space + 1, eq);
      if (key.startsWith(XATTR_PREFIX)) out.set(key.slice(XATTR_PREFIX.length), Buffer.from(buf.subarray(eq + 1, end)));
    }
    pos += len;
  }
  return out;
}

export type HeaderWithXattrs = { xattrs?: Map<string, Buffer> };

interface ExtractInternals {
  _header: { type: string } & HeaderWithXattrs;
  _decodeLongHeader(buf: Buffer): void;
  _applyLongHeaders(): void;
}

/**
 * Hooks the extractor so that each entry header carries `xattrs` decoded from
 * the raw PAX bytes. If tar-stream's internals ever change, this degrades to
 * the text-decoded values rather than failing.
 */
export function captureRawXattrs(extract: Extract): boolean {
  const ex = extract as unknown as ExtractInternals;
  const decode = ex._decodeLongHeader;
  const apply = ex._applyLongHeaders;
  if (typeof decode !== 'function' || typeof apply !== 'function') return false;
  let pending: Map<string, Buffer> | undefined;
  let global: Map<string, Buffer> | undefined;
  ex._decodeLongHeader = function (this: ExtractInternals, buf: Buffer) {
    if (this._header.type === 'pax-header') pending = new Map([...(global ?? []), ...parsePaxXattrs(buf)]);
    else if (this._header.type === 'pax-global-header') global = parsePaxXattrs(buf);
    decode.call(this, buf);
  };
  ex._applyLongHeaders = function (this: ExtractInternals) {
    apply.call(this);
    const x = pending ?? global;
    if (x && x.size > 0) this._header.xattrs = x;
    pending = undefined;
  };
  return true;
}

/** Fallback when the hook is unavailable: xattrs from tar-stream's decoded PAX text. */
export function xattrsFromDecodedPax(pax: unknown): Map<string, Buffer> | undefined {
  if (!pax || typeof pax !== 'object') return undefined;
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(pax as Record<string, string>)) {
    if (k.startsWith(XATTR_PREFIX)) out.set(k.slice(XATTR_PREFIX.length), Buffer.from(v, 'utf8'));
  }
  return out.size > 0 ? out : undefined;
}
