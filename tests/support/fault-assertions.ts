import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { CloudJob } from '../../scripts/local-stack.js';

/**
 * A record as JSON with the one live measure of a crawl left out: the database record's `sizeBytes`
 * (pg_database_size) moves by the ~160 KB relation-cache init file whenever other DDL on the shared server
 * invalidates it, so two correct crawls minutes apart can differ there and nowhere else.
 */
export function withoutLiveSize(record: { kind?: unknown }): string {
  if (record.kind !== 'database') return JSON.stringify(record);
  const { sizeBytes: _live, ...rest } = record as Record<string, unknown>;
  return JSON.stringify(rest);
}

/**
 * A committed result as record count and content hash, without the live size (`withoutLiveSize`). Every
 * other byte, and the order of records, still counts: a doubled or partial result differs here.
 */
export function resultDigest(job: CloudJob): string {
  if (!job.result) return 'no result';
  const lines = readFileSync(job.result.path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => withoutLiveSize(JSON.parse(line) as { kind?: unknown }));
  expect(lines.length, `${job.jobId}: records in its result file`).toBe(job.result.records);
  return `${lines.length}/${createHash('sha256').update(lines.join('\n')).digest('hex')}`;
}

/**
 * Every job committed, each with the one result the fixture gives (same records, in the same order): none
 * failed, none lost, none stuck, none committed with a different (doubled or partial) result.
 */
export function expectAllCommittedOnce(jobs: readonly CloudJob[], count: number): void {
  expect(jobs).toHaveLength(count);
  const states = jobs.map((job) => `${job.state}${job.error ? ` ${job.error.code}` : ''}`);
  expect(states.filter((state) => state !== 'committed')).toEqual([]);
  expect(new Set(jobs.map(resultDigest)).size).toBe(1);
}
