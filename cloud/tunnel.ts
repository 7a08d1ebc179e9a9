import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
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
  SdrError,
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
  WRONG_AGENT: 4003,
} as const;

/** One runtime process of an agent, as shown by GET /v1/agents/:id. */
export interface InstanceStatus {
  instanceId: string;
  connectedSince: string;
  lastHeartbeatAt: string | null;
  runtimeVersion: string;
  /** Jobs this instance runs, from its last heartbeat. */
  runningJobs: number;
  /** Connections up out of the `connections` the instance opens. */
  connections: { up: number; of: number; indexes: number[] };
}

/** What the cloud knows about an agent's runtimes, as shown by GET /v1/agents. */
export interface AgentStatus {
  connected: boolean;
  connectedAt: string | null;
  lastHeartbeatAt: string | null;
  runtimeVersion: string | null;
  capabilities: FrameOf<'hello'>['capabilities'] | null;
  /** Active: summed over instances; queued: the shared queue's depth. */
  jobs: { active: number; queued: number } | null;
  instances: InstanceStatus[];
}

/** Tunnel settings sent to the runtime in `welcome`. */
export interface TunnelSettings {
  heartbeatIntervalMs: number;
  creditWindow: number;
  maxFrameBytes: number;
  reconcileIntervalMs: number;
  /** Keep every received frame's text for `framesFrom` (tests); off for long-running clouds. */
  recordFrames: boolean;
  /** Called with each received frame's text (benchmarks time frames with it). */
  onFrame?: (agentId: string, text: string) => void;
}

/** One WebSocket of one instance of an agent. */
class Session implements Link {
  greeted = false;
  lastReceivedAt = Date.now();
  readonly connectionId = `c-${randomUUID()}`;
  /** Set by `hello`. */
  instanceId = '';
  connectionIndex = 0;
  connections = 1;
  runtimeVersion = '';
  capabilities: FrameOf<'hello'>['capabilities'] | null = null;
  connectedAt = new Date().toISOString();
  lastHeartbeatAt: string | null = null;
  jobs: { active: number; queued: number } | null = null;
  private heartbeat: NodeJS.Timeout | undefined;

  get key(): string {
    return `${this.instanceId}#${this.connectionIndex}`;
  }

  get isOpen(): boolean {
    return this.greeted && this.socket.readyState === WebSocket.OPEN;
  }

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
 * The tunnel endpoint's sessions: any number of instances per agent, each with 1–4 connections, keyed
 * by (instanceId, connectionIndex) so a reconnect replaces only its own predecessor. `hello`/`welcome`,
 * heartbeats, byte-level liveness, reconciliation timers; job frames go to the JobService.
 */
export class Tunnel {
  private readonly sessions = new Map<string, Map<string, Session>>();
  private readonly lastStatus = new Map<string, AgentStatus>();
  private readonly runtimeLogs = new Map<string, LogEntry[]>();
  private readonly frames = new Map<string, string[]>();
  private readonly syncTimers = new Map<string, NodeJS.Timeout>();
  private rotation = 0;

  constructor(
    private readonly jobs: JobService,
    private readonly settings: TunnelSettings,
    private readonly log: Logger,
  ) {}

  /** The agent's greeted connections. */
  linksOf(agentId: string): Link[] {
    return [...(this.sessions.get(agentId)?.values() ?? [])].filter((session) => session.isOpen);
  }

  /**
   * The connection a new request goes to: the one whose instance has the fewest active jobs plus
   * requests sent to it and not yet answered; ties rotate. `load` counts a link's unanswered requests.
   */
  linkFor(agentId: string, load: (link: Link) => number = () => 0, exclude?: Link): Link | undefined {
    const open = this.linksOf(agentId).filter((link) => link !== exclude) as Session[];
    if (open.length === 0) return undefined;
    const score = (session: Session) => (session.jobs?.active ?? 0) + load(session);
    const offset = this.rotation++;
    let best: Session | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    for (let i = 0; i < open.length; i++) {
      const session = open[(offset + i) % open.length] as Session;
      const value = score(session);
      if (value < bestScore) {
        best = session;
        bestScore = value;
      }
    }
    return best;
  }

