import type { Logger } from 'pino';
import type { Agent } from 'node:http';
import WebSocket from 'ws';
import {
  clampWelcome,
  CLOUD_TO_RUNTIME,
  Codes,
  decodeFrame,
  type DecodeResult,
  encodeFrame,
  type Frame,
  type FrameOf,
  MAX_MESSAGE_CHARS,
  MISSED_HEARTBEATS_BEFORE_DEAD,
  PROTOCOL_VERSION,
  SdrError,
} from '../protocol/index.js';
import { fullJitterDelay } from './backoff.js';
import type { RuntimeMetrics } from './metrics.js';
import { proxyAgent } from '../storage/http-agents.js';
import { RateLimitedLog } from './rate-limited-log.js';

/** The cloud's `welcome` as the runtime uses it: its numbers already clamped into `WELCOME_BOUNDS`. */
export interface AcceptedWelcome {
  readonly agentId: string;
  readonly heartbeatIntervalMs: number;
  readonly creditWindow: number;
  readonly maxFrameBytes: number;
}
import { explainTunnelError, explainUpgradeStatus } from './tunnel-hints.js';

/** What the tunnel tells its owner. */
export interface TunnelHandlers {
  /** A validated frame from the cloud (never `welcome`/`heartbeat`, which the tunnel handles). */
  onFrame(frame: Frame): void;
  /**
   * Decides whether the agent id a `welcome` names is this runtime's. Returns the error to close the link
   * with when it is not; the cloud's word alone never sets who this runtime is.
   */
  checkAgent(agentId: string): SdrError | undefined;
  /** The link is up and welcomed; resend whatever the cloud may have missed. Called once per connection. */
  onUp(welcome: AcceptedWelcome): void;
  onDown(reason: string): void;
  /** A refusal no reconnect can fix (a protocol version the cloud does not speak); the tunnel has stopped. */
  onFatal?(error: SdrError): void;
}

/** Settings of the outbound tunnel. */
export interface TunnelOptions {
  url: string;
  token: string;
  proxyUrl: string | undefined;
  maxFrameBytes: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  hello: Omit<FrameOf<'hello'>, 'type' | 'protocolVersion'>;
  /** Job counts reported in each heartbeat. */
  jobStatus(): { active: number; queued: number };
  log: Logger;
  metrics: RuntimeMetrics;
  handlers: TunnelHandlers;
}

const WELCOME_TIMEOUT_MS = 10_000;
const HANDSHAKE_TIMEOUT_MS = 15_000;
const MAX_PENDING_CONTROL_FRAMES = 1_000;
/**
 * Error answers to bad frames are skipped while this much is already waiting in the socket: a cloud that
 * floods and stops reading must not make the runtime buffer its answers without end.
 */
const MAX_BUFFERED_FOR_ERROR_REPLIES = 1024 * 1024;

/**
 * Where one connection stands. `connecting` → `awaiting-welcome` (hello sent) → `up` (one welcome
 * accepted) → `closed`. Every transition happens in exactly one place; a closed connection never reopens.
 */
export type ConnectionState = 'connecting' | 'awaiting-welcome' | 'up' | 'closed';

/**
 * One WebSocket connection to the cloud with its own state, timers and welcome. Owned by `TunnelClient`,
 * which replaces it on reconnect; nothing of one connection (a heartbeat timer, a welcome) outlives it.
 */
export class TunnelConnection {
  state: ConnectionState = 'connecting';
  /** The welcome accepted on this connection; set once, on the transition to `up`. */
  welcome: AcceptedWelcome | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private welcomeTimer: NodeJS.Timeout | undefined;
  private lastReceivedAt = Date.now();

