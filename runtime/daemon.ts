import type { KeyObject } from 'node:crypto';
import { type Job, UnrecoverableError, WaitingError } from 'bullmq';
import type { Logger } from 'pino';
import { ADAPTER_TYPES, loadAdapters, type SourceAdapter } from '../adapters/index.js';
import {
  Codes,
  describeError,
  type Frame,
  parsePublicKey,
  SdrError,
  type SignedJobRequest,
} from '../protocol/index.js';
import {
  assertReferenceResolvable,
  builtInSecretProviders,
  configuredSecretSchemes,
  SecretResolver,
} from '../secrets/index.js';
import { AlreadyCommitted } from './attempt-stream.js';
import type { RuntimeConfig } from './config.js';
import { type ConnectionDefinition, loadConnections } from './connections.js';
import { startHealthServer, type HealthServer, type Readiness } from './health-server.js';
import { JobQueue } from './job-queue.js';
import type { LogForwarder } from './log-forwarder.js';
import { JobAttempt, type QueuedJob, StopSignal } from './job-runner.js';
import { redactUrl, scrubSecrets } from './logger.js';
import { RuntimeMetrics } from './metrics.js';
import { formatItem, runPreflight } from './preflight.js';
import { inspectRedis } from './redis-check.js';
import { admitRequest } from './request-gate.js';
import { TunnelClient } from './tunnel-client.js';
import { RUNTIME_VERSION } from './version.js';

/** Lifecycle states; SIGTERM and SIGINT both move running → draining → stopped. */
export type DaemonState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/** Longest error message sent to the cloud. */
const MAX_ERROR_MESSAGE_CHARS = 4_000;

