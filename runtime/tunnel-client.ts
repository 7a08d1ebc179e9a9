import { HttpsProxyAgent } from 'https-proxy-agent';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import {
  CLOUD_TO_RUNTIME,
  Codes,
  decodeFrame,
  type DecodeResult,
  encodeFrame,
  type Frame,
  type FrameOf,
  MISSED_HEARTBEATS_BEFORE_DEAD,
  PROTOCOL_VERSION,
} from '../protocol/index.js';
import { fullJitterDelay } from './backoff.js';
import type { RuntimeMetrics } from './metrics.js';
import { explainTunnelError, explainUpgradeStatus } from './tunnel-hints.js';

/** What the tunnel tells its owner. */
export interface TunnelHandlers {
  /** A validated frame from the cloud (never `welcome`/`heartbeat`, which the tunnel handles). */
  onFrame(frame: Frame): void;
  /** The link is up and welcomed; resend whatever the cloud may have missed. */
  onUp(welcome: FrameOf<'welcome'>): void;
  onDown(reason: string): void;
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
 * The runtime's single outbound WebSocket to the cloud. Reconnects forever with full-jitter backoff,
 * declares the link dead after missed heartbeats, and never throws on what the cloud sends.
 */
export class TunnelClient {
  private socket: WebSocket | undefined;
  private welcomeFrame: FrameOf<'welcome'> | undefined;
  private failures = 0;
  private connects = 0;
  private closing = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private welcomeTimer: NodeJS.Timeout | undefined;
  private lastReceivedAt = 0;
  private pendingControl: string[] = [];
  private readonly agent: HttpsProxyAgent<string> | undefined;

  constructor(private readonly options: TunnelOptions) {
    this.agent = options.proxyUrl ? new HttpsProxyAgent(options.proxyUrl) : undefined;
  }

  /** True while connected and welcomed. */
  get isUp(): boolean {
    return this.welcomeFrame !== undefined && this.socket?.readyState === WebSocket.OPEN;
  }

  /** The cloud's last `welcome` (agent id, heartbeat, credit window); undefined before the first. */
  get welcome(): FrameOf<'welcome'> | undefined {
    return this.welcomeFrame;
  }

  /** Starts connecting; returns at once. */
  start(): void {
    this.connect();
  }

  /** Sends a frame if the link is up; returns false (and sends nothing) when it is down. */
  send(frame: Frame): boolean {
    return this.sendText(encodeFrame(frame, this.options.maxFrameBytes));
  }

  /**
   * Sends a frame now, or as soon as the link is back: for outcomes (failed, cancelled) the cloud must
   * learn even if they happen while the link is down. Bounded; the oldest is dropped past the bound.
   */
  sendReliably(frame: Frame): void {
    const text = encodeFrame(frame, this.options.maxFrameBytes);
    if (this.sendText(text)) return;
    if (this.pendingControl.push(text) > MAX_PENDING_CONTROL_FRAMES) this.pendingControl.shift();
  }

  /** Sends an already-encoded frame; returns false when the link is down. */
  sendText(text: string): boolean {
    if (!this.isUp || !this.socket) return false;
    this.socket.send(text);
    this.options.metrics.bytesSent.inc(Buffer.byteLength(text));
    return true;
  }

