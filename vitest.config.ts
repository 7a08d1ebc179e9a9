import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/peers/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: process.env.SDR_TEST_SUMMARY_FILE ? ['default', 'json'] : ['default'],
    ...(process.env.SDR_TEST_SUMMARY_FILE ? { outputFile: { json: process.env.SDR_TEST_SUMMARY_FILE } } : {}),
  },
});