  /** The agent's latest forwarded log lines, oldest first (kept in memory only). */
  logsOf(agentId: string): readonly LogEntry[] {
    return this.runtimeLogs.get(agentId) ?? [];
  }

  /** Status of an agent and each of its connected instances; an agent that never connected reports nulls. */
  statusOf(agentId: string): AgentStatus {
    const open = this.linksOf(agentId) as Session[];
    if (open.length === 0) {
      const last = this.lastStatus.get(agentId);
      return last
        ? { ...last, connected: false, instances: [] }
        : {
            connected: false,
            connectedAt: null,
            lastHeartbeatAt: null,
            runtimeVersion: null,
            capabilities: null,
            jobs: null,
            instances: [],
          };
    }
    const byInstance = new Map<string, Session[]>();
    for (const session of open) {
      const list = byInstance.get(session.instanceId) ?? [];
      list.push(session);
      byInstance.set(session.instanceId, list);
    }
    const latest = (values: (string | null)[]) =>
      values
        .filter((value): value is string => value !== null)
        .sort()
        .at(-1) ?? null;
    const instances: InstanceStatus[] = [...byInstance.entries()].map(([instanceId, list]) => {
      const heartbeats = list.filter((session) => session.jobs !== null);
      const freshest = heartbeats
        .sort((a, b) => (a.lastHeartbeatAt ?? '').localeCompare(b.lastHeartbeatAt ?? ''))
        .at(-1);
      return {
        instanceId,
        connectedSince: list.map((session) => session.connectedAt).sort()[0] as string,
        lastHeartbeatAt: latest(list.map((session) => session.lastHeartbeatAt)),
        runtimeVersion: (list[0] as Session).runtimeVersion,
        runningJobs: freshest?.jobs?.active ?? 0,
        connections: {
          up: list.length,
          of: (list[0] as Session).connections,
          indexes: list.map((session) => session.connectionIndex).sort(),
        },
      };
    });
    const queued = Math.max(0, ...open.map((session) => session.jobs?.queued ?? 0));
    const anyHeartbeat = open.some((session) => session.jobs !== null);
    const status: AgentStatus = {
      connected: true,
      connectedAt: open.map((session) => session.connectedAt).sort()[0] as string,
      lastHeartbeatAt: latest(open.map((session) => session.lastHeartbeatAt)),
      runtimeVersion: (open.at(-1) as Session).runtimeVersion,
      capabilities: (open.at(-1) as Session).capabilities,
      jobs: anyHeartbeat
        ? { active: instances.reduce((sum, instance) => sum + instance.runningJobs, 0), queued }
        : null,
      instances,
    };
    this.lastStatus.set(agentId, status);
    return status;
  }

  /** Every raw frame text received from an agent, oldest first (empty unless `recordFrames`). */
  framesFrom(agentId: string): string[] {
    return [...(this.frames.get(agentId) ?? [])];
  }

  /** Kills every socket of an agent without a close handshake, as a network failure would. */
  drop(agentId: string): void {
    for (const session of this.sessions.get(agentId)?.values() ?? []) session.socket.terminate();
  }

  /**
   * Kills one greeted socket of an agent (a random one, or the one matching `which`) without a close
   * handshake; returns its instance and index, or undefined when none matched.
   */
  dropConnection(
    agentId: string,
    which: { instanceId?: string; connectionIndex?: number } = {},
  ): { instanceId: string; connectionIndex: number } | undefined {
    const candidates = (this.linksOf(agentId) as Session[]).filter(
      (session) =>
        (which.instanceId === undefined || session.instanceId === which.instanceId) &&
        (which.connectionIndex === undefined || session.connectionIndex === which.connectionIndex),
    );
    const session = candidates[Math.floor(Math.random() * candidates.length)];
    if (!session) return undefined;
    session.socket.terminate();
    return { instanceId: session.instanceId, connectionIndex: session.connectionIndex };
  }

