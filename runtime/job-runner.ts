import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';
import type { AdapterContext, SourceAdapter, SourceConnection } from '../adapters/index.js';
import {
  Codes,
  type DeliveryMode,
  type FrameOf,
  MAX_END_WARNINGS,
  MAX_WARNING_CHARS,
  ResultDigest,
  type SignedJobRequest,
  type UploadUrl,
} from '../protocol/index.js';
import type { SecretResolver } from '../secrets/index.js';
import { type AckDeadline, AttemptStream, type FrameLink } from './attempt-stream.js';
import { type ConnectionDefinition, sourceConnectionOf } from './connections.js';
import {
  openObjectSink,
  type PresignedSettings,
  type PresignedTarget,
  type ResultSink,
} from './delivery/index.js';
import { bucketSecretReferences } from './delivery/settings.js';
import { scrubSecrets } from './logger.js';
import type { RuntimeMetrics } from './metrics.js';
import { scopeOf } from './request-gate.js';
import { extractSerialised, keyOfSerialised, type SerialisedChunk } from './serialised-records.js';

/**
 * What a queued job holds in Redis: the cloud's signed request, verified again when the job starts (so a
 * job written into Redis by anything else is refused), plus copies of its fields for operators reading
 * the queue. Never a secret value. Jobs queued by an older runtime have no `request` and are refused.
 */
export interface QueuedJob {
  requestId: string;
  connection: string;
  options: Record<string, unknown>;
  request?: SignedJobRequest;
  /** The delivery mode the request resolved to on its connection; absent means tunnel. */
  delivery?: DeliveryMode;
  /** Attempts the other side ended (cloud restart, lost link) and that were re-run without spending one. */
  reruns?: number;
}

/** Why a running job was stopped from outside. */
export type StopReason = 'cancelled' | 'draining' | 'superseded';

/** What the runner needs from the daemon. */
export interface JobRunnerDeps {
  link: FrameLink & { send(frame: FrameOf<'job.progress' | 'upload.request'>): boolean };
  connections: ReadonlyMap<string, ConnectionDefinition>;
  adapters: ReadonlyMap<string, SourceAdapter<unknown>>;
  secrets: SecretResolver;
  metrics: RuntimeMetrics;
  log: Logger;
  batchMaxRecords: number;
  batchMaxBytes: number;
  /** Longest wait for the adapter's next record before the attempt is stopped with SDR_ERR_SOURCE_STALLED. */
  stallTimeoutMs: number;
  ackDeadline?: AckDeadline;
  /** The agent id bound from `welcome`, for the bucket layout and the manifest. */
  agentId: () => string;
  presigned: PresignedSettings;
  /** Upload URLs that came with the request (valid for attempt 1 only). */
  initialUploads: (requestId: string) => readonly UploadUrl[];
}

/** Outcome of an attempt that reached the cloud's commit. */
export interface AttemptResult {
  records: number;
  sha256: string | undefined;
  alreadyCommitted: boolean;
}

const PROGRESS_INTERVAL_MS = 1_000;

/**
 * The attempt whose code (or a client library's callback it set up) is running. Timers, sockets and promises
 * created during an attempt carry it, so an exception thrown in one of their callbacks can be traced back.
 */
const attemptScope = new AsyncLocalStorage<JobAttempt>();

/**
 * Fails the attempt an uncaught exception was thrown under (see `runtime/main.ts`), with
 * SDR_ERR_ADAPTER_CRASHED. Returns false when no attempt that is still running can be blamed.
 */
export function failAttemptOfUncaught(error: unknown): boolean {
  const attempt = attemptScope.getStore();
  return attempt ? attempt.crashed(error) : false;
}

/**
 * Runs one attempt: resolves the connection's secrets, streams the adapter's records in batches through
 * an `AttemptStream`, and returns once the cloud has committed. Secret values live only inside this call.
 */
export class JobAttempt {
  readonly stream: AttemptStream;
  private readonly controller = new AbortController();
  private secretValues: string[] = [];
  /** Live progress of this attempt, for `/status`. */
  readonly progress = {
    phase: 'started' as FrameOf<'job.progress'>['phase'],
    records: 0,
    batches: 0,
    bytes: 0,
    startedAt: new Date().toISOString(),
  };
  private finished = false;
  /** Set while a presigned attempt runs, so `upload.grant` frames reach it. */
  presigned: PresignedTarget | undefined;

