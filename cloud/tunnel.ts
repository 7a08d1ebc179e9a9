import type { Logger } from 'pino';
import WebSocket from 'ws';
import {
  Codes,
  type DecodeResult,
  type Frame,
  type FrameOf,
  type LogEntry,
  MISSED_HEARTBEATS_BEFORE_DEAD,
  PROTOCOL_VERSION,
  RUNTIME_TO_CLOUD,
  type SdrError,
  decodeFrame,
  encodeFrame,
} from '../protocol/index.js';
import type { JobService, Link } from './jobs.js';

/** Forwarded runtime log lines kept per agent. */
const RUNTIME_LOG_LINES_KEPT = 1_000;

/** Close codes the cloud uses (RFC 6455 §7.4 plus the private 4000 range). */
export const CloseCodes = {
  PROTOCOL_ERROR: 1002,
  GOING_AWAY: 1001,
  REPLACED: 4001,
} as const;

/** What the cloud knows about an agent's runtime, as shown by GET /v1/agents. */
export interface AgentStatus {
  connected: boolean;
  connectedAt: string | null;
  lastHeartbeatAt: string | null;
  runtimeVersion: string | null;
  capabilities: FrameOf<'hello'>['capabilities'] | null;
  jobs: { active: number; queued: number } | null;
}

/** Tunnel settings sent to the runtime in `welcome`. */
export interface TunnelSettings {
  heartbeatIntervalMs: number;
  creditWindow: number;
  maxFrameBytes: number;
  /** Keep every received frame's text for `framesFrom` (tests); off for long-running clouds. */
  recordFrames: boolean;
}

/** One agent's WebSocket. */
class Session implements Link {
  greeted = false;
  lastReceivedAt = Date.now();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    readonly agentId: string,
    readonly socket: WebSocket,
    private readonly maxFrameBytes: number,
    private readonly log: Logger,
  ) {}

  send(frame: Frame): boolean {
    if (this.socket.readyState !== WebSocket.OPEN) return false;
    try {
      this.socket.send(encodeFrame(frame, this.maxFrameBytes));
      return true;
    } catch (error) {
      this.log.error({ err: error, agentId: this.agentId, frame: frame.type }, 'could not send frame');
      return false;
    }
  }

  sendError(error: SdrError, inReplyTo?: string): void {
    this.send({ type: 'error', code: error.code, message: error.message, ...(inReplyTo && { inReplyTo }) });
  }

  startHeartbeat(intervalMs: number, onDead: () => void): void {
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastReceivedAt > MISSED_HEARTBEATS_BEFORE_DEAD * intervalMs) onDead();
      // Before `welcome` the runtime does not know the interval yet; a socket that never says hello is
      // still dropped by the check above.
      else if (this.greeted) this.send({ type: 'heartbeat', sentAt: Date.now() });
    }, intervalMs);
  }

  stopHeartbeat(): void {
    clearInterval(this.heartbeat);
  }
}

/**
 * The tunnel endpoint's sessions: at most one live socket per agent, a `hello`/`welcome` handshake,
 * heartbeats and dead-link detection; job frames go to the JobService.
 */
export class Tunnel {
  private readonly sessions = new Map<string, Session>();
  private readonly status = new Map<string, AgentStatus>();
  private readonly runtimeLogs = new Map<string, LogEntry[]>();
  private readonly frames = new Map<string, string[]>();

  constructor(
    private readonly jobs: JobService,
    private readonly settings: TunnelSettings,
    private readonly log: Logger,
  ) {}

  /** The greeted tunnel of an agent, if it is connected. */
  linkFor(agentId: string): Link | undefined {
    const session = this.sessions.get(agentId);
    return session?.greeted ? session : undefined;
  }

  /** Status of an agent; an agent that never connected reports nulls. */
  /** The agent's latest forwarded log lines, oldest first (kept in memory only). */
  logsOf(agentId: string): readonly LogEntry[] {
    return this.runtimeLogs.get(agentId) ?? [];
  }

