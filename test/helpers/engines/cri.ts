// A minimal Kubernetes CRI client (runtime.v1 over gRPC on a unix socket),
// enough to drive containerd's CRI plugin the way the kubelet does for a pod
// with a RuntimeClass: RunPodSandbox with a runtime handler, CreateContainer,
// StartContainer, ExecSync, UpdateContainerResources, ContainerStatus, Stop/
// Remove. No grpc or protobuf package: the few messages needed are encoded
// by hand (field numbers from k8s.io/cri-api runtime/v1 api.proto), and gRPC
// is plain HTTP/2 with a 5-byte length prefix per message.
import * as http2 from 'node:http2';
import * as net from 'node:net';

// ---- protobuf, the subset we need ----

function varint(value: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return Buffer.from(out);
}

const tag = (no: number, wire: number) => varint((no << 3) | wire);
const lenDelimited = (no: number, payload: Buffer) => Buffer.concat([tag(no, 2), varint(payload.length), payload]);

/** A message from its encoded fields (undefined entries are skipped). */
export const msg = (...fields: (Buffer | undefined)[]): Buffer => Buffer.concat(fields.filter((f): f is Buffer => !!f));
export const str = (no: number, s?: string): Buffer | undefined => (s ? lenDelimited(no, Buffer.from(s)) : undefined);
export const strs = (no: number, list: readonly string[] = []): Buffer => Buffer.concat(list.map((s) => lenDelimited(no, Buffer.from(s))));
/** An embedded message (present even when empty). */
export const sub = (no: number, m?: Buffer): Buffer | undefined => (m ? lenDelimited(no, m) : undefined);
export const int = (no: number, n?: number | bigint): Buffer | undefined => (n ? Buffer.concat([tag(no, 0), varint(n)]) : undefined);
export const bool = (no: number, b?: boolean): Buffer | undefined => (b ? Buffer.concat([tag(no, 0), varint(1)]) : undefined);
export const map = (no: number, obj: Record<string, string> = {}): Buffer =>
  Buffer.concat(Object.entries(obj).map(([k, v]) => lenDelimited(no, msg(str(1, k), str(2, v)))));

export type Decoded = Map<number, (bigint | Buffer)[]>;

