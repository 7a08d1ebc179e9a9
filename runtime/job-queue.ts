import { type Job, Queue, QueueEvents, Worker } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AgentIdStore } from './agent-identity.js';
import { Codes, type SyncJobState } from '../protocol/index.js';
import type { QueuedJob } from './job-runner.js';
import { createRedis, describeRedis, queuePrefix, type RedisSettings } from './redis-connection.js';

/** Queue settings from the runtime config. */
export interface JobQueueOptions {
  redis: RedisSettings;
  queueName: string;
  concurrency: number;
  attempts: number;
  backoffMs: number;
  backoffMaxMs: number;
  lockMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  retentionHours: number;
  log: Logger;
  /** Redis answered after being unreachable (or for the first time). */
  onReady?: () => void;
  /** Another instance (or this one) recorded a cancel for a job. */
  onCancel?: (requestId: string) => void;
  /** The queue failed a job outside any processor: the stalled-job limit. Called on one instance. */
  onStalledLimit?: (requestId: string, attempt: number, reason: string) => void;
}

/** Where an existing job stands, for deduplication and cancellation. */
export type ExistingState = 'queued' | 'active' | 'completed' | 'failed';

/** Processes one job; `token` is the worker's lock token, needed to hand a job back to the queue. */
export type JobProcessor = (job: Job<QueuedJob>, token: string) => Promise<unknown>;

/** BullMQ's reason for a job failed by the stalled-job limit (moveStalledJobsToWait). */
export const STALLED_LIMIT_REASON = 'job stalled more than allowable limit';

/** Splits a stored failure reason ("SDR_ERR_X: message") into its code and message. */
export function parseFailedReason(reason: string | undefined): { code: string; message: string } {
  const text = reason ?? 'failed';
  if (text.includes(STALLED_LIMIT_REASON))
    return { code: Codes.SDR_ERR_JOB_STALLED_LIMIT.code, message: text };
  const match = /^(SDR_ERR_\w+): ([\s\S]*)$/.exec(text);
  return match
    ? { code: match[1] as string, message: match[2] as string }
    : { code: 'SDR_ERR_SOURCE_FAILED', message: text };
}

/**
 * The durable queue between the tunnel and the adapters (BullMQ on Redis), shared by every instance of
 * the agent. Job ids are request ids, so a re-sent request finds its job instead of creating a second
 * one; finished jobs are kept for `retentionHours` so a late duplicate is still recognised.
 */
export class JobQueue {
  readonly queue: Queue<QueuedJob>;
  readonly connection: Redis | Cluster;
  readonly where: string;
  private readonly subscriber: Redis | Cluster;
  private readonly events: QueueEvents;
  private readonly eventsConnection: Redis | Cluster;
  private readonly keyBase: string;
  private worker: Worker<QueuedJob> | undefined;
  private downSince: number | undefined;
  private closing = false;

  constructor(private readonly options: JobQueueOptions) {
    const { log } = options;
    this.where = describeRedis(options.redis);
    this.connection = createRedis(options.redis);
    const prefix = queuePrefix(options.redis);
    this.keyBase = `${prefix}:${options.queueName}:sdr`;
    // One line when Redis goes away and one when it is back, however long the outage and however many
    // clients (queue, worker, events, subscriber) notice it.
    const down = (error?: Error) => {
      if (this.downSince !== undefined || this.closing) return;
      this.downSince = Date.now();
      log.error(
        { code: 'SDR_ERR_QUEUE_UNAVAILABLE', err: error ? { message: error.message } : undefined },
        `Redis at ${this.where} is unreachable${error ? ` (${error.message})` : ''}; job requests are rejected until it answers; check SDR_REDIS_URL`,
      );
    };
    this.connection.on('error', (error: Error) => down(error));
    this.connection.on('close', () => down());
    this.connection.on('ready', () => {
      if (this.downSince !== undefined) {
        const downForMs = Date.now() - this.downSince;
        log.info(
          { downForMs },
          `Redis at ${this.where} answers again after ${Math.round(downForMs / 1000)} s`,
        );
      }
      this.downSince = undefined;
      options.onReady?.();
    });
    this.queue = new Queue<QueuedJob>(options.queueName, { connection: this.connection, prefix });
    this.queue.on('error', () => undefined);

    this.subscriber = createRedis(options.redis);
    this.subscriber.on('error', () => undefined);
    void this.subscriber.subscribe(this.cancelChannel).catch(() => undefined);
    this.subscriber.on('message', (channel: string, requestId: string) => {
      if (channel === this.cancelChannel) options.onCancel?.(requestId);
    });

    this.eventsConnection = createRedis(options.redis);
    this.eventsConnection.on('error', () => undefined);
    this.events = new QueueEvents(options.queueName, { connection: this.eventsConnection, prefix });
    this.events.on('error', () => undefined);
    this.events.on('failed', ({ jobId, failedReason }) => {
      if (!failedReason?.includes(STALLED_LIMIT_REASON)) return;
      void this.claimStalledReport(jobId, failedReason);
    });
  }