  statusOf(agentId: string): AgentStatus {
    return (
      this.status.get(agentId) ?? {
        connected: false,
        connectedAt: null,
        lastHeartbeatAt: null,
        runtimeVersion: null,
        capabilities: null,
        jobs: null,
      }
    );
  }

  /** Every raw frame text received from an agent, oldest first (empty unless `recordFrames`). */
  framesFrom(agentId: string): string[] {
    return [...(this.frames.get(agentId) ?? [])];
  }

  /** Kills an agent's socket without a close handshake, as a network failure would. */
  drop(agentId: string): void {
    this.sessions.get(agentId)?.socket.terminate();
  }

  /** Sends arbitrary text on an agent's socket; false when it is not connected. */
  sendRaw(agentId: string, text: string): boolean {
    const session = this.sessions.get(agentId);
    if (!session || session.socket.readyState !== WebSocket.OPEN) return false;
    session.socket.send(text);
    return true;
  }

  /**
   * Closes every socket with 1001 (the cloud is shutting down), terminating those whose peer does not
   * complete the close handshake within `graceMs` — ws would otherwise wait 30 s for each.
   */
  async closeAll(graceMs = 1000): Promise<void> {
    const sockets = [...this.sessions.values()].map((session) => {
      session.stopHeartbeat();
      return session.socket;
    });
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.readyState === WebSocket.CLOSED) return resolve();
            const timer = setTimeout(() => socket.terminate(), graceMs);
            socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            socket.close(CloseCodes.GOING_AWAY, 'cloud shutting down');
          }),
      ),
    );
  }

  /** Takes over an authenticated, upgraded socket for `agentId`, replacing any older one. */
  accept(agentId: string, socket: WebSocket): void {
    const session = new Session(agentId, socket, this.settings.maxFrameBytes, this.log);
    const previous = this.sessions.get(agentId);
    this.sessions.set(agentId, session);
    if (previous) {
      this.log.info({ agentId }, 'agent reconnected; closing its previous tunnel');
      this.disconnected(previous);
      previous.socket.close(CloseCodes.REPLACED, 'replaced by a newer connection');
    }
    socket.on('message', (data: WebSocket.RawData, isBinary: boolean) =>
      this.receive(session, data, isBinary),
    );
    socket.on('close', (code: number, reason: Buffer) => {
      this.log.info({ agentId, code, reason: reason.toString('utf8') }, 'tunnel closed');
      this.disconnected(session);
    });
    socket.on('error', (error: Error) => {
      // ws closes the socket after an 'error' (e.g. 1009 for an oversize frame); 'close' follows.
      this.log.warn({ agentId, err: error }, 'tunnel error');
    });
    session.startHeartbeat(this.settings.heartbeatIntervalMs, () => {
      this.log.warn(
        { agentId, silentForMs: Date.now() - session.lastReceivedAt },
        'no frame from the agent for 3 heartbeat intervals; dropping the tunnel',
      );
      this.disconnected(session);
      socket.terminate();
    });
  }

  private disconnected(session: Session): void {
    session.stopHeartbeat();
    if (this.sessions.get(session.agentId) === session) this.sessions.delete(session.agentId);
    const status = this.status.get(session.agentId);
    if (status && !this.sessions.get(session.agentId)?.greeted) status.connected = false;
  }

  private receive(session: Session, data: WebSocket.RawData, isBinary: boolean): void {
    session.lastReceivedAt = Date.now();
    const raw = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (this.settings.recordFrames) {
      let list = this.frames.get(session.agentId);
      if (!list) this.frames.set(session.agentId, (list = []));
      list.push(raw.toString('utf8'));
    }
    const decoded: DecodeResult = isBinary
      ? { ok: false, error: new Codes.SDR_ERR_FRAME_MALFORMED('binary frames are not part of the protocol') }
      : decodeFrame(raw, RUNTIME_TO_CLOUD, this.settings.maxFrameBytes);
    if (!decoded.ok) {
      this.log.warn(
        { agentId: session.agentId, code: decoded.error.code, inReplyTo: decoded.inReplyTo },
        decoded.error.message,
      );
      session.sendError(decoded.error, decoded.inReplyTo);
      return;
    }
    const frame = decoded.frame;
    if (!session.greeted) {
      this.greet(session, frame);
      return;
    }
    switch (frame.type) {
      case 'hello': {
        const error = new Codes.SDR_ERR_FRAME_MALFORMED('"hello" sent twice on one tunnel');
        this.log.warn({ agentId: session.agentId }, error.message);
        session.sendError(error, 'hello');
        return;
      }
      case 'heartbeat': {
        const status = this.status.get(session.agentId);
        if (status) {
          status.lastHeartbeatAt = new Date().toISOString();
          if (frame.jobs) status.jobs = frame.jobs;
        }
        return;
      }
      case 'error':
        this.log.warn(
          { agentId: session.agentId, code: frame.code, inReplyTo: frame.inReplyTo },
          `runtime reported: ${frame.message}`,
        );
        if (frame.code === Codes.SDR_ERR_JOB_NOT_FOUND.code && frame.requestId) {
          this.jobs.onCancelNotFound(session.agentId, frame.requestId);
        }
        return;
      case 'log': {
        const kept = this.runtimeLogs.get(session.agentId) ?? [];
        kept.push(...frame.entries);
        if (frame.dropped > 0) {
          kept.push({
            time: new Date().toISOString(),
            level: 'warn',
            message: `runtime dropped ${frame.dropped} log lines while the tunnel was down`,
            fields: {},
          });
        }
        this.runtimeLogs.set(session.agentId, kept.slice(-RUNTIME_LOG_LINES_KEPT));
        return;
      }
      case 'job.accepted':
      case 'job.rejected':
      case 'job.progress':
      case 'job.batch':
      case 'job.end':
      case 'job.failed':
      case 'job.cancelled':
      case 'upload.request':
        this.jobs.handle(session.agentId, frame, session);
        return;
      default: {
        // RUNTIME_TO_CLOUD lets only the frames above through; this guards a future protocol addition.
        const error = new Codes.SDR_ERR_FRAME_UNKNOWN(frame.type);
        this.log.warn({ agentId: session.agentId }, error.message);
        session.sendError(error, frame.type);
      }
    }
  }

  private greet(session: Session, frame: Frame): void {
    const { agentId } = session;
    if (frame.type !== 'hello') {
      const error = new Codes.SDR_ERR_CLOUD_HELLO_REQUIRED(frame.type);
      this.log.warn({ agentId }, error.message);
      session.sendError(error, frame.type);
      session.socket.close(CloseCodes.PROTOCOL_ERROR, 'hello required');
      return;
    }
    if (frame.protocolVersion !== PROTOCOL_VERSION) {
      const error = new Codes.SDR_ERR_PROTOCOL_VERSION(frame.protocolVersion, PROTOCOL_VERSION);
      this.log.warn({ agentId }, error.message);
      session.sendError(error, 'hello');
      session.socket.close(CloseCodes.PROTOCOL_ERROR, 'protocol version mismatch');
      return;
    }
    session.greeted = true;
    const now = new Date().toISOString();
    this.status.set(agentId, {
      connected: true,
      connectedAt: now,
      lastHeartbeatAt: now,
      runtimeVersion: frame.runtimeVersion,
      capabilities: frame.capabilities,
      jobs: null,
    });
    session.send({
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      agentId,
      heartbeatIntervalMs: this.settings.heartbeatIntervalMs,
      creditWindow: this.settings.creditWindow,
      maxFrameBytes: this.settings.maxFrameBytes,
    });
    this.log.info({ agentId, runtimeVersion: frame.runtimeVersion }, 'agent connected');
    this.jobs.onConnected(agentId, session);
  }
}
