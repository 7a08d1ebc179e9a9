import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isFinal } from '../../scripts/local-stack.js';
import { peers } from '../peers/endpoints.js';
import { CloudProcess } from '../support/cloud-process.js';
import { expectAllCommittedOnce } from '../support/fault-assertions.js';
import { eventually, Fleet } from '../support/fleet.js';
import { PgFixture } from '../support/pg-fixture.js';
import { scaled } from '../support/wait.js';

// Issue 13 (4): the cloud killed with SIGKILL mid-run and started again on its data directory. Attempts
// it ended are re-run without spending the jobs' retry budgets; every job commits once.

let fixture: PgFixture;
let fleet: Fleet | undefined;
let cloud: CloudProcess | undefined;

beforeAll(async () => {
  fixture = await PgFixture.create('sdr_cloud_kill', 5);
});
afterAll(async () => {
  await fixture.drop();
});
afterEach(async () => {
  await fleet?.close();
  await cloud?.kill();
  fleet = cloud = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the cloud killed with SIGKILL', () => {
  it(
    'three times during a run of 15 jobs: every job commits exactly once, none fails for it',
    async () => {
      cloud = await CloudProcess.start(mkdtempSync(join(tmpdir(), 'sdr-cloud-kill-')), {
        CLOUD_HEARTBEAT_MS: '1000',
        CLOUD_RECONCILE_MS: '2000',
        // Acks come late, so a kill finds attempts with batches in flight.
        CLOUD_ACK_DELAY_MS: '150',
      });
      fleet = await Fleet.start({
        connectionsYaml: fixture.connectionYaml(),
        redisUrl: peers.redisUrl,
        cloudProcess: cloud,
        env: {
          ...fixture.secretEnv,
          SDR_JOB_LOCK_MS: '3000',
          SDR_JOB_STALLED_INTERVAL_MS: '1000',
          SDR_JOB_MAX_STALLED_COUNT: '5',
          SDR_BATCH_MAX_RECORDS: '3',
          SDR_CONCURRENCY: '2',
          // One attempt: a cloud restart must not spend it.
          SDR_JOB_ATTEMPTS: '1',
        },
      });
      const f = fleet;
      const runtime = f.startInstance();
      await f.waitForInstances(1);
      for (let i = 0; i < 15; i++) await f.submit('pg');
      const c = cloud;
      const started = () => runtime.lines.filter((line) => line.msg === 'extraction started').length;
      // Jobs the cloud had not finished when each kill came: a kill after the last commit proves nothing.
      const unfinishedAtKill: number[] = [];
      for (let kill = 0; kill < 3; kill++) {
        const startedBefore = started();
        await eventually(
          async () => started() > startedBefore || undefined,
          180_000,
          kill === 0 ? 'an extraction started' : `an extraction started after kill ${kill}`,
        );
        await sleep(300 + kill * 400);
        unfinishedAtKill.push((await f.jobs()).filter((job) => !isFinal(job)).length);
        await c.kill();
        await sleep(500);
        await c.start();
      }
      const jobs = await eventually(
        async () => {
          const all = await f.jobs();
          return all.length === 15 && all.every((job) => job.state === 'committed') ? all : undefined;
        },
        6 * 60_000,
        'every job committed',
        async () =>
          JSON.stringify(
            (await f.jobs())
              .map((job) => [job.state, job.error?.code])
              .filter(([state]) => state !== 'committed'),
          ),
      );
      expect(
        unfinishedAtKill.every((count) => count > 0),
        `unfinished jobs at each kill: ${unfinishedAtKill.join(', ')}`,
      ).toBe(true);
      expectAllCommittedOnce(jobs, 15);
      expect(
        runtime.lines.filter((line) => line.code === 'SDR_ERR_ATTEMPT_REFUSED' && line.willRetry === false),
      ).toEqual([]);
    },
    scaled(10 * 60_000),
  );
});