  /**
   * Where the bound agent id lives: beside the queue's own keys (BullMQ's `bull:<queue>:` prefix), under a
   * name no job id can take (job ids never contain ':').
   */
  agentIdStore(): AgentIdStore {
    const key = `bull:${this.options.queueName}:sdr:agent-id`;
    return {
      read: async () => (await this.connection.get(key)) ?? undefined,
      bindOnce: async (agentId) => {
        await this.connection.set(key, agentId, 'NX');
        return (await this.connection.get(key)) ?? agentId;
      },
    };
  }

  /** Jobs waiting to run (waiting, prioritized, delayed); the cap on what a cloud may queue counts these. */
  async queuedCount(): Promise<number> {
    this.requireAvailable();
    const counts = await this.queue.getJobCounts('waiting', 'delayed', 'prioritized');
    return (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0);
  }

  /** True while Redis answers; requests are rejected at once otherwise. */
  get available(): boolean {
    return this.connection.status === 'ready';
  }

  /** Waits until Redis answers, up to `timeoutMs`; false when it did not. */
  async waitReady(timeoutMs: number): Promise<boolean> {
    if (this.available) return true;
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.connection.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.connection.once('ready', onReady);
    });
  }

  /** Adds a job unless one with this request id exists; says which. Fails at once while Redis is down. */
  async enqueue(
    job: QueuedJob,
  ): Promise<{ duplicate: boolean; state: ExistingState; attempts: number; failedReason?: string }> {
    this.requireAvailable();
    const existing = await this.find(job.requestId);
    if (existing) return { duplicate: true, ...existing };
    const retention = { age: this.options.retentionHours * 3600 };
    await this.queue.add('extract', job, {
      jobId: job.requestId,
      attempts: this.options.attempts,
      backoff: { type: 'capped', delay: this.options.backoffMs },
      removeOnComplete: retention,
      removeOnFail: retention,
    });
    return { duplicate: false, state: 'queued', attempts: 0 };
  }

  /**
   * The state of a job by request id, or undefined when Redis has no such job. Fails at once while Redis
   * is down: ioredis would hold the command until Redis answers, and the request with it.
   */
  async find(
    requestId: string,
  ): Promise<{ state: ExistingState; attempts: number; failedReason?: string } | undefined> {
    this.requireAvailable();
    const job = await this.queue.getJob(requestId);
    if (!job) return undefined;
    const state = await job.getState();
    const attempts = job.attemptsStarted;
    if (state === 'completed') return { state: 'completed', attempts };
    if (state === 'failed') return { state: 'failed', attempts, failedReason: job.failedReason };
    if (state === 'active') return { state: 'active', attempts };
    if (state === 'unknown') return undefined;
    return { state: 'queued', attempts };
  }

  /** Where each named job stands, for `sync.report`; any instance answers for the whole agent. */
  async syncStates(requestIds: readonly string[]): Promise<
    {
      requestId: string;
      state: SyncJobState;
      attempt?: number;
      code?: string;
      message?: string;
    }[]
  > {
    this.requireAvailable();
    return await Promise.all(
      requestIds.map(async (requestId) => {
        const found = await this.find(requestId);
        if (!found) return { requestId, state: 'unknown' as const };
        if (found.state !== 'failed') return { requestId, state: found.state, attempt: found.attempts };
        return {
          requestId,
          state: 'failed' as const,
          attempt: found.attempts,
          ...parseFailedReason(found.failedReason),
        };
      }),
    );
  }

  /** Queued and active jobs, up to `limit`, for the `unexpected` list of `sync.report`. */
  async liveJobs(limit: number): Promise<{ requestId: string; state: 'queued' | 'active' }[]> {
    this.requireAvailable();
    const [active, queued] = await Promise.all([
      this.queue.getJobs(['active'], 0, limit - 1),
      this.queue.getJobs(['waiting', 'delayed', 'prioritized'], 0, limit - 1),
    ]);
    return [
      ...active.filter(Boolean).map((job) => ({ requestId: String(job.id), state: 'active' as const })),
      ...queued.filter(Boolean).map((job) => ({ requestId: String(job.id), state: 'queued' as const })),
    ].slice(0, limit);
  }

  /** Removes a job that has not started; false if it is active, finished or absent. */
  async removeQueued(requestId: string): Promise<boolean> {
    const job = await this.queue.getJob(requestId);
    if (!job) return false;
    const state = await job.getState();
    if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return false;
    await job.remove();
    return true;
  }

  /** Records a cancel for every instance: a mark kept for the retention time, and a broadcast. */
  async markCancelled(requestId: string): Promise<void> {
    this.requireAvailable();
    await this.connection.set(this.cancelKey(requestId), '1', 'EX', this.options.retentionHours * 3600);
    await this.connection.publish(this.cancelChannel, requestId);
  }

  /** True when a cancel was recorded for the job. */
  async isCancelled(requestId: string): Promise<boolean> {
    return (await this.connection.exists(this.cancelKey(requestId))) === 1;
  }

  /** Starts taking jobs. */
  startWorker(processor: JobProcessor): void {
    const { queueName, concurrency, lockMs, stalledIntervalMs, maxStalledCount, log } = this.options;
    const { backoffMs, backoffMaxMs } = this.options;
    this.worker = new Worker<QueuedJob>(queueName, (job, token) => processor(job, token ?? ''), {
      connection: this.connection,
      prefix: queuePrefix(this.options.redis),
      concurrency,
      lockDuration: lockMs,
      stalledInterval: stalledIntervalMs,
      maxStalledCount,
      autorun: true,
      settings: {
        // Exponential, capped: a source restart takes minutes, not seconds (issue 13).
        backoffStrategy: (attemptsMade: number) =>
          Math.min(backoffMaxMs, backoffMs * 2 ** Math.max(0, attemptsMade - 1)),
      },
    });
    this.worker.on('error', (error) => {
      // While Redis is down the outage is logged once by the connection; the worker's retries are noise.
      if (this.available) log.error({ err: { message: error.message } }, 'queue worker error');
    });
    this.worker.on('stalled', (jobId) =>
      log.warn(
        { requestId: jobId },
        'job stalled (its runtime stopped mid-job); it runs again as a new attempt unless it reached the stalled-job limit',
      ),
    );
  }

  /** Waiting and delayed job counts, for metrics and heartbeats. */
  async depth(): Promise<{ waiting: number; delayed: number; active: number }> {
    this.requireAvailable();
    const counts = await this.queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    return {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      delayed: counts.delayed ?? 0,
      active: counts.active ?? 0,
    };
  }

  /** True when Redis answers a PING within `timeoutMs`. */
  async ping(timeoutMs = 1_000): Promise<boolean> {
    if (!this.available) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = await Promise.race([
        this.connection.ping(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
        }),
      ]);
      return answer === 'PONG';
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops taking new jobs and waits for running ones to settle, at most `timeoutMs`; then closes by force
   * (a Redis that does not answer must not hold the process).
   */
  async closeWorker(timeoutMs: number): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    let timer: NodeJS.Timeout | undefined;
    const gave = await Promise.race([
      worker.close().then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!gave) void worker.close(true).catch(() => undefined);
  }

  /** Closes the queue and its Redis connections; call after `closeWorker`. Bounded like it. */
  async close(timeoutMs = 2_000): Promise<void> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([this.events.close(), this.queue.close()]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.subscriber.disconnect();
    this.eventsConnection.disconnect();
    this.connection.disconnect();
  }

  private get cancelChannel(): string {
    return `${this.keyBase}:cancel`;
  }

  private cancelKey(requestId: string): string {
    return `${this.keyBase}:cancel:${requestId}`;
  }

  private requireAvailable(): void {
    if (!this.available) throw new Codes.SDR_ERR_QUEUE_UNAVAILABLE(this.where);
  }

  /** Every instance sees the queue event; one (the first to set the mark) reports it. */
  private async claimStalledReport(requestId: string, reason: string): Promise<void> {
    try {
      const key = `${this.keyBase}:reported:${requestId}`;
      const claimed = await this.connection.set(key, '1', 'EX', this.options.retentionHours * 3600, 'NX');
      if (claimed !== 'OK') return;
      const job = await this.queue.getJob(requestId);
      this.options.onStalledLimit?.(requestId, Math.max(1, job?.attemptsStarted ?? 1), reason);
    } catch (error) {
      this.options.log.warn(
        { requestId, err: { message: (error as Error).message } },
        'could not report a job failed by the stalled-job limit; reconciliation will',
      );
    }
  }
}