/** Decodes one level of a message: field number → values (varints as bigint, the rest as bytes). */
export function decode(buf: Buffer): Decoded {
  const out: Decoded = new Map();
  let i = 0;
  const readVarint = (): bigint => {
    let shift = 0n;
    let v = 0n;
    for (;;) {
      const b = buf[i++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(readVarint());
    const no = key >> 3;
    const wire = key & 7;
    let value: bigint | Buffer;
    if (wire === 0) value = readVarint();
    else if (wire === 2) {
      const len = Number(readVarint());
      value = buf.subarray(i, i + len);
      i += len;
    } else if (wire === 1) { value = buf.subarray(i, i + 8); i += 8; } else if (wire === 5) { value = buf.subarray(i, i + 4); i += 4; } else throw new Error(`protobuf: wire type ${wire} not handled`);
    if (!out.has(no)) out.set(no, []);
    out.get(no)!.push(value);
  }
  return out;
}

export const getStr = (d: Decoded, no: number): string => ((d.get(no)?.[0] as Buffer | undefined)?.toString() ?? '');
export const getMsg = (d: Decoded, no: number): Decoded => decode((d.get(no)?.[0] as Buffer | undefined) ?? Buffer.alloc(0));
export const getInt = (d: Decoded, no: number): number => Number(BigInt.asIntN(64, (d.get(no)?.[0] as bigint | undefined) ?? 0n));

// ---- gRPC over HTTP/2 ----

export class GrpcError extends Error {
  constructor(readonly path: string, readonly status: number, readonly details: string) {
    super(`${path}: grpc status ${status}: ${details}`);
  }
}

export class CriClient {
  private session: http2.ClientHttp2Session;

  constructor(readonly socket: string) {
    this.session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
    this.session.on('error', () => {});
  }

  close(): void {
    this.session.close();
    this.session.destroy();
  }

  /** One unary call, e.g. call('RuntimeService', 'Version', body). */
  call(service: string, method: string, body: Buffer, timeoutMs = 60_000): Promise<Decoded> {
    const path = `/runtime.v1.${service}/${method}`;
    return new Promise((resolve, reject) => {
      const req = this.session.request({
        ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${timeoutMs}m`,
      });
      const chunks: Buffer[] = [];
      let status: number | undefined;
      let details = '';
      const timer = setTimeout(() => { req.close(http2.constants.NGHTTP2_CANCEL); reject(new GrpcError(path, 4, `no answer in ${timeoutMs} ms`)); }, timeoutMs + 2000);
      const takeStatus = (h: http2.IncomingHttpHeaders) => {
        if (h['grpc-status'] !== undefined) {
          status = Number(h['grpc-status']);
          details = decodeURIComponent(String(h['grpc-message'] ?? ''));
        }
      };
      req.on('response', takeStatus);
      req.on('trailers', takeStatus);
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', (e) => { clearTimeout(timer); reject(e); });
      req.on('end', () => {
        clearTimeout(timer);
        if (status !== 0) return reject(new GrpcError(path, status ?? -1, details));
        const data = Buffer.concat(chunks);
        resolve(decode(data.length >= 5 ? data.subarray(5, 5 + data.readUInt32BE(1)) : Buffer.alloc(0)));
      });
      const frame = Buffer.alloc(5);
      frame.writeUInt32BE(body.length, 1);
      req.end(Buffer.concat([frame, body]));
    });
  }

  runtime(method: string, body: Buffer, timeoutMs?: number): Promise<Decoded> {
    return this.call('RuntimeService', method, body, timeoutMs);
  }
}

// ---- the messages ----

export const NAMESPACE_MODE = { POD: 0, CONTAINER: 1, NODE: 2 } as const;
export const CONTAINER_STATE = ['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_UNKNOWN'] as const;

export interface PodSpec {
  name: string;
  uid: string;
  namespace: string;
  logDirectory: string;
  cgroupParent: string;
}

/** PodSandboxConfig with host networking (no CNI here) and a private pid namespace per container. */
export function podSandboxConfig(p: PodSpec): Buffer {
  const nsOptions = msg(int(1, NAMESPACE_MODE.NODE), int(2, NAMESPACE_MODE.CONTAINER), int(3, NAMESPACE_MODE.POD));
  return msg(
    sub(1, msg(str(1, p.name), str(2, p.uid), str(3, p.namespace))),
    str(3, p.logDirectory),
    map(6, { app: 'capsa-test' }),
    sub(8, msg(str(1, p.cgroupParent), sub(2, msg(sub(1, nsOptions))))),
  );
}

export interface ContainerSpec {
  name: string;
  image: string;
  command: string[];
  args?: string[];
  env?: Record<string, string>;
  logPath: string;
  memoryLimit?: number;
}

export function containerConfig(c: ContainerSpec): Buffer {
  const nsOptions = msg(int(1, NAMESPACE_MODE.NODE), int(2, NAMESPACE_MODE.CONTAINER), int(3, NAMESPACE_MODE.POD));
  const envs = Object.entries(c.env ?? {}).map(([k, v]) => sub(6, msg(str(1, k), str(2, v))));
  return msg(
    sub(1, msg(str(1, c.name))),
    sub(2, msg(str(1, c.image))),
    strs(3, c.command),
    strs(4, c.args),
    ...envs,
    str(11, c.logPath),
    sub(15, msg(
      c.memoryLimit ? sub(1, msg(int(4, c.memoryLimit))) : undefined,
      sub(2, msg(sub(3, nsOptions))),
    )),
  );
}
