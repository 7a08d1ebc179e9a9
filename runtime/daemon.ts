import type { KeyObject } from 'node:crypto';
import { type Job, UnrecoverableError, WaitingError } from 'bullmq';
import type { Logger } from 'pino';
import { builtInAdapterModules, builtInAdapters, type SourceAdapter } from '../adapters/index.js';
import {
  Codes,
  DELIVERY_MODES as PROTOCOL_DELIVERY_MODES,
  describeError,
  type Frame,
  type FrameOf,
  type RejectCode,
  MAX_MESSAGE_CHARS,
  parsePublicKey,
  SdrError,
  type SignedJobRequest,
} from '../protocol/index.js';
import { AgentIdentity } from './agent-identity.js';
import { builtInSecretProviders, SecretResolver } from '../secrets/index.js';
import { AlreadyCommitted } from './attempt-stream.js';
import type { RuntimeConfig } from './config.js';
import { type ConnectionDefinition, loadConnections } from './connections.js';
import { sweepRetention } from './delivery/index.js';
import { bucketSecretReferences, resolveMode } from './delivery/settings.js';
import { startHealthServer, type HealthServer } from './health-server.js';
import { JobQueue } from './job-queue.js';
import { sandboxed } from './job-sandbox.js';
import type { LogForwarder } from './log-forwarder.js';
import { JobAttempt, type QueuedJob, StopSignal } from './job-runner.js';
import { scrubSecrets } from './logger.js';
import { RuntimeMetrics } from './metrics.js';
import { admitRequest, type GateContext, scopeOf, verifyQueuedRequest } from './request-gate.js';
import { TunnelClient } from './tunnel-client.js';
import { RUNTIME_VERSION } from './version.js';

/** Lifecycle states; SIGTERM and SIGINT both move running → draining → stopped. */
export type DaemonState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/** Longest error message sent to the cloud. */
const MAX_ERROR_MESSAGE_CHARS = MAX_MESSAGE_CHARS;

/** Delivery modes this build implements. */
export const DELIVERY_MODES = PROTOCOL_DELIVERY_MODES;

/** How often buckets with `retentionDays` are swept of this agent's old results. */
const RETENTION_SWEEP_MS = 6 * 3_600_000;

/** Built-in adapters, each job's extraction in a worker of its own unless isolation is off. */
function isolated(adapters: SourceAdapter<unknown>[], config: RuntimeConfig): SourceAdapter<unknown>[] {
  if (config.jobIsolation === 'none') return adapters;
  return adapters.map((adapter) => {
    const module = builtInAdapterModules.find((candidate) => candidate.type === adapter.type);
    if (!module) return adapter;
    return sandboxed(adapter, module, { maxOldSpaceMb: config.jobMaxOldSpaceMb });
  });
}

/** Optional overrides, for tests and embedding. */
export interface DaemonOverrides {
  adapters?: readonly SourceAdapter<unknown>[];
  /** Ships the runtime's own log lines to the cloud over the tunnel. */
  logForwarder?: LogForwarder;
}

/**
 * The runtime daemon: one tunnel in, one queue through, adapters out. Owns every resource it starts and
 * releases them in reverse order on `stop()`.
 */
