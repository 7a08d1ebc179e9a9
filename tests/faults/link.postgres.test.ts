import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isFinal } from '../../scripts/local-stack.js';
import { peers } from '../peers/endpoints.js';
import { expectAllCommittedOnce } from '../support/fault-assertions.js';
import { eventually, Fleet } from '../support/fleet.js';
import { PgFixture } from '../support/pg-fixture.js';
import { scaled, timeScale } from '../support/wait.js';
import { TunnelProxy } from '../support/tunnel-proxy.js';

// Issue 13: the link between runtime and cloud fails (a TCP proxy on the tunnel): every connection
// reset again and again, a blackhole (bytes stop, sockets stay open) longer than the liveness window,
// and an uplink slow enough that one batch takes longer than three heartbeat intervals (loss path 7).

let fixture: PgFixture;
let fleet: Fleet | undefined;
let proxy: TunnelProxy | undefined;

beforeAll(async () => {
  // 20 tables: a crawl of ~50 KB, so one batch of 500 records outlasts three heartbeats at 4 KB/s.
  fixture = await PgFixture.create('sdr_link', 20);
});
afterAll(async () => {
  await fixture.drop();
});
afterEach(async () => {
  await fleet?.close();
  await proxy?.close();
  fleet = proxy = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startBehindProxy(
  env: Record<string, string>,
  cloud: { heartbeatIntervalMs?: number } = {},
): Promise<{ f: Fleet; p: TunnelProxy }> {
  fleet = await Fleet.start({
    connectionsYaml: fixture.connectionYaml(),
    redisUrl: peers.redisUrl,
    env: {
      ...fixture.secretEnv,
      SDR_JOB_LOCK_MS: '3000',
      SDR_JOB_STALLED_INTERVAL_MS: '1000',
      SDR_JOB_MAX_STALLED_COUNT: '5',
      SDR_CONCURRENCY: '2',
      ...env,
    },
    cloud: { heartbeatIntervalMs: 1_000, reconcileIntervalMs: 2_000, ackDelayMs: 20, ...cloud },
  });
  // The runtimes reach the cloud only through the proxy.
  const p = await TunnelProxy.start(fleet.env.SDR_CLOUD_URL!);
  proxy = p;
  fleet.env.SDR_CLOUD_URL = p.urlFor(fleet.env.SDR_CLOUD_URL!);
  fleet.startInstance();
  await fleet.waitForInstances(1);
  return { f: fleet, p };
}

const tunnelDowns = (f: Fleet) =>
  f.processes[0]!.lines.filter((line) => String(line.msg).startsWith('tunnel down')).length;

describe('link faults between runtime and cloud', () => {
  it(
    'connections reset again and again: 20 jobs commit exactly once',
    async () => {
      const { f, p } = await startBehindProxy({ SDR_BATCH_MAX_RECORDS: '10' });
      // Late acknowledgements keep jobs in flight across several resets, however fast the runtime.
      f.cloud.setAckDelay(scaled(150));
      for (let i = 0; i < 20; i++) await f.submit('pg');
      let drops = 0;
      for (;;) {
        const jobs = await f.jobs();
        if (jobs.every(isFinal)) break;
        if (p.dropAll() > 0) drops++;
        await sleep(1_500);
      }
      expect(drops).toBeGreaterThanOrEqual(3);
      expectAllCommittedOnce(await f.waitAllFinal(60_000), 20);
    },
    scaled(10 * 60_000),
  );

  it(
    'a blackhole longer than the liveness window: the runtime reconnects and 10 jobs commit exactly once',
    async () => {
      const { f, p } = await startBehindProxy({ SDR_BATCH_MAX_RECORDS: '10' });
      for (let i = 0; i < 10; i++) await f.submit('pg');
      await eventually(
        async () => ((await f.jobs()).some((job) => job.state === 'committed') ? true : undefined),
        180_000,
        'a first job committed',
      );
      p.blackhole(true);
      // Silent, not closed: only liveness can tell (3 heartbeats of 1 s), and it must.
      await eventually(
        async () => (tunnelDowns(f) > 0 ? true : undefined),
        120_000,
        'the tunnel declared down',
      );
      p.blackhole(false);
      expectAllCommittedOnce(await f.waitAllFinal(5 * 60_000), 10);
    },
    scaled(10 * 60_000),
  );

  it(
    'an uplink so slow that one batch takes longer than three heartbeats: the job commits, the link is never declared dead',
    async () => {
      // Heartbeats and the uplink's rate both follow the time scale: a test process starved of CPU must
      // not miss heartbeats (the runtime rightly calls that a dead link), and a batch must still take
      // longer than three of them (4 KB/s with 1 s heartbeats on a quiet machine).
      const heartbeatMs = scaled(1_000);
      const rate = Math.floor(4_096 / timeScale());
      const { f, p } = await startBehindProxy(
        { SDR_BATCH_MAX_RECORDS: '500', SDR_CONCURRENCY: '1' },
        { heartbeatIntervalMs: heartbeatMs },
      );
      p.slowUplink(rate);
      await f.submit('pg');
      const jobs = await f.waitAllFinal(5 * 60_000);
      expectAllCommittedOnce(jobs, 1);
      // The one batch (the whole crawl) really was slow: longer than three heartbeat intervals.
      expect(jobs[0]!.result!.bytes / rate).toBeGreaterThan((3 * heartbeatMs) / 1_000);
      expect(tunnelDowns(f)).toBe(0);
    },
    scaled(10 * 60_000),
  );
});