  constructor(
    readonly id: number,
    readonly socket: WebSocket,
    private readonly owner: TunnelClient,
    private readonly options: TunnelOptions,
    private readonly refusals: RateLimitedLog,
  ) {
    socket.on('unexpected-response', (_request, response) => {
      const status = response.statusCode ?? 0;
      const error = explainUpgradeStatus(options.url, status);
      if (status === 401 || status === 403) options.log.error({ code: error.code }, error.message);
      else options.log.warn({ code: error.code, status }, error.message);
      socket.terminate();
    });
    // Liveness counts bytes, not messages: a large frame still arriving keeps a slow link alive.
    socket.on('upgrade', (response) => {
      response.socket.on('data', () => {
        this.lastReceivedAt = Date.now();
      });
    });
    socket.on('open', () => this.opened());
    socket.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
    socket.on('error', (error) => {
      const explained = explainTunnelError(options.url, error);
      options.log.warn(
        {
          ...(explained ? { code: explained.code } : {}),
          err: { message: error.message, code: (error as NodeJS.ErrnoException).code },
        },
        explained?.message ?? 'tunnel error',
      );
    });
    socket.on('close', (code, reason) => this.closed(code, reason.toString('utf8')));
  }

  /** True while this connection is welcomed and its socket open. */
  get isUp(): boolean {
    return this.state === 'up' && this.socket.readyState === WebSocket.OPEN;
  }

  /** Sends encoded text when up; false otherwise. */
  sendText(text: string): boolean {
    if (!this.isUp) return false;
    this.socket.send(text);
    this.options.metrics.bytesSent.inc(Buffer.byteLength(text));
    return true;
  }

