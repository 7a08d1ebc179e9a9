/** Process measurement helpers for the postgres benchmark: wall time and peak RSS of a child process. */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Wall time and peak RSS of one finished process, with what it printed. */
export interface ProcessRun {
  wallSeconds: number;
  peakRssMb: number;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command under GNU time (`/usr/bin/time`), which reports the peak RSS of the process and its
 * waited-for children; stdout is kept unless `discardStdout` (then it goes to /dev/null).
 */
export async function measure(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; discardStdout?: boolean; timeoutMs?: number } = {},
): Promise<ProcessRun> {
  const report = join(tmpdir(), `sdr-bench-time-${process.pid}-${Date.now()}`);
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%e %M', '-o', report, command, ...args], {
    env: options.env ?? process.env,
    stdio: ['ignore', options.discardStdout ? 'ignore' : 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => {
    // Keep only the tail: some tools log a lot.
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 30 * 60_000);
  const exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  clearTimeout(timer);
  const wall = (performance.now() - started) / 1000;
  let peakRssMb = NaN;
  try {
    const lines = readFileSync(report, 'utf8').trim().split('\n');
    const [, rssKb] = (lines[lines.length - 1] ?? '').split(' ');
    peakRssMb = Number(rssKb) / 1024;
  } catch {
    // GNU time writes nothing when the command could not start; leave NaN.
  }
  rmSync(report, { force: true });
  return { wallSeconds: wall, peakRssMb, exitCode, stdout, stderr };
}
