import pino from 'pino';
import type { SourceAdapter } from '../../adapters/types.js';
import { TUNNEL_ONLY } from '../../runtime/delivery/settings.js';
import type { JobAttempt, JobRunnerDeps } from '../../runtime/job-runner.js';
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

/**
 * A link to a cloud that acknowledges each batch at once and commits on `job.end` (request `job-1`,
 * attempt 1). `running.attempt` is the attempt to answer; `onFrame` sees every frame sent.
 */
export function acknowledgingLink(
  running: { attempt?: JobAttempt },
  records: number,
  onFrame: (frame: { type: string; seq?: number; records?: unknown[] }) => void = () => undefined,
): JobRunnerDeps['link'] {
  return {
    isUp: true,
    creditWindow: () => 1,
    send: () => true,
    sendText: (text) => {
      const frame = JSON.parse(text) as { type: string; seq?: number; records?: unknown[] };
      onFrame(frame);
      queueMicrotask(() => {
        if (frame.type === 'job.batch') running.attempt?.stream.acknowledge(frame.seq ?? -1);
        if (frame.type === 'job.end')
          running.attempt?.stream.committed({
            type: 'job.committed',
            requestId: 'job-1',
            attempt: 1,
            records,
          });
      });
      return true;
    },
  };
}
