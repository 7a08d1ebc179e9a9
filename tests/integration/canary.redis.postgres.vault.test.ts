import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudApi, type LocalStack, startLocalStack, waitForJob } from '../../scripts/local-stack.js';
import { peers } from '../peers/endpoints.js';
import { waitFor } from '../support/wait.js';

/**
 * The canary test: a secret value planted in every place a credential can come from must appear in
 * nothing the runtime emits — tunnel bytes, log lines (stdout and forwarded), metrics, results — across
 * a successful extraction and every failure path.
 */
const canary = `canary-${randomBytes(16).toString('hex')}`;
const wrongCanary = `canary-wrong-${randomBytes(16).toString('hex')}`;
const suffix = randomBytes(4).toString('hex');
const database = `sdr_canary_${suffix}`;
const crawler = `sdr_canary_crawler_${suffix}`;
const outsider = `sdr_canary_outsider_${suffix}`;
let stack: LocalStack;
let workDir: string;

async function admin(sql: string[], db = 'postgres') {
  const client = new pg.Client({ ...peers.postgres, database: db });
  await client.connect();
  try {
    for (const statement of sql) await client.query(statement);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  await admin([
    `CREATE DATABASE ${database}`,
    `REVOKE CONNECT ON DATABASE ${database} FROM PUBLIC`,
    `CREATE ROLE ${crawler} LOGIN PASSWORD '${canary}'`,
    `CREATE ROLE ${outsider} LOGIN PASSWORD '${canary}'`,
    `GRANT CONNECT ON DATABASE ${database} TO ${crawler}`,
  ]);
  await admin(
    Array.from({ length: 60 }, (_, i) => `CREATE TABLE t${i} (id int PRIMARY KEY, note text)`),
    database,
  );
  const vaultWrite = await fetch(`${peers.vault.address}/v1/secret/data/sdr-canary-${suffix}`, {
    method: 'POST',
    headers: { 'x-vault-token': peers.vault.rootToken, 'content-type': 'application/json' },
    body: JSON.stringify({ data: { password: canary } }),
  });
  expect(vaultWrite.ok).toBe(true);
  workDir = mkdtempSync(join(tmpdir(), 'sdr-canary-'));
  const passwordFile = join(workDir, 'pg-password');
  writeFileSync(passwordFile, `${canary}\n`);
  const entry = (name: string, user: string, password: string, port = peers.postgres.port) =>
    [
      `  - name: ${name}`,
      '    type: postgres',
      `    host: ${peers.postgres.host}`,
      `    port: ${port}`,
      `    database: ${database}`,
      `    secrets: { user: env://CANARY_${user.toUpperCase()}, password: ${password} }`,
      '    options: { sslmode: disable }',
    ].join('\n');
  stack = await startLocalStack({
    workDir,
    redisUrl: peers.redisUrl,
    cloud: { ackDelayMs: 0 },
    connectionsYaml: [
      'connections:',
      entry('good', 'crawler', `file://${passwordFile}`),
      entry('from-vault', 'crawler', `vault://secret/data/sdr-canary-${suffix}#password`),
      entry('wrong-password', 'crawler', 'env://CANARY_WRONG_PASSWORD'),
      entry('unreachable', 'crawler', `file://${passwordFile}`, 1),
      entry('denied', 'outsider', 'env://CANARY_PASSWORD'),
      '',
    ].join('\n'),
    runtimeEnv: {
      CANARY_CRAWLER: crawler,
      CANARY_OUTSIDER: outsider,
      CANARY_PASSWORD: canary,
      CANARY_WRONG_PASSWORD: wrongCanary,
      SDR_JOB_ATTEMPTS: '2',
      SDR_JOB_BACKOFF_MS: '50',
      SDR_BATCH_MAX_RECORDS: '1',
      SDR_LOG_LEVEL: 'debug',
      SDR_LOG_FORWARD_LEVEL: 'debug',
      SDR_VAULT_ADDR: peers.vault.address,
      SDR_VAULT_TOKEN: peers.vault.rootToken,
    },
  });
});

afterAll(async () => {
  await stack?.close();
  await admin([
    `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`,
    `DROP ROLE IF EXISTS ${crawler}`,
    `DROP ROLE IF EXISTS ${outsider}`,
  ]);
});

async function run(connection: string) {
  const { jobId } = await cloudApi<{ jobId: string }>(
    stack.cloud,
    'POST',
    `/v1/agents/${stack.agentId}/jobs`,
    { connection },
  );
  return { jobId, job: await waitForJob(stack.cloud, jobId) };
}

describe('the canary', () => {
  it('appears nowhere the runtime writes, across success and every failure path', async () => {
    expect((await run('good')).job.state).toBe('committed');
    expect((await run('from-vault')).job.state).toBe('committed');
    expect((await run('wrong-password')).job).toMatchObject({
      state: 'failed',
      error: { code: 'SDR_ERR_PG_AUTH' },
    });
    expect((await run('unreachable')).job).toMatchObject({
      state: 'failed',
      error: { code: 'SDR_ERR_PG_UNREACHABLE' },
    });
    expect((await run('denied')).job).toMatchObject({
      state: 'failed',
      error: { code: 'SDR_ERR_PG_PRIVILEGE' },
    });

    stack.cloud.setAckDelay(300);
    const { jobId } = await cloudApi<{ jobId: string }>(
      stack.cloud,
      'POST',
      `/v1/agents/${stack.agentId}/jobs`,
      {
        connection: 'good',
      },
    );
    await waitForJob(stack.cloud, jobId, ['running']);
    await cloudApi(stack.cloud, 'POST', `/v1/jobs/${jobId}/cancel`);
    expect((await waitForJob(stack.cloud, jobId)).state).toBe('cancelled');
    stack.cloud.setAckDelay(0);

    await stack.runtime.waitForMessage('cancelled while running');
    const health = await stack.runtime.waitForMessage('health server listening');
    const metrics = await (await fetch(`${String(health.url)}/metrics`)).text();
    // The runtime forwards its log lines in the background: wait until the last one logged has arrived.
    let forwarded: { message: string }[] = [];
    await waitFor(
      'the runtime\'s "cancelled while running" log line to be forwarded to the cloud',
      async () => {
        forwarded = await cloudApi(stack.cloud, 'GET', `/v1/agents/${stack.agentId}/logs`);
        return forwarded.some((entry) => entry.message.includes('cancelled while running'));
      },
      { seen: () => forwarded.slice(-5).map((entry) => entry.message) },
    );
    const forwardedLogs = JSON.stringify(forwarded);
    const resultsDir = join(workDir, 'cloud', 'results');
    const results = readdirSync(resultsDir).map((file) => readFileSync(join(resultsDir, file), 'utf8'));
    const tunnelBytes = stack.cloud.framesFrom(stack.agentId).join('\n');
    const everything = {
      tunnel: tunnelBytes,
      stdout: stack.runtime.rawOutput.join(''),
      forwardedLogs,
      metrics,
      results: results.join(''),
    };
    expect(tunnelBytes).toContain('"type":"job.batch"');
    expect(results.join('')).toContain(`"name":"${database}"`);
    for (const [where, text] of Object.entries(everything)) {
      expect(text.includes(canary), `canary found in ${where}`).toBe(false);
      expect(text.includes(wrongCanary), `wrong-password canary found in ${where}`).toBe(false);
    }
  });
});
