// Events to containerd: Events.Forward over ttrpc to $TTRPC_ADDRESS
// (runtime/v2/shim/publisher.go), one at a time from one FIFO queue so they
// arrive in the order they were published. A failed send reconnects and is
// retried (1 s × attempt, 5 attempts) before it is dropped, as Go's
// publisher does; without TTRPC_ADDRESS (CRI-O) events are dropped.
import { encode } from './proto/codec';
import { events as EVENTS, ForwardRequest, TOPICS, type EventName } from './proto/messages';
import { TtrpcClient } from './ttrpc/client';

const SERVICE = 'containerd.services.events.ttrpc.v1.Events';
const ATTEMPTS = 5;

export interface Published { topic: string; name: EventName; event: Record<string, unknown> }

/** An event waiting to be sent: stamped when published, encoded when its turn comes. */
interface Queued { name: EventName; event: Record<string, unknown>; at: number; body?: Buffer }

export class EventPublisher {
  private readonly queue: Queued[] = [];
  private client?: TtrpcClient;
  private running = false;
  private dialing?: Promise<TtrpcClient>;
  private idle: (() => void)[] = [];
  /** Every event handed to publish(), in order (for the daemon's debug log). */
  onPublish: (p: Published) => void = () => {};
  onDrop: (name: EventName, err: unknown) => void = () => {};

  constructor(private readonly ttrpcAddress: string, private readonly namespace: string, private readonly retryDelayMs = 1000) {}

  /**
   * Queues the event, stamped now. It is encoded and sent from the next turn
   * of the event loop: an answer being made in this one (Wait's, when a
   * process exits) goes out first.
   */
  publish<N extends EventName>(name: N, event: Record<string, unknown>): void {
    this.onPublish({ topic: TOPICS[name], name, event });
    if (!this.ttrpcAddress) return;
    this.queue.push({ name, event, at: Date.now() });
    if (this.running) return;
    this.running = true;
    setImmediate(() => void this.drain());
  }

  private envelope(item: Queued): Buffer {
    item.body ??= encode(ForwardRequest, {
      envelope: {
        timestamp: { seconds: Math.floor(item.at / 1000), nanos: (item.at % 1000) * 1e6 },
        namespace: this.namespace,
        topic: TOPICS[item.name],
        event: { typeUrl: EVENTS[item.name].name, value: encode(EVENTS[item.name], item.event) },
      },
    });
    return item.body;
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length) {
      const item = this.queue[0]!;
      let sent = false;
      let lastError: unknown;
      let body: Buffer | undefined;
      try { body = this.envelope(item); } catch (e) { lastError = e; }
      for (let attempt = 1; body && attempt <= ATTEMPTS && !sent; attempt++) {
        try {
          const c = await this.connection();
          c.ref();
          await c.call(SERVICE, 'Forward', body, { timeoutMs: 5000, metadata: { 'containerd-namespace-ttrpc': this.namespace } });
          sent = true;
        } catch (e) {
          lastError = e;
          this.client?.close();
          this.client = undefined;
          if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, this.retryDelayMs * attempt));
        } finally {
          this.client?.unref();
        }
      }
      if (!sent) this.onDrop(item.name, lastError);
      this.queue.shift();
    }
    this.running = false;
    for (const done of this.idle.splice(0)) done();
  }

  private async connection(): Promise<TtrpcClient> {
    if (this.client && !this.client.closed) return this.client;
    this.dialing ??= TtrpcClient.connect(this.ttrpcAddress, 5000).finally(() => { this.dialing = undefined; });
    this.client = await this.dialing;
    return this.client;
  }

  /**
   * Dials containerd now, before the first event: the connection is then
   * ready when TaskCreate is published instead of being made on the clock of
   * the Create that publishes it. A failure is left to the first publish.
   */
  dialEarly(): void {
    if (!this.ttrpcAddress || this.client || this.dialing) return;
    this.connection().then((c) => { if (!this.running) c.unref(); }, () => { this.client = undefined; });
  }

  /** Resolves when everything queued was sent or dropped (at most timeoutMs). */
  flush(timeoutMs = 5000): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idle.push(() => { clearTimeout(timer); resolve(); });
    });
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }
}
