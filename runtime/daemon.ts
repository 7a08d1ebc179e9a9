import type { KeyObject } from 'node:crypto';
import { type Job, UnrecoverableError, WaitingError } from 'bullmq';
import type { Logger } from 'pino';
import { ADAPTER_TYPES, loadAdapters, type SourceAdapter } from '../adapters/index.js';
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
  SYNC_PAGE_SIZE,
} from '../protocol/index.js';
import { AgentIdentity } from './agent-identity.js';
import {
  assertReferenceResolvable,
  builtInSecretProviders,
  configuredSecretSchemes,
  SecretResolver,
} from '../secrets/index.js';
import { AlreadyCommitted } from './attempt-stream.js';
import type { RuntimeConfig } from './config.js';
import { type ConnectionDefinition, loadConnections } from './connections.js';
import { sweepRetention } from './delivery/index.js';
import { bucketSecretReferences, resolveMode } from './delivery/settings.js';
import { startHealthServer, type HealthServer, type Readiness } from './health-server.js';
import { JobQueue, parseFailedReason } from './job-queue.js';
import { sandboxed } from './job-sandbox.js';
import { checkRedis } from './redis-preflight.js';
import type { LogForwarder } from './log-forwarder.js';
import { JobAttempt, type QueuedJob, StopSignal } from './job-runner.js';
import { scrubSecrets } from './logger.js';
import { RuntimeMetrics } from './metrics.js';
import { formatItem, runPreflight } from './preflight.js';
import { admitRequest, type GateContext, scopeOf, verifyQueuedRequest } from './request-gate.js';
import { type TunnelConnection, TunnelPool } from './tunnel-pool.js';
import { RUNTIME_VERSION } from './version.js';

/** Lifecycle states; SIGTERM and SIGINT both move running → draining → stopped. */
export type DaemonState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/** Longest error message sent to the cloud. */
const MAX_ERROR_MESSAGE_CHARS = MAX_MESSAGE_CHARS;

/** Delivery modes this build implements. */
export const DELIVERY_MODES = PROTOCOL_DELIVERY_MODES;

/** How often buckets with `retentionDays` are swept of this agent's old results. */
const RETENTION_SWEEP_MS = 6 * 3_600_000;

/** Built-in adapters, each job's extraction in a worker thread unless isolation is off. */
function isolated(
  adapters: SourceAdapter<unknown>[],
  config: RuntimeConfig,
  metrics: RuntimeMetrics,
): SourceAdapter<unknown>[] {
  if (config.jobIsolation === 'none') return adapters;
  return adapters.map((adapter) => {
    if (!ADAPTER_TYPES.includes(adapter.type)) return adapter;
    return sandboxed(adapter, {
      maxOldSpaceMb: config.jobMaxOldSpaceMb,
      workerMaxJobs: config.jobWorkerMaxJobs,
      workerIdleMs: config.jobWorkerIdleMs,
      onWorkerStart: () => metrics.jobWorkersStarted.inc(),
    });
  });
}

/** Optional overrides, for tests and embedding. */
export interface DaemonOverrides {
  adapters?: readonly SourceAdapter<unknown>[];
  /** Ships the runtime's own log lines to the cloud over the tunnel. */
  logForwarder?: LogForwarder;
  /**
   * Called once when the runtime cannot go on and a restart would not help (the cloud speaks another
   * protocol version, Redis may evict jobs); main exits 78 after logging it.
   */
  onFatal?: (error: SdrError) => void;
  /** Fixed instance id (tests); by default a random one per process. */
  instanceId?: string;
}

