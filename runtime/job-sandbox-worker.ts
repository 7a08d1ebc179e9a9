/**
 * Entry of a job's extraction worker (see job-sandbox.ts): serves extractions one at a time, each on a
 * `run` message: loads the adapter, runs `extract`, and sends records to the daemon in chunks, never more
 * than the daemon has asked for. Each record leaves as its JSON text (serialised-records.ts), which the
 * daemon sends and hashes as it is. Every message carries its run's id, so a late one is recognised.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { loadAdapters } from '../adapters/index.js';
import type { AdapterContext, SourceAdapter, SourceConnection } from '../adapters/types.js';
import { describeError } from '../protocol/index.js';
import { type SerialisedChunk, serialiseRecord } from './serialised-records.js';

/** What the daemon hands a worker. */
export interface WorkerInput {
  /** Connection type of the adapter to load through the registry (adapters/index.ts). */
  adapterType: string;
  /** An adapter outside the registry instead (the isolation tests' misbehaving one); never set by the daemon. */
  unregistered?: UnregisteredAdapter;
  connection: SourceConnection;
  rawOptions: Record<string, unknown>;
}

/** A module outside the registry that exports a factory of an adapter, importable from any thread. */
export interface UnregisteredAdapter {
  url: string;
  factory: string;
}

async function loadAdapter(input: WorkerInput): Promise<SourceAdapter<unknown>> {
  if (input.unregistered) {
    const { url, factory } = input.unregistered;
    const create = ((await import(url)) as Record<string, unknown>)[factory];
    if (typeof create !== 'function') throw new Error(`${url} exports no ${factory}()`);
    return (create as () => SourceAdapter<unknown>)();
  }
  const [adapter] = await loadAdapters([input.adapterType]);
  if (!adapter) throw new Error(`this build has no adapter for connection type ${input.adapterType}`);
  return adapter;
}

/** Daemon → worker. */
export type ParentMessage = { runId: number } & (
  { type: 'run'; input: WorkerInput } | { type: 'pull'; chunks: number } | { type: 'abort'; reason: string }
);

/** Worker → daemon. */
export type WorkerMessage = { runId: number } & (
  | ({ type: 'records' } & SerialisedChunk)
  | { type: 'log'; level: 'debug' | 'info' | 'warn'; fields: Record<string, unknown>; message: string }
  | { type: 'warn'; message: string }
  /** The heap in use as the run ended: the daemon retires a worker whose runs leave too much behind. */
  | { type: 'done'; heapUsedBytes: number }
  | { type: 'error'; code: string; message: string; retryable: boolean }
);

/** What a run's message looks like before its id is added. */
type RunMessage = WorkerMessage extends infer M ? (M extends unknown ? Omit<M, 'runId'> : never) : never;

/** Records per chunk; a chunk also leaves early when the adapter is slow, so progress keeps moving. */
const CHUNK_RECORDS = 256;
const CHUNK_MAX_AGE_MS = 100;

/** One extraction: its flow-control credit and abort, fed by the daemon's messages for its id. */
interface Run {
  readonly id: number;
  readonly controller: AbortController;
  credit: number;
  wake: (() => void) | undefined;
}

async function run(port: NonNullable<typeof parentPort>, current: Run, input: WorkerInput): Promise<void> {
  const send = (message: RunMessage) => port.postMessage({ ...message, runId: current.id });
  const { controller } = current;
  const log =
    (level: 'debug' | 'info' | 'warn') =>
    (fields: Record<string, unknown>, message: string): void =>
      send({ type: 'log', level, fields, message });
  const context: AdapterContext = {
    signal: controller.signal,
    log: { debug: log('debug'), info: log('info'), warn: log('warn') },
    warn: (message) => send({ type: 'warn', message }),
  };
  let lines: string[] = [];
  let bytes: number[] = [];
  let bufferSince = Date.now();
  const sendBuffer = () => {
    current.credit -= 1;
    send({ type: 'records', lines, bytes });
    lines = [];
    bytes = [];
  };
  const flush = async () => {
    while (current.credit === 0 && !controller.signal.aborted) {
      await new Promise<void>((resolve) => {
        current.wake = resolve;
      });
    }
    if (controller.signal.aborted) throw controller.signal.reason;
    if (lines.length > 0) sendBuffer();
  };
  // Records yielded before a slow catalog call must not wait for the next record to leave.
  const ageFlush = setInterval(() => {
    if (lines.length > 0 && current.credit > 0 && Date.now() - bufferSince >= CHUNK_MAX_AGE_MS) sendBuffer();
  }, CHUNK_MAX_AGE_MS);
  ageFlush.unref();
  try {
    const adapter = await loadAdapter(input);
    const options = adapter.parseOptions(input.rawOptions, input.connection.name);
    for await (const record of adapter.extract(input.connection, options, context)) {
      if (lines.length === 0) bufferSince = Date.now();
      const json = serialiseRecord(record, input.connection.name);
      lines.push(json);
      bytes.push(Buffer.byteLength(json));
      if (lines.length >= CHUNK_RECORDS || Date.now() - bufferSince >= CHUNK_MAX_AGE_MS) await flush();
    }
    if (lines.length > 0) await flush();
    send({ type: 'done', heapUsedBytes: getHeapStatistics().used_heap_size });
  } catch (error) {
    const described = describeError(error);
    send({ type: 'error', ...described });
  } finally {
    clearInterval(ageFlush);
  }
}

/** Serves runs one after another; the daemon starts the next only after this one's `done` or `error`. */
function serve(port: NonNullable<typeof parentPort>): void {
  let current: Run | undefined;
  port.on('message', (message: ParentMessage) => {
    if (message.type === 'run') {
      const started: Run = {
        id: message.runId,
        controller: new AbortController(),
        credit: 0,
        wake: undefined,
      };
      current = started;
      void run(port, started, message.input);
      return;
    }
    if (!current || message.runId !== current.id) return;
    if (message.type === 'pull') current.credit += message.chunks;
    else current.controller.abort(new Error(message.reason));
    const resolve = current.wake;
    current.wake = undefined;
    resolve?.();
  });
}

if (parentPort) serve(parentPort);