  /** Closes this connection (the client decides whether to reconnect). */
  close(code: number, reason: string): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close(code, reason);
    }
  }

  /** Drops the socket at once. */
  terminate(): void {
    this.socket.terminate();
  }

  private opened(): void {
    if (this.state !== 'connecting') return;
    this.state = 'awaiting-welcome';
    this.lastReceivedAt = Date.now();
    this.socket.send(
      JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, ...this.options.hello }),
    );
    this.welcomeTimer = setTimeout(() => {
      this.options.log.warn({}, `cloud sent no welcome within ${WELCOME_TIMEOUT_MS / 1000} s; reconnecting`);
      this.socket.terminate();
    }, WELCOME_TIMEOUT_MS);
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (this.state === 'closed') return;
    const { metrics, maxFrameBytes, handlers } = this.options;
    this.lastReceivedAt = Date.now();
    metrics.bytesReceived.inc(data.length);
    const decoded: DecodeResult = isBinary
      ? { ok: false, error: new Codes.SDR_ERR_FRAME_MALFORMED('binary frames are not part of the protocol') }
      : decodeFrame(data, CLOUD_TO_RUNTIME, maxFrameBytes);
    if (!decoded.ok) {
      this.refuse(decoded.error, decoded.inReplyTo, decoded.requestId);
      return;
    }
    const frame = decoded.frame;
    if (frame.type === 'welcome') {
      this.welcomed(frame);
      return;
    }
    if (frame.type === 'heartbeat') return;
    if (frame.type === 'error' && frame.code === Codes.SDR_ERR_PROTOCOL_VERSION.code) {
      this.owner.fatal(new SdrError(frame.code, frame.message, false));
      return;
    }
    if (this.state !== 'up') {
      this.refuse(
        new Codes.SDR_ERR_FRAME_UNEXPECTED(frame.type, 'it arrived before the welcome'),
        frame.type,
      );
      return;
    }
    try {
      handlers.onFrame(frame);
    } catch (error) {
      // A handler bug must not take the link down with it.
      this.options.log.error({ err: error, type: frame.type }, 'frame handler failed');
    }
  }

  /** Counts, logs (rate-limited) and answers a frame the runtime will not act on. */
  private refuse(error: SdrError, inReplyTo?: string, requestId?: string): void {
    this.options.metrics.framesRefused.inc({ code: error.code });
    this.refusals.warn(
      { code: error.code, inReplyTo, requestId },
      `refused a frame from the cloud: ${error.message.slice(0, 500)}`,
    );
    if (
      this.socket.readyState !== WebSocket.OPEN ||
      this.socket.bufferedAmount > MAX_BUFFERED_FOR_ERROR_REPLIES
    )
      return;
    this.socket.send(
      JSON.stringify({
        type: 'error',
        code: error.code,
        message: error.message.slice(0, MAX_MESSAGE_CHARS),
        ...(inReplyTo ? { inReplyTo } : {}),
        ...(requestId ? { requestId } : {}),
      }),
    );
  }

  private welcomed(frame: FrameOf<'welcome'>): void {
    const { log, metrics, handlers } = this.options;
    if (this.state !== 'awaiting-welcome') {
      // One welcome per connection: a second one could otherwise restart timers and resend every batch.
      metrics.welcomesRefused.inc();
      this.refuse(
        new Codes.SDR_ERR_FRAME_UNEXPECTED('welcome', 'this connection was already welcomed'),
        'welcome',
      );
      return;
    }
    clearTimeout(this.welcomeTimer);
    if (frame.protocolVersion !== PROTOCOL_VERSION) {
      this.owner.fatal(new Codes.SDR_ERR_PROTOCOL_VERSION(PROTOCOL_VERSION, frame.protocolVersion));
      return;
    }
    const mismatch = handlers.checkAgent(frame.agentId);
    if (mismatch) {
      metrics.welcomesRefused.inc();
      metrics.framesRefused.inc({ code: mismatch.code });
      log.error({ code: mismatch.code }, mismatch.message);
      this.close(1008, 'agent id mismatch');
      return;
    }
    const { clamped, ...numbers } = clampWelcome(frame);
    if (clamped.length > 0) {
      log.warn({ clamped }, `clamped welcome values into their documented bounds: ${clamped.join(', ')}`);
    }
    this.welcome = Object.freeze({ agentId: frame.agentId, ...numbers });
    this.state = 'up';
    metrics.tunnelUp.set(1);
    log.info(
      { agentId: frame.agentId, heartbeatIntervalMs: numbers.heartbeatIntervalMs, connection: this.id },
      'tunnel up',
    );
    // Exactly one heartbeat timer per connection, cleared when the connection closes.
    this.heartbeatTimer = setInterval(() => this.heartbeat(), numbers.heartbeatIntervalMs);
    this.owner.connectionUp(this);
  }

  private heartbeat(): void {
    const intervalMs = this.welcome?.heartbeatIntervalMs ?? 0;
    const silentFor = Date.now() - this.lastReceivedAt;
    if (silentFor > intervalMs * MISSED_HEARTBEATS_BEFORE_DEAD) {
      this.options.log.warn(
        { silentForMs: silentFor },
        `no frame from the cloud for ${silentFor} ms; the link is dead, reconnecting`,
      );
      this.socket.terminate();
      return;
    }
    this.sendText(
      encodeFrame(
        { type: 'heartbeat', sentAt: Date.now(), jobs: this.options.jobStatus() },
        this.options.maxFrameBytes,
      ),
    );
  }

  private closed(code: number, reason: string): void {
    if (this.state === 'closed') return;
    const wasUp = this.state === 'up';
    this.state = 'closed';
    clearTimeout(this.welcomeTimer);
    clearInterval(this.heartbeatTimer);
    this.owner.connectionClosed(this, wasUp, code, reason);
  }
}

/**
 * The runtime's outbound link to the cloud: one `TunnelConnection` at a time, replaced with full-jitter
 * backoff when it closes. Declares a connection dead after missed heartbeats and never throws on what
 * the cloud sends.
 */
export class TunnelClient {
  private current: TunnelConnection | undefined;
  private failures = 0;
  private connects = 0;
  private closing = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pendingControl: string[] = [];
  private readonly agent: Agent | undefined;
  private readonly refusals: RateLimitedLog;

  constructor(private readonly options: TunnelOptions) {
    this.agent = options.proxyUrl ? proxyAgent(options.proxyUrl) : undefined;
    this.refusals = new RateLimitedLog(options.log, 'refused-frame');
  }

  /** True while connected and welcomed. */
  get isUp(): boolean {
    return this.current?.isUp ?? false;
  }

  /** The current connection's accepted welcome (clamped numbers); undefined while not up. */
  get welcome(): AcceptedWelcome | undefined {
    return this.current?.state === 'up' ? this.current.welcome : undefined;
  }

  /** Starts connecting; returns at once. */
  start(): void {
    this.connect();
  }

