import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AgentIdStore } from './agent-identity.js';
import type { QueuedJob } from './job-runner.js';
import { redactUrl } from './logger.js';

/** Queue settings from the runtime config. */
export interface JobQueueOptions {
  redisUrl: string;
  queueName: string;
  concurrency: number;
  attempts: number;
  backoffMs: number;
  lockMs: number;
  stalledIntervalMs: number;
  retentionHours: number;
  log: Logger;
}

/** Where an existing job stands, for deduplication and cancellation. */
export type ExistingState = 'queued' | 'active' | 'completed' | 'failed';

/** Processes one job; `token` is the worker's lock token, needed to hand a job back to the queue. */
export type JobProcessor = (job: Job<QueuedJob>, token: string) => Promise<unknown>;

/**
 * The durable queue between the tunnel and the adapters (BullMQ on Redis). Job ids are request ids, so a
 * re-sent request finds its job instead of creating a second one; finished jobs are kept for
 * `retentionHours` so a late duplicate is still recognised.
 */
export class JobQueue {
  readonly queue: Queue<QueuedJob>;
  private readonly connection: Redis;
  private worker: Worker<QueuedJob> | undefined;

  constructor(private readonly options: JobQueueOptions) {
    // BullMQ needs maxRetriesPerRequest null so blocking commands survive Redis restarts.
    this.connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
    let lastError = '';
    this.connection.on('error', (error: Error) => {
      if (error.message === lastError) return;
      lastError = error.message;
      options.log.error(
        { code: 'SDR_ERR_QUEUE_UNAVAILABLE', err: { message: error.message } },
        `Redis at ${redactUrl(options.redisUrl)} is unreachable (${error.message}); check SDR_REDIS_URL`,
      );
    });
    this.connection.on('ready', () => {
      lastError = '';
    });
    this.queue = new Queue<QueuedJob>(options.queueName, { connection: this.connection });
    this.queue.on('error', () => undefined);
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
    const counts = await this.queue.getJobCounts('waiting', 'delayed', 'prioritized');
    return (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0);
  }

  /** Adds a job unless one with this request id exists; says which. */
  async enqueue(
    job: QueuedJob,
  ): Promise<{ duplicate: boolean; state: ExistingState; attempts: number; failedReason?: string }> {
    const existing = await this.find(job.requestId);
    if (existing) return { duplicate: true, ...existing };
    const retention = { age: this.options.retentionHours * 3600 };
    await this.queue.add('extract', job, {
      jobId: job.requestId,
      attempts: this.options.attempts,
      backoff: { type: 'exponential', delay: this.options.backoffMs },
      removeOnComplete: retention,
      removeOnFail: retention,
    });
    return { duplicate: false, state: 'queued', attempts: 0 };
  }

  /** The state of a job by request id, or undefined when Redis has no such job. */
  async find(
    requestId: string,
  ): Promise<{ state: ExistingState; attempts: number; failedReason?: string } | undefined> {
    const job = await this.queue.getJob(requestId);
    if (!job) return undefined;
    const state = await job.getState();
    const attempts = job.attemptsStarted;
    if (state === 'completed') return { state: 'completed', attempts };
    if (state === 'failed') return { state: 'failed', attempts, failedReason: job.failedReason };
    if (state === 'active') return { state: 'active', attempts };
    return { state: 'queued', attempts };
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

  /** Starts taking jobs. */
  startWorker(processor: JobProcessor): void {
    const { queueName, concurrency, lockMs, stalledIntervalMs, log } = this.options;
    this.worker = new Worker<QueuedJob>(queueName, (job, token) => processor(job, token ?? ''), {
      connection: this.connection,
      concurrency,
      lockDuration: lockMs,
      stalledInterval: stalledIntervalMs,
      maxStalledCount: 2,
      autorun: true,
    });
    this.worker.on('error', (error) => log.error({ err: { message: error.message } }, 'queue worker error'));
    this.worker.on('stalled', (jobId) =>
      log.warn(
        { requestId: jobId },
        'job stalled (its runtime stopped mid-job); it will run again as a new attempt',
      ),
    );
  }

  /** Waiting and delayed job counts, for metrics and heartbeats. */
  async depth(): Promise<{ waiting: number; delayed: number; active: number }> {
    const counts = await this.queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    return {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      delayed: counts.delayed ?? 0,
      active: counts.active ?? 0,
    };
  }

  /** True when Redis answers a PING within `timeoutMs`. */
  async ping(timeoutMs = 1_000): Promise<boolean> {
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

  /** Stops taking new jobs and waits for running ones to settle. */
  async closeWorker(): Promise<void> {
    await this.worker?.close();
  }

  /** Closes the queue and its Redis connection; call after `closeWorker`. */
  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}
