import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APPLICATION_NAME } from '../../adapters/postgres/session.js';
import { repoRoot } from '../../scripts/local-stack.js';
import { peers } from '../peers/endpoints.js';
import { expectAllCommittedOnce } from '../support/fault-assertions.js';
import { eventually, Fleet } from '../support/fleet.js';
import { PgFixture } from '../support/pg-fixture.js';
import { scaled } from '../support/wait.js';

// Issue 13 (6): the source (a PostgreSQL of this suite's own, tests/peers/postgres-restart.sh) goes down
// mid-run and comes back some seconds later. Running attempts fail with a retryable source error and are
// retried with backoff; every job commits once, none is lost or stuck.

const run = promisify(execFile);
const script = join(repoRoot, 'tests/peers/postgres-restart.sh');
let fixture: PgFixture;
let fleet: Fleet | undefined;

beforeAll(async () => {
  // 30 tables and slow acks: a job's crawl is paced by the credit window, so its session is still reading
  // the catalog when the server goes down (with a small catalog the crawl would finish before the stop).
  fixture = await PgFixture.create('sdr_source_restart', 30, peers.postgresRestart);
});
afterAll(async () => {
  await run('bash', [script, 'start']);
  await fixture.drop();
});
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the source restarts during jobs', () => {
  it(
    'PostgreSQL down for 6 s mid-run: 6 jobs commit exactly once after retries',
    async () => {
      fleet = await Fleet.start({
        connectionsYaml: fixture.connectionYaml(),
        redisUrl: peers.redisUrl,
        env: {
          ...fixture.secretEnv,
          SDR_BATCH_MAX_RECORDS: '3',
          SDR_CONCURRENCY: '2',
          // Backoff 1, 2, 4, 8 s: the retry window (15 s) outlasts the outage. Production's is minutes.
          SDR_JOB_ATTEMPTS: '5',
          SDR_JOB_BACKOFF_MS: '1000',
          SDR_JOB_BACKOFF_MAX_MS: '8000',
        },
        cloud: { heartbeatIntervalMs: 1_000, reconcileIntervalMs: 2_000, ackDelayMs: 200 },
      });
      const f = fleet;
      const runtime = f.startInstance();
      await f.waitForInstances(1);
      for (let i = 0; i < 6; i++) await f.submit('pg');
      // Down while a crawl's session is open (not while the job's worker is still starting, which on a
      // loaded machine can outlast the whole outage).
      await eventually(
        async () =>
          (await fixture.query(
            async (client) =>
              (
                await client.query(
                  'SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND datname = $2',
                  [APPLICATION_NAME, fixture.database],
                )
              ).rowCount,
          ))
            ? true
            : undefined,
        180_000,
        'a crawl session open on the source',
      );
      await run('bash', [script, 'stop']);
      await sleep(6_000);
      await run('bash', [script, 'start']);
      expectAllCommittedOnce(await f.waitAllFinal(5 * 60_000), 6);
      // The outage hit running jobs (their attempts failed and were retried), not only queued ones.
      const retried = runtime.lines.filter(
        (line) => String(line.msg).startsWith('attempt failed') && line.willRetry === true,
      );
      expect(retried.length).toBeGreaterThanOrEqual(1);
    },
    scaled(8 * 60_000),
  );
});
