import { defineConfig } from 'vitest/config';
import { timeScale } from './scripts/time-scale.js';
import { useRunTempDir } from './tests/support/run-temp-dir.js';

// One time scale for the whole run, fixed at its start (the machine's load per core unless
// SDR_TEST_TIME_SCALE is set) and handed to the workers, which inherit this environment.
const scale = timeScale();
process.env.SDR_TEST_TIME_SCALE = String(scale);

useRunTempDir();

const reporting = {
  reporters: [
    'default',
    ...(process.env.SDR_TEST_SUMMARY_FILE ? ['json'] : []),
    './tests/support/run-temp-dir.ts',
  ],
  ...(process.env.SDR_TEST_SUMMARY_FILE ? { outputFile: { json: process.env.SDR_TEST_SUMMARY_FILE } } : {}),
};

export default defineConfig({
  test: {
    pool: 'forks',
    // The two cores are the limit. A 4th worker filled the fault files' waits (327 s warm instead of
    // 334-342 s) but took a cold run, with the peers installed inside it, to a 3.0 GiB peak.
    maxWorkers: 3,
    ...reporting,
    projects: [
      {
        // Pure logic: no peer, no network beyond 127.0.0.1 servers a test starts itself.
        extends: true,
        // One module graph per worker across files (isolate: false): half the project's time was imports.
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          isolate: false,
          testTimeout: 60_000 * scale,
        },
      },
      {
        // Real peers, started by the global setup from the tags in the selected files' names
        // (`name.redis.postgres.test.ts` needs the Redis and PostgreSQL peers).
        extends: true,
        test: {
          name: 'integration',
          // As in the unit project: one module graph per worker (a fresh one per file cost ~60 s of imports).
          // Files that set process.env restore it; every child process gets an explicit environment.
          isolate: false,
          include: ['tests/integration/**/*.test.ts'],
          globalSetup: ['tests/peers/global-setup.ts', 'tests/support/compiled-entries.setup.ts'],
          testTimeout: 60_000 * scale,
          hookTimeout: 120_000 * scale,
        },
      },
      {
        // Fault suite (real runtime processes killed, links cut, Redis restarted or failed over): minutes
        // long, mostly waiting; part of `npm test`, alone with `npm run test:faults`.
        extends: true,
        test: {
          name: 'faults',
          isolate: false,
          include: ['tests/faults/**/*.test.ts'],
          globalSetup: ['tests/peers/global-setup.ts', 'tests/support/compiled-entries.setup.ts'],
          testTimeout: 600_000 * scale,
          hookTimeout: 120_000 * scale,
        },
      },
    ],
  },
});
