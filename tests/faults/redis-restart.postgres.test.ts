import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../support/fleet.js';
import { eventually } from '../support/fleet.js';
import { PgFixture } from '../support/pg-fixture.js';
import { RedisServer } from '../support/redis-server.js';

// Issue 13 (2): Redis restarted without persistence forgot accepted jobs and nothing re-sent them.
// Reconciliation (sync.request / sync.report) makes the cloud re-send what the queue forgot.

let fixture: PgFixture;
let fleet: Fleet | undefined;
let redis: RedisServer | undefined;

beforeAll(async () => {
  fixture = await PgFixture.create('sdr_redis_restart', 3);
});
afterAll(async () => {
  await fixture.drop();
});
afterEach(async () => {
  await fleet?.close();
  await redis?.kill();
  fleet = redis = undefined;
});

describe('Redis restarted without persistence', () => {
  it(
    'loses no job: the cloud re-sends what the queue forgot, and every job commits once',
    async () => {
      redis = await new RedisServer(16_393, ['--maxmemory-policy', 'noeviction']).start();
      fleet = await Fleet.start({
        connectionsYaml: fixture.connectionYaml(),
        redisUrl: redis.url,
        env: {
          ...fixture.secretEnv,
          SDR_CONCURRENCY: '1',
          SDR_BATCH_MAX_RECORDS: '2',
          SDR_JOB_LOCK_MS: '2000',
          SDR_JOB_STALLED_INTERVAL_MS: '1000',
        },
        cloud: { heartbeatIntervalMs: 1_000, reconcileIntervalMs: 1_500, ackDelayMs: 150 },
      });
      fleet.startInstance();
      await fleet.waitForInstances(1);
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push(await fleet.submit('pg'));
      const f = fleet;
      // Every request accepted into the queue (most still waiting: one runs at a time) …
      await eventually(
        async () =>
          (await f.jobs()).every((job) => !['pending', 'sent'].includes(job.state)) ? true : undefined,
        120_000,
        'every job accepted',
      );
      // … then Redis restarts empty.
      await redis.kill();
      await redis.start();
      const jobs = await fleet.waitAllFinal(5 * 60_000);
      expect(jobs.map((job) => job.state)).toEqual(Array(6).fill('committed'));
      expect(new Set(jobs.map((job) => job.result?.sha256)).size).toBe(1);
      const redisBack = fleet.processes[0]?.lines.filter((line) =>
        String(line.msg).includes('answers again'),
      );
      expect(redisBack?.length).toBeGreaterThanOrEqual(1);
    },
    8 * 60_000,
  );
});
