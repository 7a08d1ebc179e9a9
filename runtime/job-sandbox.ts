import { Worker } from 'node:worker_threads';
import type { AdapterContext, MetadataRecord, SourceAdapter, SourceConnection } from '../adapters/index.js';
import { Codes, SdrError } from '../protocol/index.js';
import type { ParentMessage, UnregisteredAdapter, WorkerInput, WorkerMessage } from './job-sandbox-worker.js';
import type { SerialisedChunk, SerialisingAdapter } from './serialised-records.js';

/** Chunks of records a worker may have in flight to the parent: memory stays bounded by this. */
const CHUNKS_IN_FLIGHT = 2;
/** How long an aborted worker gets to close its sessions before it is terminated. */
const ABORT_GRACE_MS = 2_000;

/** Options as the sandbox keeps them: validated in the daemon, parsed again inside the worker. */
export interface SandboxedOptions {
  readonly raw: Record<string, unknown>;
  /** As the daemon parsed them, for the connection's limits. */
  readonly parsed: unknown;
}

/** Isolation settings. */
export interface SandboxSettings {
  /** Old-space heap cap of each job's worker, in MB. */
  maxOldSpaceMb: number;
  /** Extractions a worker serves, one at a time, before it is replaced (1: a fresh worker per job). */
  workerMaxJobs?: number;
  /** How long an idle worker waits for the next extraction before it exits, in ms. */
  workerIdleMs?: number;
  /** Called each time a worker thread is started (the runtime counts them in its metrics). */
  onWorkerStart?: () => void;
}

// Under tsx (development, tests) the worker entry is TypeScript and needs tsx's loader too.
const entryIsTypeScript = import.meta.url.endsWith('.ts');
const workerEntry = new URL(`./job-sandbox-worker.${entryIsTypeScript ? 'ts' : 'js'}`, import.meta.url);
/** Per-isolate V8 heap flags a worker refuses in execArgv (ERR_WORKER_INVALID_EXEC_ARGV); resourceLimits cap it. */
const HEAP_FLAG = /^--(max-old-space-size|max-semi-space-size|max-young-generation-size)(=|$)/;
const inheritedExecArgv = process.execArgv.filter((arg) => !HEAP_FLAG.test(arg));
const workerExecArgv =
  entryIsTypeScript && !inheritedExecArgv.some((arg) => arg.includes('tsx'))
    ? [...inheritedExecArgv, '--import', 'tsx']
    : inheritedExecArgv;

/**
 * Runs an adapter's `extract` in a worker thread with a heap cap, one extraction at a time per worker
 * (reused as `WorkerPool` says), so an adapter that leaks, runs out of memory or throws inside a client
 * library's callback ends only its own attempt (with `SDR_ERR_JOB_OUT_OF_MEMORY` or
 * `SDR_ERR_ADAPTER_CRASHED`); the tunnel and the other jobs carry on.
 * `parseOptions` and `check` run in the daemon as before. The worker loads the registered adapter of
 * `inProcess.type`, or `unregistered` (tests) when given. Records arrive serialised (`extractSerialised`,
 * what a job attempt reads); `extract` parses them back, for callers that want objects.
 */
export function sandboxed(
  inProcess: SourceAdapter<unknown>,
  settings: SandboxSettings,
  unregistered?: UnregisteredAdapter,
): SerialisingAdapter<SandboxedOptions> {
  const checkLimits = inProcess.checkLimits?.bind(inProcess);
  const pool = new WorkerPool(settings);
  const adapter = { adapterType: inProcess.type, unregistered };
  return {
    type: inProcess.type,
    parseOptions(raw, connection) {
      // Validation errors surface here, in the daemon, exactly as without isolation.
      return { raw, parsed: inProcess.parseOptions(raw, connection) };
    },
    ...(checkLimits && {
      checkLimits: (options, scope) => checkLimits(options?.parsed, scope),
    }),
    check: (connection, context) => inProcess.check(connection, context),
    extractSerialised: (connection, options, context) =>
      extractInWorker(pool, adapter, connection, options, context),
    extract: (connection, options, context) =>
      parsed(extractInWorker(pool, adapter, connection, options, context)),
  };
}

async function* parsed(chunks: AsyncIterable<SerialisedChunk>): AsyncGenerator<MetadataRecord> {
  for await (const { lines } of chunks) for (const line of lines) yield JSON.parse(line) as MetadataRecord;
}

/** What a run listens to on its worker while it has it. */
interface RunListener {
  message(message: WorkerMessage): void;
  error(error: Error & { code?: string }): void;
  exit(code: number): void;
}

/** A worker thread and what the pool knows of it. */
class PooledWorker {
  readonly thread: Worker;
  runs = 0;
  exited = false;
  listener: RunListener | undefined;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(settings: SandboxSettings, onExit: (worker: PooledWorker) => void) {
    this.thread = new Worker(workerEntry, {
      execArgv: workerExecArgv,
      resourceLimits: { maxOldGenerationSizeMb: settings.maxOldSpaceMb },
      stdout: false,
      stderr: false,
    });
    settings.onWorkerStart?.();
    this.thread.on('message', (message: WorkerMessage) => this.listener?.message(message));
    this.thread.on('error', (error: Error) => this.listener?.error(error));
    this.thread.on('exit', (code) => {
      this.exited = true;
      this.listener?.exit(code);
      onExit(this);
    });
  }

  post(message: ParentMessage): void {
    if (!this.exited) this.thread.postMessage(message);
  }
}