  /** Sends a frame if the link is up; returns false (and sends nothing) when it is down or it is too large. */
  send(frame: Frame): boolean {
    const text = this.encode(frame);
    return text !== undefined && this.sendText(text);
  }

  /**
   * Sends a frame now, or as soon as the link is back: for outcomes (failed, cancelled) the cloud must
   * learn even if they happen while the link is down. Bounded; the oldest is dropped past the bound.
   */
  sendReliably(frame: Frame): void {
    const text = this.encode(frame);
    if (text === undefined || this.sendText(text)) return;
    if (this.pendingControl.push(text) > MAX_PENDING_CONTROL_FRAMES) this.pendingControl.shift();
  }

  /** Sends an already-encoded frame; returns false when the link is down. */
  sendText(text: string): boolean {
    return this.current?.sendText(text) ?? false;
  }

  /** Closes the current connection and lets the client reconnect (used when a job stalls on acks). */
  recycle(reason: string): void {
    const connection = this.current;
    if (!connection || connection.state === 'closed') return;
    this.options.log.warn({ reason }, `recycling the tunnel: ${reason}`);
    connection.close(4000, 'recycling the link');
    // A peer that does not answer the close handshake must not keep the link half-open.
    setTimeout(() => connection.terminate(), 2_000).unref();
  }

  /** Closes the link for good. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    const connection = this.current;
    if (!connection || connection.socket.readyState === WebSocket.CLOSED) return;
    const socket = connection.socket;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.terminate();
        resolve();
      }, 2_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.close(1001, 'runtime shutting down');
    });
  }

  /** A refusal no reconnect can fix: stop reconnecting and tell the owner, once. */
  fatal(error: SdrError): void {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    this.options.log.error({ code: error.code }, error.message);
    this.current?.close(1002, 'protocol version mismatch');
    this.options.handlers.onFatal?.(error);
  }

  /** Called by a connection on its one transition to `up`. */
  connectionUp(connection: TunnelConnection): void {
    if (connection !== this.current || !connection.welcome) return;
    this.failures = 0;
    const pending = this.pendingControl;
    this.pendingControl = [];
    for (const text of pending) this.sendText(text);
    this.options.handlers.onUp(connection.welcome);
  }

  /** Called by a connection once, when it closes. */
  connectionClosed(connection: TunnelConnection, wasUp: boolean, code: number, reason: string): void {
    if (connection !== this.current) return;
    this.options.metrics.tunnelUp.set(0);
    const why = reason ? `${code} ${reason}` : String(code);
    if (wasUp) this.options.handlers.onDown(why);
    if (this.closing) return;
    const delay = fullJitterDelay(this.failures++, this.options.reconnectBaseMs, this.options.reconnectMaxMs);
    this.options.log.info(
      { closeCode: code, retryInMs: delay },
      `tunnel down (${why}); reconnecting in ${delay} ms`,
    );
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /** Encodes a frame; a frame too large to send is logged and dropped rather than thrown at the caller. */
  private encode(frame: Frame): string | undefined {
    try {
      return encodeFrame(frame, this.options.maxFrameBytes);
    } catch (error) {
      this.options.log.error(
        { type: frame.type, code: (error as SdrError).code },
        `could not send a ${frame.type} frame: ${(error as Error).message}`,
      );
      return undefined;
    }
  }

  private connect(): void {
    if (this.closing) return;
    if (this.connects++ > 0) this.options.metrics.reconnects.inc();
    const { url, token, maxFrameBytes } = this.options;
    const socket = new WebSocket(url, {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      // Twice the frame limit, so a frame just over it is answered with an error frame instead of a dropped link.
      maxPayload: maxFrameBytes * 2,
      perMessageDeflate: false,
      // One message per macrotask: a flood of small frames read in one go would otherwise be handled in a
      // single tick (libuv reads up to 32 × 64 KiB at once) and starve timers, /livez and job streams.
      allowSynchronousEvents: false,
      ...(this.agent ? { agent: this.agent } : {}),
    });
    this.current = new TunnelConnection(this.connects, socket, this, this.options, this.refusals);
  }
}
