/**
 * Bucket relay and pre-signed delivery end to end: a real runtime process, the reference cloud, real
 * PostgreSQL, and real storage emulators (tests/peers: moto for S3, azurite for Azure Blob,
 * fake-gcs-server for GCS). Peers: SDR_TEST_PEERS=redis,postgres,moto,azurite,fake-gcs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudApi, type LocalStack, startLocalStack, waitForJob } from '../../scripts/local-stack.js';
import { scaled } from '../../scripts/time-scale.js';
import type { StoreOptions } from '../../storage/index.js';
import { peers } from '../peers/endpoints.js';
import { HoldProxy } from '../support/hold-proxy.js';
import { PgFixture } from '../support/pg-fixture.js';

/** The catalog minus what changes between two crawls of the same database (its size on disk). */
const stable = (text: string): string => text.replace(/("kind":"database"[^\n]*?"sizeBytes":)\d+/g, '$10');
const sha256Of = (text: string): string => createHash('sha256').update(text).digest('hex');

const run = randomBytes(3).toString('hex');
const s3Bucket = `sdr-delivery-${run}`;
const azureContainer = `sdr-delivery-${run}`;
const gcsBucket = `sdr-delivery-${run}`;
// The S3 secret key is a canary: it must appear in no object, manifest, URL, frame or log line.
const canary = `canary-${randomBytes(12).toString('hex')}`;
const s3Client = new S3Client({
  region: 'us-east-1',
  endpoint: peers.motoUrl,
  forcePathStyle: true,
  credentials: { accessKeyId: 'sdr-test', secretAccessKey: canary },
});
const azureKey = new StorageSharedKeyCredential(peers.azurite.accountName, peers.azurite.accountKey);

/** The cloud's own read-only view of each emulator. */
const readers: StoreOptions[] = [
  {
    provider: 's3',
    bucket: s3Bucket,
    region: 'us-east-1',
    endpoint: peers.motoUrl,
    forcePathStyle: true,
    credentials: { accessKeyId: 'cloud-reader', secretAccessKey: 'cloud-reader' },
  },
  {
    provider: 'azure',
    accountUrl: peers.azurite.accountUrl,
    container: azureContainer,
    credentials: { accountName: peers.azurite.accountName, accountKey: peers.azurite.accountKey },
  },
  { provider: 'gcs', bucket: gcsBucket, endpoint: peers.gcsUrl, projectId: 'sdr-test' },
];

let fixture: PgFixture;
let stack: LocalStack;
let hold: HoldProxy;
let baseline: { sha256: string; records: number; text: string };
/** Set by the checksum test: the cloud's next verification first finds a forged part. */
let corruptNext = false;

function bucketYaml(
  provider: 's3' | 'azure' | 'gcs',
  overrides: { endpoint?: string; readOnlySas?: boolean } = {},
): string[] {
  switch (provider) {
    case 's3':
      return [
        'provider: s3',
        `bucket: ${s3Bucket}`,
        'prefix: results',
        `endpoint: ${overrides.endpoint ?? peers.motoUrl}`,
        'forcePathStyle: true',
        'credentials: { accessKeyId: env://SDR_TEST_S3_KEY_ID, secretAccessKey: env://SDR_TEST_S3_SECRET }',
        'encryption: { type: SSE-S3 }',
      ];
    case 'azure':
      return [
        'provider: azure',
        `accountUrl: ${peers.azurite.accountUrl}`,
        `container: ${azureContainer}`,
        'prefix: results',
        overrides.readOnlySas
          ? 'credentials: { sasToken: env://SDR_TEST_AZURE_SAS }'
          : `credentials: { accountName: ${peers.azurite.accountName}, accountKey: env://SDR_TEST_AZURE_KEY }`,
      ];
    case 'gcs':
      return [
        'provider: gcs',
        `bucket: ${gcsBucket}`,
        'prefix: results',
        `endpoint: ${peers.gcsUrl}`,
        'projectId: sdr-test',
      ];
  }
}

/** One connection per case, all reading the same database, so every mode must produce the same bytes. */
function connectionsYaml(): string {
  const entry = (name: string, bucket?: string[]) =>
    fixture.connectionYaml(name).replace(/^connections:\n/, '') +
    [
      '    delivery:',
      '      default: tunnel',
      `      allow: [tunnel, presigned${bucket ? ', bucket' : ''}]`,
      '      partBytes: 65536',
      ...(bucket ? ['      bucket:', ...bucket.map((line) => `        ${line}`)] : []),
      '',
    ].join('\n');
  return [
    'connections:\n',
    entry('pg-s3', bucketYaml('s3')),
    entry('pg-azure', bucketYaml('azure')),
    entry('pg-gcs', bucketYaml('gcs')),
    entry('pg-azure-readonly', bucketYaml('azure', { readOnlySas: true })),
    entry('pg-held', bucketYaml('s3', { endpoint: hold.url })),
    entry('pg-presigned'),
    fixture.connectionYaml('pg-tunnel-only').replace(/^connections:\n/, ''),
  ].join('');
}