/**
 * Worker threads of one adapter, reused: starting a thread and loading an adapter's client libraries
 * costs ~0.28 s of CPU, four times a small job's own work (bench/README.md, job isolation). A worker goes back to the pool only after a
 * run that ended cleanly and left its heap under half the cap; a failed, aborted or crashed run, or one
 * that leaves its heap high (a leak), ends the worker, so the next job never inherits it.
 */
class WorkerPool {
  private readonly idle: PooledWorker[] = [];
  private readonly maxRuns: number;
  private readonly idleMs: number;
  private readonly heapLimitBytes: number;

  constructor(readonly settings: SandboxSettings) {
    this.maxRuns = settings.workerMaxJobs ?? 1;
    this.idleMs = settings.workerIdleMs ?? 10_000;
    this.heapLimitBytes = (settings.maxOldSpaceMb * 1_048_576) / 2;
  }

  acquire(): PooledWorker {
    for (let worker = this.idle.pop(); worker; worker = this.idle.pop()) {
      if (worker.exited) continue;
      clearTimeout(worker.idleTimer);
      worker.thread.ref();
      return worker;
    }
    return new PooledWorker(this.settings, (gone) => this.forget(gone));
  }

  /** Returns a worker whose run ended with `done`, or ends it when it may not serve another. */
  release(worker: PooledWorker, heapUsedBytes: number): void {
    worker.listener = undefined;
    if (worker.runs >= this.maxRuns || heapUsedBytes > this.heapLimitBytes) {
      void worker.thread.terminate();
      return;
    }
    // An idle worker neither keeps the process alive nor lingers: its heap is freed after idleMs.
    worker.thread.unref();
    worker.idleTimer = setTimeout(() => {
      this.forget(worker);
      void worker.thread.terminate();
    }, this.idleMs);
    worker.idleTimer.unref();
    this.idle.push(worker);
  }

  private forget(worker: PooledWorker): void {
    clearTimeout(worker.idleTimer);
    const index = this.idle.indexOf(worker);
    if (index >= 0) this.idle.splice(index, 1);
  }
}

let lastRunId = 0;

async function* extractInWorker(
  pool: WorkerPool,
  adapter: Pick<WorkerInput, 'adapterType' | 'unregistered'>,
  connection: SourceConnection,
  options: SandboxedOptions,
  context: AdapterContext,
): AsyncGenerator<SerialisedChunk> {
  const { signal } = context;
  if (signal.aborted) throw signal.reason;
  const input: WorkerInput = {
    ...adapter,
    connection: {
      ...connection,
      options: { ...connection.options },
      credentials: { ...connection.credentials },
    },
    rawOptions: options.raw,
  };
  const worker = pool.acquire();
  const runId = ++lastRunId;
  worker.runs += 1;
  const chunks: SerialisedChunk[] = [];
  let finished = false;
  /** The worker reported the run's end (`done` or `error`): nothing of it is left running. */
  let ended = false;
  let heapUsedBytes = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  worker.listener = {
    message(message) {
      // A message of an earlier run on this worker (a late log line) is not this run's.
      if (message.runId !== runId) return;
      switch (message.type) {
        case 'records':
          chunks.push({ lines: message.lines, bytes: message.bytes });
          break;
        case 'log':
          context.log[message.level](message.fields, message.message);
          return;
        case 'warn':
          context.warn(message.message);
          return;
        case 'done':
          finished = ended = true;
          heapUsedBytes = message.heapUsedBytes;
          break;
        case 'error':
          ended = true;
          failure = new SdrError(message.code, message.message, message.retryable);
          break;
      }
      notify();
    },
    error(error) {
      failure ??=
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new Codes.SDR_ERR_JOB_OUT_OF_MEMORY(connection.name, pool.settings.maxOldSpaceMb)
          : new Codes.SDR_ERR_ADAPTER_CRASHED(connection.name, `uncaught ${error.name}: ${error.message}`);
      notify();
    },
    exit(code) {
      if (!finished)
        failure ??= new Codes.SDR_ERR_ADAPTER_CRASHED(connection.name, `its worker exited with code ${code}`);
      notify();
    },
  };
  const onAbort = () => notify();
  signal.addEventListener('abort', onAbort, { once: true });
  worker.post({ type: 'run', runId, input });
  worker.post({ type: 'pull', runId, chunks: CHUNKS_IN_FLIGHT });
  try {
    for (;;) {
      const chunk = chunks.shift();
      if (chunk) {
        worker.post({ type: 'pull', runId, chunks: 1 });
        yield chunk;
        continue;
      }
      if (signal.aborted) throw signal.reason;
      if (failure !== undefined) throw failure;
      if (finished) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (!worker.exited && finished && failure === undefined) {
      pool.release(worker, heapUsedBytes);
    } else if (!worker.exited) {
      // A worker whose run did not end cleanly serves no other. One still running gets ABORT_GRACE_MS to
      // let the adapter close its sessions; then it is terminated, which closes its sockets too.
      worker.listener = undefined;
      worker.post({
        type: 'abort',
        runId,
        reason: signal.aborted ? String((signal.reason as Error)?.message) : 'stopped',
      });
      const thread = worker.thread;
      const deadline = setTimeout(() => void thread.terminate(), ended ? 0 : ABORT_GRACE_MS);
      deadline.unref();
      thread.once('exit', () => clearTimeout(deadline));
    }
  }
}
