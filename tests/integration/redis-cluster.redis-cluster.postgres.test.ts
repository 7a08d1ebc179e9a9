import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeProcess } from '../../scripts/runtime-process.js';
import { peers } from '../peers/endpoints.js';
import { expectAllCommittedOnce } from '../support/fault-assertions.js';
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

    // By content less the database's live size, as the fault tests compare: the sha256 the cloud reports
    // covers pg_database_size, which the server's own relcache init file can move between two jobs.
    expectAllCommittedOnce(jobs, 12);
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

  it('refuses to start when any one master evicts: exit 78 naming that node', async () => {
    // A keyless CONFIG GET reaches one random node; the check must read every master's policy.
    const evicting = new Redis({ host: '127.0.0.1', port: clusterPort + 2 });
    await evicting.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const runtime = new RuntimeProcess({
      // No cloud is needed: the Redis check comes before the tunnel.
      SDR_CLOUD_URL: 'ws://127.0.0.1:9/v1/tunnel',
      SDR_ALLOW_INSECURE_TUNNEL: 'true',
      SDR_AGENT_TOKEN: 't',
      SDR_CLOUD_PUBLIC_KEY: 'MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=',
      SDR_CONNECTIONS_FILE: '/dev/null',
      SDR_REDIS_CLUSTER_NODES: clusterNodes,
      SDR_QUEUE_NAME: `cluster-preflight-${process.pid}`,
      SDR_HEALTH_PORT: '0',
    }).start();
    try {
      expect(await runtime.exited()).toBe(78);
      const said = runtime.rawOutput.join('');
      expect(said).toContain('maxmemory-policy allkeys-lru');
      expect(said).toContain(`(node 127.0.0.1:${clusterPort + 2})`);
    } finally {
      await runtime.stop('SIGKILL');
      await evicting.config('SET', 'maxmemory-policy', 'noeviction');
      evicting.disconnect();
    }
  }, 300_000);
});
