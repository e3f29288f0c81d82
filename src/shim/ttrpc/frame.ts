// ttrpc's wire format (containerd/ttrpc v1.1 channel.go): a 10-byte header
// — payload length (uint32 BE, at most 4 MiB), stream id (uint32 BE), type
// (1 request, 2 response, 3 data in ttrpc ≥ 1.2), flags — then the payload,
// a protobuf ttrpc.Request or ttrpc.Response. No handshake bytes.
import { CapsaError, type ErrorCode } from '../../errors';

export const HEADER_LENGTH = 10;
export const MAX_MESSAGE = 4 << 20;
export const TYPE_REQUEST = 1;
export const TYPE_RESPONSE = 2;

/** gRPC status codes (google.golang.org/grpc/codes) the shim uses. */
export const Code = {
  OK: 0, Canceled: 1, Unknown: 2, InvalidArgument: 3, DeadlineExceeded: 4, NotFound: 5, AlreadyExists: 6,
  FailedPrecondition: 9, ResourceExhausted: 8, Unimplemented: 12, Internal: 13, Unavailable: 14,
} as const;

const CODE_OF: Partial<Record<ErrorCode, number>> = {
  NOT_FOUND: Code.NotFound, EXISTS: Code.AlreadyExists, BAD_STATE: Code.FailedPrecondition, INVALID_ARGUMENT: Code.InvalidArgument,
  INVALID_CONFIG: Code.InvalidArgument, UNSUPPORTED: Code.Unimplemented, TIMEOUT: Code.DeadlineExceeded,
};
const ERROR_OF: Record<number, ErrorCode> = {
  [Code.NotFound]: 'NOT_FOUND', [Code.AlreadyExists]: 'EXISTS', [Code.FailedPrecondition]: 'BAD_STATE', [Code.InvalidArgument]: 'INVALID_ARGUMENT',
  [Code.Unimplemented]: 'UNSUPPORTED', [Code.DeadlineExceeded]: 'TIMEOUT',
};

/** A CapsaError carrying the gRPC status code it travels with. */
export class RpcError extends CapsaError {
  constructor(readonly grpcCode: number, message: string) {
    super(ERROR_OF[grpcCode] ?? 'INTERNAL', message);
  }
}

/** The status code for an error a handler threw. */
export function grpcCodeOf(e: unknown): number {
  if (e instanceof RpcError) return e.grpcCode;
  if (e instanceof CapsaError) return CODE_OF[e.code] ?? Code.Unknown;
  return Code.Unknown;
}

export interface FrameHeader {
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

export function frame(streamId: number, type: number, payload: Buffer): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  b.writeUInt32BE(payload.length, 0);
  b.writeUInt32BE(streamId, 4);
  b[8] = type;
  b[9] = 0;
  payload.copy(b, HEADER_LENGTH);
  return b;
}

/**
 * Splits a byte stream into frames. A frame longer than MAX_MESSAGE is not
 * buffered: its payload is skipped and `onOversize` told (the server answers
 * ResourceExhausted on that stream, as Go's does).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private header?: FrameHeader;
  private skipping = 0;

  constructor(
    private readonly onFrame: (h: FrameHeader, payload: Buffer) => void,
    private readonly onOversize: (h: FrameHeader) => void,
  ) {}

  push(data: Buffer): void {
    if (this.skipping) {
      const n = Math.min(this.skipping, data.length);
      this.skipping -= n;
      data = data.subarray(n);
      if (!data.length) return;
    }
    this.chunks.push(data);
    this.size += data.length;
    for (;;) {
      if (!this.header) {
        if (this.size < HEADER_LENGTH) return;
        const h = this.take(HEADER_LENGTH);
        const header = { length: h.readUInt32BE(0), streamId: h.readUInt32BE(4), type: h[8]!, flags: h[9]! };
        if (header.length > MAX_MESSAGE) {
          const n = Math.min(header.length, this.size);
          this.take(n);
          this.skipping = header.length - n;
          this.onOversize(header);
          if (this.skipping) return;
          continue;
        }
        this.header = header;
      }
      if (this.size < this.header.length) return;
      const h = this.header;
      this.header = undefined;
      this.onFrame(h, this.take(h.length));
    }
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
    return out;
  }
}