beforeAll(async () => {
  // Enough catalog for several 64 KiB parts.
  fixture = await PgFixture.create('sdr_delivery', 120);
  await s3Client.send(new CreateBucketCommand({ Bucket: s3Bucket }));
  await new BlobServiceClient(peers.azurite.accountUrl, azureKey).getContainerClient(azureContainer).create();
  const created = await fetch(`${peers.gcsUrl}/storage/v1/b?project=sdr-test`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: gcsBucket }),
  });
  expect(created.status).toBe(200);
  hold = await HoldProxy.start(peers.motoUrl);
  const readOnlySas = generateBlobSASQueryParameters(
    {
      containerName: azureContainer,
      permissions: ContainerSASPermissions.parse('rl'),
      expiresOn: new Date(Date.now() + 3_600_000),
    },
    azureKey,
  ).toString();
  stack = await startLocalStack({
    workDir: mkdtempSync(join(tmpdir(), 'sdr-delivery-')),
    connectionsYaml: connectionsYaml(),
    redisUrl: peers.redisUrl,
    connectTimeoutMs: 180_000,
    cloud: {
      heartbeatIntervalMs: 1_000,
      bucketReaders: readers,
      beforeVerify: async (_jobId, _attempt, manifest) => {
        if (!corruptNext) return;
        corruptNext = false;
        const key = manifest.replace(`s3://${s3Bucket}/`, '').replace('manifest.json', 'part-00000.jsonl.gz');
        await s3Client.send(
          new PutObjectCommand({
            Bucket: s3Bucket,
            Key: key,
            Body: gzipSync('{"kind":"x","key":"forged"}\n'),
          }),
        );
      },
    },
    runtimeEnv: {
      ...fixture.secretEnv,
      SDR_TEST_S3_KEY_ID: 'sdr-test',
      SDR_TEST_S3_SECRET: canary,
      SDR_TEST_AZURE_KEY: peers.azurite.accountKey,
      SDR_TEST_AZURE_SAS: readOnlySas,
      SDR_RECONNECT_BASE_MS: '50',
      SDR_RECONNECT_MAX_MS: '500',
      SDR_UPLOAD_BACKOFF_MS: '20',
      SDR_UPLOAD_MAX_TRIES: '3',
      SDR_JOB_ATTEMPTS: '2',
      SDR_JOB_BACKOFF_MS: '100',
      // Scaled with the machine's load: a lock renewal late past the lock would count as a stall.
      SDR_JOB_LOCK_MS: String(scaled(5_000)),
      SDR_JOB_STALLED_INTERVAL_MS: String(scaled(2_000)),
    },
  });
}, 300_000);
afterAll(async () => {
  await stack?.close();
  await hold?.close();
  await fixture?.drop();
});

async function submit(connection: string, mode: string): Promise<string> {
  const { jobId } = await cloudApi<{ jobId: string }>(
    stack.cloud,
    'POST',
    `/v1/agents/${stack.agentId}/jobs`,
    {
      connection,
      delivery: { mode },
    },
  );
  return jobId;
}

async function finished(jobId: string) {
  return waitForJob(stack.cloud, jobId, undefined, 180_000);
}

async function committedText(jobId: string): Promise<string> {
  return cloudApi<string>(stack.cloud, 'GET', `/v1/jobs/${jobId}/result`);
}

/** Frames the runtime sent about one job. */
function framesOf(jobId: string, type: string): Record<string, unknown>[] {
  return stack.cloud
    .framesFrom(stack.agentId)
    .map((text) => JSON.parse(text) as Record<string, unknown>)
    .filter((frame) => frame.type === type && frame.requestId === jobId);
}

