/**
 * Part of `npm run bench:runtime`: what the compiled runtime (as the image runs it) costs before any job —
 * time to print a configuration error, and resident memory when idle with one PostgreSQL connection, the
 * tunnel up and Redis connected. With SDR_BENCH_BASELINE_REF=<git ref> the same is measured for that
 * commit's build, side by side (e.g. the commit before SDKs were loaded lazily).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledRuntime, printTable, writeResults } from '../harness.js';
import { createCloud } from '../../cloud/index.js';
import { cloudApi, repoRoot } from '../../scripts/local-stack.js';
import { RuntimeProcess } from '../../scripts/runtime-process.js';
import { PgFixture } from '../../tests/support/pg-fixture.js';

const runs = Number(process.env.SDR_BENCH_RUNS ?? '5');
const nodeOptions = (process.env.SDR_BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
const idleSettleMs = 8_000;

/** Compiles `ref`'s sources (git archive, so the worktree is untouched) and returns its runtime entry. */
function compiledAt(ref: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sdr-baseline-'));
  execFileSync('sh', ['-c', `git archive ${ref} | tar -x -C ${dir}`], { cwd: repoRoot });
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(
    process.execPath,
    [
      join(repoRoot, 'node_modules/typescript/bin/tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      join(dir, 'dist'),
    ],
    { cwd: dir, stdio: 'inherit' },
  );
  return join(dir, 'dist/runtime/main.js');
}

/** Wall time from spawn to exit of a runtime given no settings at all, which must exit 78. */
async function timeToConfigError(entry: string): Promise<number> {
  const started = process.hrtime.bigint();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [...nodeOptions, entry], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
      stdio: 'ignore',
    });
    child.once('exit', resolve);
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (code !== 78) throw new Error(`${entry} exited ${code} on a missing configuration, not 78`);
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function rssOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** RSS of the runtime idling with one PostgreSQL connection, the tunnel up and Redis connected. */
async function idleRss(entry: string, fixture: PgFixture): Promise<{ rssMb: number; peakMb: number }> {
  const workDir = mkdtempSync(join(tmpdir(), 'sdr-bench-idle-'));
  const cloud = await createCloud({ dataDir: join(workDir, 'cloud'), logger: false });
  const { token } = await cloudApi<{ token: string }>(cloud, 'POST', '/v1/agents', { name: 'idle' });
  const connectionsFile = join(workDir, 'connections.yaml');
  writeFileSync(connectionsFile, fixture.connectionYaml());
  const runtime = new RuntimeProcess(
    {
      SDR_CLOUD_URL: cloud.tunnelUrl,
      SDR_ALLOW_INSECURE_TUNNEL: 'true',
      SDR_AGENT_TOKEN: token,
      SDR_CLOUD_PUBLIC_KEY: cloud.publicKeyPem,
      SDR_CONNECTIONS_FILE: connectionsFile,
      SDR_QUEUE_NAME: `sdr-bench-idle-${process.pid}`,
      SDR_HEALTH_PORT: '0',
      ...fixture.secretEnv,
    },
    { compiledEntry: entry, nodeOptions },
  ).start();
  try {
    // A loaded machine can take minutes to start node; the bench waits for the state it measures.
    await runtime.waitForMessage('tunnel up', 600_000);
    // Let start-up work (preflight, first depth poll) finish; the bench measures the idle state after it.
    await new Promise((resolve) => setTimeout(resolve, idleSettleMs));
    return rssOf(runtime.pid as number);
  } finally {
    await runtime.stop('SIGTERM').catch(() => runtime.stop('SIGKILL'));
    await cloud.close();
  }
}

const builds: { name: string; entry: string }[] = [{ name: 'this build', entry: compiledRuntime() }];
const baseline = process.env.SDR_BENCH_BASELINE_REF;
if (baseline) builds.push({ name: `baseline ${baseline}`, entry: compiledAt(baseline) });

const fixture = await PgFixture.create('sdr_bench_idle', 1);
const rows: Record<string, string | number>[] = [];
try {
  for (const build of builds) {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) times.push(await timeToConfigError(build.entry));
    const idle = await idleRss(build.entry, fixture);
    rows.push({
      build: build.name,
      'config error ms (median)': Math.round(median(times)),
      'config error ms (max)': Math.round(Math.max(...times)),
      'idle RSS MB': Math.round(idle.rssMb * 10) / 10,
      'start-up peak RSS MB': Math.round(idle.peakMb * 10) / 10,
    });
  }
} finally {
  await fixture.drop();
}

printTable(
  `compiled runtime before any job (node ${process.version}${nodeOptions.length ? ` ${nodeOptions.join(' ')}` : ''}; goals: config error < 1000 ms, idle RSS ≤ 80 MB)`,
  rows,
);
console.log(
  `\nwrote ${writeResults('runtime-startup', { runs, nodeOptions, idleSettleMs, goals: { configErrorMs: 1000, idleRssMb: 80 }, rows })}`,
);
process.exit(0);
