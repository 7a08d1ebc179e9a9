import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresAdapter } from '../../adapters/postgres/index.js';
import { cloudApi, type LocalStack, startLocalStack, waitForJob } from '../../scripts/local-stack.js';
import { peers } from '../peers/endpoints.js';
import { ConnectProxy } from '../support/connect-proxy.js';
import { PgFixture } from '../support/pg-fixture.js';
import { waitFor } from '../support/wait.js';

let fixture: PgFixture;
let stack: LocalStack | undefined;
/** The record keys of the fixture database, read straight through the adapter: what every commit must hold. */
let baselineKeys: string[] = [];

beforeAll(async () => {
  fixture = await PgFixture.create('sdr_e2e', 30);
  const adapter = createPostgresAdapter();
  const connection = {
    name: 'pg',
    type: 'postgres',
    host: peers.postgres.host,
    port: peers.postgres.port,
    database: fixture.database,
    options: { sslmode: 'disable' },
    credentials: { user: fixture.user, password: fixture.password },
  };
  const log = { debug: () => undefined, info: () => undefined, warn: () => undefined };
  const context = { signal: new AbortController().signal, log, warn: () => undefined };
  const keys: string[] = [];
  for await (const record of adapter.extract(connection, adapter.parseOptions({}, 'pg'), context))
    keys.push(record.key);
  baselineKeys = keys;
});
afterAll(async () => {
  await fixture.drop();
});
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function startStack(
  options: { env?: Record<string, string>; ackDelayMs?: number; tls?: boolean } = {},
) {
  stack = await startLocalStack({
    workDir: mkdtempSync(join(tmpdir(), 'sdr-e2e-')),
    connectionsYaml: fixture.connectionYaml(),
    redisUrl: peers.redisUrl,
    tls: options.tls ?? false,
    cloud: { ackDelayMs: options.ackDelayMs ?? 0, heartbeatIntervalMs: 1_000 },
    runtimeEnv: {
      ...fixture.secretEnv,
      SDR_RECONNECT_BASE_MS: '50',
      SDR_RECONNECT_MAX_MS: '500',
      ...options.env,
    },
  });
  return stack;
}

async function submit(s: LocalStack, connection = 'pg'): Promise<string> {
  const { jobId } = await cloudApi<{ jobId: string }>(s.cloud, 'POST', `/v1/agents/${s.agentId}/jobs`, {
    connection,
  });
  return jobId;
}

async function committedKeys(s: LocalStack, jobId: string): Promise<{ keys: string[]; text: string }> {
  const text = await cloudApi<string>(s.cloud, 'GET', `/v1/jobs/${jobId}/result`);
  const keys = text
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { key: string }).key);
  return { keys, text };
}

async function progressAtLeast(s: LocalStack, jobId: string, batches: number) {
  await waitForJob(s.cloud, jobId, ['running'], 30_000);
  let job: { state?: string; progress?: { batches: number } } = {};
  await waitFor(
    `job ${jobId} to report ${batches} batches sent`,
    async () => {
      job = await cloudApi<typeof job>(s.cloud, 'GET', `/v1/jobs/${jobId}`);
      return (job.progress?.batches ?? 0) >= batches;
    },
    { timeoutMs: 30_000, seen: () => job },
  );
}