export class Daemon {
  state: DaemonState = 'starting';
  readonly metrics = new RuntimeMetrics();
  private readonly adapters: ReadonlyMap<string, SourceAdapter<unknown>>;
  private readonly connections: ReadonlyMap<string, ConnectionDefinition>;
  private readonly secrets: SecretResolver;
  private readonly cloudPublicKey: KeyObject;
  private readonly queue: JobQueue;
  private readonly tunnel: TunnelClient;
  private readonly identity: AgentIdentity;
  private readonly running = new Map<string, JobAttempt>();
  private readonly enqueueing = new Map<string, Promise<unknown>>();
  private health: HealthServer | undefined;
  private queuedCount = 0;
  private depthTimer: NodeJS.Timeout | undefined;
  private readonly logForwarder: LogForwarder | undefined;
  /** Upload URLs that came with a request, for its first attempt on this instance. */
  private readonly initialUploads = new Map<string, NonNullable<FrameOf<'job.request'>['uploads']>['urls']>();
  private retentionTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: RuntimeConfig,
    private readonly log: Logger,
    overrides: DaemonOverrides = {},
  ) {
    this.logForwarder = overrides.logForwarder;
    this.adapters = new Map(
      (overrides.adapters ?? isolated(builtInAdapters(), config)).map((adapter) => [adapter.type, adapter]),
    );
    this.secrets = new SecretResolver(
      builtInSecretProviders({ ...config.secretProviders, logger: log }),
      config.secretCacheTtlMs,
    );
    this.connections = loadConnections(config.connectionsFile, {
      adapterTypes: [...this.adapters.keys()],
      validateSecretReference: (reference) => this.secrets.validate(reference),
      validateLimits: (connection) => {
        const adapter = this.adapters.get(connection.type);
        const limits = connection.limits ?? {};
        if (adapter?.checkLimits) adapter.checkLimits(undefined, scopeOf(connection));
        else if (Object.keys(limits).length > 0)
          throw new Error(`connection "${connection.name}": adapter "${connection.type}" takes no limits`);
      },
    });
    try {
      this.cloudPublicKey = parsePublicKey(config.cloudPublicKeyPem);
    } catch (cause) {
      throw new SdrError(
        'SDR_ERR_CONFIG_INVALID',
        `SDR_CLOUD_PUBLIC_KEY: not an Ed25519 public key (${(cause as Error).message}); give the PEM (in a .env file on one line, \\n between its lines), its base64 body, or SDR_CLOUD_PUBLIC_KEY_FILE naming a file that holds it`,
        false,
        { cause },
      );
    }
    this.queue = new JobQueue({
      redisUrl: config.redisUrl,
      queueName: config.queueName,
      concurrency: config.concurrency,
      attempts: config.jobAttempts,
      backoffMs: config.jobBackoffMs,
      lockMs: config.jobLockMs,
      stalledIntervalMs: config.jobStalledIntervalMs,
      retentionHours: config.jobRetentionHours,
      log,
    });
    this.tunnel = new TunnelClient({
      url: config.cloudUrl,
      token: config.agentToken,
      proxyUrl: config.proxyUrl,
      maxFrameBytes: config.maxFrameBytes,
      reconnectBaseMs: config.reconnectBaseMs,
      reconnectMaxMs: config.reconnectMaxMs,
      hello: {
        runtimeVersion: RUNTIME_VERSION,
        capabilities: {
          adapters: [...this.adapters.keys()],
          delivery: [...DELIVERY_MODES],
          maxFrameBytes: config.maxFrameBytes,
        },
      },
      jobStatus: () => ({ active: this.running.size, queued: this.queuedCount }),
      log,
      metrics: this.metrics,
      handlers: {
        onFrame: (frame) => this.onFrame(frame),
        checkAgent: (agentId) => this.identity.check(agentId),
        onUp: () => {
          for (const attempt of this.running.values()) attempt.stream.resend();
        },
        onDown: () => undefined,
      },
    });
    this.identity = new AgentIdentity(config.trust.agentId, this.queue.agentIdStore(), log, () =>
      this.tunnel.recycle('the agent id bound in Redis differs from the welcome'),
    );
  }

  /** What requests and queued jobs are checked against; the agent id is ours, never a frame's. */
  private gate(): GateContext {
    return {
      cloudPublicKey: this.cloudPublicKey,
      agentId: this.identity.agentId,
      clockSkewMs: this.config.clockSkewMs,
      maxLifetimeMs: this.config.trust.requestMaxLifetimeMs,
      connections: this.connections,
      adapters: this.adapters,
      deliveryModes: DELIVERY_MODES,
    };
  }

  /** Starts the health server, the tunnel and the worker. */
  async start(): Promise<void> {
    const { connectionsFile, health } = this.config;
    this.log.info(
      {
        version: RUNTIME_VERSION,
        connections: [...this.connections.keys()],
        connectionsFile,
        adapters: [...this.adapters.keys()],
      },
      'sdr runtime starting',
    );
    if (health.enabled) {
      this.health = await startHealthServer({
        host: health.host,
        port: health.port,
        registry: this.metrics.registry,
        live: () => this.state !== 'failed' && this.state !== 'stopped',
        ready: async () => this.state === 'running' && this.tunnel.isUp && (await this.queue.ping()),
      });
      this.log.info({ url: this.health.url }, 'health server listening');
    }
    await this.identity.load();
    this.tunnel.start();
    const tunnel = this.tunnel;
    this.logForwarder?.attach({
      get isUp() {
        return tunnel.isUp;
      },
      send: (frame) => tunnel.send(frame),
    });
    this.queue.startWorker((job, token) => this.process(job, token));
    this.depthTimer = setInterval(() => void this.refreshDepth(), 5_000);
    this.retentionTimer = setInterval(() => void this.sweepRetention(), RETENTION_SWEEP_MS);
    this.retentionTimer.unref();
    this.state = 'running';
  }

  /**
   * Drains: the worker takes no new jobs; running ones get `drainTimeoutMs` to finish and are then handed
   * back to the queue (not failed) for the next runtime to pick up. Requests arriving meanwhile still queue.
   */
  async stop(): Promise<void> {
    if (this.state === 'draining' || this.state === 'stopped') return;
    this.state = 'draining';
    this.log.info({ running: this.running.size, graceMs: this.config.drainTimeoutMs }, 'draining');
    clearInterval(this.depthTimer);
    clearInterval(this.retentionTimer);
    const graceTimer = setTimeout(() => {
      if (this.running.size === 0) return;
      this.log.warn(
        { running: [...this.running.keys()] },
        'drain grace period over; handing running jobs back to the queue',
      );
      for (const attempt of this.running.values()) attempt.stop('draining');
    }, this.config.drainTimeoutMs);
    let first: unknown;
    // Release in reverse order of acquisition, keeping the first error.
    const release = async (what: string, step: () => Promise<void>) => {
      try {
        await step();
      } catch (error) {
        this.log.error({ err: error }, `failed to close ${what}`);
        first ??= error;
      }
    };
    await release('worker', () => this.queue.closeWorker());
    clearTimeout(graceTimer);
    await release('log forwarder', async () => this.logForwarder?.detach());
    await release('tunnel', () => this.tunnel.close());
    await release('queue', () => this.queue.close());
    await release('health server', async () => this.health?.close());
    await release('secret providers', () => this.secrets.close());
    this.state = first === undefined ? 'stopped' : 'failed';
    this.log.info({ state: this.state }, 'runtime stopped');
  }

  private async refreshDepth(): Promise<void> {
    try {
      const depth = await this.queue.depth();
      this.queuedCount = depth.waiting + depth.delayed;
      this.metrics.queueDepth.set({ state: 'waiting' }, depth.waiting);
      this.metrics.queueDepth.set({ state: 'delayed' }, depth.delayed);
    } catch {
      // Redis being down is reported by the queue's own error handler.
    }
  }

  /** Deletes this agent's bucket results past each connection's `retentionDays`; failures are logged. */
  private async sweepRetention(): Promise<void> {
    const agentId = this.identity.agentId ?? '';
    for (const connection of this.connections.values()) {
      const bucket = connection.delivery.bucket;
      if (bucket?.retentionDays === undefined) continue;
      try {
        const credentials = await this.secrets.resolveAll(bucketSecretReferences(bucket));
        await sweepRetention(bucket, credentials, agentId, this.log.child({ connection: connection.name }));
      } catch (error) {
        const { code, message } = describeError(error, 'SDR_ERR_DELIVERY_FAILED');
        this.log.warn({ connection: connection.name, code }, `retention sweep failed: ${message}`);
      }
    }
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'job.request':
        if (frame.uploads && frame.uploads.urls.length > 0) {
          this.initialUploads.set(frame.request.requestId, frame.uploads.urls);
          // Unused grants are short-lived; forget them once they would have expired anyway.
          setTimeout(() => this.initialUploads.delete(frame.request.requestId), 3_600_000).unref();
        }
        void this.onRequest(frame.request);
        return;
      case 'upload.grant':
        this.attemptFor(frame)?.presigned?.grant(frame.urls);
        return;
      case 'job.ack':
        this.attemptFor(frame)?.stream.acknowledge(frame.seq);
        return;
      case 'job.committed':
        this.attemptFor(frame)?.stream.committed(frame);
        return;
      case 'job.nack':
        this.attemptFor(frame)?.stream.refused(frame);
        return;
      case 'job.cancel':
        void this.onCancel(frame.requestId);
        return;
      case 'error':
        this.log.warn({ code: frame.code, inReplyTo: frame.inReplyTo }, `cloud reported: ${frame.message}`);
        return;
      default:
        return;
    }
  }

  private attemptFor(frame: { requestId: string; attempt: number }): JobAttempt | undefined {
    const attempt = this.running.get(frame.requestId);
    return attempt && attempt.attempt === frame.attempt ? attempt : undefined;
  }

  private async onRequest(request: SignedJobRequest): Promise<void> {
    try {
      await this.admitAndQueue(request);
    } catch (error) {
      // Nothing a request holds may become an unhandled rejection; the cloud still gets an answer.
      this.log.error(
        { requestId: request.requestId, err: { message: (error as Error).message } },
        'request handling failed',
      );
      this.reject(
        request.requestId,
        'SDR_ERR_QUEUE_UNAVAILABLE',
        `the runtime could not handle the request: ${(error as Error).message}`,
      );
    }
  }

  /** Sends a bounded rejection (a hostile request's text must not make the answer itself unsendable). */
  private reject(requestId: string, code: RejectCode, message: string): void {
    this.tunnel.send({
      type: 'job.rejected',
      requestId,
      code,
      message: message.slice(0, MAX_ERROR_MESSAGE_CHARS),
    });
  }

  private async admitAndQueue(request: SignedJobRequest): Promise<void> {
    const { requestId } = request;
    const refusal = admitRequest(request, this.gate());
    if (refusal) {
      this.metrics.jobs.inc({ event: 'rejected' });
      this.log.warn(
        { requestId, code: refusal.code, connection: request.connection.slice(0, 200) },
        `rejected job request: ${refusal.error.message.slice(0, 1_000)}`,
      );
      this.reject(requestId, refusal.code, refusal.error.message);
      return;
    }
    try {
      const existing = await this.queue.find(requestId);
      if (!existing) {
        const queued = await this.queue.queuedCount();
        if (queued >= this.config.trust.maxQueuedJobs) {
          const error = new Codes.SDR_ERR_QUEUE_FULL(queued, this.config.trust.maxQueuedJobs);
          this.metrics.jobs.inc({ event: 'rejected' });
          this.log.warn({ requestId, code: error.code }, error.message);
          this.reject(requestId, 'SDR_ERR_QUEUE_FULL', error.message);
          return;
        }
      }
      const definition = this.connections.get(request.connection);
      const delivery = definition && resolveMode(request.delivery.mode, definition.delivery);
      const { duplicate, state, failedReason, attempts } = await this.enqueueOnce({
        requestId,
        connection: request.connection,
        options: request.options,
        request,
        ...(delivery && delivery !== 'tunnel' && { delivery }),
      });
      this.tunnel.send({ type: 'job.accepted', requestId, duplicate });
      if (duplicate) {
        this.log.info({ requestId, state }, 'duplicate job request; the queued job stands');
        if (state === 'failed') this.resendFailure(requestId, attempts, failedReason);
        return;
      }
      this.metrics.jobs.inc({ event: 'accepted' });
      this.log.info({ requestId, connection: request.connection }, 'job queued');
    } catch (error) {
      const message = `Redis at the configured SDR_REDIS_URL did not take the job: ${(error as Error).message}`;
      this.log.error({ requestId, code: 'SDR_ERR_QUEUE_UNAVAILABLE' }, message);
      this.reject(requestId, 'SDR_ERR_QUEUE_UNAVAILABLE', message);
    }
  }

  /** Enqueues one request id at a time, so a copy arriving mid-enqueue is seen as the duplicate it is. */
  private async enqueueOnce(job: QueuedJob): ReturnType<JobQueue['enqueue']> {
    const previous = this.enqueueing.get(job.requestId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.queue.enqueue(job));
    this.enqueueing.set(job.requestId, next);
    try {
      return await next;
    } finally {
      if (this.enqueueing.get(job.requestId) === next) this.enqueueing.delete(job.requestId);
    }
  }

  /** A re-sent request for a job that already failed: tell the cloud again, it may have missed it. */
  private resendFailure(requestId: string, attempts: number, failedReason: string | undefined): void {
    const match = /^(SDR_ERR_\w+): ([\s\S]*)$/.exec(failedReason ?? '');
    this.tunnel.send({
      type: 'job.failed',
      requestId,
      attempt: Math.max(1, attempts),
      code: match?.[1] ?? 'SDR_ERR_SOURCE_FAILED',
      message: match?.[2] ?? failedReason ?? 'failed',
      willRetry: false,
    });
  }

  private async onCancel(requestId: string): Promise<void> {
    const attempt = this.running.get(requestId);
    if (attempt) {
      attempt.stop('cancelled');
      return;
    }
    try {
      if (await this.queue.removeQueued(requestId)) {
        this.metrics.jobs.inc({ event: 'cancelled' });
        this.log.info({ requestId }, 'cancelled a queued job');
        this.tunnel.sendReliably({ type: 'job.cancelled', requestId, wasRunning: false });
        return;
      }
    } catch (error) {
      this.log.error(
        { requestId, err: { message: (error as Error).message } },
        'could not cancel a queued job',
      );
    }
    this.tunnel.send({
      type: 'error',
      code: 'SDR_ERR_JOB_NOT_FOUND',
      message: `job ${requestId} is neither queued nor running on this runtime`,
      inReplyTo: 'job.cancel',
      requestId,
    });
  }

  private async process(job: Job<QueuedJob>, token: string): Promise<{ records: number; sha256?: string }> {
    const attemptNumber = Math.max(1, job.attemptsStarted);
    const requestId = job.id ?? String(job.data?.requestId);
    // Redis is not trusted: only a job carrying a request signed for this agent, within its connection's
    // limits, runs. Expiry is deliberately not re-checked (docs/security.md).
    const request = job.data?.request;
    const problem = verifyQueuedRequest(requestId, request, this.gate());
    if (problem || !request) {
      const error = problem ?? new Codes.SDR_ERR_JOB_UNVERIFIED(requestId, 'it carries no signed request');
      this.metrics.jobs.inc({ event: 'unverified' });
      this.log.error({ requestId, code: error.code }, error.message.slice(0, 1_000));
      this.tunnel.sendReliably({
        type: 'job.failed',
        requestId,
        attempt: attemptNumber,
        code: error.code,
        message: error.message.slice(0, MAX_ERROR_MESSAGE_CHARS),
        willRetry: false,
      });
      throw new UnrecoverableError(`${error.code}: ${error.message.slice(0, MAX_ERROR_MESSAGE_CHARS)}`);
    }
    // The delivery mode too comes from the signed request and the connection, not from Redis.
    const definition = this.connections.get(request.connection);
    const delivery = definition && resolveMode(request.delivery.mode, definition.delivery);
    const verified: QueuedJob = {
      requestId: request.requestId,
      connection: request.connection,
      options: request.options,
      request,
      ...(delivery && delivery !== 'tunnel' && { delivery }),
    };
    const tunnel = this.tunnel;
    const attempt = new JobAttempt(
      {
        link: {
          get isUp() {
            return tunnel.isUp;
          },
          sendText: (text) => tunnel.sendText(text),
          send: (frame) => tunnel.send(frame),
          creditWindow: () => tunnel.welcome?.creditWindow ?? 1,
        },
        connections: this.connections,
        adapters: this.adapters,
        secrets: this.secrets,
        metrics: this.metrics,
        log: this.log,
        batchMaxRecords: this.config.batchMaxRecords,
        batchMaxBytes: this.config.batchMaxBytes,
        ackDeadline: {
          timeoutMs: this.config.trust.ackTimeoutMs,
          onExpired: (id) => this.tunnel.recycle(`job ${id} got no acknowledgement in time`),
        },
        agentId: () => this.identity.agentId ?? '',
        presigned: this.config.uploads,
        initialUploads: (requestId) => this.initialUploads.get(requestId) ?? [],
      },
      verified,
      attemptNumber,
    );
    this.running.get(requestId)?.stop('superseded');
    this.running.set(requestId, attempt);
    this.metrics.activeJobs.set(this.running.size);
    try {
      const result = await attempt.run();
      this.metrics.jobs.inc({ event: 'committed' });
      return { records: result.records, sha256: result.sha256 };
    } catch (error) {
      return await this.settleFailure(job, token, attempt, error);
    } finally {
      if (this.running.get(requestId) === attempt) this.running.delete(requestId);
      this.metrics.activeJobs.set(this.running.size);
    }
  }

  private async settleFailure(
    job: Job<QueuedJob>,
    token: string,
    attempt: JobAttempt,
    error: unknown,
  ): Promise<{ records: number }> {
    const { requestId } = job.data;
    const log = this.log.child({ requestId, attempt: attempt.attempt });
    if (error instanceof AlreadyCommitted) {
      log.info({}, 'the cloud had already committed this job; stopping this attempt');
      this.metrics.jobs.inc({ event: 'committed' });
      return { records: error.records };
    }
    if (error instanceof StopSignal && error.reason === 'draining') {
      // Hand the job back without spending an attempt; the next runtime to start picks it up.
      await job.moveToWait(token);
      log.info({}, 'handed back to the queue for the next runtime');
      throw new WaitingError();
    }
    if (error instanceof StopSignal && error.reason === 'superseded') throw error;
    if (error instanceof StopSignal) {
      this.metrics.jobs.inc({ event: 'cancelled' });
      log.info({}, 'cancelled while running');
      this.tunnel.sendReliably({ type: 'job.cancelled', requestId, wasRunning: true });
      throw new UnrecoverableError('SDR_ERR_JOB_CANCELLED: cancelled by the cloud');
    }
    const described = describeError(error);
    // Bounded so a runaway driver message can never make the failure frame itself too large to send.
    const message = scrubSecrets(described.message, attempt.resolvedSecrets).slice(
      0,
      MAX_ERROR_MESSAGE_CHARS,
    );
    const willRetry = described.retryable && job.attemptsMade + 1 < (job.opts.attempts ?? 1);
    this.metrics.jobs.inc({ event: willRetry ? 'retried' : 'failed' });
    log.warn({ code: described.code, willRetry }, `attempt failed: ${message}`);
    this.tunnel.sendReliably({
      type: 'job.failed',
      requestId,
      attempt: attempt.attempt,
      code: described.code,
      message,
      willRetry,
    });
    const reason = `${described.code}: ${message}`;
    if (!willRetry) throw new UnrecoverableError(reason);
    throw new Error(reason);
  }
}