  constructor(
    private readonly deps: JobRunnerDeps,
    readonly job: QueuedJob,
    readonly attempt: number,
  ) {
    this.stream = new AttemptStream(
      deps.link,
      job.requestId,
      attempt,
      this.controller.signal,
      deps.ackDeadline,
    );
  }

  /**
   * Fails the attempt because its adapter threw where nothing could catch it. The adapter sees its signal
   * abort (and closes its clients); `run` rejects with SDR_ERR_ADAPTER_CRASHED even if the adapter never
   * settles again. False when the attempt had already ended or been stopped.
   */
  crashed(error: unknown): boolean {
    if (this.controller.signal.aborted || this.finished) return false;
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.controller.abort(new Codes.SDR_ERR_ADAPTER_CRASHED(this.job.connection, detail, { cause: error }));
    return true;
  }

  /** Stops the attempt; the adapter sees its signal abort and the run rejects with the reason. */
  stop(reason: StopReason): void {
    if (!this.controller.signal.aborted) this.controller.abort(new StopSignal(reason));
  }

  /** Secret values this attempt resolved, so errors leaving the process can be scrubbed of them. */
  get resolvedSecrets(): readonly string[] {
    return this.secretValues;
  }

  /** Runs the attempt to commit. Throws an `SdrError`, an `AlreadyCommitted` or a `StopSignal`. */
  async run(): Promise<AttemptResult> {
    try {
      return await attemptScope.run(this, () => this.runToCommit());
    } finally {
      this.finished = true;
      this.stream.dispose();
    }
  }

  private async runToCommit(): Promise<AttemptResult> {
    const { deps, job, attempt } = this;
    const signal = this.controller.signal;
    const definition = deps.connections.get(job.connection);
    if (!definition) throw new Codes.SDR_ERR_UNKNOWN_CONNECTION(job.connection);
    const adapter = deps.adapters.get(definition.type);
    if (!adapter)
      throw new Codes.SDR_ERR_UNSUPPORTED_SOURCE(definition.type, [...deps.adapters.keys()].join(', '));
    const log = deps.log.child({ requestId: job.requestId, attempt, connection: job.connection });
    const warnings: string[] = [];
    let warningsDropped = 0;
    const progress = this.progress;
    let lastProgressAt = 0;
    const report = (phase: FrameOf<'job.progress'>['phase'], force = false) => {
      progress.phase = phase;
      const now = Date.now();
      if (!force && now - lastProgressAt < PROGRESS_INTERVAL_MS) return;
      lastProgressAt = now;
      const { records, batches, bytes } = progress;
      deps.link.send({
        type: 'job.progress',
        requestId: job.requestId,
        attempt,
        phase,
        records,
        batches,
        bytes,
      });
    };
    report('started', true);

    const options = adapter.parseOptions(job.options, definition.name);
    // The connection's limits as they are now, whatever was checked at admission.
    adapter.checkLimits?.(options, scopeOf(definition));
    const credentials = await deps.secrets.resolveAll(definition.secrets, signal);
    const mode = job.delivery ?? 'tunnel';
    const bucketCredentials =
      mode === 'bucket'
        ? await deps.secrets.resolveAll(bucketSecretReferences(definition.delivery.bucket), signal)
        : {};
    this.secretValues = [...Object.values(credentials), ...Object.values(bucketCredentials)];
    let sink: ResultSink = {
      mode: 'tunnel',
      uploading: false,
      write: (records) => this.stream.sendBatch(records),
      finish: (summary) => this.stream.end(summary),
    };
    if (mode !== 'tunnel') {
      const opened = await openObjectSink(this.stream, {
        mode,
        settings: definition.delivery,
        identity: { requestId: job.requestId, attempt, agentId: deps.agentId(), connection: definition.name },
        bucketCredentials,
        presigned: deps.presigned,
        initialUploads: deps.initialUploads(job.requestId),
        link: deps.link,
        signal,
      });
      sink = opened.sink;
      this.presigned = opened.presigned;
    }
    const connection: SourceConnection = sourceConnectionOf(definition, credentials);
    const context: AdapterContext = {
      signal,
      log,
      warn: (message) => {
        // Bounded and scrubbed: warnings travel to the cloud in job.end and may quote source text.
        const clean = scrubSecrets(String(message), this.secretValues).slice(0, MAX_WARNING_CHARS);
        if (warnings.length < MAX_END_WARNINGS) {
          warnings.push(clean);
          log.warn({}, clean);
        } else {
          warningsDropped += 1;
        }
      },
    };

    const digest = new ResultDigest();
    let batch: string[] = [];
    let batchBytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const records = batch;
      batch = [];
      batchBytes = 0;
      await sink.write(records);
      deps.metrics.batchesSent.inc();
      deps.metrics.recordsSent.inc(records.length);
      progress.batches += 1;
      report(sink.uploading ? 'uploading' : deps.link.isUp ? 'extracting' : 'waiting-for-tunnel');
    };

