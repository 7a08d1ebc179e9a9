import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { MetadataRecord, SourceAdapter } from '../../adapters/types.js';
import { JobAttempt } from '../../runtime/job-runner.js';
import { acknowledgingLink, runnerDeps } from '../support/runner-deps.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const RECORDS = 3_000;
const CHECKED = 2_000;

/**
 * A job's memory must not grow with the records it has already sent: a 10k-table PostgreSQL job under
 * the image's 128 MB heap cap died of "JavaScript heap out of memory" at 63,000-106,000 records because
 * every record stayed reachable until the attempt ended.
 */
describe('JobAttempt memory', () => {
  it('keeps no record the cloud has acknowledged reachable while the extraction goes on', async () => {
    const sent = new Array<WeakRef<MetadataRecord>>();
    let aliveWhenChecked = -1;
    const adapter: SourceAdapter<unknown> = {
      type: 'many',
      parseOptions: () => ({}),
      check: async () => ({}),
      async *extract() {
        for (let i = 0; i < RECORDS; i++) {
          if (i === RECORDS - 1) {
            // Every batch before this one has been sent and acknowledged: nothing should hold its records.
            await new Promise((resolve) => setImmediate(resolve));
            gc();
            aliveWhenChecked = sent.slice(0, CHECKED).filter((ref) => ref.deref() !== undefined).length;
          }
          const record: MetadataRecord = { kind: 'test.record', key: `r${i}`, payload: 'x'.repeat(200) + i };
          sent.push(new WeakRef(record));
          yield record;
        }
      },
    };
    const running: { attempt?: JobAttempt } = {};
    const deps = runnerDeps(
      { many: adapter },
      {
        link: acknowledgingLink(running, RECORDS),
        batchMaxRecords: 100,
      },
    );
    const attempt = new JobAttempt(deps, { requestId: 'job-1', connection: 'many', options: {} }, 1);
    running.attempt = attempt;
    await expect(attempt.run()).resolves.toMatchObject({ records: RECORDS });
    expect(aliveWhenChecked).toBe(0);
  });
});
