/**
 * Part of `npm run bench:runtime` (alone: `npm run bench:isolation`): what job isolation costs per job.
 * Each job's extraction runs in a worker thread (SDR_JOB_ISOLATION=worker, the default), reused for up to
 * SDR_JOB_WORKER_MAX_JOBS jobs; `worker per job` (SDR_JOB_WORKER_MAX_JOBS=1) starts a V8 isolate and loads
 * the adapter's module for every job; `none` runs it in the daemon.
 *
 * 1. End to end: one runtime process and the reference cloud, SDR_CONCURRENCY=1, SDR_BENCH_ISOLATION_JOBS
 *    (default 30) small PostgreSQL jobs after two warm-up jobs, per mode: jobs/s, wall time and the runtime
 *    process's CPU per job. SDR_BENCH_COMPILED=1 runs the compiled runtime (what the image ships).
 * 2. The sandbox alone, in this process: the same extraction through `sandboxed()` and in-process, one at
 *    a time, median per job: the worker start without the queue, tunnel and cloud around it.
 * The machine's load average is recorded with every number.
 */
import { loadavg } from 'node:os';
import { compiledRuntime, printTable, writeResults } from '../harness.js';
import { createPostgresAdapter } from '../../adapters/postgres/index.js';
import type { AdapterContext, SourceConnection } from '../../adapters/types.js';
import { sandboxed } from '../../runtime/job-sandbox.js';
import { isFinal } from '../../scripts/local-stack.js';
import { peers } from '../../tests/peers/endpoints.js';
import { Fleet } from '../../tests/support/fleet.js';
import { PgFixture } from '../../tests/support/pg-fixture.js';

const JOBS = Number(process.env.SDR_BENCH_ISOLATION_JOBS ?? '30');
const SANDBOX_RUNS = Number(process.env.SDR_BENCH_ISOLATION_RUNS ?? '20');
const compiled = process.env.SDR_BENCH_COMPILED === '1';
const load = () => loadavg()[0]!.toFixed(1);

async function untilFinal(fleet: Fleet, count: number): Promise<void> {
  for (;;) {
    const jobs = await fleet.jobs();
    if (jobs.length >= count && jobs.every(isFinal)) {
      const bad = jobs.filter((job) => job.state !== 'committed');
      if (bad.length > 0) throw new Error(`bench jobs did not commit: ${JSON.stringify(bad[0])}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The modes compared: their runtime settings. */
const MODES = {
  none: { SDR_JOB_ISOLATION: 'none' },
  'worker (reused)': { SDR_JOB_ISOLATION: 'worker' },
  'worker per job': { SDR_JOB_ISOLATION: 'worker', SDR_JOB_WORKER_MAX_JOBS: '1' },
} as const;
type Mode = keyof typeof MODES;

async function endToEnd(fixture: PgFixture, mode: Mode) {
  const fleet = await Fleet.start({
    connectionsYaml: fixture.connectionYaml(),
    redisUrl: peers.redisUrl,
    env: {
      ...fixture.secretEnv,
      ...MODES[mode],
      SDR_CONCURRENCY: '1',
      SDR_BATCH_MAX_RECORDS: '500',
      SDR_LOG_LEVEL: 'warn',
    },
    cloud: { recordFrames: false },
  });
  try {
    const runtime = fleet.startInstance({}, compiled ? { compiledEntry: compiledRuntime() } : {});
    await fleet.waitForInstances(1);
    // Warm-up: the first jobs load modules and open pools that later jobs reuse.
    for (let i = 0; i < 2; i++) await fleet.submit('pg');
    await untilFinal(fleet, 2);
    const loadBefore = load();
    const cpuBefore = runtime.cpuSeconds() ?? NaN;
    const started = process.hrtime.bigint();
    for (let i = 0; i < JOBS; i++) await fleet.submit('pg');
    await untilFinal(fleet, JOBS + 2);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuSeconds = (runtime.cpuSeconds() ?? NaN) - cpuBefore;
    const records = (await fleet.jobs())[0]?.result?.records ?? 0;
    return { seconds, cpuSeconds, records, load: `${loadBefore} → ${load()}` };
  } finally {
    await fleet.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function sandboxAlone(fixture: PgFixture) {
  const inProcess = createPostgresAdapter();
  const reused = sandboxed(inProcess, { maxOldSpaceMb: 256, workerMaxJobs: 50 });
  const perJob = sandboxed(inProcess, { maxOldSpaceMb: 256, workerMaxJobs: 1 });
  const connection: SourceConnection = {
    name: 'pg',
    type: 'postgres',
    host: fixture.server.host,
    port: fixture.server.port,
    database: fixture.database,
    options: { sslmode: 'disable' },
    credentials: { user: fixture.user, password: fixture.password },
  };
  const context: AdapterContext = {
    signal: new AbortController().signal,
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined },
    warn: () => undefined,
  };
  const timeOne = async (adapter: typeof inProcess | typeof reused): Promise<number> => {
    const started = process.hrtime.bigint();
    const options = adapter.parseOptions({}, 'pg') as never;
    for await (const record of adapter.extract(connection, options, context)) void record;
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  const result: Record<string, { medianMs: number; load: string }> = {};
  for (const [mode, adapter] of [
    ['none', inProcess],
    ['worker (reused)', reused],
    ['worker per job', perJob],
  ] as const) {
    await timeOne(adapter);
    const loadBefore = load();
    const times: number[] = [];
    for (let i = 0; i < SANDBOX_RUNS; i++) times.push(await timeOne(adapter));
    result[mode] = { medianMs: median(times), load: `${loadBefore} → ${load()}` };
  }
  return result;
}

const fixture = await PgFixture.create('sdr_bench_iso', 3);
try {
  const runs = [];
  for (const mode of Object.keys(MODES) as Mode[])
    runs.push({ isolation: mode, ...(await endToEnd(fixture, mode)) });
  const perJob = (seconds: number) => (seconds / JOBS) * 1_000;
  const none = runs[0]!;
  const rows = runs.map((run) => ({
    isolation: run.isolation,
    jobs: JOBS,
    'records/job': run.records,
    'wall s': run.seconds,
    'jobs/s': JOBS / run.seconds,
    'ms/job': perJob(run.seconds),
    'overhead ms/job': perJob(run.seconds) - perJob(none.seconds),
    'runtime CPU ms/job': perJob(run.cpuSeconds),
    'load (1 min)': run.load,
  }));
  printTable(
    `job isolation end to end: runtime process (${compiled ? 'compiled' : 'tsx'}), concurrency 1`,
    rows,
  );
  const alone = await sandboxAlone(fixture);
  const sandboxRows = (Object.keys(MODES) as Mode[]).map((mode) => ({
    isolation: mode,
    runs: SANDBOX_RUNS,
    'median ms/extraction': alone[mode]!.medianMs,
    'overhead ms': alone[mode]!.medianMs - alone.none!.medianMs,
    'load (1 min)': alone[mode]!.load,
  }));
  printTable('job isolation alone: one extraction through sandboxed() vs in-process (tsx)', sandboxRows);
  console.log(
    `\nwrote ${writeResults('runtime-isolation', { compiled, endToEnd: rows, sandboxAlone: sandboxRows })}`,
  );
} finally {
  await fixture.drop();
}
process.exit(0);
