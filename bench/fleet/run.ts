/**
 * The fleet benchmark: 200 small jobs (a 3-table PostgreSQL catalog each) through 1, 2 and 3 runtime
 * processes (compiled, as the image runs them) of one agent token on one Redis queue, with the reference cloud in this process. For each
 * fleet size: jobs/s from the first submission to the last commit, and the dispatch latency of every
 * job from its submission (POST /v1/agents/:id/jobs) to the cloud receiving `job.accepted`, and to its
 * first `job.batch`. Prints a table and writes bench/results/fleet.json.
 *
 *   npm run bench:fleet -- [--jobs 200] [--instances 1,2,3] [--concurrency 5]
 *
 * Needs the test PostgreSQL and Redis (bash tests/peers/postgres.sh; bash tests/peers/redis.sh).
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { peers } from '../../tests/peers/endpoints.js';
import { Fleet } from '../../tests/support/fleet.js';
import { PgFixture } from '../../tests/support/pg-fixture.js';
import { compiledRuntime, printTable, writeResults } from '../harness.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '200' },
    instances: { type: 'string', default: '1,2,3' },
    concurrency: { type: 'string', default: '5' },
  },
});
const jobCount = Number(values.jobs);
const fleetSizes = values.instances.split(',').map(Number);

/** The value below which `p` of the sorted samples lie (nearest rank). */
function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

interface Timing {
  submittedAt: number;
  acceptedAt?: number;
  firstBatchAt?: number;
}

async function measure(fixture: PgFixture, instances: number) {
  const timings = new Map<string, Timing>();
  const fleet = await Fleet.start({
    connectionsYaml: fixture.connectionYaml(),
    redisUrl: peers.redisUrl,
    env: { ...fixture.secretEnv, SDR_LOG_LEVEL: 'warn', SDR_CONCURRENCY: values.concurrency },
    cloud: {
      recordFrames: false,
      // Times each job's first job.accepted and job.batch as the cloud receives them, before applying.
      onFrame: (_agentId, text) => {
        const { type, requestId } = JSON.parse(text) as { type?: string; requestId?: string };
        if (requestId === undefined) return;
        // The request can be accepted before the submitting HTTP call has returned its id: keep the frame's
        // time under the id and let the submission fill in when it was sent.
        let timing = timings.get(requestId);
        if (!timing) timings.set(requestId, (timing = { submittedAt: NaN }));
        if (type === 'job.accepted') timing.acceptedAt ??= performance.now();
        if (type === 'job.batch') timing.firstBatchAt ??= performance.now();
      },
    },
  });
  try {
    // The compiled runtime, as the image runs it.
    for (let i = 0; i < instances; i++) fleet.startInstance({}, { compiledEntry: compiledRuntime() });
    await fleet.waitForInstances(instances, 300_000);
    const load = loadavg()[0] ?? NaN;
    const started = performance.now();
    for (let i = 0; i < jobCount; i++) {
      const submittedAt = performance.now();
      const jobId = await fleet.submit('pg');
      timings.set(jobId, { ...timings.get(jobId), submittedAt });
    }
    const jobs = await fleet.waitAllFinal(20 * 60_000);
    const wall = (performance.now() - started) / 1000;
    const notCommitted = jobs.filter((job) => job.state !== 'committed');
    if (notCommitted.length > 0) {
      throw new Error(`${notCommitted.length} jobs did not commit: ${notCommitted[0]?.state}`);
    }
    const accepted = [...timings.values()].flatMap((t) =>
      t.acceptedAt ? [t.acceptedAt - t.submittedAt] : [],
    );
    const firstBatch = [...timings.values()].flatMap((t) =>
      t.firstBatchAt ? [t.firstBatchAt - t.submittedAt] : [],
    );
    const perInstance = await fleet.instances();
    return {
      instances,
      jobs: jobCount,
      wallSeconds: wall,
      jobsPerSecond: jobCount / wall,
      acceptedP50Ms: percentile(accepted, 50),
      acceptedP99Ms: percentile(accepted, 99),
      firstBatchP50Ms: percentile(firstBatch, 50),
      firstBatchP99Ms: percentile(firstBatch, 99),
      timed: Math.min(accepted.length, firstBatch.length),
      load1mAtStart: load,
      load1mAtEnd: loadavg()[0] ?? NaN,
      connectedInstances: perInstance.length,
    };
  } finally {
    await fleet.close();
  }
}

function table(rows: readonly Awaited<ReturnType<typeof measure>>[]) {
  printTable(
    `fleet: ${jobCount} small jobs, SDR_CONCURRENCY=${values.concurrency} per instance, one token, one Redis`,
    rows.map((row) => ({
      instances: row.instances,
      'jobs/s': row.jobsPerSecond,
      'wall s': row.wallSeconds,
      'accepted p50 ms': row.acceptedP50Ms,
      'accepted p99 ms': row.acceptedP99Ms,
      '1st batch p50 ms': row.firstBatchP50Ms,
      '1st batch p99 ms': row.firstBatchP99Ms,
      'load 1m start/end': `${row.load1mAtStart.toFixed(1)}/${row.load1mAtEnd.toFixed(1)}`,
    })),
  );
}

const fixture = await PgFixture.create('sdr_fleet_bench', 3);
const rows: Awaited<ReturnType<typeof measure>>[] = [];
try {
  for (const size of fleetSizes) {
    rows.push(await measure(fixture, size));
    // Each fleet size is kept as soon as it is measured: a long run cut short still leaves its rows.
    table(rows);
    writeResults('fleet', { concurrency: Number(values.concurrency), rows });
  }
} finally {
  await fixture.drop();
}
console.log('\nwrote bench/results/fleet.json');
