// A ttrpc client (the shim's event publisher, and the tests' containerd):
// odd stream ids from 1, responses matched by id, every pending call failed
// when the connection closes.
import * as net from 'node:net';
import { CapsaError } from '../../errors';
import { decode, encode } from '../proto/codec';
import { Request, Response, type ResponseMsg } from '../proto/messages';
import { Code, FrameReader, frame, RpcError, TYPE_REQUEST, TYPE_RESPONSE } from './frame';

interface Pending {
  resolve(b: Buffer): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
}

export interface CallOptions {
  timeoutMs?: number;
  metadata?: Record<string, string>;
}

export class TtrpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedError?: Error;

  private constructor(private readonly sock: net.Socket) {
    const reader = new FrameReader(
      (h, payload) => {
        if (h.type !== TYPE_RESPONSE) return;
        const p = this.pending.get(h.streamId);
        if (!p) return;
        this.pending.delete(h.streamId);
        if (p.timer) clearTimeout(p.timer);
        let res: ResponseMsg;
        try { res = decode<ResponseMsg>(Response, payload); } catch (e) { p.reject(e as Error); return; }
        if (res.status && res.status.code) p.reject(new RpcError(res.status.code, res.status.message ?? ''));
        else p.resolve(res.payload ?? Buffer.alloc(0));
      },
      (h) => this.pending.get(h.streamId)?.reject(new RpcError(Code.ResourceExhausted, 'response too large')),
    );
    sock.on('data', (d: Buffer) => reader.push(d));
    sock.on('error', (e) => { this.closedError ??= e; });
    sock.on('close', () => {
      this.closedError ??= new CapsaError('INTERNAL', 'ttrpc: closed');
      for (const p of this.pending.values()) {
        if (p.timer) clearTimeout(p.timer);
        p.reject(this.closedError);
      }
      this.pending.clear();
    });
  }

  /** Connects to a unix socket path (a `unix://` prefix is accepted). */
  static connect(address: string, timeoutMs = 5000): Promise<TtrpcClient> {
    const path = address.replace(/^unix:\/\//, '');
    return new Promise((resolve, reject) => {
      const sock = net.connect(path);
      const timer = setTimeout(() => { sock.destroy(); reject(new CapsaError('TIMEOUT', `ttrpc: connect ${path}: timed out`)); }, timeoutMs);
      sock.once('connect', () => { clearTimeout(timer); resolve(new TtrpcClient(sock)); });
      sock.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
  }

  get closed(): boolean { return this.closedError !== undefined || this.sock.destroyed; }

  call(service: string, method: string, payload: Buffer, opts: CallOptions = {}): Promise<Buffer> {
    if (this.closed) return Promise.reject(this.closedError ?? new CapsaError('INTERNAL', 'ttrpc: closed'));
    const id = this.nextId;
    this.nextId += 2;
    const body = encode(Request, {
      service, method, payload, timeoutNano: opts.timeoutMs ? opts.timeoutMs * 1e6 : 0,
      metadata: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject };
      if (opts.timeoutMs) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new RpcError(Code.DeadlineExceeded, `${service}/${method}: no answer in ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
      }
      this.pending.set(id, p);
      this.sock.write(frame(id, TYPE_REQUEST, body));
    });
  }

  /** Writes raw bytes (tests: malformed frames). */
  writeRaw(data: Buffer): void { this.sock.write(data); }

  close(): void { this.sock.destroy(); }

  /** Holds the process open only while calls are pending. */
  unref(): void { this.sock.unref(); }
  ref(): void { this.sock.ref(); }
}