    log.info({ delivery: mode }, 'extraction started');
    // An adapter whose callback crashed may never settle its pending promise: the abort ends the wait.
    // Only the wait in progress is rejected. Racing every next() against one promise that lives as long
    // as the attempt (Promise.race) would add a reaction to it per record, each keeping that record
    // reachable until the attempt ends: a 10k-table job died of heap exhaustion under a 128 MB cap.
    let rejectWait: ((reason: unknown) => void) | undefined;
    const onAbort = (): void => rejectWait?.(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    // Records arrive as JSON text, serialised once (in the job's worker when isolated), and are batched,
    // hashed and sent as they are.
    const chunks = extractSerialised(adapter, connection, options, context)[Symbol.asyncIterator]();
    // Nothing else bounds a source call that never settles (a driver waiting on a dead socket): without this
    // watchdog such an attempt would hold its job, lock renewed, forever. Waits on the tunnel do not count.
    let waitingSince: number | undefined;
    const watchdog = setInterval(
      () => {
        if (waitingSince !== undefined && Date.now() - waitingSince >= deps.stallTimeoutMs)
          this.controller.abort(new Codes.SDR_ERR_SOURCE_STALLED(job.connection, Date.now() - waitingSince));
      },
      Math.min(5_000, Math.max(100, Math.floor(deps.stallTimeoutMs / 10))),
    );
    watchdog.unref();
    try {
      for (;;) {
        signal.throwIfAborted();
        waitingSince = Date.now();
        const next = await new Promise<IteratorResult<SerialisedChunk>>((resolve, reject) => {
          rejectWait = reject;
          chunks.next().then(resolve, reject);
        });
        rejectWait = undefined;
        waitingSince = undefined;
        if (next.done) break;
        const { lines, bytes: sizes } = next.value;
        for (let index = 0; index < lines.length; index += 1) {
          const json = lines[index] as string;
          const bytes = sizes[index] as number;
          if (bytes > deps.batchMaxBytes)
            throw new Codes.SDR_ERR_RECORD_TOO_LARGE(keyOfSerialised(json), bytes, deps.batchMaxBytes);
          if (batch.length >= deps.batchMaxRecords || batchBytes + bytes + 1 > deps.batchMaxBytes) {
            await flush();
            signal.throwIfAborted();
          }
          batch.push(json);
          batchBytes += bytes + 1;
          digest.updateLine(`${json}\n`);
          progress.records += 1;
          progress.bytes += bytes + 1;
        }
      }
    } catch (error) {
      // Let the adapter release what it holds without waiting on a generator that may never answer.
      chunks.return?.(undefined).catch(() => undefined);
      throw error;
    } finally {
      clearInterval(watchdog);
      signal.removeEventListener('abort', onAbort);
    }
    await flush();
    report(mode === 'tunnel' ? 'finishing' : 'uploading', true);
    const sha256 = digest.hex();
    if (warningsDropped > 0) warnings.push(`and ${warningsDropped} more warnings (not listed)`);
    const committed = await sink.finish({ records: digest.records, sha256, warnings });
    log.info(
      { records: committed.records, batches: progress.batches, bytes: progress.bytes },
      'committed by the cloud',
    );
    return { records: committed.records, sha256, alreadyCommitted: false };
  }
}

/** The abort reason when the daemon stops an attempt. */
export class StopSignal extends Error {
  constructor(readonly reason: StopReason) {
    super(
      reason === 'cancelled'
        ? 'cancelled by the cloud'
        : reason === 'draining'
          ? 'runtime is draining'
          : 'a newer run of this job started in this process',
    );
    this.name = 'StopSignal';
  }
}
