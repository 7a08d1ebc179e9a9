/**
 * Records as the runtime carries them from an adapter to the wire and the digest: each one's JSON text,
 * made once. A job's worker (job-sandbox-worker.ts) serialises in its own thread and posts strings, which
 * cost a copy to cross to the daemon; posting record objects cost a structured clone of every field, and
 * the daemon then had to serialise each record again.
 */
import type { AdapterContext, SourceAdapter, SourceConnection } from '../adapters/index.js';
import { Codes } from '../protocol/index.js';

/** Consecutive records of one extraction: each record's JSON text and that text's UTF-8 length in bytes. */
export interface SerialisedChunk {
  readonly lines: readonly string[];
  readonly bytes: readonly number[];
}

/** An adapter that can hand over its records already serialised (the job sandbox). */
export interface SerialisingAdapter<Options> extends SourceAdapter<Options> {
  extractSerialised(
    connection: SourceConnection,
    options: Options,
    context: AdapterContext,
  ): AsyncIterable<SerialisedChunk>;
}

function isSerialising<Options>(adapter: SourceAdapter<Options>): adapter is SerialisingAdapter<Options> {
  return typeof (adapter as Partial<SerialisingAdapter<Options>>).extractSerialised === 'function';
}

/**
 * One record's JSON text. A record must be an object with a string `kind` and `key`: the cloud files and
 * deduplicates it by them.
 */
export function serialiseRecord(record: unknown, connection: string): string {
  const { kind, key } = (record ?? {}) as { kind?: unknown; key?: unknown };
  if (typeof record !== 'object' || typeof kind !== 'string' || typeof key !== 'string') {
    throw new Codes.SDR_ERR_SOURCE_FAILED(
      connection,
      'adapter produced a record without a string kind and key',
    );
  }
  return JSON.stringify(record);
}

/** The record key of a serialised record, for an error about it (a record that is too large). */
export function keyOfSerialised(json: string): string {
  return String((JSON.parse(json) as { key?: unknown }).key);
}

/**
 * The adapter's records in serialised chunks: as the adapter hands them over when it can, otherwise each
 * record serialised here, one per chunk (an adapter running in the daemon, job isolation off).
 */
export function extractSerialised<Options>(
  adapter: SourceAdapter<Options>,
  connection: SourceConnection,
  options: Options,
  context: AdapterContext,
): AsyncIterable<SerialisedChunk> {
  if (isSerialising(adapter)) return adapter.extractSerialised(connection, options, context);
  return serialiseEach(adapter.extract(connection, options, context), connection.name);
}

async function* serialiseEach(
  records: AsyncIterable<unknown>,
  connection: string,
): AsyncGenerator<SerialisedChunk> {
  for await (const record of records) {
    const json = serialiseRecord(record, connection);
    yield { lines: [json], bytes: [Buffer.byteLength(json)] };
  }
}
