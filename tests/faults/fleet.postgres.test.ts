import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isFinal } from '../../scripts/local-stack.js';
import { peers } from '../peers/endpoints.js';
import { expectAllCommittedOnce } from '../support/fault-assertions.js';
import { Fleet } from '../support/fleet.js';
import { PgFixture } from '../support/pg-fixture.js';
import { scaled } from '../support/wait.js';

// Real runtime processes sharing one agent token and one Redis queue, the reference cloud, a real
// PostgreSQL: the "agent is a deployment" contract of docs/protocol.md under SIGKILL and cut links.

let fixture: PgFixture;
let fleet: Fleet | undefined;

beforeAll(async () => {
  fixture = await PgFixture.create('sdr_fleet', 5);
});
afterAll(async () => {
  await fixture.drop();
});
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

const fastRecovery = {
  SDR_JOB_LOCK_MS: '2000',
  SDR_JOB_STALLED_INTERVAL_MS: '1000',
  SDR_BATCH_MAX_RECORDS: '5',
  SDR_CONCURRENCY: '3',
  SDR_LOG_LEVEL: 'info',
};

async function startFleet(env: Record<string, string> = {}, cloud: Record<string, number> = {}) {
  fleet = await Fleet.start({
    connectionsYaml: fixture.connectionYaml(),
    redisUrl: peers.redisUrl,
    env: { ...fixture.secretEnv, ...fastRecovery, ...env },
    cloud: { heartbeatIntervalMs: 1_000, reconcileIntervalMs: 2_000, ackDelayMs: 20, ...cloud },
  });
  return fleet;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('an agent deployed as several instances', () => {
  it(
    '3 instances on one token: no reconnect loop, and 60 jobs commit exactly once while one is SIGKILLed and restarted',
    async () => {
      const f = await startFleet({ SDR_JOB_MAX_STALLED_COUNT: '10' });
      for (let i = 0; i < 3; i++) f.startInstance();
      const instances = await f.waitForInstances(3);
      expect(new Set(instances.map((instance) => instance.instanceId)).size).toBe(3);
      // Nothing fails for 10 s: no instance may lose its tunnel to another (version 1 replaced them 2–3×/s).
      await sleep(10_000);
      const downs = f.processes.map(
        (p) => p.lines.filter((line) => String(line.msg).startsWith('tunnel down')).length,
      );
      expect(downs).toEqual([0, 0, 0]);

      // Slow acknowledgements while the kills happen, so each lands with jobs in flight; then fast.
      f.cloud.setAckDelay(scaled(2_000));
      for (let i = 0; i < 60; i++) await f.submit('pg');
      let midRunKills = 0;
      for (let kill = 0; kill < 3; kill++) {
        await sleep(1_000 + Math.random() * 2_000);
        if (!(await f.jobs()).every(isFinal)) midRunKills++;
        const [victim] = f.processes.splice(Math.floor(Math.random() * f.processes.length), 1);
        await victim?.stop('SIGKILL');
        f.startInstance();
      }
      f.cloud.setAckDelay(20);
      expect(midRunKills, 'kills while jobs were still running').toBe(3);
      const jobs = await f.waitAllFinal(8 * 60_000);
      expectAllCommittedOnce(jobs, 60);
    },
    scaled(12 * 60_000),
  );

  it(
    '3 instances × 2 connections: 60 jobs commit exactly once while connections are cut again and again and one instance is SIGKILLed and restarted',
    async () => {
      const f = await startFleet({ SDR_TUNNEL_CONNECTIONS: '2' }, { ackDelayMs: 30 });
      for (let i = 0; i < 3; i++) f.startInstance();
      const instances = await f.waitForInstances(3);
      expect(instances.map((instance) => instance.connections.of)).toEqual([2, 2, 2]);
      // Slow acknowledgements while the kills happen, so cuts and kills land with jobs in flight.
      f.cloud.setAckDelay(scaled(1_000));
      for (let i = 0; i < 60; i++) await f.submit('pg');
      let cuts = 0;
      const cutting = (async () => {
        for (;;) {
          const jobs = await f.jobs();
          if (jobs.every(isFinal)) return;
          if (f.cloud.dropConnection(f.agentId)) cuts++;
          await sleep(700);
        }
      })();
      for (let kill = 0; kill < 2; kill++) {
        await sleep(1_000 + Math.random() * 2_000);
        const [victim] = f.processes.splice(Math.floor(Math.random() * f.processes.length), 1);
        await victim?.stop('SIGKILL');
        f.startInstance();
      }
      f.cloud.setAckDelay(30);
      const jobs = await f.waitAllFinal(8 * 60_000);
      await cutting;
      expect(cuts).toBeGreaterThan(3);
      expectAllCommittedOnce(jobs, 60);
    },
    scaled(12 * 60_000),
  );

  it(
    'reports a job failed by the stalled-job limit to the cloud as SDR_ERR_JOB_STALLED_LIMIT',
    async () => {
      const f = await startFleet(
        { SDR_JOB_MAX_STALLED_COUNT: '0', SDR_BATCH_MAX_RECORDS: '1', SDR_CONCURRENCY: '1' },
        // Reconciliation would report the failure too, as a backstop; kept out of this test's time so
        // the queue-event report is what it checks.
        { ackDelayMs: 500, reconcileIntervalMs: 60 * 60_000 },
      );
      const first = f.startInstance();
      await f.waitForInstances(1);
      const jobId = await f.submit('pg');
      await first.waitForMessage('extraction started', 120_000);
      await first.stop('SIGKILL');
      f.processes.splice(0, 1);
      f.startInstance();
      const [job] = await f.waitAllFinal(4 * 60_000);
      expect(job).toMatchObject({ jobId, state: 'failed', error: { code: 'SDR_ERR_JOB_STALLED_LIMIT' } });
    },
    scaled(8 * 60_000),
  );
});
