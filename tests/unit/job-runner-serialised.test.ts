import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { MetadataRecord, SourceAdapter } from '../../adapters/types.js';
import type { SdrError } from '../../protocol/index.js';
import { JobAttempt } from '../../runtime/job-runner.js';
import type { SerialisedChunk, SerialisingAdapter } from '../../runtime/serialised-records.js';
import { acknowledgingLink, runnerDeps } from '../support/runner-deps.js';

const records: MetadataRecord[] = [
  { kind: 'test.table', key: 'public.plain', columns: 3 },
  { kind: 'test.table', key: 'public."Ünïcødé ✓ 😀"', comment: 'größer als € — "quoted" \\ back' },
  { kind: 'test.view', key: 'public.v', definition: 'SELECT 1\n  FROM t', nested: { a: [1, null, true] } },
];
const jsonl = records.map((record) => `${JSON.stringify(record)}\n`).join('');

function plainAdapter(items: unknown[]): SourceAdapter<unknown> {
  return {
    type: 'plain',
    parseOptions: () => ({}),
    check: async () => ({}),
    async *extract() {
      for (const item of items) yield item as MetadataRecord;
    },
  };
}

/** An adapter that hands over chunks as the job sandbox does; `extract` must not be used. */
function serialisingAdapter(chunks: SerialisedChunk[]): SerialisingAdapter<unknown> {
  return {
    ...plainAdapter([]),
    type: 'serialising',
    extract: () => {
      throw new Error('the attempt must read the serialised records');
    },
    async *extractSerialised() {
      yield* chunks;
    },
  };
}

/** Runs one attempt against a cloud that acknowledges each batch and commits; returns the frames it got. */
async function run(adapter: SourceAdapter<unknown>, batchMaxBytes = 1_000_000) {
  const frames: { type: string; records?: unknown[]; sha256?: string }[] = [];
  const running: { attempt?: JobAttempt } = {};
  const deps = runnerDeps(
    { [adapter.type]: adapter },
    {
      link: acknowledgingLink(running, records.length, (frame) => frames.push(frame)),
      batchMaxRecords: 2,
      batchMaxBytes,
    },
  );
  const attempt = new JobAttempt(deps, { requestId: 'job-1', connection: adapter.type, options: {} }, 1);
  running.attempt = attempt;
  const outcome = await attempt.run().then(
    (result) => ({ result, error: undefined }),
    (error: unknown) => ({ result: undefined, error: error as SdrError }),
  );
  return { ...outcome, frames };
}

describe('JobAttempt with records serialised once', () => {
  const sha256 = createHash('sha256').update(jsonl).digest('hex');

  it('sends and hashes an adapter’s records exactly as their JSON lines, whether it serialises them or the attempt does', async () => {
    const lines = records.map((record) => JSON.stringify(record));
    const chunk = { lines, bytes: lines.map((line) => Buffer.byteLength(line)) };
    for (const adapter of [plainAdapter(records), serialisingAdapter([chunk])]) {
      const { result, error, frames } = await run(adapter);
      expect(error).toBeUndefined();
      expect(result).toMatchObject({ records: 3, sha256 });
      const batches = frames.filter((frame) => frame.type === 'job.batch');
      expect(batches.map((frame) => frame.records?.length)).toEqual([2, 1]);
      expect(batches.flatMap((frame) => frame.records)).toEqual(records);
      expect(frames.find((frame) => frame.type === 'job.end')?.sha256).toBe(sha256);
    }
  });

  it('refuses a record larger than a batch may be, by its UTF-8 size, naming its key', async () => {
    const line = JSON.stringify(records[1]);
    // Fewer characters than the cap, more bytes.
    const cap = line.length + 1;
    expect(Buffer.byteLength(line)).toBeGreaterThan(cap);
    for (const adapter of [
      plainAdapter([records[1]]),
      serialisingAdapter([{ lines: [line], bytes: [Buffer.byteLength(line)] }]),
    ]) {
      const { error } = await run(adapter, cap);
      expect(error?.code).toBe('SDR_ERR_RECORD_TOO_LARGE');
      expect(error?.message).toContain('Ünïcødé ✓ 😀');
    }
  });

  it('fails the attempt on a record without a string kind and key', async () => {
    for (const bad of [{ kind: 'test.table' }, { kind: 1, key: 'k' }, null, 'text']) {
      const { error } = await run(plainAdapter([records[0], bad]));
      expect(error?.code).toBe('SDR_ERR_SOURCE_FAILED');
      expect(error?.message).toContain('without a string kind and key');
    }
  });
});
