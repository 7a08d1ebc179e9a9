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
 * Runs an adapter's `extract` in a worker thread of its own with a heap cap, so an adapter that leaks,
 * runs out of memory or throws inside a client library's callback ends only its own attempt (with
 * `SDR_ERR_JOB_OUT_OF_MEMORY` or `SDR_ERR_ADAPTER_CRASHED`); the tunnel and the other jobs carry on.
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
      extractInWorker({ adapterType: inProcess.type, unregistered }, connection, options, context, settings),
    extract: (connection, options, context) =>
      parsed(
        extractInWorker(
          { adapterType: inProcess.type, unregistered },
          connection,
          options,
          context,
          settings,
        ),
      ),
  };
}

async function* parsed(chunks: AsyncIterable<SerialisedChunk>): AsyncGenerator<MetadataRecord> {
  for await (const { lines } of chunks) for (const line of lines) yield JSON.parse(line) as MetadataRecord;
}

async function* extractInWorker(
  adapter: Pick<WorkerInput, 'adapterType' | 'unregistered'>,
  connection: SourceConnection,
  options: SandboxedOptions,
  context: AdapterContext,
  settings: SandboxSettings,
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
  const worker = new Worker(workerEntry, {
    workerData: input,
    execArgv: workerExecArgv,
    resourceLimits: { maxOldGenerationSizeMb: settings.maxOldSpaceMb },
    stdout: false,
    stderr: false,
  });
  const chunks: SerialisedChunk[] = [];
  let finished = false;
  let failure: Error | undefined;
  let exited = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  worker.on('message', (message: WorkerMessage) => {
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
        finished = true;
        break;
      case 'error':
        failure = new SdrError(message.code, message.message, message.retryable);
        break;
    }
    notify();
  });
  worker.on('error', (error: Error & { code?: string }) => {
    failure ??=
      error.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? new Codes.SDR_ERR_JOB_OUT_OF_MEMORY(connection.name, settings.maxOldSpaceMb)
        : new Codes.SDR_ERR_ADAPTER_CRASHED(connection.name, `uncaught ${error.name}: ${error.message}`);
    notify();
  });
  worker.on('exit', (code) => {
    exited = true;
    if (!finished)
      failure ??= new Codes.SDR_ERR_ADAPTER_CRASHED(connection.name, `its worker exited with code ${code}`);
    notify();
  });
  const onAbort = () => notify();
  signal.addEventListener('abort', onAbort, { once: true });
  const post = (message: ParentMessage) => {
    if (!exited) worker.postMessage(message);
  };
  post({ type: 'pull', chunks: CHUNKS_IN_FLIGHT });
  try {
    for (;;) {
      const chunk = chunks.shift();
      if (chunk) {
        post({ type: 'pull', chunks: 1 });
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
    if (!exited) {
      // Let the adapter close its sessions; a worker that does not finish in time is terminated, which
      // closes its sockets too.
      post({ type: 'abort', reason: signal.aborted ? String((signal.reason as Error)?.message) : 'stopped' });
      const deadline = setTimeout(() => void worker.terminate(), finished ? 0 : ABORT_GRACE_MS);
      deadline.unref();
      worker.once('exit', () => clearTimeout(deadline));
    }
  }
}