describe('end to end through the reference cloud', () => {
  it('commits an extraction whose file checksum matches, with no secret anywhere', async () => {
    const s = await startStack();
    const jobId = await submit(s);
    const job = await waitForJob(s.cloud, jobId);
    expect(job).toMatchObject({ state: 'committed', attempt: 1 });
    const { keys, text } = await committedKeys(s, jobId);
    expect(createHash('sha256').update(text).digest('hex')).toBe(job.result?.sha256);
    expect(keys.length).toBe(job.result?.records);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toEqual(baselineKeys);
    expect(text).not.toContain(fixture.password);
    expect(s.cloud.framesFrom(s.agentId).join('')).not.toContain(fixture.password);
    expect(JSON.stringify(s.runtime.lines)).not.toContain(fixture.password);
    // The runtime's own log lines reach the cloud too, redacted like its stdout.
    await s.runtime.waitForMessage('committed by the cloud');
    let logs: { message: string; fields: Record<string, unknown> }[] = [];
    await waitFor(
      'the runtime\'s "committed by the cloud" log line to reach the cloud',
      async () => {
        logs = await cloudApi(s.cloud, 'GET', `/v1/agents/${s.agentId}/logs`);
        return logs.some((entry) => entry.message === 'committed by the cloud');
      },
      { timeoutMs: 5_000, seen: () => logs.map((entry) => entry.message) },
    );
    expect(logs.find((entry) => entry.message === 'extraction started')?.fields).toMatchObject({
      requestId: jobId,
    });
    expect(logs.some((entry) => entry.message === 'committed by the cloud')).toBe(true);
    expect(JSON.stringify(logs)).not.toContain(fixture.password);
  });

  it('gets the result committed once when the cloud drops the link mid-job', async () => {
    const s = await startStack({ ackDelayMs: 200, env: { SDR_BATCH_MAX_RECORDS: '1' } });
    const jobId = await submit(s);
    await progressAtLeast(s, jobId, 5);
    s.cloud.dropAgent(s.agentId);
    const job = await waitForJob(s.cloud, jobId);
    expect(job.state).toBe('committed');
    expect(job.attempt).toBe(1);
    expect((await committedKeys(s, jobId)).keys).toEqual(baselineKeys);
    expect(s.runtime.lines.some((line) => String(line.msg).startsWith('tunnel down'))).toBe(true);
    expect(job.progress?.batches).toBeGreaterThan(5);
  });

  it('recovers a job whose runtime was killed with SIGKILL and commits it exactly once', async () => {
    const env = { SDR_BATCH_MAX_RECORDS: '1', SDR_JOB_LOCK_MS: '2000', SDR_JOB_STALLED_INTERVAL_MS: '1000' };
    const s = await startStack({ ackDelayMs: 200, env });
    const jobId = await submit(s);
    await progressAtLeast(s, jobId, 5);
    await s.runtime.stop('SIGKILL');
    s.cloud.setAckDelay(0);
    const second = s.startRuntime();
    const job = await waitForJob(s.cloud, jobId);
    expect(job.state).toBe('committed');
    expect(job.attempt).toBeGreaterThanOrEqual(2);
    expect((await committedKeys(s, jobId)).keys).toEqual(baselineKeys);
    await second.waitForMessage('committed by the cloud');
    expect(second.lines.filter((line) => line.msg === 'extraction started')).toHaveLength(1);
  });

  it('hands a running job back to the queue on SIGTERM and the next runtime finishes it', async () => {
    const s = await startStack({
      ackDelayMs: 200,
      env: { SDR_BATCH_MAX_RECORDS: '1', SDR_DRAIN_TIMEOUT_MS: '300' },
    });
    const jobId = await submit(s);
    await progressAtLeast(s, jobId, 3);
    expect(await s.runtime.stop('SIGTERM')).toBe(0);
    expect(s.runtime.lines.some((line) => line.msg === 'handed back to the queue for the next runtime')).toBe(
      true,
    );
    s.cloud.setAckDelay(0);
    s.startRuntime();
    const job = await waitForJob(s.cloud, jobId);
    expect(job.state).toBe('committed');
    expect((await committedKeys(s, jobId)).keys).toEqual(baselineKeys);
  });

  it('retries a retryable source failure with backoff, then fails the job with an actionable message', async () => {
    stack = await startLocalStack({
      workDir: mkdtempSync(join(tmpdir(), 'sdr-e2e-')),
      connectionsYaml: fixture.connectionYaml().replace(`port: ${peers.postgres.port}`, 'port: 1'),
      redisUrl: peers.redisUrl,
      runtimeEnv: { ...fixture.secretEnv, SDR_JOB_ATTEMPTS: '2', SDR_JOB_BACKOFF_MS: '100' },
    });
    const job = await waitForJob(stack.cloud, await submit(stack));
    expect(job).toMatchObject({ state: 'failed', error: { code: 'SDR_ERR_PG_UNREACHABLE' } });
    expect(job.error?.message).toMatch(/127\.0\.0\.1:1/);
    const failures = stack.cloud
      .framesFrom(stack.agentId)
      .map((text) => JSON.parse(text) as { type: string; willRetry?: boolean; attempt?: number })
      .filter((frame) => frame.type === 'job.failed');
    expect(failures.map((frame) => [frame.attempt, frame.willRetry])).toEqual([
      [1, true],
      [2, false],
    ]);
  });

  it('fails at once, without retrying, when the source refuses the credentials', async () => {
    const s = await startStack({ env: { SDR_TEST_PG_PASSWORD: 'wrong-password-canary' } });
    const job = await waitForJob(s.cloud, await submit(s));
    expect(job).toMatchObject({ state: 'failed', error: { code: 'SDR_ERR_PG_AUTH' } });
    // The user name came from a secret reference, so it is scrubbed like any other resolved value.
    expect(job.error?.message).toMatch(
      /^password authentication failed for user "\[redacted\]" at 127\.0\.0\.1:\d+; check/,
    );
    const sent = s.cloud.framesFrom(s.agentId).join('');
    expect(sent.match(/"type":"job\.failed"/g)).toHaveLength(1);
    expect(sent).not.toContain('wrong-password-canary');
    expect(JSON.stringify(s.runtime.lines)).not.toContain('wrong-password-canary');
  });

  it('rejects a job for a connection the runtime does not define', async () => {
    const s = await startStack();
    const job = await waitForJob(s.cloud, await submit(s, 'production-secrets-db'));
    expect(job).toMatchObject({ state: 'rejected', error: { code: 'SDR_ERR_UNKNOWN_CONNECTION' } });
  });

  it('serves readiness and Prometheus metrics on its local health port', async () => {
    // Idle workers kept for the whole test, so the three jobs below share one whatever the machine's pace.
    const s = await startStack({ env: { SDR_JOB_WORKER_IDLE_MS: '600000' } });
    for (let i = 0; i < 3; i++) expect((await waitForJob(s.cloud, await submit(s))).state).toBe('committed');
    await waitFor('the runtime to see its 3 jobs committed', () =>
      s.runtime.lines.filter((line) => line.msg === 'committed by the cloud').length >= 3 ? true : undefined,
    );
    const health = await s.runtime.waitForMessage('health server listening');
    const base = String(health.url);
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^sdr_tunnel_up 1$/m);
    expect(metrics).toMatch(/^sdr_jobs_total\{event="committed"\} 3$/m);
    // One extraction worker served all three jobs, one after another.
    expect(metrics).toMatch(/^sdr_job_workers_started_total 1$/m);
    expect(metrics).toMatch(/^sdr_batches_sent_total [1-9]/m);
    expect(metrics).toMatch(/^process_resident_memory_bytes /m);
  });

  it('tunnels wss:// through an HTTPS proxy, trusting an extra CA', async () => {
    const proxy = await ConnectProxy.start();
    try {
      const s = await startStack({ tls: true, env: { HTTPS_PROXY: proxy.url } });
      expect(s.cloud.tunnelUrl).toMatch(/^wss:\/\//);
      const port = new URL(s.cloud.url).port;
      expect(proxy.targets).toContain(`127.0.0.1:${port}`);
      const job = await waitForJob(s.cloud, await submit(s));
      expect(job.state).toBe('committed');
    } finally {
      await proxy.close();
    }
  });
});
