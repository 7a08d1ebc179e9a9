/**
 * Shared benchmark harness: one full extraction through the real runtime process and the reference
 * cloud, timed from submission to commit, with the runtime's peak RSS read from /proc.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { compiledRuntime } from '../scripts/compiled-build.js';
import { cloudApi, repoRoot, startLocalStack, waitForJob } from '../scripts/local-stack.js';

export { compiledRuntime };

/** What one extraction run measured. */
export interface ExtractionMeasurement {
  wallSeconds: number;
  records: number;
  bytes: number;
  batches: number;
  objectsPerSecond: number;
  runtimePeakRssMb: number;
  /** CPU the runtime process used from submission to commit (user + system, every thread). */
  runtimeCpuSeconds: number;
  sha256: string;
}

/** Settings of one measured extraction. */
export interface ExtractionBenchOptions {
  connectionsYaml: string;
  connection: string;
  options?: Record<string, unknown>;
  /** Environment for the runtime: secret values for env:// references, batch tuning. */
  runtimeEnv?: Record<string, string>;
  /** Delay the cloud adds before each ack (a slow cloud); default 0. */
  ackDelayMs?: number;
  timeoutMs?: number;
  /** Run the compiled runtime (what the image ships) with these node flags; see `compiledRuntime()`. */
  compiled?: { nodeOptions?: readonly string[] };
  /** Delivery mode the job asks for (docs/delivery.md); default the connection's default. */
  delivery?: string;
  /** Called when the job has just been submitted, where the wall time starts. */
  onSubmitted?: () => void;
  /** Extra reference-cloud options (bucket readers for bucket delivery). */
  cloud?: Parameters<typeof startLocalStack>[0]['cloud'];
}

/** Runs one extraction end to end and returns its measurements; throws if the job does not commit. */
export async function measureExtraction(options: ExtractionBenchOptions): Promise<ExtractionMeasurement> {
  const workDir = mkdtempSync(join(tmpdir(), 'sdr-bench-'));
  const stack = await startLocalStack({
    workDir,
    connectionsYaml: options.connectionsYaml,
    cloud: { recordFrames: false, ackDelayMs: options.ackDelayMs ?? 0, ...options.cloud },
    connectTimeoutMs: 180_000,
    runtimeEnv: { SDR_LOG_LEVEL: 'warn', ...options.runtimeEnv },
    ...(options.compiled
      ? {
          runtimeLaunch: {
            compiledEntry: compiledRuntime(),
            nodeOptions: options.compiled.nodeOptions ?? [],
          },
        }
      : {}),
  });
  try {
    const started = process.hrtime.bigint();
    const cpuBefore = stack.runtime.cpuSeconds() ?? Number.NaN;
    const { jobId } = await cloudApi<{ jobId: string }>(
      stack.cloud,
      'POST',
      `/v1/agents/${stack.agentId}/jobs`,
      {
        connection: options.connection,
        options: options.options ?? {},
        ...(options.delivery && { delivery: { mode: options.delivery } }),
      },
    );
    options.onSubmitted?.();
    const job = await waitForJob(stack.cloud, jobId, undefined, options.timeoutMs ?? 30 * 60_000);
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (job.state !== 'committed' || !job.result) {
      throw new Error(`bench job ended ${job.state}: ${job.error?.code ?? ''} ${job.error?.message ?? ''}`);
    }
    const peak = stack.runtime.peakRssBytes() ?? Number.NaN;
    const cpu = (stack.runtime.cpuSeconds() ?? Number.NaN) - cpuBefore;
    return {
      wallSeconds,
      records: job.result.records,
      bytes: job.result.bytes,
      batches: job.progress?.batches ?? 0,
      objectsPerSecond: job.result.records / wallSeconds,
      runtimePeakRssMb: peak / (1024 * 1024),
      runtimeCpuSeconds: cpu,
      sha256: job.result.sha256,
    };
  } finally {
    await stack.close();
    // The committed result: ~550 MB at the 50k-table scale, left in /tmp by every run before.
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** Prints rows as an aligned text table. */
export function printTable(title: string, rows: readonly Record<string, string | number>[]): void {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const cell = (value: string | number | undefined) =>
    typeof value === 'number' ? (Number.isInteger(value) ? String(value) : value.toFixed(2)) : (value ?? '');
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => cell(row[column]).length)),
  );
  const line = (values: string[]) => values.map((value, i) => value.padEnd(widths[i] ?? 0)).join('  ');
  console.log(`\n${title}`);
  console.log(line(columns));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) console.log(line(columns.map((column) => cell(row[column]))));
}

/** Writes a benchmark's results as JSON under bench/results/. */
export function writeResults(name: string, data: unknown): string {
  const file = join(repoRoot, 'bench/results', `${name}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify({ measuredAt: new Date().toISOString(), ...(data as object) }, null, 2)}\n`,
  );
  return file;
}
