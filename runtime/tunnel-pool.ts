import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { encodeFrame, type Frame, type FrameOf, type SdrError } from '../protocol/index.js';
import type { FrameLink } from './attempt-stream.js';
import type { RuntimeMetrics } from './metrics.js';
import { type AcceptedWelcome, TunnelClient } from './tunnel-client.js';

/** One of the instance's connections, as the daemon sees it: where a frame came from, where to answer. */
export interface TunnelConnection {
  readonly index: number;
  readonly isUp: boolean;
  send(frame: Frame): boolean;
}

/** What the pool tells its owner. */
export interface PoolHandlers {
  /** A validated frame from the cloud, with the connection that carried it (answers go back on it). */
  onFrame(frame: Frame, via: TunnelConnection): void;
  /** A connection came up (welcomed). */
  onConnectionUp(via: TunnelConnection, welcome: AcceptedWelcome): void;
  /** A connection went down, and why (for /readyz while none is up). */
  onConnectionDown?(reason: string): void;
  /** Whether the agent id a `welcome` names is this runtime's; the error to close the link with if not. */
  checkAgent(agentId: string): SdrError | undefined;
  /** The cloud refused this runtime for good (protocol version); the owner stops the process. */
  onFatal(error: SdrError): void;
}

/** Settings of the pool: the per-connection client's, plus how many connections and who we are. */
export interface TunnelPoolOptions {
  url: string;
  token: string;
  proxyUrl: string | undefined;
  maxFrameBytes: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** `SDR_TUNNEL_CONNECTIONS`: parallel connections of this instance, 1 to 4. */
  connections: number;
  /** Random per process, kept for its life; see docs/protocol.md (hello). */
  instanceId?: string;
  hello: Omit<
    FrameOf<'hello'>,
    'type' | 'protocolVersion' | 'instanceId' | 'connectionIndex' | 'connections'
  >;
  jobStatus(): { active: number; queued: number };
  log: Logger;
  metrics: RuntimeMetrics;
  handlers: PoolHandlers;
}

const MAX_PENDING_CONTROL_FRAMES = 1_000;

/**
 * A sticky route for one attempt's frames: batches of an attempt travel on one live connection; when
 * it drops, the channel moves to another live one and `onMoved` resends what is unacknowledged there.
 */
export class AttemptChannel implements FrameLink {
  private bound: TunnelClient | undefined;
  /** Called when the connection the attempt was using is gone; the owner resends in order. */
  onMoved: () => void = () => undefined;

  constructor(private readonly pool: TunnelPool) {}

  get isUp(): boolean {
    return this.current() !== undefined;
  }

  sendText(text: string): boolean {
    return this.current()?.sendText(text) ?? false;
  }

  creditWindow(): number {
    return this.current()?.welcome?.creditWindow ?? 1;
  }

  /** The pool's connections changed: if ours is gone, let the owner resend on the next one. */
  reroute(): void {
    if (this.bound?.isUp) return;
    this.bound = undefined;
    this.onMoved();
  }

  /** Stops following connection changes. */
  release(): void {
    this.pool.releaseChannel(this);
  }

  private current(): TunnelClient | undefined {
    if (this.bound?.isUp) return this.bound;
    this.bound = this.pool.pickClient();
    return this.bound;
  }
}

/**
 * The instance's connections to the cloud: `connections` full tunnels (each its own hello, welcome and
 * heartbeats, reconnecting on its own), so losing one loses no batch and no job. Control frames go on
 * any live connection; an attempt's batches stay on one (`AttemptChannel`).
 */
export class TunnelPool {
  readonly instanceId: string;
  private readonly clients: TunnelClient[] = [];
  private readonly channels = new Set<AttemptChannel>();
  private pendingControl: Frame[] = [];
  private next = 0;

  constructor(private readonly options: TunnelPoolOptions) {
    this.instanceId = options.instanceId ?? `i-${randomUUID()}`;
    for (let index = 0; index < options.connections; index++) {
      const log = options.log.child({ connectionIndex: index });
      const connection: TunnelConnection = {
        index,
        get isUp() {
          return client.isUp;
        },
        send: (frame) => client.send(frame),
      };
      const client: TunnelClient = new TunnelClient({
        url: options.url,
        token: options.token,
        proxyUrl: options.proxyUrl,
        maxFrameBytes: options.maxFrameBytes,
        reconnectBaseMs: options.reconnectBaseMs,
        reconnectMaxMs: options.reconnectMaxMs,
        hello: {
          ...options.hello,
          instanceId: this.instanceId,
          connectionIndex: index,
          connections: options.connections,
        },
        jobStatus: () => options.jobStatus(),
        log,
        metrics: options.metrics,
        handlers: {
          onFrame: (frame) => options.handlers.onFrame(frame, connection),
          checkAgent: (agentId) => options.handlers.checkAgent(agentId),
          onUp: (welcome) => {
            this.changed();
            this.flushPending();
            options.handlers.onConnectionUp(connection, welcome);
          },
          onDown: (reason) => {
            this.changed();
            options.handlers.onConnectionDown?.(reason);
          },
          onFatal: (error) => options.handlers.onFatal(error),
        },
      });
      this.clients.push(client);
    }
  }

  /** True while at least one connection is up and welcomed. */
  get isUp(): boolean {
    return this.clients.some((client) => client.isUp);
  }

  /** How many connections are up. */
  get upCount(): number {
    return this.clients.filter((client) => client.isUp).length;
  }

  /** The `welcome` of a live connection (agent id, credit window); undefined while none is up. */
  get welcome(): AcceptedWelcome | undefined {
    return this.pickClient()?.welcome;
  }

  start(): void {
    for (const client of this.clients) client.start();
  }

  /** Sends a frame on some live connection; false (nothing sent) while none is up. */
  send(frame: Frame): boolean {
    return this.pickClient()?.send(frame) ?? false;
  }

  /**
   * Sends now on a live connection, or on the first one to come up: for outcomes (failed, cancelled) the
   * cloud must learn. Bounded; the oldest is dropped past the bound.
   */
  sendReliably(frame: Frame): void {
    encodeFrame(frame, this.options.maxFrameBytes);
    if (this.send(frame)) return;
    if (this.pendingControl.push(frame) > MAX_PENDING_CONTROL_FRAMES) this.pendingControl.shift();
  }

  /** A sticky route for one attempt's batches. */
  channel(): AttemptChannel {
    const channel = new AttemptChannel(this);
    this.channels.add(channel);
    return channel;
  }

  /** @internal used by AttemptChannel */
  releaseChannel(channel: AttemptChannel): void {
    this.channels.delete(channel);
  }

  /** @internal a live connection, rotating so attempts spread over the instance's connections. */
  pickClient(): TunnelClient | undefined {
    const count = this.clients.length;
    for (let step = 0; step < count; step++) {
      const client = this.clients[(this.next + step) % count] as TunnelClient;
      if (client.isUp) {
        this.next = (this.next + step + 1) % count;
        return client;
      }
    }
    return undefined;
  }

  /** Recycles every live connection (a job stalled on acks: the link may be half-dead). */
  recycle(reason: string): void {
    for (const client of this.clients) client.recycle(reason);
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close()));
  }

  private changed(): void {
    this.options.metrics.tunnelUp.set(this.upCount);
    for (const channel of [...this.channels]) channel.reroute();
  }

  private flushPending(): void {
    const pending = this.pendingControl;
    this.pendingControl = [];
    for (const frame of pending) this.sendReliably(frame);
  }
}