  /** Closes the link for good. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
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

  private connect(): void {
    if (this.closing) return;
    if (this.connects++ > 0) this.options.metrics.reconnects.inc();
    const { url, token, maxFrameBytes, log } = this.options;
    const socket = new WebSocket(url, {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      // Twice the frame limit, so a frame just over it is answered with an error frame instead of a dropped link.
      maxPayload: maxFrameBytes * 2,
      perMessageDeflate: false,
      ...(this.agent ? { agent: this.agent } : {}),
    });
    this.socket = socket;

    socket.on('unexpected-response', (_request, response) => {
      const status = response.statusCode ?? 0;
      const error = explainUpgradeStatus(url, status);
      if (status === 401 || status === 403) log.error({ code: error.code }, error.message);
      else log.warn({ code: error.code, status }, error.message);
      socket.terminate();
    });
    socket.on('open', () => {
      this.lastReceivedAt = Date.now();
      socket.send(
        JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, ...this.options.hello }),
      );
      this.welcomeTimer = setTimeout(() => {
        log.warn({}, `cloud sent no welcome within ${WELCOME_TIMEOUT_MS / 1000} s; reconnecting`);
        socket.terminate();
      }, WELCOME_TIMEOUT_MS);
    });
    socket.on('message', (data: Buffer, isBinary: boolean) => this.receive(socket, data, isBinary));
    socket.on('error', (error) => {
      const explained = explainTunnelError(url, error);
      log.warn(
        {
          ...(explained ? { code: explained.code } : {}),
          err: { message: error.message, code: (error as NodeJS.ErrnoException).code },
        },
        explained?.message ?? 'tunnel error',
      );
    });
    socket.on('close', (code, reason) => this.closed(socket, code, reason.toString('utf8')));
  }

  private receive(socket: WebSocket, data: Buffer, isBinary: boolean): void {
    const { metrics, log, maxFrameBytes, handlers } = this.options;
    this.lastReceivedAt = Date.now();
    metrics.bytesReceived.inc(data.length);
    const decoded: DecodeResult = isBinary
      ? { ok: false, error: new Codes.SDR_ERR_FRAME_MALFORMED('binary frames are not part of the protocol') }
      : decodeFrame(data, CLOUD_TO_RUNTIME, maxFrameBytes);
    if (!decoded.ok) {
      metrics.framesRefused.inc({ code: decoded.error.code });
      log.warn(
        { code: decoded.error.code, inReplyTo: decoded.inReplyTo },
        `refused a frame from the cloud: ${decoded.error.message}`,
      );
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(
          JSON.stringify({
            type: 'error',
            code: decoded.error.code,
            message: decoded.error.message,
            ...(decoded.inReplyTo ? { inReplyTo: decoded.inReplyTo } : {}),
          }),
        );
      }
      return;
    }
    const frame = decoded.frame;
    if (frame.type === 'welcome') {
      this.welcomed(socket, frame);
      return;
    }
    if (frame.type === 'heartbeat') return;
    if (!this.welcomeFrame) {
      log.warn({ type: frame.type }, 'ignored a frame that arrived before the welcome');
      return;
    }
    try {
      handlers.onFrame(frame);
    } catch (error) {
      // A handler bug must not take the link down with it.
      log.error({ err: error, type: frame.type }, 'frame handler failed');
    }
  }

  private welcomed(socket: WebSocket, welcome: FrameOf<'welcome'>): void {
    const { log, metrics, handlers } = this.options;
    clearTimeout(this.welcomeTimer);
    if (welcome.protocolVersion !== PROTOCOL_VERSION) {
      const error = new Codes.SDR_ERR_PROTOCOL_VERSION(PROTOCOL_VERSION, welcome.protocolVersion);
      log.error({ code: error.code }, error.message);
      socket.close(1002, 'protocol version mismatch');
      return;
    }
    this.welcomeFrame = welcome;
    this.failures = 0;
    metrics.tunnelUp.set(1);
    log.info({ agentId: welcome.agentId, heartbeatIntervalMs: welcome.heartbeatIntervalMs }, 'tunnel up');
    this.heartbeatTimer = setInterval(
      () => this.heartbeat(socket, welcome.heartbeatIntervalMs),
      welcome.heartbeatIntervalMs,
    );
    const pending = this.pendingControl;
    this.pendingControl = [];
    for (const text of pending) this.sendText(text);
    handlers.onUp(welcome);
  }

  private heartbeat(socket: WebSocket, intervalMs: number): void {
    const silentFor = Date.now() - this.lastReceivedAt;
    if (silentFor > intervalMs * MISSED_HEARTBEATS_BEFORE_DEAD) {
      this.options.log.warn(
        { silentForMs: silentFor },
        `no frame from the cloud for ${silentFor} ms; the link is dead, reconnecting`,
      );
      socket.terminate();
      return;
    }
    this.send({ type: 'heartbeat', sentAt: Date.now(), jobs: this.options.jobStatus() });
  }

  private closed(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.socket) return;
    clearTimeout(this.welcomeTimer);
    clearInterval(this.heartbeatTimer);
    const wasUp = this.welcomeFrame !== undefined;
    this.welcomeFrame = undefined;
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
}