async function s3Keys(prefix: string): Promise<string[]> {
  const listed = await s3Client.send(new ListObjectsV2Command({ Bucket: s3Bucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((object) => object.Key ?? '').sort();
}

async function s3Text(key: string): Promise<Uint8Array> {
  const answer = await s3Client.send(new GetObjectCommand({ Bucket: s3Bucket, Key: key }));
  return answer.Body!.transformToByteArray();
}

function expectNoCanary(...more: string[]): void {
  expect(stack.cloud.framesFrom(stack.agentId).join('')).not.toContain(canary);
  expect(stack.runtime.rawOutput.join('')).not.toContain(canary);
  for (const text of more) expect(text).not.toContain(canary);
}

describe('result delivery', () => {
  it('tunnel mode gives the baseline the other modes must equal', async () => {
    const jobId = await submit('pg-s3', 'tunnel');
    const job = await finished(jobId);
    expect(job.state).toBe('committed');
    const text = await committedText(jobId);
    baseline = { sha256: job.result!.sha256, records: job.result!.records, text };
    expect(createHash('sha256').update(text).digest('hex')).toBe(baseline.sha256);
    expect(Buffer.byteLength(text)).toBeGreaterThan(3 * 65_536);
  }, 200_000);

  it.each([
    ['s3', 'pg-s3'],
    ['azure', 'pg-azure'],
    ['gcs', 'pg-gcs'],
  ] as const)(
    'relays through the customer bucket (%s): parts, then a manifest, read and verified by the cloud',
    async (provider, connection) => {
      const jobId = await submit(connection, 'bucket');
      const job = await finished(jobId);
      expect(job.state, JSON.stringify(job)).toBe('committed');
      expect(sha256Of(await committedText(jobId))).toBe(job.result?.sha256);
      expect(stable(await committedText(jobId))).toBe(stable(baseline.text));
      // On a loaded machine the queue may re-run an attempt whose lock lapsed; the committed one counts.
      const end = framesOf(jobId, 'job.end').find((frame) => frame.attempt === job.attempt) as {
        delivery: { mode: string; manifest: string };
        batches: number;
      };
      const prefix = `results/${stack.agentId}/${jobId}/${job.attempt}/`;
      expect(end.delivery.mode).toBe('bucket');
      expect(end.delivery.manifest).toBe(
        {
          s3: `s3://${s3Bucket}/${prefix}manifest.json`,
          azure: `${peers.azurite.accountUrl}/${azureContainer}/${prefix}manifest.json`,
          gcs: `gs://${gcsBucket}/${prefix}manifest.json`,
        }[provider],
      );
      expect(end.batches).toBeGreaterThanOrEqual(3);
      if (provider !== 's3') return;
      const keys = await s3Keys(prefix);
      expect(keys).toContain(`${prefix}manifest.json`);
      expect(keys.filter((key) => key.endsWith('.jsonl.gz'))).toHaveLength(end.batches);
      const manifestText = Buffer.from(await s3Text(`${prefix}manifest.json`)).toString('utf8');
      const manifest = JSON.parse(manifestText) as {
        sha256: string;
        records: number;
        compression: string;
        parts: { name: string; sha256: string }[];
      };
      expect(manifest).toMatchObject({
        sha256: job.result?.sha256,
        records: baseline.records,
        compression: 'gzip',
      });
      let joined = '';
      for (const part of manifest.parts) {
        const text = gunzipSync(await s3Text(`${prefix}${part.name}`)).toString('utf8');
        expect(createHash('sha256').update(text).digest('hex')).toBe(part.sha256);
        joined += text;
      }
      expect(stable(joined)).toBe(stable(baseline.text));
      expectNoCanary(manifestText, joined);
    },
    200_000,
  );

  it('uploads to pre-signed URLs the cloud grants and commits the same result', async () => {
    const jobId = await submit('pg-presigned', 'presigned');
    const job = await finished(jobId);
    expect(job.state, JSON.stringify(job)).toBe('committed');
    expect(sha256Of(await committedText(jobId))).toBe(job.result?.sha256);
    expect(stable(await committedText(jobId))).toBe(stable(baseline.text));
    const end = framesOf(jobId, 'job.end').find((frame) => frame.attempt === job.attempt) as {
      delivery: { mode: string; manifest: string };
    };
    expect(end.delivery).toEqual({ mode: 'presigned', manifest: 'manifest.json' });
    // The first part and the manifest came with the request; the other parts were asked for.
    const asked = framesOf(jobId, 'upload.request')
      .filter((frame) => frame.attempt === 1)
      .flatMap((frame) => frame.names as string[]);
    expect(asked).toContain('part-00001.jsonl.gz');
    expect(asked).not.toContain('part-00000.jsonl.gz');
    expect(framesOf(jobId, 'job.progress').map((frame) => frame.phase)).toContain('uploading');
    expectNoCanary();
    // Signed URLs never reach a log line.
    expect(stack.runtime.rawOutput.join('')).not.toMatch(/sig=/);
  }, 200_000);

  it('asks for a fresh URL when one has expired or is refused with 403', async () => {
    stack.cloud.uploads.ttlMs = 1;
    const jobId = await submit('pg-presigned', 'presigned');
    stack.cloud.uploads.ttlMs = 600_000;
    stack.cloud.uploads.failStatus = 403;
    stack.cloud.uploads.failNext = 1;
    const job = await finished(jobId);
    expect(job.state, JSON.stringify(job)).toBe('committed');
    expect(job.attempt).toBe(1);
    expect(sha256Of(await committedText(jobId))).toBe(job.result?.sha256);
    const asked = framesOf(jobId, 'upload.request').flatMap((frame) => frame.names as string[]);
    // Expired on arrival (the request's URLs), then refused once: part 0 was asked for twice.
    expect(asked.filter((name) => name === 'part-00000.jsonl.gz')).toHaveLength(2);
    expect(asked).toContain('manifest.json');
  }, 200_000);

  it('retries 5xx with backoff, then fails with a clear code', async () => {
    stack.cloud.uploads.failStatus = 503;
    stack.cloud.uploads.failNext = 2;
    const recovered = await finished(await submit('pg-presigned', 'presigned'));
    expect(recovered.state).toBe('committed');
    expect(recovered.attempt).toBe(1);
    stack.cloud.uploads.failNext = 1_000;
    const failedId = await submit('pg-presigned', 'presigned');
    const failed = await finished(failedId);
    stack.cloud.uploads.failNext = 0;
    expect(failed.state).toBe('failed');
    expect(failed.error?.code).toBe('SDR_ERR_DELIVERY_FAILED');
    expect(failed.error?.message).toMatch(
      /^uploading part-00000\.jsonl\.gz at http:\/\/127\.0\.0\.1:\d+ failed after 3 tries: HTTP 503/,
    );
    expect(framesOf(failedId, 'job.failed').map((frame) => frame.willRetry)).toEqual([true, false]);
    expect(JSON.stringify(failed)).not.toMatch(/sig=/);
  }, 200_000);

  it('does not commit an attempt whose part does not match its checksum; the retry commits', async () => {
    corruptNext = true;
    const jobId = await submit('pg-s3', 'bucket');
    const job = await finished(jobId);
    expect(job.state).toBe('committed');
    expect(job.attempt).toBeGreaterThanOrEqual(2);
    expect(stable(await committedText(jobId))).toBe(stable(baseline.text));
    const failures = framesOf(jobId, 'job.failed') as { attempt: number; code: string; message: string }[];
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: 'SDR_ERR_ATTEMPT_REFUSED', willRetry: true });
    expect(failures[0]!.message).toContain('CHECKSUM_MISMATCH');
    expect(failures[0]!.attempt).toBeLessThan(job.attempt ?? 0);
  }, 200_000);

  it('fails once, naming the missing permission, when the credentials cannot write the bucket', async () => {
    const jobId = await submit('pg-azure-readonly', 'bucket');
    const job = await finished(jobId);
    expect(job.state).toBe('failed');
    expect(job.error?.code).toBe('SDR_ERR_DELIVERY_DENIED');
    expect(job.error?.message).toContain(
      'grant blob write (Storage Blob Data Contributor, or a SAS with c and w)',
    );
    expect(job.error?.message).toContain(`on container ${azureContainer}`);
    expect(framesOf(jobId, 'job.failed')).toHaveLength(1);
    expect(framesOf(jobId, 'job.failed')[0]).toMatchObject({ willRetry: false });
    expect(job.error?.message).not.toContain('sig=');
  }, 200_000);

  it('refuses a delivery mode the connection does not allow', async () => {
    const job = await finished(await submit('pg-tunnel-only', 'bucket'));
    expect(job).toMatchObject({ state: 'rejected', error: { code: 'SDR_ERR_UNSUPPORTED_DELIVERY' } });
    expect(job.error?.message).toContain('connection "pg-tunnel-only" allows tunnel');
  }, 200_000);

  // Last: it kills the shared runtime and leaves its successor running.
  it('kill -9 mid-upload: one committed attempt, and no manifest for the dead one', async () => {
    hold.hold = (request) => request.method === 'PUT' && /\/1\/part-00002/.test(request.url ?? '');
    const jobId = await submit('pg-held', 'bucket');
    await hold.waitForHeld(180_000);
    await stack.runtime.stop('SIGKILL');
    hold.hold = undefined;
    const second = stack.startRuntime();
    const job = await finished(jobId);
    expect(job.state).toBe('committed');
    expect(job.attempt).toBeGreaterThanOrEqual(2);
    expect(stable(await committedText(jobId))).toBe(stable(baseline.text));
    await second.waitForMessage('committed by the cloud', 180_000);
    const dead = await s3Keys(`results/${stack.agentId}/${jobId}/1/`);
    expect(dead).toContain(`results/${stack.agentId}/${jobId}/1/part-00000.jsonl.gz`);
    expect(dead.some((key) => key.endsWith('manifest.json'))).toBe(false);
    expect(await s3Keys(`results/${stack.agentId}/${jobId}/${job.attempt}/`)).toContain(
      `results/${stack.agentId}/${jobId}/${job.attempt}/manifest.json`,
    );
    expect(framesOf(jobId, 'job.end').filter((frame) => frame.attempt === 1)).toHaveLength(0);
    expect(second.rawOutput.join('')).not.toContain(canary);
  }, 400_000);
});
