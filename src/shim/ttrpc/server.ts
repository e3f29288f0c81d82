// A ttrpc server over unix sockets with the rules of containerd/ttrpc 1.1's
// server.go: requests on odd stream ids run concurrently and are answered as
// they finish; an even id or an unparsable request gets InvalidArgument, an
// oversized one ResourceExhausted, an unknown service or method
// Unimplemented; other frame types are ignored. A handler's error becomes
// the response status and never touches the connection or the process.
import type * as net from 'node:net';
import { decode, encode } from '../proto/codec';
import { Request, Response, type RequestMsg } from '../proto/messages';
import { Code, FrameReader, frame, grpcCodeOf, MAX_MESSAGE, TYPE_REQUEST, TYPE_RESPONSE } from './frame';

export interface CallContext {
  /** Request metadata (containerd sends containerd-namespace-ttrpc). */
  metadata: Map<string, string>;
  /** Aborted when the client disconnects or the request's timeout passes. */
  signal: AbortSignal;
}

/**
 * A call being served. Its AbortController is made only when the handler
 * asks for the signal (Wait does): making one costs ~9 µs, a third of a
 * warm State call.
 */
class Inflight {
  private controller?: AbortController;
  aborted = false;

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.aborted) this.controller.abort();
    return this.controller.signal;
  }

  abort(): void {
    this.aborted = true;
    this.controller?.abort();
  }
}

export type Method = (payload: Buffer, ctx: CallContext) => Promise<Buffer> | Buffer;

export class TtrpcServer {
  private readonly services = new Map<string, Map<string, Method>>();
  private readonly conns = new Set<net.Socket>();
  /** Called with unexpected errors (for the shim's log); never thrown. */
  onError: (e: unknown) => void = () => {};

  register(service: string, methods: Record<string, Method>): void {
    this.services.set(service, new Map(Object.entries(methods)));
  }

  /** Serves one accepted connection until it closes. */
  serve(sock: net.Socket): void {
    this.conns.add(sock);
    const inflight = new Map<number, Inflight>();
    const send = (streamId: number, payload: Buffer | undefined, code: number = Code.OK, message = '') => {
      if (sock.destroyed) return;
      let body = encode(Response, code === Code.OK ? { payload } : { status: { code, message } });
      if (body.length > MAX_MESSAGE) body = encode(Response, { status: { code: Code.ResourceExhausted, message: `message length ${body.length} exceed maximum message size of ${MAX_MESSAGE}` } });
      sock.write(frame(streamId, TYPE_RESPONSE, body));
    };
    const reader = new FrameReader(
      (h, payload) => {
        if (h.type !== TYPE_REQUEST) return;
        let req: RequestMsg;
        try {
          req = decode<RequestMsg>(Request, payload);
        } catch (e) {
          send(h.streamId, undefined, Code.InvalidArgument, `unmarshal request error: ${(e as Error).message}`);
          return;
        }
        if (h.streamId % 2 !== 1) {
          send(h.streamId, undefined, Code.InvalidArgument, 'StreamID must be odd for client initiated streams');
          return;
        }
        void this.dispatch(h.streamId, req, inflight, send);
      },
      (h) => send(h.streamId, undefined, Code.ResourceExhausted, `message length ${h.length} exceed maximum message size of ${MAX_MESSAGE}`),
    );
    sock.on('data', (d: Buffer) => {
      try { reader.push(d); } catch (e) { this.onError(e); sock.destroy(); }
    });
    const gone = () => {
      this.conns.delete(sock);
      for (const c of inflight.values()) c.abort();
      inflight.clear();
    };
    sock.on('close', gone);
    sock.on('error', () => {});
  }

  private async dispatch(streamId: number, req: RequestMsg, inflight: Map<number, Inflight>, send: (id: number, p: Buffer | undefined, code?: number, msg?: string) => void): Promise<void> {
    const service = this.services.get(req.service ?? '');
    if (!service) return send(streamId, undefined, Code.Unimplemented, `service ${req.service ?? ''}`);
    const method = service.get(req.method ?? '');
    if (!method) return send(streamId, undefined, Code.Unimplemented, `method ${req.method ?? ''}`);
    const call = new Inflight();
    inflight.set(streamId, call);
    const timeout = Number(req.timeoutNano ?? 0);
    const timer = timeout > 0 ? setTimeout(() => call.abort(), Math.ceil(timeout / 1e6)) : undefined;
    const metadata = new Map((req.metadata ?? []).map((kv) => [kv.key ?? '', kv.value ?? '']));
    try {
      const out = await method(req.payload ?? Buffer.alloc(0), { metadata, get signal() { return call.signal; } });
      send(streamId, out);
    } catch (e) {
      const code = call.aborted && timer ? Code.DeadlineExceeded : grpcCodeOf(e);
      if (code === Code.Unknown && !(e instanceof Error && 'code' in e)) this.onError(e);
      send(streamId, undefined, code, e instanceof Error ? e.message : String(e));
    } finally {
      if (timer) clearTimeout(timer);
      inflight.delete(streamId);
    }
  }

  /** Closes every connection (in-flight calls are aborted). */
  closeAll(): void {
    for (const s of this.conns) s.destroy();
  }
}
