import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-stack.js';
import { peers } from '../peers/endpoints.js';
import { resultDigest } from '../support/fault-assertions.js';
import { eventually, Fleet } from '../support/fleet.js';
import { PgFixture } from '../support/pg-fixture.js';
import { scaled } from '../support/wait.js';

// Redis Sentinel (tests/peers/redis-sentinel.sh): the master is killed mid-run, a replica is promoted,
// the runtimes follow it and every job commits once (reconciliation re-sends what the failover lost).

let fixture: PgFixture;
let fleet: Fleet | undefined;

async function currentMaster(): Promise<number> {
  const sentinel = new Redis({ port: peers.redisSentinel.firstPort, host: '127.0.0.1' });
  try {
    const [, port] = (await sentinel.call(
      'SENTINEL',
      'get-master-addr-by-name',
      peers.redisSentinel.master,
    )) as string[];
    return Number(port);
  } finally {
    sentinel.disconnect();
  }
}

/** Starts the peer, or brings a killed data node back as a replica; returns once a failover could succeed. */
function sentinelPeer(...args: string[]): void {
  execFileSync('bash', [join(repoRoot, 'tests/peers/redis-sentinel.sh'), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

beforeAll(async () => {
  sentinelPeer();
  fixture = await PgFixture.create('sdr_sentinel', 3);
});
afterAll(async () => {
  await fixture.drop();
});
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
  // Bring the killed node back as a replica, so the peer stays highly available for the next run.
  sentinelPeer('node');
});

describe('Redis Sentinel', () => {
  it(
    'keeps jobs flowing through a master failover: none lost, none committed twice',
    async () => {
      fleet = await Fleet.start({
        connectionsYaml: fixture.connectionYaml(),
        redisUrl: 'redis://127.0.0.1:6379',
        env: {
          ...fixture.secretEnv,
          SDR_REDIS_SENTINELS: peers.redisSentinel.sentinels,
          SDR_REDIS_SENTINEL_MASTER: peers.redisSentinel.master,
          SDR_JOB_LOCK_MS: '3000',
          SDR_JOB_STALLED_INTERVAL_MS: '1000',
          SDR_JOB_MAX_STALLED_COUNT: '10',
          SDR_BATCH_MAX_RECORDS: '3',
          SDR_CONCURRENCY: '2',
        },
        cloud: { heartbeatIntervalMs: 1_000, reconcileIntervalMs: 2_000, ackDelayMs: 40 },
      });
      fleet.startInstance();
      fleet.startInstance();
      await fleet.waitForInstances(2);
      for (let i = 0; i < 20; i++) await fleet.submit('pg');
      const f = fleet;
      await eventually(
        async () => ((await f.jobs()).some((job) => job.state === 'committed') ? true : undefined),
        180_000,
        'a first job committed',
      );
      const master = await currentMaster();
      const node = new Redis({ port: master, host: '127.0.0.1' });
      const pid = Number(/process_id:(\d+)/.exec(String(await node.call('INFO', 'server')))?.[1]);
      node.disconnect();
      process.kill(pid, 'SIGKILL');
      await eventually(
        async () => ((await currentMaster()) !== master ? true : undefined),
        60_000,
        'a replica promoted',
      );
      const jobs = await fleet.waitAllFinal(6 * 60_000);
      expect(jobs.map((job) => job.state)).toEqual(Array(20).fill('committed'));
      expect(new Set(jobs.map(resultDigest)).size).toBe(1);
    },
    scaled(10 * 60_000),
  );
});
