import pino from 'pino';
import type { SourceAdapter } from '../../adapters/types.js';
import { TUNNEL_ONLY } from '../../runtime/delivery/settings.js';
import type { JobRunnerDeps } from '../../runtime/job-runner.js';
import { RuntimeMetrics } from '../../runtime/metrics.js';
import type { SecretResolver } from '../../secrets/index.js';

/**
 * What a `JobAttempt` needs, for tests that run one without a daemon: a connection per adapter (named after
 * its type, tunnel delivery, no secrets), a link that takes every frame, silent logs. `overrides` replace
 * any part (a link that acknowledges, a short stall timeout).
 */
export function runnerDeps(
  adapters: Record<string, SourceAdapter<unknown>>,
  overrides: Partial<JobRunnerDeps> = {},
): JobRunnerDeps {
  return {
    link: { isUp: true, sendText: () => true, send: () => true, creditWindow: () => 1 },
    connections: new Map(
      Object.keys(adapters).map((type) => [
        type,
        { name: type, type, options: {}, secrets: {}, delivery: TUNNEL_ONLY },
      ]),
    ),
    adapters: new Map(Object.entries(adapters)),
    secrets: { resolveAll: async () => ({}) } as unknown as SecretResolver,
    agentId: () => 'ag_test',
    presigned: { allowedOrigins: [], maxTries: 1, backoffMs: 0, grantTimeoutMs: 1_000 },
    initialUploads: () => [],
    metrics: new RuntimeMetrics(),
    log: pino({ level: 'silent' }),
    batchMaxRecords: 1_000,
    batchMaxBytes: 1_000_000,
    stallTimeoutMs: 600_000,
    ...overrides,
  };
}
