import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peers } from '../peers/endpoints.js';
import { Fleet } from '../support/fleet.js';
import { PgFixture } from '../support/pg-fixture.js';

// Redis Cluster (tests/peers/redis-cluster.sh: three masters): two runtime processes on one agent token
// run jobs end to end through a queue on the cluster. BullMQ needs every key of a queue in one hash slot;
// the {sdr} hash tag of the prefix gives that, and these jobs would fail with CROSSSLOT without it.

const clusterPort = Number(process.env.SDR_TEST_REDIS_CLUSTER_PORT ?? '7000');
const clusterNodes = [0, 1, 2].map((i) => `127.0.0.1:${clusterPort + i}`).join(',');

let fixture: PgFixture;
let fleet: Fleet | undefined;

beforeAll(async () => {
  fixture = await PgFixture.create('sdr_cluster', 3);
});
afterAll(async () => {
  await fleet?.close();
  await fixture.drop();
});

describe('a runtime on Redis Cluster', () => {
  it('runs 12 jobs through two instances, each committed once, with the queue on one slot', async () => {
    fleet = await Fleet.start({
      connectionsYaml: fixture.connectionYaml(),
      redisUrl: peers.redisUrl,
      env: {
        ...fixture.secretEnv,
        SDR_REDIS_CLUSTER_NODES: clusterNodes,
        SDR_BATCH_MAX_RECORDS: '4',
        SDR_CONCURRENCY: '3',
      },
      cloud: { heartbeatIntervalMs: 1_000, reconcileIntervalMs: 5_000 },
    });
    const queueName = fleet.env.SDR_QUEUE_NAME ?? '';
    fleet.startInstance();
    fleet.startInstance();
    await fleet.waitForInstances(2, 180_000);
    for (let i = 0; i < 12; i++) await fleet.submit('pg');
    const jobs = await fleet.waitAllFinal(4 * 60_000);

    expect(jobs.map((job) => `${job.state}${job.error ? ` ${job.error.code}` : ''}`)).toEqual(
      Array(12).fill('committed'),
    );
    expect(new Set(jobs.map((job) => `${job.result?.records}/${job.result?.sha256}`)).size).toBe(1);
    // Both instances ran jobs from the one queue on the cluster.
    const ran = fleet.processes.map(
      (p) => p.lines.filter((line) => String(line.msg).startsWith('extraction started')).length,
    );
    expect(ran.every((count) => count > 0)).toBe(true);

    const cluster = new Cluster([{ host: '127.0.0.1', port: clusterPort }]);
    try {
      await new Promise((resolve) => cluster.once('ready', resolve));
      const keys = (
        await Promise.all(cluster.nodes('master').map((node) => node.keys(`{sdr}:${queueName}:*`)))
      ).flat();
      expect(keys.length).toBeGreaterThan(0);
      const slots = await Promise.all(keys.map((key) => cluster.call('CLUSTER', 'KEYSLOT', key)));
      expect(new Set(slots).size).toBe(1);
    } finally {
      cluster.disconnect();
    }
  }, 360_000);
});
