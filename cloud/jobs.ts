import type { KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import {
  Codes,
  type DeliveryMode,
  type Frame,
  type FrameOf,
  type JobRequestBody,
  encodeFrame,
  signJobRequest,
  SYNC_PAGE_SIZE,
} from '../protocol/index.js';
import {
  type AttemptObjects,
  type BucketReaders,
  DeliveryRefusal,
  verifyAttempt,
} from './manifest-reader.js';
import { PartialResult, discardAttempts } from './partial-result.js';
import { type CloudStore, FINAL_STATES, type JobRecord, type JobState } from './store.js';
import type { UploadGrants } from './uploads.js';

/** States in which the cloud expects the agent's queue to hold the job (named in `sync.request`). */
const LIVE_STATES: ReadonlySet<JobState> = new Set(['sent', 'accepted', 'running']);

/** One side of a live tunnel as the job logic sees it: somewhere to send frames. */
export interface Link {
  /** Sends a frame; false (and nothing sent) when the socket is no longer open. */
  send(frame: Frame): boolean;
}

/** Frames from the runtime that concern one job. */
export type JobFrame = FrameOf<
  | 'job.accepted'
  | 'job.rejected'
  | 'job.progress'
  | 'job.batch'
  | 'job.end'
  | 'job.failed'
  | 'job.cancelled'
  | 'upload.request'
>;

/** Codes of `job.nack`; plain strings on the wire, listed in docs/protocol-cloud-side.md. */
export const NackCodes = {
  SUPERSEDED: 'SUPERSEDED',
  UNKNOWN_ATTEMPT: 'UNKNOWN_ATTEMPT',
  INCOMPLETE: 'INCOMPLETE',
  CHECKSUM_MISMATCH: 'CHECKSUM_MISMATCH',
  CANCELLED: 'CANCELLED',
  CLOUD_ERROR: 'CLOUD_ERROR',
  MANIFEST_UNREADABLE: 'MANIFEST_UNREADABLE',
} as const;

/** A job as the HTTP API shows it. */
export interface JobView {
  jobId: string;
  agentId: string;
  connection: string;
  options: Record<string, unknown>;
  state: JobState;
  attempt: number;
  progress: JobRecord['progress'];
  result?: { records: number; sha256: string; bytes: number; path: string; committedAt: string };
  error?: { code: string; message: string };
  lastError?: { code: string; message: string };
  warnings: string[];
  cancelRequested: boolean;
  /**
   * Most batches received but not yet acknowledged at once since this process started; above the credit
   * window it means the runtime overran it (only meaningful with `ackDelayMs` > 0).
   */
  maxUnackedBatches: number;
  createdAt: string;
  updatedAt: string;
}

/** What the job logic needs from the rest of the cloud. */
export interface JobServiceOptions {
  store: CloudStore;
  privateKey: KeyObject;
  requestTtlMs: number;
  maxFrameBytes: number;
  creditWindow: number;
  ackDelayMs: () => number;
  /**
   * The connection a request for the agent goes to (fewest running + unanswered), if any is up;
   * `load` counts a link's unanswered requests, `exclude` skips a link that just dropped.
   */
  linkFor: (agentId: string, load: (link: Link) => number, exclude?: Link) => Link | undefined;
  log: Logger;
  /** Pre-signed upload URLs and the objects uploaded to them. */
  uploads: UploadGrants;
  /** Read-only access to customers' buckets (bucket delivery). */
  bucketReaders: BucketReaders;
  /** Test hook: runs after `job.end` names a manifest and before the cloud reads it. */
  beforeVerify?: (jobId: string, attempt: number, manifest: string) => Promise<void>;
}

/** In-memory state of a job the runtime is sending; lost on restart by design (UNKNOWN_ATTEMPT recovers). */
interface LiveJob {
  /** Frames of one job are applied strictly in arrival order. */
  queue: Promise<void>;
  /** Replies of one job leave strictly in order, acks after `ackDelayMs`. */
  outbox: Promise<void>;
  lastDueAt: number;
  /** Acks scheduled but not yet sent: batches the runtime still counts against its credit window. */
  unacked: number;
  maxUnacked: number;
  partial: PartialResult | null;
  /** An attempt whose totals did not match: its late frames are refused the same way. */
  refused: { attempt: number; code: string; message: string } | null;
}

/**
 * The cloud's job logic: creates and signs requests, (re)sends them, and applies the runtime's job frames
 * to each job's state machine, appending batches and committing results exactly once.
 */
export class JobService {
  private readonly live = new Map<string, LiveJob>();
  private readonly stopping = new AbortController();
  /** The connection each `sent` request went out on, until the runtime answers it. */
  private readonly dispatched = new Map<string, Link>();

  constructor(private readonly options: JobServiceOptions) {}

  /** Requests sent on `link` and not answered yet. */
  private loadOf = (link: Link): number => {
    let count = 0;
    for (const sentOn of this.dispatched.values()) if (sentOn === link) count++;
    return count;
  };

  private pickLink(agentId: string, exclude?: Link): Link | undefined {
    return this.options.linkFor(agentId, this.loadOf, exclude);
  }

  /** Creates a job for an agent and sends it at once if the agent is connected. */
  async create(
    agentId: string,
    connection: string,
    jobOptions: Record<string, unknown>,
    ttlSeconds?: number,
    delivery?: DeliveryMode | 'default',
  ): Promise<JobRecord> {
    const now = new Date().toISOString();
    const job: JobRecord = {
      jobId: randomUUID(),
      agentId,
      connection,
      options: jobOptions,
      ...(delivery && { delivery }),
      ttlSeconds: ttlSeconds ?? this.options.requestTtlMs / 1000,
      state: 'pending',
      attempt: 0,
      progress: { phase: null, records: 0, batches: 0, bytes: 0 },
      warnings: [],
      cancelRequested: false,
      createdAt: now,
      updatedAt: now,
    };
    // Refuse now a request the runtime would refuse for its size, rather than fail at every send.
    encodeFrame({ type: 'job.request', request: this.sign(job) }, this.options.maxFrameBytes);
    await this.options.store.saveJob(job);
    await this.enqueue(job.jobId, async () => {
      const link = this.pickLink(agentId);
      if (link) await this.sendRequest(job, link);
    });
    return job;
  }

  /**
   * Cancels a job: a pending one at once, otherwise by sending `job.cancel` (now if connected, and again
   * on every reconnect) and waiting for the runtime's `job.cancelled`.
   */
  async cancel(jobId: string): Promise<JobRecord> {
    const job = this.options.store.jobs.get(jobId);
    if (!job) throw new Codes.SDR_ERR_CLOUD_NOT_FOUND('job', jobId);
    return this.enqueue(jobId, async () => {
      if (FINAL_STATES.has(job.state)) throw new Codes.SDR_ERR_CLOUD_JOB_FINISHED(jobId, job.state);
      if (job.state === 'pending') {
        job.state = 'cancelled';
        await this.options.store.saveJob(job);
        return job;
      }
      job.cancelRequested = true;
      await this.options.store.saveJob(job);
      // Cancel is queue-level: any connection of any instance will do (the runtime broadcasts it).
      this.pickLink(job.agentId)?.send({ type: 'job.cancel', requestId: jobId, reason: 'cancelled' });
      return job;
    });
  }

  /**
   * A connection came up: it gets the cancels not yet answered; requests never sent, or sent on a
   * connection that is gone, go out (to the least loaded connection, which may be this one).
   */
  onConnected(agentId: string, link: Link): void {
    for (const job of this.options.store.jobs.values()) {
      if (job.agentId !== agentId || FINAL_STATES.has(job.state)) continue;
      void this.enqueue(job.jobId, async () => {
        if (FINAL_STATES.has(job.state)) return;
        if (job.cancelRequested) {
          link.send({ type: 'job.cancel', requestId: job.jobId, reason: 'cancelled' });
          return;
        }
        const sentOn = this.dispatched.get(job.jobId);
        if (job.state === 'pending' || (job.state === 'sent' && (!sentOn || !this.isOpen(sentOn)))) {
          const target = this.pickLink(agentId) ?? link;
          await this.sendRequest(job, target);
        }
      }).catch((error: unknown) => this.options.log.error({ err: error, jobId: job.jobId }, 'resend failed'));
    }
  }

  /** A connection dropped: requests it carried that were not answered go to another connection now. */
  onLinkDown(agentId: string, link: Link): void {
    for (const [jobId, sentOn] of [...this.dispatched]) {
      if (sentOn !== link) continue;
      this.dispatched.delete(jobId);
      const job = this.options.store.jobs.get(jobId);
      if (!job || job.state !== 'sent') continue;
      void this.enqueue(jobId, async () => {
        if (job.state !== 'sent') return;
        const target = this.pickLink(agentId, link);
        if (target) await this.sendRequest(job, target);
      }).catch((error: unknown) => this.options.log.error({ err: error, jobId }, 'resend failed'));
    }
  }

  /**
   * Reconciliation (docs/protocol.md): asks the agent where each job the cloud holds as live stands;
   * `onSyncReport` acts on the answer. Paged at SYNC_PAGE_SIZE ids.
   */
  reconcile(agentId: string, link: Link): void {
    // A request the runtime refused for a reason that passes (Redis down, draining, queue full) is offered
    // again at each tick; waiting for the next connect left it pending for as long as the link stayed up.
    for (const job of this.options.store.jobs.values()) {
      if (job.agentId !== agentId || job.state !== 'pending' || job.cancelRequested) continue;
      void this.enqueue(job.jobId, async () => {
        if (job.state === 'pending') await this.sendRequest(job, this.pickLink(agentId) ?? link);
      }).catch((error: unknown) => this.options.log.error({ err: error, jobId: job.jobId }, 'resend failed'));
    }
    const expected = [...this.options.store.jobs.values()]
      .filter((job) => job.agentId === agentId && LIVE_STATES.has(job.state))
      .map((job) => job.jobId);
    const syncId = `s-${randomUUID()}`;
    for (let start = 0; start === 0 || start < expected.length; start += SYNC_PAGE_SIZE) {
      const page = expected.slice(start, start + SYNC_PAGE_SIZE);
      const more = start + SYNC_PAGE_SIZE < expected.length;
      link.send({ type: 'sync.request', syncId, expected: page, more });
    }
  }

  /** Acts on a `sync.report` per the table in docs/protocol.md (Reconciliation). */
  onSyncReport(agentId: string, frame: FrameOf<'sync.report'>, link: Link): void {
    const { store, log } = this.options;
    for (const entry of frame.jobs) {
      const job = store.jobs.get(entry.requestId);
      if (!job || job.agentId !== agentId) continue;
      void this.enqueue(job.jobId, async () => {
        if (!LIVE_STATES.has(job.state)) return;
        switch (entry.state) {
          case 'unknown':
            if (job.cancelRequested) {
              // Nothing left to cancel: the queue does not hold it.
              job.state = 'cancelled';
              job.cancelRequested = false;
              await this.dropAttempt(job.jobId);
              await store.saveJob(job);
              return;
            }
            // Redis forgot the job (restart without persistence, eviction): send it again. Its attempt
            // numbers start over in the new queue entry, so the old attempt's state goes.
            log.warn({ jobId: job.jobId, was: job.state }, 'the agent does not know this job; re-sending it');
            await this.dropAttempt(job.jobId);
            this.liveJob(job.jobId).refused = null;
            job.attempt = 0;
            job.state = 'sent';
            await this.sendRequest(job, this.pickLink(agentId) ?? link);
            return;
          case 'failed':
            if (entry.code === Codes.SDR_ERR_JOB_CANCELLED.code) {
              job.state = 'cancelled';
              job.cancelRequested = false;
            } else {
              job.state = 'failed';
              job.error = {
                code: entry.code ?? 'SDR_ERR_SOURCE_FAILED',
                message: entry.message ?? 'failed (reported by reconciliation)',
              };
            }
            if (entry.attempt !== undefined) job.attempt = Math.max(job.attempt, entry.attempt);
            await this.dropAttempt(job.jobId);
            await store.saveJob(job);
            log.info(
              { jobId: job.jobId, code: entry.code },
              'reconciliation: the agent reports the job failed',
            );
            return;
          case 'completed': {
            const error = new Codes.SDR_ERR_RESULT_LOST(job.jobId);
            job.state = 'failed';
            job.error = { code: error.code, message: error.message };
            await this.dropAttempt(job.jobId);
            await store.saveJob(job);
            log.warn({ jobId: job.jobId }, error.message);
            return;
          }
          default:
            return;
        }
      }).catch((error: unknown) => log.error({ err: error, jobId: job.jobId }, 'reconciliation failed'));
    }
    for (const entry of frame.unexpected) {
      const job = store.jobs.get(entry.requestId);
      if (job && job.agentId === agentId && !FINAL_STATES.has(job.state)) continue;
      // The queue runs a job the cloud has finished with or never had: stop it.
      link.send({
        type: 'job.cancel',
        requestId: entry.requestId,
        reason: 'not live in the cloud (reconciliation)',
      });
    }
  }

  private isOpen(link: Link): boolean {
    return (link as { isOpen?: boolean }).isOpen ?? true;
  }

  /**
   * The runtime answered a `job.cancel` with SDR_ERR_JOB_NOT_FOUND: it neither queues nor runs the job
   * (the request never reached it), so there is nothing left to cancel. A job that already reached a
   * final state is left alone.
   */
  onCancelNotFound(agentId: string, requestId: string): void {
    for (const job of this.options.store.jobs.values()) {
      if (job.agentId !== agentId || !job.cancelRequested || job.jobId !== requestId) continue;
      this.enqueue(job.jobId, async () => {
        if (FINAL_STATES.has(job.state) || !job.cancelRequested) return;
        job.state = 'cancelled';
        job.cancelRequested = false;
        await this.dropAttempt(job.jobId);
        await this.options.store.saveJob(job);
        this.options.log.info({ jobId: job.jobId }, 'job cancelled (the runtime did not have it)');
      }).catch((error: unknown) => this.options.log.error({ err: error, jobId: job.jobId }, 'cancel failed'));
    }
  }

  /** Applies a job frame from `agentId`'s tunnel; replies go back on `link`. */
  handle(agentId: string, frame: JobFrame, link: Link): void {
    const job = this.options.store.jobs.get(frame.requestId);
    if (!job || job.agentId !== agentId) {
      const error = new Codes.SDR_ERR_CLOUD_UNKNOWN_JOB(frame.requestId);
      this.options.log.warn({ agentId, frame: frame.type, code: error.code }, error.message);
      link.send({ type: 'error', code: error.code, message: error.message, inReplyTo: frame.type });
      return;
    }
    this.enqueue(job.jobId, async () => {
      try {
        await this.apply(job, frame, link);
      } catch (error) {
        this.options.log.error({ err: error, jobId: job.jobId, frame: frame.type }, 'job frame failed');
        if (frame.type !== 'job.batch' && frame.type !== 'job.end') return;
        const message = 'the cloud could not store this attempt; retry the job as a new attempt';
        // The attempt's file may now lack a batch: refuse the rest of the attempt, not just this frame.
        this.liveJob(job.jobId).refused = { attempt: frame.attempt, code: NackCodes.CLOUD_ERROR, message };
        await this.dropAttempt(job.jobId).catch(() => undefined);
        this.reply(job.jobId, link, {
          type: 'job.nack',
          requestId: job.jobId,
          attempt: frame.attempt,
          code: NackCodes.CLOUD_ERROR,
          message,
        });
      }
    }).catch((error: unknown) => this.options.log.error({ err: error }, 'job frame handling failed'));
  }

  /** The API view of a job. */
  view(job: JobRecord): JobView {
    const { result, ttlSeconds: _ttl, ...rest } = job;
    return {
      ...rest,
      maxUnackedBatches: this.live.get(job.jobId)?.maxUnacked ?? 0,
      ...(result && {
        result: {
          records: result.records,
          sha256: result.sha256,
          bytes: result.bytes,
          path: join(this.options.store.dataDir, result.file),
          committedAt: result.committedAt,
        },
      }),
    };
  }

  /** Waits for in-flight frames to be applied, then releases open attempt files (kept on disk). */
  async close(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled([...this.live.values()].map((live) => live.queue));
    await Promise.allSettled(
      [...this.live.values()].map((live) => live.partial?.close() ?? Promise.resolve()),
    );
    await this.options.store.flush();
  }

  private liveJob(jobId: string): LiveJob {
    let live = this.live.get(jobId);
    if (!live) {
      live = {
        queue: Promise.resolve(),
        outbox: Promise.resolve(),
        lastDueAt: 0,
        unacked: 0,
        maxUnacked: 0,
        partial: null,
        refused: null,
      };
      this.live.set(jobId, live);
    }
    return live;
  }

  private enqueue<T>(jobId: string, work: () => Promise<T>): Promise<T> {
    const live = this.liveJob(jobId);
    const result = live.queue.then(work);
    live.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Queues a reply behind the job's earlier replies; acks wait `ackDelayMs` from their batch's arrival. */
  private reply(jobId: string, link: Link, frame: Frame): void {
    const live = this.liveJob(jobId);
    const isAck = frame.type === 'job.ack';
    const delay = isAck ? this.options.ackDelayMs() : 0;
    const dueAt = Math.max(Date.now() + delay, live.lastDueAt);
    live.lastDueAt = dueAt;
    if (isAck) this.countUnacked(jobId, live, +1);
    live.outbox = live.outbox
      .then(async () => {
        const wait = dueAt - Date.now();
        if (wait > 0) await sleep(wait, undefined, { signal: this.stopping.signal });
        link.send(frame);
      })
      .catch(() => undefined)
      .finally(() => {
        if (isAck) this.countUnacked(jobId, live, -1);
      });
  }

  private countUnacked(jobId: string, live: LiveJob, delta: number): void {
    live.unacked += delta;
    if (live.unacked <= live.maxUnacked) return;
    live.maxUnacked = live.unacked;
    if (live.unacked === this.options.creditWindow + 1) {
      this.options.log.warn(
        { jobId, creditWindow: this.options.creditWindow },
        'runtime has more unacknowledged batches in flight than the credit window allows',
      );
    }
  }

  private sign(job: JobRecord) {
    const issuedAt = new Date();
    const body: JobRequestBody = {
      requestId: job.jobId,
      agentId: job.agentId,
      connection: job.connection,
      options: job.options,
      delivery: { mode: job.delivery ?? 'tunnel' },
      issuedAt: issuedAt.toISOString(),
      expiresAt: new Date(issuedAt.getTime() + job.ttlSeconds * 1000).toISOString(),
    };
    return signJobRequest(body, this.options.privateKey);
  }

  // Every send is freshly signed with a new expiry: a request re-sent after a long outage must not arrive
  // already expired, and the runtime dedupes by requestId.
  private async sendRequest(job: JobRecord, link: Link): Promise<void> {
    const uploads =
      job.delivery === 'presigned' ? { uploads: { urls: this.options.uploads.initial(job.jobId) } } : {};
    if (!link.send({ type: 'job.request', request: this.sign(job), ...uploads })) return;
    this.dispatched.set(job.jobId, link);
    if (job.state === 'pending') {
      job.state = 'sent';
      await this.options.store.saveJob(job);
    }
  }

  private async apply(job: JobRecord, frame: JobFrame, link: Link): Promise<void> {
    const { store, log } = this.options;
    if (frame.type === 'job.accepted' || frame.type === 'job.rejected') this.dispatched.delete(job.jobId);
    switch (frame.type) {
      case 'job.accepted':
        if (job.state === 'pending' || job.state === 'sent') {
          job.state = 'accepted';
          await store.saveJob(job);
        }
        return;
      case 'job.rejected':
        if (!['pending', 'sent', 'accepted'].includes(job.state)) return;
        if (Codes[frame.code].retryable) {
          // The runtime cannot take it now (draining, Redis down): offered again at the next reconciliation.
          job.state = 'pending';
          job.lastError = { code: frame.code, message: frame.message };
        } else {
          job.state = 'rejected';
          job.error = { code: frame.code, message: frame.message };
        }
        await store.saveJob(job);
        return;
      case 'job.progress':
        if (FINAL_STATES.has(job.state) || frame.attempt < job.attempt) return;
        job.attempt = frame.attempt;
        job.progress = {
          phase: frame.phase,
          records: frame.records,
          batches: frame.batches,
          bytes: frame.bytes,
        };
        if (job.state !== 'running') job.state = 'running';
        // Progress is frequent: coalesced and not awaited, so it never slows the batches behind it.
        void store.saveJob(job);
        return;
      case 'job.batch':
        return this.applyBatch(job, frame, link);
      case 'job.end':
        return frame.delivery ? this.applyObjectEnd(job, frame, link) : this.applyEnd(job, frame, link);
      case 'upload.request':
        if (FINAL_STATES.has(job.state)) return;
        link.send({
          type: 'upload.grant',
          requestId: job.jobId,
          attempt: frame.attempt,
          urls: this.options.uploads.grant(job.jobId, frame.attempt, frame.names),
        });
        return;
      case 'job.failed': {
        if (job.state === 'committed' || job.state === 'cancelled') return;
        const live = this.liveJob(job.jobId);
        if (frame.attempt < Math.max(job.attempt, live.partial?.attempt ?? 0)) return;
        job.attempt = frame.attempt;
        if (frame.willRetry) {
          job.lastError = { code: frame.code, message: frame.message };
          if (job.state !== 'running') job.state = 'running';
        } else {
          job.state = 'failed';
          job.error = { code: frame.code, message: frame.message };
          await this.dropAttempt(job.jobId);
          await this.options.uploads.discard(job.jobId);
        }
        await store.saveJob(job);
        return;
      }
      case 'job.cancelled':
        if (job.state === 'committed' || job.state === 'cancelled') return;
        job.state = 'cancelled';
        job.cancelRequested = false;
        await this.dropAttempt(job.jobId);
        await this.options.uploads.discard(job.jobId);
        await store.saveJob(job);
        log.info({ jobId: job.jobId, wasRunning: frame.wasRunning }, 'job cancelled');
        return;
    }
  }

  /**
   * A batch is appended only when it is the next one expected for the current attempt; a duplicate is
   * re-acknowledged without appending, a gap is ignored (the runtime resends from its lowest unacked seq).
   */
  private async applyBatch(job: JobRecord, frame: FrameOf<'job.batch'>, link: Link): Promise<void> {
    const partial = await this.attemptFor(job, frame, link);
    if (!partial) return;
    if (frame.seq < partial.batches) {
      this.ack(job, frame, link);
      return;
    }
    if (frame.seq > partial.batches) {
      this.options.log.debug(
        { jobId: job.jobId, attempt: frame.attempt, seq: frame.seq, expected: partial.batches },
        'batch after a gap ignored',
      );
      return;
    }
    await partial.append(frame.records);
    if (job.state !== 'running') {
      job.state = 'running';
      void this.options.store.saveJob(job);
    }
    this.ack(job, frame, link);
  }

  private ack(job: JobRecord, frame: FrameOf<'job.batch'>, link: Link): void {
    this.reply(job.jobId, link, {
      type: 'job.ack',
      requestId: job.jobId,
      attempt: frame.attempt,
      seq: frame.seq,
    });
  }

  /**
   * Commits the attempt when the runtime's totals equal what was received, exactly once per job; any
   * disagreement is a `job.nack` and nothing becomes visible.
   */
  private async applyEnd(job: JobRecord, frame: FrameOf<'job.end'>, link: Link): Promise<void> {
    const partial = await this.attemptFor(job, frame, link);
    if (!partial) return;
    const nack = (code: string, message: string) =>
      this.reply(job.jobId, link, {
        type: 'job.nack',
        requestId: job.jobId,
        attempt: frame.attempt,
        code,
        message,
      });
    if (frame.batches > partial.batches) {
      nack(
        NackCodes.INCOMPLETE,
        `attempt ${frame.attempt} ended after ${frame.batches} batches but the cloud has received only ${partial.batches}; resend from batch ${partial.batches}`,
      );
      return;
    }
    const sha256 = partial.sha256();
    if (frame.batches !== partial.batches || frame.records !== partial.records || frame.sha256 !== sha256) {
      const message =
        `attempt ${frame.attempt} does not match what the cloud received: runtime reports ` +
        `${frame.batches} batches / ${frame.records} records / sha256 ${frame.sha256}, cloud has ` +
        `${partial.batches} / ${partial.records} / ${sha256}; nothing was committed`;
      const live = this.liveJob(job.jobId);
      live.refused = { attempt: frame.attempt, code: NackCodes.CHECKSUM_MISMATCH, message };
      await this.dropAttempt(job.jobId);
      this.options.log.warn({ jobId: job.jobId, attempt: frame.attempt }, message);
      nack(NackCodes.CHECKSUM_MISMATCH, message);
      return;
    }
    await this.commit(job, partial, frame, link);
  }

  /** Makes a verified attempt the job's result, once, and tells the runtime. */
  private async commit(
    job: JobRecord,
    partial: PartialResult,
    frame: FrameOf<'job.end'>,
    link: Link,
  ): Promise<void> {
    const sha256 = partial.sha256();
    const file = await partial.commit();
    this.liveJob(job.jobId).partial = null;
    job.state = 'committed';
    job.attempt = frame.attempt;
    job.result = {
      attempt: frame.attempt,
      records: partial.records,
      sha256,
      bytes: partial.bytes,
      ...(frame.delivery && { manifest: frame.delivery.manifest }),
      file,
      committedAt: new Date().toISOString(),
    };
    job.warnings = frame.warnings;
    job.cancelRequested = false;
    delete job.error;
    await this.options.store.saveJob(job);
    this.options.log.info(
      {
        jobId: job.jobId,
        attempt: frame.attempt,
        records: partial.records,
        bytes: partial.bytes,
        delivery: frame.delivery?.mode ?? 'tunnel',
      },
      'job committed',
    );
    this.reply(job.jobId, link, {
      type: 'job.committed',
      requestId: job.jobId,
      attempt: frame.attempt,
      records: partial.records,
    });
  }

  /**
   * Bucket and presigned delivery: reads the manifest the runtime names (with the cloud's own read-only
   * credentials, or from its upload directory), verifies every part and the total, and commits exactly as
   * tunnel mode does. Any disagreement is a `job.nack` and nothing becomes visible.
   */
  private async applyObjectEnd(job: JobRecord, frame: FrameOf<'job.end'>, link: Link): Promise<void> {
    const delivery = frame.delivery as NonNullable<FrameOf<'job.end'>['delivery']>;
    const nack = (code: string, message: string) =>
      this.reply(job.jobId, link, {
        type: 'job.nack',
        requestId: job.jobId,
        attempt: frame.attempt,
        code,
        message,
      });
    if (job.state === 'committed') {
      this.reply(job.jobId, link, {
        type: 'job.committed',
        requestId: job.jobId,
        attempt: frame.attempt,
        records: job.result?.records ?? 0,
      });
      return;
    }
    if (job.state === 'cancelled') return nack(NackCodes.CANCELLED, `job ${job.jobId} was cancelled`);
    const live = this.liveJob(job.jobId);
    const current = Math.max(job.attempt, live.partial?.attempt ?? 0);
    if (frame.attempt < current) {
      return nack(
        NackCodes.SUPERSEDED,
        `attempt ${frame.attempt} was superseded by attempt ${current}; stop sending it`,
      );
    }
    if (live.refused?.attempt === frame.attempt) return nack(live.refused.code, live.refused.message);
    await this.dropAttempt(job.jobId);
    job.attempt = frame.attempt;
    const partial = await PartialResult.start(this.options.store.dataDir, job.jobId, frame.attempt);
    live.partial = partial;
    try {
      await this.options.beforeVerify?.(job.jobId, frame.attempt, delivery.manifest);
      let objects: AttemptObjects;
      if (delivery.mode === 'presigned') {
        if (delivery.manifest !== 'manifest.json') {
          throw new DeliveryRefusal(
            'MANIFEST_UNREADABLE',
            `presigned manifests are named manifest.json, not ${delivery.manifest}`,
          );
        }
        objects = { read: (name) => this.options.uploads.read(job.jobId, frame.attempt, name) };
      } else {
        objects = await this.options.bucketReaders.objectsAt(delivery.manifest);
      }
      await verifyAttempt(
        objects,
        {
          requestId: job.jobId,
          attempt: frame.attempt,
          records: frame.records,
          sha256: frame.sha256,
          parts: frame.batches,
        },
        (text, records) => partial.appendText(text, records),
      );
    } catch (error) {
      const refusal =
        error instanceof DeliveryRefusal
          ? error
          : new DeliveryRefusal(
              'MANIFEST_UNREADABLE',
              `the cloud could not read the attempt: ${(error as Error).message.slice(0, 300)}`,
            );
      live.refused = { attempt: frame.attempt, code: refusal.code, message: refusal.message };
      await this.dropAttempt(job.jobId);
      this.options.log.warn(
        { jobId: job.jobId, attempt: frame.attempt, code: refusal.code },
        refusal.message,
      );
      return nack(refusal.code, refusal.message);
    }
    await this.commit(job, partial, frame, link);
    if (delivery.mode === 'presigned') await this.options.uploads.discard(job.jobId);
  }

  /**
   * The partial result a batch or end belongs to, starting a new attempt when it is newer than the current
   * one; replies and returns null when the frame must not be applied.
   */
  private async attemptFor(
    job: JobRecord,
    frame: FrameOf<'job.batch'> | FrameOf<'job.end'>,
    link: Link,
  ): Promise<PartialResult | null> {
    const nack = (code: string, message: string) => {
      this.reply(job.jobId, link, {
        type: 'job.nack',
        requestId: job.jobId,
        attempt: frame.attempt,
        code,
        message,
      });
      return null;
    };
    if (job.state === 'committed') {
      // A runtime still running the job (a retry, a resend after reconnect) learns it is done.
      this.reply(job.jobId, link, {
        type: 'job.committed',
        requestId: job.jobId,
        attempt: frame.attempt,
        records: job.result?.records ?? 0,
      });
      return null;
    }
    if (job.state === 'cancelled') return nack(NackCodes.CANCELLED, `job ${job.jobId} was cancelled`);
    const live = this.liveJob(job.jobId);
    const current = Math.max(job.attempt, live.partial?.attempt ?? 0);
    if (frame.attempt < current) {
      return nack(
        NackCodes.SUPERSEDED,
        `attempt ${frame.attempt} was superseded by attempt ${current}; stop sending it`,
      );
    }
    if (live.refused?.attempt === frame.attempt) return nack(live.refused.code, live.refused.message);
    if (live.partial?.attempt === frame.attempt) return live.partial;
    // A newer attempt: whatever an older one left is superseded.
    await this.dropAttempt(job.jobId);
    const startsAtZero = frame.type === 'job.batch' ? frame.seq === 0 : frame.batches === 0;
    if (!startsAtZero) {
      // After a cloud restart (or a lost first batch) the start of this attempt is gone: only a fresh
      // attempt can produce a verifiable result.
      job.attempt = frame.attempt;
      void this.options.store.saveJob(job);
      return nack(
        NackCodes.UNKNOWN_ATTEMPT,
        `the cloud has no record of the start of attempt ${frame.attempt}; retry the job as a new attempt`,
      );
    }
    job.attempt = frame.attempt;
    live.refused = null;
    live.partial = await PartialResult.start(this.options.store.dataDir, job.jobId, frame.attempt);
    void this.options.store.saveJob(job);
    return live.partial;
  }

  private async dropAttempt(jobId: string): Promise<void> {
    const live = this.liveJob(jobId);
    const partial = live.partial;
    live.partial = null;
    if (partial) await partial.discard();
    else await discardAttempts(this.options.store.dataDir, jobId);
  }
}
