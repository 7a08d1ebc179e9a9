import { expect } from 'vitest';
import type { CloudJob } from '../../scripts/local-stack.js';

/**
 * Every job committed, each with the one result the fixture gives (same record count and sha256): none
 * failed, none lost, none stuck, none committed with a different (doubled or partial) result.
 */
export function expectAllCommittedOnce(jobs: readonly CloudJob[], count: number): void {
  expect(jobs).toHaveLength(count);
  const states = jobs.map((job) => `${job.state}${job.error ? ` ${job.error.code}` : ''}`);
  expect(states.filter((state) => state !== 'committed')).toEqual([]);
  const digests = new Set(jobs.map((job) => `${job.result?.records}/${job.result?.sha256}`));
  expect(digests.size).toBe(1);
}