  /** Sends arbitrary text on one of an agent's sockets; false when it is not connected. */
  sendRaw(agentId: string, text: string): boolean {
    const session = [...(this.sessions.get(agentId)?.values() ?? [])].find(
      (candidate) => candidate.socket.readyState === WebSocket.OPEN,
    );
    if (!session) return false;
    session.socket.send(text);
    return true;
  }

  /**
   * Closes every socket with 1001 (the cloud is shutting down), terminating those whose peer does not
   * complete the close handshake within `graceMs` — ws would otherwise wait 30 s for each.
   */
  async closeAll(graceMs = 1000): Promise<void> {
    for (const timer of this.syncTimers.values()) clearInterval(timer);
    this.syncTimers.clear();
    const sockets = [...this.sessions.values()].flatMap((map) =>
      [...map.values()].map((session) => {
        session.stopHeartbeat();
        return session.socket;
      }),
    );
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

  /**
   * Takes over an authenticated, upgraded socket for `agentId`. `raw` is the TCP socket under it: any
   * byte arriving on it counts as a sign of life, so a large frame still arriving keeps the link up.
   */
  accept(agentId: string, socket: WebSocket, raw?: Socket): void {
    const session = new Session(agentId, socket, this.settings.maxFrameBytes, this.log);
    raw?.on('data', () => {
      session.lastReceivedAt = Date.now();
    });
    socket.on('message', (data: WebSocket.RawData, isBinary: boolean) =>
      this.receive(session, data, isBinary),
    );
    socket.on('close', (code: number, reason: Buffer) => {
      this.log.info(
        {
          agentId,
          instanceId: session.instanceId,
          connectionIndex: session.connectionIndex,
          code,
          reason: reason.toString('utf8'),
        },
        'tunnel closed',
      );
      this.disconnected(session);
    });
    socket.on('error', (error: Error) => {
      // ws closes the socket after an 'error' (e.g. 1009 for an oversize frame); 'close' follows.
      this.log.warn({ agentId, err: error }, 'tunnel error');
    });
    session.startHeartbeat(this.settings.heartbeatIntervalMs, () => {
      this.log.warn(
        { agentId, instanceId: session.instanceId, silentForMs: Date.now() - session.lastReceivedAt },
        'nothing received from the agent for 3 heartbeat intervals; dropping the connection',
      );
      this.disconnected(session);
      socket.terminate();
    });
  }

  private disconnected(session: Session): void {
    session.stopHeartbeat();
    const map = this.sessions.get(session.agentId);
    if (map?.get(session.key) !== session) return;
    map.delete(session.key);
    if (map.size === 0) {
      this.sessions.delete(session.agentId);
      clearInterval(this.syncTimers.get(session.agentId));
      this.syncTimers.delete(session.agentId);
    }
    this.jobs.onLinkDown(session.agentId, session);
  }

  private receive(session: Session, data: WebSocket.RawData, isBinary: boolean): void {
    session.lastReceivedAt = Date.now();
    const raw = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (this.settings.recordFrames) {
      let list = this.frames.get(session.agentId);
      if (!list) this.frames.set(session.agentId, (list = []));
      list.push(raw.toString('utf8'));
    }
    this.settings.onFrame?.(session.agentId, raw.toString('utf8'));
    if (!session.greeted && !isBinary && this.refuseOtherVersion(session, raw)) return;
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
      case 'heartbeat':
        session.lastHeartbeatAt = new Date().toISOString();
        if (frame.jobs) session.jobs = frame.jobs;
        return;
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
      case 'sync.report':
        this.jobs.onSyncReport(session.agentId, frame, session);
        return;
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
        // RUNTIME_TO_CLOUD lets only the frames above through (and upload.request, which this
        // reference cloud does not grant: it offers no presigned delivery).
        const error = new Codes.SDR_ERR_FRAME_UNKNOWN(frame.type);
        this.log.warn({ agentId: session.agentId }, error.message);
        session.sendError(error, frame.type);
      }
    }
  }

