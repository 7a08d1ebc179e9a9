import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { type JobRequestBody, PROTOCOL_VERSION, signJobRequest } from '../../protocol/index.js';
import { scaled } from './wait.js';

type Received = Record<string, unknown> & { type: string };

/**
 * A cloud whose every move the test makes by hand: it welcomes, records what the runtime sends, and
 * sends only what the test tells it to (no automatic acks). For exact flow-control and robustness tests.
 */
export class ScriptedCloud {
  readonly received: Received[] = [];
  readonly connections: WebSocket[] = [];
  readonly keys = generateKeyPairSync('ed25519');
  private readonly server: WebSocketServer;
  private waiters: { predicate: () => boolean; resolve: () => void }[] = [];
  /** Called with every frame received, after it is recorded (to script acks, commits, ...). */
  readonly listeners: ((frame: Received, socket: WebSocket) => void)[] = [];

  private constructor(
    readonly token: string,
    /** The agent id the next welcome names (a hostile cloud may change it between connections). */
    public agentId: string,
    private readonly welcome: { creditWindow: number; heartbeatIntervalMs: number; maxFrameBytes: number },
  ) {
    this.server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      path: '/v1/tunnel',
      maxPayload: 64 * 1024 * 1024,
      verifyClient: (info, done) => done(info.req.headers.authorization === `Bearer ${token}`, 401),
    });
    this.server.on('connection', (socket) => {
      this.connections.push(socket);
      socket.on('message', (data: Buffer) => {
        let frame: Received;
        try {
          frame = JSON.parse(data.toString('utf8')) as Received;
        } catch {
          frame = { type: '<unparseable>' };
        }
        this.received.push(frame);
        for (const listener of this.listeners) listener(frame, socket);
        if (frame.type === 'hello') {
          socket.send(
            JSON.stringify({
              type: 'welcome',
              protocolVersion: PROTOCOL_VERSION,
              agentId: this.agentId,
              connectionId: 'c-scripted',
              ...this.welcome,
            }),
          );
        }
        this.check();
      });
    });
  }

  /** Starts listening on a free port. */
  static async start(
    welcome: Partial<{ creditWindow: number; heartbeatIntervalMs: number; maxFrameBytes: number }> = {},
  ): Promise<ScriptedCloud> {
    const cloud = new ScriptedCloud('scripted-token', 'agent-scripted', {
      creditWindow: 3,
      heartbeatIntervalMs: 15_000,
      maxFrameBytes: 4 * 1024 * 1024,
      ...welcome,
    });
    await new Promise<void>((resolve) => cloud.server.once('listening', resolve));
    return cloud;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/tunnel`;
  }

  get publicKeyPem(): string {
    return this.keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** The socket of the latest connection. */
  get socket(): WebSocket {
    const socket = this.connections.at(-1);
    if (!socket) throw new Error('no runtime has connected');
    return socket;
  }

  /** Sends a frame (or raw text) on the latest connection. */
  send(frame: object | string): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** A signed job request for this agent, valid for a minute unless overridden. */
  request(overrides: Partial<JobRequestBody> = {}, key: KeyObject = this.keys.privateKey) {
    const now = Date.now();
    const body: JobRequestBody = {
      requestId: `req-${Math.random().toString(36).slice(2)}`,
      agentId: this.agentId,
      connection: 'pg',
      options: {},
      delivery: { mode: 'tunnel' },
      issuedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 60_000).toISOString(),
      ...overrides,
    };
    return signJobRequest(body, key);
  }

  /** Frames of a type received so far, optionally for one request. */
  framesOf(type: string, requestId?: string): Received[] {
    return this.received.filter(
      (frame) => frame.type === type && (!requestId || frame.requestId === requestId),
    );
  }

  /** Resolves when `predicate` holds; rejects after `timeoutMs`. */
  async until(predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    if (predicate()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const types = this.received.slice(-10).map((frame) => frame.type);
        reject(
          new Error(
            `scripted cloud: timed out after ${scaled(timeoutMs)} ms waiting for ${what}; last frames: ${types.join(', ')}`,
          ),
        );
      }, scaled(timeoutMs));
      this.waiters.push({
        predicate,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Stops reading from the latest connection (the runtime's sends pile up in its socket buffer). */
  stopReading(): void {
    (this.socket as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  /** Reads from the latest connection again. */
  resumeReading(): void {
    (this.socket as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  /** Acknowledges every batch and commits every job.end, as a well-behaved cloud would. */
  autoAck(): void {
    this.listeners.push((frame, socket) => {
      if (frame.type === 'job.batch') {
        socket.send(
          JSON.stringify({
            type: 'job.ack',
            requestId: frame.requestId,
            attempt: frame.attempt,
            seq: frame.seq,
          }),
        );
      } else if (frame.type === 'job.end') {
        socket.send(
          JSON.stringify({
            type: 'job.committed',
            requestId: frame.requestId,
            attempt: frame.attempt,
            records: frame.records,
          }),
        );
      }
    });
  }

  async close(): Promise<void> {
    for (const socket of this.connections) socket.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private check(): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.predicate()) return true;
      waiter.resolve();
      return false;
    });
  }
}
