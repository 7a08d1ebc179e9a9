import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectAllCommittedOnce, resultDigest } from '../support/fault-assertions.js';
import { eventually, Fleet } from '../support/fleet.js';
import { PgFixture } from '../support/pg-fixture.js';
import { scaled } from '../support/wait.js';
import { RedisServer } from '../support/redis-server.js';

// Issue 13 (2, 3, 5): Redis restarted without persistence forgot accepted jobs and nothing re-sent them;
// reconciliation (sync.request / sync.report) makes the cloud re-send what the queue forgot. Redis killed
// with AOF on comes back with its queue (up to a second of writes lost, which reconciliation covers). A
// Redis that may evict keys is refused at start. Each test has its own redis-server on its own port.

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
      redis = await new RedisServer(['--maxmemory-policy', 'noeviction']).start();
      fleet = await Fleet.start({
        connectionsYaml: fixture.connectionYaml(),
        redisUrl: redis.url,
        env: {
          ...fixture.secretEnv,
          SDR_CONCURRENCY: '1',
          SDR_BATCH_MAX_RECORDS: '2',
          SDR_JOB_LOCK_MS: '2000',
          SDR_JOB_STALLED_INTERVAL_MS: '1000',
          SDR_JOB_MAX_STALLED_COUNT: '5',
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
      expect(new Set(jobs.map(resultDigest)).size).toBe(1);
      const redisBack = fleet.processes[0]?.lines.filter((line) =>
        String(line.msg).includes('answers again'),
      );
      expect(redisBack?.length).toBeGreaterThanOrEqual(1);
    },
    scaled(8 * 60_000),
  );
});

describe('Redis killed with SIGKILL, AOF on', () => {
  it(
    'comes back with its queue mid-run: every job commits once, none lost or stuck',
    async () => {
      redis = await new RedisServer([
        '--maxmemory-policy',
        'noeviction',
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
      ]).start();
      fleet = await Fleet.start({
        connectionsYaml: fixture.connectionYaml(),
        redisUrl: redis.url,
        env: {
          ...fixture.secretEnv,
          SDR_CONCURRENCY: '2',
          SDR_BATCH_MAX_RECORDS: '2',
          SDR_JOB_LOCK_MS: '2000',
          SDR_JOB_STALLED_INTERVAL_MS: '1000',
          SDR_JOB_MAX_STALLED_COUNT: '5',
        },
        cloud: { heartbeatIntervalMs: 1_000, reconcileIntervalMs: 1_500, ackDelayMs: 100 },
      });
      const f = fleet;
      f.startInstance();
      await f.waitForInstances(1);
      for (let i = 0; i < 12; i++) await f.submit('pg');
      await eventually(
        async () => ((await f.jobs()).some((job) => job.state === 'committed') ? true : undefined),
        180_000,
        'a first job committed',
      );
      await redis.kill();
      await redis.start();
      expectAllCommittedOnce(await f.waitAllFinal(5 * 60_000), 12);
      // The outage is logged once and its end once, not once per client or per retry.
      const lines = f.processes[0]!.lines.map((line) => String(line.msg));
      expect(lines.filter((line) => line.includes('is unreachable')).length).toBe(1);
      expect(lines.filter((line) => line.includes('answers again')).length).toBe(1);
    },
    scaled(8 * 60_000),
  );
});

describe('Redis down while the runtime runs', () => {
  it(
    'rejects job requests with SDR_ERR_QUEUE_UNAVAILABLE, takes the job once Redis is back, and SIGTERM exits within the drain time while Redis is down',
    async () => {
      redis = await new RedisServer(['--maxmemory-policy', 'noeviction']).start();
      fleet = await Fleet.start({
        connectionsYaml: fixture.connectionYaml(),
        redisUrl: redis.url,
        env: { ...fixture.secretEnv, SDR_DRAIN_TIMEOUT_MS: '2000' },
        cloud: { heartbeatIntervalMs: 1_000, reconcileIntervalMs: 1_500 },
      });
      const f = fleet;
      const runtime = f.startInstance();
      await f.waitForInstances(1);
      const outages = () =>
        runtime.lines.filter((line) => String(line.msg).includes('is unreachable')).length;
      await redis.kill();
      await eventually(async () => (outages() === 1 ? true : undefined), 60_000, 'the outage logged');
      // Refused at once, retryably: the cloud keeps it pending with the reason instead of losing it.
      const jobId = await f.submit('pg');
      const refused = await eventually(
        async () => {
          const job = (await f.jobs()).find((j) => j.jobId === jobId) as
            { state: string; lastError?: { code: string } } | undefined;
          return job?.lastError?.code === 'SDR_ERR_QUEUE_UNAVAILABLE' ? job : undefined;
        },
        60_000,
        'the job refused with SDR_ERR_QUEUE_UNAVAILABLE',
      );
      expect(refused.state).toBe('pending');
      await redis.start();
      expectAllCommittedOnce(await f.waitAllFinal(3 * 60_000), 1);
      // Down again, then SIGTERM: the drain does not wait for a Redis that never answers.
      await redis.kill();
      await eventually(async () => (outages() === 2 ? true : undefined), 60_000, 'the second outage logged');
      expect(await runtime.stop('SIGTERM', 2_000 + 15_000)).toBe(0);
    },
    scaled(6 * 60_000),
  );
});

describe('Redis that may evict keys', () => {
  it(
    'is refused at start: exit 78 with a line naming the fix, no job taken',
    async () => {
      redis = await new RedisServer(['--maxmemory-policy', 'allkeys-lru']).start();
      fleet = await Fleet.start({
        connectionsYaml: fixture.connectionYaml(),
        redisUrl: redis.url,
        env: { ...fixture.secretEnv },
        cloud: { heartbeatIntervalMs: 1_000 },
      });
      const runtime = fleet.startInstance();
      expect(await runtime.exited()).toBe(78);
      const fatal = runtime.lines.find((line) => String(line.msg).includes('maxmemory-policy allkeys-lru'));
      expect(String(fatal?.msg)).toContain('CONFIG SET maxmemory-policy noeviction');
      expect(runtime.lines.filter((line) => String(line.msg).includes('extraction started'))).toEqual([]);
    },
    scaled(180_000),
  );
});
