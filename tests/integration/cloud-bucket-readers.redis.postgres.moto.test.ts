/**
 * `npm run cloud` as its own process, its bucket readers built from CLOUD_BUCKET_READERS_FILE (the
 * settings docs/cloud.md lists): a runtime relays a result through an S3 bucket (moto) and the cloud
 * reads it with the reader's own credentials and commits it. Peers: SDR_TEST_PEERS=redis,postgres,moto.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-stack.js';
import { RuntimeProcess, childProcessEnv } from '../../scripts/runtime-process.js';
import { scaled } from '../../scripts/time-scale.js';
import { peers } from '../peers/endpoints.js';
import { PgFixture } from '../support/pg-fixture.js';

const run = randomBytes(3).toString('hex');
const bucket = `sdr-cloud-readers-${run}`;
const readerSecret = `reader-secret-${randomBytes(8).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'sdr-cloud-readers-'));

let fixture: PgFixture;
let cloud: ChildProcess;
let cloudOutput = '';
let runtime: RuntimeProcess;
let base = '';
let adminToken = '';
let agentId = '';

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const answer = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await answer.text();
  if (!answer.ok) throw new Error(`${method} ${path} answered ${answer.status}: ${text}`);
  return (answer.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text) as T;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + scaled(timeoutMs);
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`${what} within ${scaled(timeoutMs)} ms; cloud said:\n${cloudOutput}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  fixture = await PgFixture.create('sdr_cloud_readers', 30);
  await new S3Client({
    region: 'us-east-1',
    endpoint: peers.motoUrl,
    forcePathStyle: true,
    credentials: { accessKeyId: 'setup', secretAccessKey: 'setup' },
  }).send(new CreateBucketCommand({ Bucket: bucket }));
  writeFileSync(join(dir, 'reader-secret'), `${readerSecret}\n`);
  writeFileSync(
    join(dir, 'readers.yaml'),
    [
      'readers:',
      '  - provider: s3',
      `    bucket: ${bucket}`,
      `    endpoint: ${peers.motoUrl}`,
      '    forcePathStyle: true',
      `    credentials: { accessKeyId: env://READER_KEY_ID, secretAccessKey: file://${join(dir, 'reader-secret')} }`,
      '',
    ].join('\n'),
  );
  const cloudEntry = process.env.SDR_TEST_CLOUD_ENTRY;
  cloud = spawn(process.execPath, cloudEntry ? [cloudEntry] : ['--import', 'tsx', 'cloud/main.ts'], {
    cwd: repoRoot,
    env: {
      ...childProcessEnv(),
      CLOUD_PORT: '0',
      CLOUD_DATA_DIR: join(dir, 'cloud'),
      CLOUD_HEARTBEAT_MS: '1000',
      CLOUD_LOG_LEVEL: 'warn',
      CLOUD_BUCKET_READERS_FILE: join(dir, 'readers.yaml'),
      READER_KEY_ID: 'cloud-reader',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cloud.stdout?.on('data', (chunk: Buffer) => (cloudOutput += chunk.toString('utf8')));
  cloud.stderr?.on('data', (chunk: Buffer) => (cloudOutput += chunk.toString('utf8')));
  const banner = await until(
    'the cloud did not print its banner',
    async () =>
      /admin token: (\S+)/.test(cloudOutput) && /^buckets: .*$/m.test(cloudOutput) ? cloudOutput : undefined,
    60_000,
  );
  base = /listening on (http:\/\/\S+)/.exec(banner)![1]!;
  adminToken = /admin token: (\S+)/.exec(banner)![1]!;
  const tunnel = /tunnel:\s+(\S+)/.exec(banner)![1]!;
  const registered = await api<{ agentId: string; token: string }>('POST', '/v1/agents', {
    name: 'readers',
  });
  agentId = registered.agentId;
  const { token } = registered;
  const { publicKey } = await api<{ publicKey: string }>('GET', '/v1/public-key');
  const connections = join(dir, 'connections.yaml');
  writeFileSync(
    connections,
    fixture.connectionYaml('pg-s3') +
      [
        '    delivery:',
        '      default: bucket',
        '      bucket:',
        '        provider: s3',
        `        bucket: ${bucket}`,
        `        endpoint: ${peers.motoUrl}`,
        '        forcePathStyle: true',
        '        credentials: { accessKeyId: env://WRITER_ID, secretAccessKey: env://WRITER_SECRET }',
        '',
      ].join('\n'),
  );
  runtime = new RuntimeProcess({
    ...fixture.secretEnv,
    SDR_CLOUD_URL: tunnel,
    SDR_AGENT_TOKEN: token,
    SDR_CLOUD_PUBLIC_KEY: publicKey,
    SDR_CONNECTIONS_FILE: connections,
    SDR_REDIS_URL: peers.redisUrl,
    SDR_QUEUE_NAME: `sdr-${randomBytes(4).toString('hex')}`,
    SDR_HEALTH_PORT: '0',
    SDR_ALLOW_INSECURE_TUNNEL: 'true',
    WRITER_ID: 'runtime-writer',
    WRITER_SECRET: 'runtime-writer',
  }).start();
  await until(
    'the runtime did not connect',
    async () =>
      (await api<{ agentId: string; connected: boolean }[]>('GET', '/v1/agents')).some(
        (agent) => agent.agentId === agentId && agent.connected,
      ) || undefined,
    180_000,
  );
}, 300_000);

afterAll(async () => {
  await runtime?.stop('SIGTERM').catch(() => runtime.stop('SIGKILL'));
  if (cloud && cloud.exitCode === null) {
    const exited = new Promise((resolve) => cloud.once('exit', resolve));
    cloud.kill('SIGTERM');
    await exited;
  }
  await fixture?.drop();
});

describe('npm run cloud with CLOUD_BUCKET_READERS_FILE', () => {
  it('names its buckets at start, never the reader credentials', () => {
    expect(cloudOutput).toContain(`buckets:     s3://${bucket} at ${peers.motoUrl}`);
    expect(cloudOutput).not.toContain(readerSecret);
  });

  it('reads a bucket-relayed result with its own reader and commits it', async () => {
    const { jobId } = await api<{ jobId: string }>('POST', `/v1/agents/${agentId}/jobs`, {
      connection: 'pg-s3',
      delivery: { mode: 'bucket' },
    });
    const job = await until(
      'the job did not finish',
      async () => {
        const seen = await api<{ state: string; result?: { sha256: string; records: number } }>(
          'GET',
          `/v1/jobs/${jobId}`,
        );
        return ['committed', 'failed', 'rejected'].includes(seen.state) ? seen : undefined;
      },
      180_000,
    );
    expect(job.state, JSON.stringify(job)).toBe('committed');
    const text = await api<string>('GET', `/v1/jobs/${jobId}/result`);
    expect(createHash('sha256').update(text).digest('hex')).toBe(job.result?.sha256);
    expect(text).toContain('"kind":"table"');
    expect(cloudOutput).not.toContain(readerSecret);
  }, 200_000);
});