/** Delivery modes this build implements. */
export const DELIVERY_MODES = ['tunnel'] as const;

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
  /** Filled by `start()` with the adapters the connections use (each imported only then). */
  private readonly adapters = new Map<string, SourceAdapter<unknown>>();
  private readonly adapterTypes: readonly string[];
  private readonly connections: ReadonlyMap<string, ConnectionDefinition>;
  /** Replaced in `start()` by one holding the configured stores (whose SDKs load only then). */
  private secrets: SecretResolver;
  private tunnelDown = 'down: connecting';
  private readonly cloudPublicKey: KeyObject;
  private readonly queue: JobQueue;
  private readonly tunnel: TunnelClient;
  private readonly running = new Map<string, JobAttempt>();
  private readonly enqueueing = new Map<string, Promise<unknown>>();
  private health: HealthServer | undefined;
  private queuedCount = 0;
  private depthTimer: NodeJS.Timeout | undefined;
  private readonly logForwarder: LogForwarder | undefined;

  constructor(
    private readonly config: RuntimeConfig,
    private readonly log: Logger,
    overrides: DaemonOverrides = {},
  ) {
    this.logForwarder = overrides.logForwarder;
    for (const adapter of overrides.adapters ?? []) this.adapters.set(adapter.type, adapter);
    this.adapterTypes = overrides.adapters ? [...this.adapters.keys()] : ADAPTER_TYPES;
    this.secrets = new SecretResolver([], config.secretCacheTtlMs);
    const schemes = configuredSecretSchemes(config.secretProviders);
    this.connections = loadConnections(config.connectionsFile, {
      adapterTypes: this.adapterTypes,
      validateSecretReference: (reference) => assertReferenceResolvable(reference, schemes),
    });
    try {
      this.cloudPublicKey = parsePublicKey(config.cloudPublicKeyPem);
    } catch (cause) {
      throw new SdrError(
        'SDR_ERR_CONFIG_INVALID',
        `SDR_CLOUD_PUBLIC_KEY: not an Ed25519 public key (${(cause as Error).message})`,
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
          adapters: [...this.adapterTypes],
          delivery: [...DELIVERY_MODES],
          maxFrameBytes: config.maxFrameBytes,
        },
      },
      jobStatus: () => ({ active: this.running.size, queued: this.queuedCount }),
      log,
      metrics: this.metrics,
      handlers: {
        onFrame: (frame) => this.onFrame(frame),
        onUp: () => {
          for (const attempt of this.running.values()) attempt.stream.resend();
        },
        onDown: (reason) => {
          this.tunnelDown = `down: ${reason}`;
        },
      },
    });
  }

  /**
   * Refuses a Redis that may evict jobs (`SDR_ERR_REDIS_EVICTION`), loads the adapters and secret stores
   * the configuration uses, starts the health server, the tunnel and the worker, then runs the preflight
   * checks in the background, logging each failure with its fix.
   */
  async start(): Promise<void> {
    const { connectionsFile, health } = this.config;
    const types = new Set([...this.connections.values()].map((connection) => connection.type));
    // Independent start-up work runs side by side; the refusal still comes before the tunnel and the worker.
    const [, adapters, providers] = await Promise.all([
      this.refuseEvictingRedis(),
      loadAdapters([...types].filter((type) => !this.adapters.has(type))),
      builtInSecretProviders({ ...this.config.secretProviders, logger: this.log }),
    ]);
    for (const adapter of adapters) this.adapters.set(adapter.type, adapter);
    this.secrets = new SecretResolver(providers, this.config.secretCacheTtlMs);
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
        ready: () => this.readiness(),
        status: () => this.status(),
      });
      this.log.info({ url: this.health.url }, `health server listening on ${this.health.url}`);
    }
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
    this.state = 'running';
    void this.preflight();
  }

  /** `/readyz`: ready only while running with the tunnel up and Redis answering; names what is down. */
  async readiness(): Promise<Readiness> {
    const redisUp = await this.queue.ping();
    const tunnel = this.tunnel.isUp ? 'up' : this.tunnelDown;
    const redis = redisUp
      ? 'up'
      : `down: no answer to PING from ${redactUrl(this.config.redisUrl)} within 1 s`;
    const ready = this.state === 'running' && this.tunnel.isUp && redisUp;
    return { ready, tunnel, redis, ...(this.state === 'running' ? {} : { state: this.state }) };
  }

  /** `/status` (what `sdr status` prints): tunnel, queue depth and running jobs with their progress. */
  async status(): Promise<Record<string, unknown>> {
    let queue: Record<string, number | string>;
    try {
      queue = await this.queue.depth();
    } catch (error) {
      queue = { error: `Redis unavailable: ${(error as Error).message}` };
    }
    const welcome = this.tunnel.welcome;
    return {
      version: RUNTIME_VERSION,
      state: this.state,
      tunnel: {
        state: this.tunnel.isUp ? 'up' : this.tunnelDown,
        url: this.config.cloudUrl,
        agentId: welcome?.agentId ?? null,
      },
      queue: { name: this.config.queueName, ...queue },
      jobs: [...this.running.values()].map((attempt) => ({
        requestId: attempt.job.requestId,
        connection: attempt.job.connection,
        attempt: attempt.attempt,
        ...attempt.progress,
      })),
    };
  }

  /**
   * BullMQ loses jobs when Redis evicts keys, so any policy but noeviction refuses the start. An
   * unreachable Redis does not: the queue reconnects by itself and the preflight reports it.
   */
  private async refuseEvictingRedis(): Promise<void> {
    const url = redactUrl(this.config.redisUrl);
    let facts;
    try {
      facts = await inspectRedis(this.config.redisUrl);
    } catch (error) {
      this.log.warn(
        { code: 'SDR_ERR_QUEUE_UNAVAILABLE', err: { message: (error as Error).message } },
        `cannot read Redis's eviction policy at ${url} (${(error as Error).message}); starting anyway`,
      );
      return;
    }
    if (facts.policy !== undefined && facts.policy !== 'noeviction') {
      throw new Codes.SDR_ERR_REDIS_EVICTION(url, facts.policy);
    }
    if (facts.aof === false && facts.rdb === false) {
      this.log.warn(
        { redis: url },
        'Redis persists nothing (appendonly no, no save points): a Redis restart loses every queued job; enable appendonly yes',
      );
    }
  }

  /** The checks of `sdr check` that do not disturb the running daemon, logged one line each. */
  private async preflight(): Promise<void> {
    try {
      const items = await runPreflight(this.config, {
        cloud: 'key-only',
        redis: false,
        connections: this.connections,
        adapters: this.adapters,
        secrets: this.secrets,
      });
      for (const item of items) {
        if (item.status === 'fail') this.log.warn({ check: item.id, code: item.code }, formatItem(item));
        else if (item.status === 'warn') this.log.warn({ check: item.id }, formatItem(item));
      }
      const failed = items.filter((item) => item.status === 'fail').length;
      this.log.info(
        { failed, checks: items.length },
        `preflight: ${items.length - failed} of ${items.length} checks passed`,
      );
    } catch (error) {
      this.log.warn({ err: { message: (error as Error).message } }, 'preflight checks could not run');
    }
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

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'job.request':
        void this.onRequest(frame.request);
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
    const { requestId } = request;
    const agentId = this.tunnel.welcome?.agentId ?? '';
    const refusal = admitRequest(request, {
      cloudPublicKey: this.cloudPublicKey,
      agentId,
      clockSkewMs: this.config.clockSkewMs,
      connections: this.connections,
      adapters: this.adapters,
      deliveryModes: DELIVERY_MODES,
    });
    if (refusal) {
      this.metrics.jobs.inc({ event: 'rejected' });
      this.log.warn(
        { requestId, code: refusal.code, connection: request.connection },
        `rejected job request: ${refusal.error.message}`,
      );
      this.tunnel.send({
        type: 'job.rejected',
        requestId,
        code: refusal.code,
        message: refusal.error.message,
      });
      return;
    }
    try {
      const { duplicate, state, failedReason, attempts } = await this.enqueueOnce({
        requestId,
        connection: request.connection,
        options: request.options,
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
      this.tunnel.send({ type: 'job.rejected', requestId, code: 'SDR_ERR_QUEUE_UNAVAILABLE', message });
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
      },
      job.data,
      attemptNumber,
    );
    const { requestId } = job.data;
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
