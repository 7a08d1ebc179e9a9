import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Reporter, TestRunEndReason } from 'vitest/node';

/**
 * One temporary directory per test run, made the run's TMPDIR so every mkdtemp of the suite lands in it:
 * runs left ~25 MB each behind in /tmp (7,351 directories here). Set in the config, so the workers inherit
 * it; a second evaluation of the config in the same process reuses it, a vitest started below makes its own.
 */
export function useRunTempDir(): void {
  if (process.env.SDR_TEST_RUN_DIR && process.env.SDR_TEST_RUN_DIR_PID === String(process.pid)) return;
  const dir = mkdtempSync(join(tmpdir(), 'sdr-test-run-'));
  process.env.SDR_TEST_RUN_DIR = dir;
  process.env.SDR_TEST_RUN_DIR_PID = String(process.pid);
  process.env.TMPDIR = dir;
}

/** Removes the run's directory when every test passed; keeps it, and says where, for a failed run's post-mortem. */
export default class RunTempDirReporter implements Reporter {
  onTestRunEnd(_modules: unknown, unhandledErrors: readonly unknown[], reason: TestRunEndReason): void {
    const dir = process.env.SDR_TEST_RUN_DIR;
    if (!dir) return;
    if (reason === 'passed' && unhandledErrors.length === 0) rmSync(dir, { recursive: true, force: true });
    else process.stdout.write(`test run files (runtime logs of each fleet, cloud data) kept in ${dir}\n`);
  }
}