/** Nack codes that mean the other side ended the attempt; a re-run spends none of the job's attempts. */
const OTHER_SIDE_NACKS = ['UNKNOWN_ATTEMPT', 'SUPERSEDED'];
/** Codes of attempts ended by the link, not the source; re-run without spending an attempt. */
const LINK_FAILURE_CODES = ['SDR_ERR_ACK_TIMEOUT', 'SDR_ERR_TUNNEL_DOWN'];

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
  private readonly tunnel: TunnelPool;
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
  private readonly onFatal: (error: SdrError) => void;
  private fatalError: SdrError | undefined;
  private warnings: string[] = [];
  /** Ids named by earlier pages of a paged `sync.request`, by sync id. */
  private readonly syncPages = new Map<string, Set<string>>();

  constructor(
    private readonly config: RuntimeConfig,
    private readonly log: Logger,
    overrides: DaemonOverrides = {},
  ) {
    this.logForwarder = overrides.logForwarder;
    this.onFatal = overrides.onFatal ?? (() => undefined);
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
        `SDR_CLOUD_PUBLIC_KEY: not an Ed25519 public key (${(cause as Error).message}); give the PEM (in a .env file on one line, \\n between its lines), its base64 body, or SDR_CLOUD_PUBLIC_KEY_FILE naming a file that holds it`,
        false,
        { cause },
      );
    }
    this.queue = new JobQueue({
      redis: config.redis,
      queueName: config.queueName,
      concurrency: config.concurrency,
      attempts: config.jobAttempts,
      backoffMs: config.jobBackoffMs,
      backoffMaxMs: config.jobBackoffMaxMs,
      lockMs: config.jobLockMs,
      stalledIntervalMs: config.jobStalledIntervalMs,
      maxStalledCount: config.jobMaxStalledCount,
      retentionHours: config.jobRetentionHours,
      log,
      onReady: () => {
        // Redis came back (maybe another server after a failover): check it again.
        if (this.state === 'running') void this.checkQueueRedis().catch((error: unknown) => this.fail(error));
      },
      onCancel: (requestId) => this.running.get(requestId)?.stop('cancelled'),
      onStalledLimit: (requestId, attempt, reason) => this.reportStalledLimit(requestId, attempt, reason),
    });
    this.tunnel = new TunnelPool({
      url: config.cloudUrl,
      token: config.agentToken,
      proxyUrl: config.proxyUrl,
      maxFrameBytes: config.maxFrameBytes,
      reconnectBaseMs: config.reconnectBaseMs,
      reconnectMaxMs: config.reconnectMaxMs,
      connections: config.tunnelConnections,
      ...(overrides.instanceId ? { instanceId: overrides.instanceId } : {}),
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
        onFrame: (frame, via) => this.onFrame(frame, via),
        checkAgent: (agentId) => this.identity.check(agentId),
        onConnectionUp: () => undefined,
        onConnectionDown: (reason) => {
          this.tunnelDown = `down: ${reason}`;
        },
        onFatal: (error) => this.fail(error),
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

  /** This process's instance id, as sent in every `hello`. */
  get instanceId(): string {
    return this.tunnel.instanceId;
  }

  /** Checks Redis's eviction policy and persistence; throws SDR_ERR_REDIS_EVICTION. */
  private async checkQueueRedis(): Promise<void> {
    const found = await checkRedis(this.queue.connection, this.queue.where);
    this.metrics.redisPersistent.set(found.persistent === undefined ? -1 : found.persistent ? 1 : 0);
    const fresh = found.warnings.filter((warning) => !this.warnings.includes(warning));
    for (const warning of fresh) this.log.warn({}, warning);
    this.warnings = found.warnings;
  }

  /** Ends the runtime for a reason a restart would not fix; reported once. */
  private fail(error: unknown): void {
    if (this.fatalError) return;
    const sdrError =
      error instanceof SdrError ? error : new SdrError('SDR_ERR_CONFIG_INVALID', String(error), false);
    if (!(error instanceof SdrError) || error.retryable) {
      this.log.warn({ err: { message: sdrError.message } }, 'Redis check failed; will check again');
      return;
    }
    this.fatalError = sdrError;
    this.log.fatal({ code: sdrError.code }, sdrError.message);
    this.onFatal(sdrError);
  }

  /**
   * Refuses a Redis that may evict jobs (`SDR_ERR_REDIS_EVICTION`), loads the adapters and secret stores
   * the configuration uses, starts the health server, the tunnel and the worker, then runs the preflight
   * checks in the background, logging each failure with its fix.
   */
  async start(): Promise<void> {
    const { connectionsFile, health } = this.config;
    const types = new Set([...this.connections.values()].map((connection) => connection.type));
    // Each adapter's driver and each secret store's SDK is imported only now, and only if used.
    const [adapters, providers] = await Promise.all([
      loadAdapters([...types].filter((type) => !this.adapters.has(type))),
      builtInSecretProviders({ ...this.config.secretProviders, logger: this.log }),
    ]);
    for (const adapter of isolated(adapters, this.config, this.metrics))
      this.adapters.set(adapter.type, adapter);
    this.checkConnectionLimits();
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
        warnings: () => this.warnings,
      });
      this.log.info({ url: this.health.url }, `health server listening on ${this.health.url}`);
    }
    await this.identity.load();
    // Refuse a Redis that may evict jobs before taking any; an unreachable one is checked when it answers.
    const checkedAtStart = await this.queue.waitReady(5_000);
    if (checkedAtStart) await this.checkQueueRedis();
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
    // Redis that first answered after the wait above did so while the daemon was not yet running, and its
    // 'ready' checked nothing (seen on a CPU-starved host): check it now, or an evicting Redis would be used.
    if (!checkedAtStart && this.queue.available)
      void this.checkQueueRedis().catch((error: unknown) => this.fail(error));
    void this.logPreflight();
  }

  /** Each connection's `limits:` block, checked by its adapter once the adapter is loaded. */
  private checkConnectionLimits(): void {
    for (const connection of this.connections.values()) {
      const adapter = this.adapters.get(connection.type);
      try {
        if (adapter?.checkLimits) adapter.checkLimits(undefined, scopeOf(connection));
        else if (Object.keys(connection.limits ?? {}).length > 0)
          throw new Error(`connection "${connection.name}": adapter "${connection.type}" takes no limits`);
      } catch (cause) {
        throw new Codes.SDR_ERR_CONNECTIONS_INVALID(this.config.connectionsFile, (cause as Error).message, {
          cause,
        });
      }
    }
  }

  /** `/readyz`: ready only while running with the tunnel up and Redis answering; names what is down. */
  async readiness(): Promise<Readiness> {
    const redisUp = await this.queue.ping();
    const tunnel = this.tunnel.isUp ? 'up' : this.tunnelDown;
    const redis = redisUp ? 'up' : `down: no answer to PING from ${this.queue.where} within 1 s`;
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
        agentId: this.identity.agentId ?? welcome?.agentId ?? null,
        instanceId: this.tunnel.instanceId,
        connectionsUp: this.tunnel.upCount,
        connections: this.config.tunnelConnections,
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

  /** The checks of `sdr check` that do not disturb the running daemon, logged one line each. */
  private async logPreflight(): Promise<void> {
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
    // Bounded whatever Redis does: a worker that cannot reach Redis to hand jobs back is closed by force.
    await release('worker', () => this.queue.closeWorker(this.config.drainTimeoutMs + 2_000));
    clearTimeout(graceTimer);
    await release('log forwarder', async () => this.logForwarder?.detach());
    await release('tunnel', () => this.tunnel.close());
    await release('queue', () => this.queue.close(1_000));
    await release('health server', async () => this.health?.close());
    await release('secret providers', () => this.secrets.close());
    this.state = first === undefined ? 'stopped' : 'failed';
    this.log.info({ state: this.state }, 'runtime stopped');
  }

  private async refreshDepth(): Promise<void> {
    if (!this.queue.available) return;
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

  private onFrame(frame: Frame, via: TunnelConnection): void {
    switch (frame.type) {
      case 'job.request':
        if (frame.uploads && frame.uploads.urls.length > 0) {
          this.initialUploads.set(frame.request.requestId, frame.uploads.urls);
          // Unused grants are short-lived; forget them once they would have expired anyway.
          setTimeout(() => this.initialUploads.delete(frame.request.requestId), 3_600_000).unref();
        }
        void this.onRequest(frame.request);
        return;
      case 'sync.request':
        void this.onSync(frame, via);
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
        void this.onCancel(frame.requestId, via);
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
        if (state === 'failed') this.resendFailure(this.tunnel, requestId, attempts, failedReason);
        return;
      }
      this.metrics.jobs.inc({ event: 'accepted' });
      this.log.info({ requestId, connection: request.connection }, 'job queued');
    } catch (error) {
      const message =
        error instanceof SdrError && error.code === Codes.SDR_ERR_QUEUE_UNAVAILABLE.code
          ? error.message
          : `Redis at ${this.queue.where} did not take the job: ${(error as Error).message}`;
      // While Redis is down the outage itself is logged once; each refused request only at debug.
      if (this.queue.available) this.log.error({ requestId, code: 'SDR_ERR_QUEUE_UNAVAILABLE' }, message);
      else this.log.debug({ requestId, code: 'SDR_ERR_QUEUE_UNAVAILABLE' }, message);
      this.reject(requestId, 'SDR_ERR_QUEUE_UNAVAILABLE', message);
    }
  }

  /**
   * Reconciliation: where each job the cloud expects stands in the shared queue, and which live jobs the
   * cloud did not name. Read from Redis, so any instance answers for the whole agent.
   */
  private async onSync(frame: FrameOf<'sync.request'>, via: TunnelConnection): Promise<void> {
    const seen = this.syncPages.get(frame.syncId) ?? new Set<string>();
    for (const id of frame.expected) seen.add(id);
    if (frame.more) this.syncPages.set(frame.syncId, seen);
    else this.syncPages.delete(frame.syncId);
    // Bounded: a cloud that never ends its pages must not grow this map.
    if (this.syncPages.size > 16) this.syncPages.delete(this.syncPages.keys().next().value as string);
    try {
      const jobs = await this.queue.syncStates(frame.expected);
      const unexpected = frame.more
        ? []
        : (await this.queue.liveJobs(SYNC_PAGE_SIZE + seen.size))
            .filter((job) => !seen.has(job.requestId))
            .slice(0, SYNC_PAGE_SIZE);
      via.send({ type: 'sync.report', syncId: frame.syncId, jobs, unexpected, more: frame.more });
    } catch (error) {
      // Redis is down: the cloud asks again at its next interval.
      this.log.debug({ err: { message: (error as Error).message } }, 'could not answer a sync request');
    }
  }

  /** The queue failed a job outside any processor (its runtimes kept dying): the cloud must learn. */
  private reportStalledLimit(requestId: string, attempt: number, reason: string): void {
    const error = new Codes.SDR_ERR_JOB_STALLED_LIMIT(requestId, reason);
    this.metrics.jobs.inc({ event: 'failed' });
    this.log.error({ requestId, attempt, code: error.code }, error.message);
    this.tunnel.sendReliably({
      type: 'job.failed',
      requestId,
      attempt,
      code: error.code,
      message: error.message,
      willRetry: false,
    });
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
  private resendFailure(
    via: { send(frame: Frame): boolean },
    requestId: string,
    attempts: number,
    failedReason: string | undefined,
  ): void {
    via.send({
      type: 'job.failed',
      requestId,
      attempt: Math.max(1, attempts),
      ...parseFailedReason(failedReason),
      willRetry: false,
    });
  }

  /**
   * Cancel is queue-level: recorded in Redis and broadcast, so the instance running the job aborts it
   * (and answers), whichever instance the cloud told.
   */
  private async onCancel(requestId: string, via: TunnelConnection): Promise<void> {
    try {
      await this.queue.markCancelled(requestId);
    } catch (error) {
      this.log.warn(
        { requestId, err: { message: (error as Error).message } },
        'could not record a cancel in Redis; the cloud sends it again on the next connect',
      );
    }
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
      // Running on another instance: the broadcast reaches it and it answers.
      if ((await this.queue.find(requestId))?.state === 'active') return;
    } catch (error) {
      this.log.error(
        { requestId, err: { message: (error as Error).message } },
        'could not cancel a queued job',
      );
      return;
    }
    via.send({
      type: 'error',
      code: 'SDR_ERR_JOB_NOT_FOUND',
      message: `job ${requestId} is neither queued nor running on this agent`,
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
    if (await this.queue.isCancelled(requestId).catch(() => false)) {
      this.metrics.jobs.inc({ event: 'cancelled' });
      this.log.info({ requestId }, 'job was cancelled before it started');
      this.tunnel.sendReliably({ type: 'job.cancelled', requestId, wasRunning: false });
      throw new UnrecoverableError('SDR_ERR_JOB_CANCELLED: cancelled by the cloud');
    }
    // The attempt's batches stay on one connection; if it drops they are resent on another.
    const channel = this.tunnel.channel();
    const tunnel = this.tunnel;
    const attempt = new JobAttempt(
      {
        link: {
          get isUp() {
            return channel.isUp;
          },
          sendText: (text) => channel.sendText(text),
          send: (frame) => tunnel.send(frame),
          creditWindow: () => channel.creditWindow(),
        },
        connections: this.connections,
        adapters: this.adapters,
        secrets: this.secrets,
        metrics: this.metrics,
        log: this.log,
        batchMaxRecords: this.config.batchMaxRecords,
        batchMaxBytes: this.config.batchMaxBytes,
        stallTimeoutMs: this.config.jobStallTimeoutMs,
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
    channel.onMoved = () => attempt.stream.resend();
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
      channel.release();
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
    const endedByOtherSide =
      LINK_FAILURE_CODES.includes(described.code) ||
      (described.code === Codes.SDR_ERR_ATTEMPT_REFUSED.code &&
        OTHER_SIDE_NACKS.some((nack) => described.message.includes(`: ${nack}: `)));
    if (endedByOtherSide) return await this.rerun(job, token, attempt, described);
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

  /**
   * The other side ended the attempt (cloud restart, lost link): run the job again as a new attempt
   * without spending its retry budget, up to SDR_JOB_MAX_RERUNS so a permanently broken link still ends.
   */
  private async rerun(
    job: Job<QueuedJob>,
    token: string,
    attempt: JobAttempt,
    described: { code: string; message: string },
  ): Promise<never> {
    const { requestId } = job.data;
    const log = this.log.child({ requestId, attempt: attempt.attempt });
    const reruns = (job.data.reruns ?? 0) + 1;
    if (reruns > this.config.jobMaxReruns) {
      const error = new Codes.SDR_ERR_JOB_RERUN_LIMIT(requestId, reruns - 1, described.message);
      this.metrics.jobs.inc({ event: 'failed' });
      log.warn({ code: error.code }, error.message);
      this.tunnel.sendReliably({
        type: 'job.failed',
        requestId,
        attempt: attempt.attempt,
        code: error.code,
        message: error.message.slice(0, MAX_ERROR_MESSAGE_CHARS),
        willRetry: false,
      });
      throw new UnrecoverableError(`${error.code}: ${error.message}`);
    }
    this.metrics.jobs.inc({ event: 'rerun' });
    log.info(
      { code: described.code, reruns },
      `attempt ended by the other side (${described.message}); running the job again, no retry spent`,
    );
    await job.updateData({ ...job.data, reruns });
    await job.moveToWait(token);
    throw new WaitingError();
  }
}
