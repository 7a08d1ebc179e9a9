import type { Logger } from 'pino';
import type { AdapterContext, SourceAdapter, SourceConnection } from '../adapters/index.js';
import { Codes, type FrameOf, ResultDigest } from '../protocol/index.js';
import type { SecretResolver } from '../secrets/index.js';
import { AttemptStream, type FrameLink } from './attempt-stream.js';
import type { ConnectionDefinition } from './connections.js';
import type { RuntimeMetrics } from './metrics.js';

/** What a queued job holds in Redis: the request minus its signature. Never a secret value. */
export interface QueuedJob {
  requestId: string;
  connection: string;
  options: Record<string, unknown>;
}

/** Why a running job was stopped from outside. */
export type StopReason = 'cancelled' | 'draining' | 'superseded';

/** What the runner needs from the daemon. */
export interface JobRunnerDeps {
  link: FrameLink & { send(frame: FrameOf<'job.progress'>): boolean };
  connections: ReadonlyMap<string, ConnectionDefinition>;
  adapters: ReadonlyMap<string, SourceAdapter<unknown>>;
  secrets: SecretResolver;
  metrics: RuntimeMetrics;
  log: Logger;
  batchMaxRecords: number;
  batchMaxBytes: number;
}

/** Outcome of an attempt that reached the cloud's commit. */
export interface AttemptResult {
  records: number;
  sha256: string | undefined;
  alreadyCommitted: boolean;
}

const PROGRESS_INTERVAL_MS = 1_000;

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

  constructor(
    private readonly deps: JobRunnerDeps,
    readonly job: QueuedJob,
    readonly attempt: number,
  ) {
    this.stream = new AttemptStream(deps.link, job.requestId, attempt, this.controller.signal);
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
    const { deps, job, attempt } = this;
    const signal = this.controller.signal;
    const definition = deps.connections.get(job.connection);
    if (!definition) throw new Codes.SDR_ERR_UNKNOWN_CONNECTION(job.connection);
    const adapter = deps.adapters.get(definition.type);
    if (!adapter)
      throw new Codes.SDR_ERR_UNSUPPORTED_SOURCE(definition.type, [...deps.adapters.keys()].join(', '));
    const log = deps.log.child({ requestId: job.requestId, attempt, connection: job.connection });
    const warnings: string[] = [];
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
    const credentials = await deps.secrets.resolveAll(definition.secrets, signal);
    this.secretValues = Object.values(credentials);
    const connection: SourceConnection = {
      name: definition.name,
      type: definition.type,
      ...(definition.host === undefined ? {} : { host: definition.host }),
      ...(definition.port === undefined ? {} : { port: definition.port }),
      ...(definition.database === undefined ? {} : { database: definition.database }),
      options: definition.options,
      credentials,
    };
    const context: AdapterContext = {
      signal,
      log,
      warn: (message) => {
        warnings.push(message);
        log.warn({}, message);
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
      await this.stream.sendBatch(records);
      deps.metrics.batchesSent.inc();
      deps.metrics.recordsSent.inc(records.length);
      progress.batches += 1;
      report(deps.link.isUp ? 'extracting' : 'waiting-for-tunnel');
    };

    log.info({}, 'extraction started');
    for await (const record of adapter.extract(connection, options, context)) {
      if (signal.aborted) throw signal.reason;
      if (typeof record?.kind !== 'string' || typeof record.key !== 'string') {
        throw new Codes.SDR_ERR_SOURCE_FAILED(
          job.connection,
          'adapter produced a record without a string kind and key',
        );
      }
      const json = JSON.stringify(record);
      const bytes = Buffer.byteLength(json);
      if (bytes > deps.batchMaxBytes)
        throw new Codes.SDR_ERR_RECORD_TOO_LARGE(record.key, bytes, deps.batchMaxBytes);
      if (batch.length >= deps.batchMaxRecords || batchBytes + bytes + 1 > deps.batchMaxBytes) await flush();
      batch.push(json);
      batchBytes += bytes + 1;
      digest.updateLine(`${json}\n`);
      progress.records += 1;
      progress.bytes += bytes + 1;
    }
    await flush();
    report('finishing', true);
    const sha256 = digest.hex();
    const committed = await this.stream.end({ records: digest.records, sha256, warnings });
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