  /**
   * A `hello` of another protocol version is refused with SDR_ERR_PROTOCOL_VERSION before its schema is
   * checked: a version-1 hello lacks version-2 fields, and must still learn why it is refused.
   */
  private refuseOtherVersion(session: Session, raw: Buffer): boolean {
    if (raw.length > this.settings.maxFrameBytes) return false;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      return false;
    }
    const hello = parsed as { type?: unknown; protocolVersion?: unknown };
    if (hello?.type !== 'hello' || hello.protocolVersion === PROTOCOL_VERSION) return false;
    const theirs = typeof hello.protocolVersion === 'number' ? hello.protocolVersion : -1;
    const error = new Codes.SDR_ERR_PROTOCOL_VERSION(theirs, PROTOCOL_VERSION);
    this.log.warn({ agentId: session.agentId }, error.message);
    session.sendError(error, 'hello');
    session.socket.close(CloseCodes.PROTOCOL_ERROR, 'protocol version mismatch');
    return true;
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
    if (frame.agentId !== undefined && frame.agentId !== agentId) {
      const error = new SdrError(
        Codes.SDR_ERR_REQUEST_WRONG_AGENT.code,
        `this agent token belongs to agent ${agentId}, but the runtime is configured as agent ${frame.agentId} (SDR_AGENT_ID); use that agent's token`,
        false,
      );
      this.log.warn({ agentId, claimed: frame.agentId }, error.message);
      session.sendError(error, 'hello');
      session.socket.close(CloseCodes.WRONG_AGENT, 'token belongs to another agent');
      return;
    }
    session.greeted = true;
    session.instanceId = frame.instanceId;
    session.connectionIndex = frame.connectionIndex;
    session.connections = frame.connections;
    session.runtimeVersion = frame.runtimeVersion;
    session.capabilities = frame.capabilities;
    session.lastHeartbeatAt = new Date().toISOString();
    let map = this.sessions.get(agentId);
    if (!map) this.sessions.set(agentId, (map = new Map<string, Session>()));
    const previous = map.get(session.key);
    map.set(session.key, session);
    if (previous) {
      // The same connection of the same instance came back (its old socket is half-open): only it goes.
      this.log.info(
        { agentId, instanceId: session.instanceId, connectionIndex: session.connectionIndex },
        'instance connection reconnected; closing its previous socket',
      );
      previous.stopHeartbeat();
      previous.socket.close(CloseCodes.REPLACED, 'replaced by a newer connection');
      this.jobs.onLinkDown(agentId, previous);
    }
    session.send({
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      agentId,
      connectionId: session.connectionId,
      heartbeatIntervalMs: this.settings.heartbeatIntervalMs,
      creditWindow: this.settings.creditWindow,
      maxFrameBytes: this.settings.maxFrameBytes,
      reconcileIntervalMs: this.settings.reconcileIntervalMs,
    });
    this.log.info(
      {
        agentId,
        instanceId: session.instanceId,
        connectionIndex: session.connectionIndex,
        runtimeVersion: frame.runtimeVersion,
      },
      'agent connected',
    );
    this.jobs.onConnected(agentId, session);
    this.jobs.reconcile(agentId, session);
    if (!this.syncTimers.has(agentId)) {
      const timer = setInterval(() => {
        const link = this.linkFor(agentId);
        if (link) this.jobs.reconcile(agentId, link);
      }, this.settings.reconcileIntervalMs);
      timer.unref();
      this.syncTimers.set(agentId, timer);
    }
  }
}
