/**
 * Bucket relay against S3 with IAM enforced (a moto of its own, tests/peers/moto-iam.sh): the writer
 * policy docs/delivery.md gives is enough to commit, and credentials without s3:PutObject fail the job
 * once, naming the permission and the bucket. (The same check for Azure, a read-only SAS, is in
 * delivery.redis.postgres.moto.azurite.fake-gcs.test.ts; fake-gcs-server has no IAM to express it.)
 * Peers: SDR_TEST_PEERS=redis,postgres,moto-iam.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudApi, type LocalStack, startLocalStack, waitForJob } from '../../scripts/local-stack.js';
import { peers } from '../peers/endpoints.js';
import { type IamKey, MotoIam } from '../support/moto-iam.js';
import { PgFixture } from '../support/pg-fixture.js';

const run = randomBytes(3).toString('hex');
const bucket = `sdr-denied-${run}`;
const iam = new MotoIam(peers.motoIamUrl);
const s3 = (key: IamKey) =>
  new S3Client({ region: 'us-east-1', endpoint: peers.motoIamUrl, forcePathStyle: true, credentials: key });

let fixture: PgFixture;
let stack: LocalStack;
let writer: IamKey;
let readOnly: IamKey;
let cloudReader: IamKey;

function connection(name: string, keyVariable: string): string {
  return (
    fixture.connectionYaml(name).replace(/^connections:\n/, '') +
    [
      '    delivery:',
      '      default: bucket',
      '      bucket:',
      '        provider: s3',
      `        bucket: ${bucket}`,
      '        prefix: results',
      `        endpoint: ${peers.motoIamUrl}`,
      '        forcePathStyle: true',
      `        credentials: { accessKeyId: env://${keyVariable}_ID, secretAccessKey: env://${keyVariable}_SECRET }`,
      '',
    ].join('\n')
  );
}

beforeAll(async () => {
  fixture = await PgFixture.create('sdr_denied', 20);
  await iam.enforce(false);
  await s3({ accessKeyId: 'setup', secretAccessKey: 'setup' }).send(
    new CreateBucketCommand({ Bucket: bucket }),
  );
  // docs/delivery.md's runtime policy without retention: s3:PutObject under the prefix, nothing else.
  writer = await iam.user(`sdr-writer-${run}`, [
    { Effect: 'Allow', Action: ['s3:PutObject'], Resource: `arn:aws:s3:::${bucket}/results/*` },
  ]);
  // Everything a writer might plausibly be given by mistake, except the one permission it needs.
  readOnly = await iam.user(`sdr-read-only-${run}`, [
    {
      Effect: 'Allow',
      Action: ['s3:GetObject', 's3:ListBucket', 's3:DeleteObject'],
      Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
    },
  ]);
  cloudReader = await iam.user(`sdr-cloud-reader-${run}`, [
    { Effect: 'Allow', Action: ['s3:GetObject'], Resource: `arn:aws:s3:::${bucket}/results/*` },
  ]);
  await iam.enforce(true);
  stack = await startLocalStack({
    workDir: mkdtempSync(join(tmpdir(), 'sdr-delivery-denied-')),
    connectionsYaml: [
      'connections:\n',
      connection('pg-writer', 'SDR_TEST_WRITER'),
      connection('pg-read-only', 'SDR_TEST_READ_ONLY'),
    ].join(''),
    redisUrl: peers.redisUrl,
    connectTimeoutMs: 180_000,
    cloud: {
      bucketReaders: [
        {
          provider: 's3',
          bucket,
          region: 'us-east-1',
          endpoint: peers.motoIamUrl,
          forcePathStyle: true,
          credentials: cloudReader,
        },
      ],
    },
    runtimeEnv: {
      ...fixture.secretEnv,
      SDR_TEST_WRITER_ID: writer.accessKeyId,
      SDR_TEST_WRITER_SECRET: writer.secretAccessKey,
      SDR_TEST_READ_ONLY_ID: readOnly.accessKeyId,
      SDR_TEST_READ_ONLY_SECRET: readOnly.secretAccessKey,
      SDR_JOB_ATTEMPTS: '3',
      SDR_JOB_BACKOFF_MS: '100',
    },
  });
}, 300_000);

afterAll(async () => {
  await stack?.close();
  await iam.enforce(false);
  await fixture?.drop();
});

async function submit(connectionName: string): Promise<string> {
  const { jobId } = await cloudApi<{ jobId: string }>(
    stack.cloud,
    'POST',
    `/v1/agents/${stack.agentId}/jobs`,
    {
      connection: connectionName,
      delivery: { mode: 'bucket' },
    },
  );
  return jobId;
}

function failedFrames(jobId: string): { willRetry: boolean; code: string }[] {
  return stack.cloud
    .framesFrom(stack.agentId)
    .map((text) => JSON.parse(text) as { type: string; requestId?: string; willRetry: boolean; code: string })
    .filter((frame) => frame.type === 'job.failed' && frame.requestId === jobId);
}

describe('bucket relay with IAM enforced (S3)', () => {
  it('commits with the documented minimal writer policy, read back with a GetObject-only reader', async () => {
    const jobId = await submit('pg-writer');
    const job = await waitForJob(stack.cloud, jobId, undefined, 180_000);
    expect(job.state, JSON.stringify(job)).toBe('committed');
    expect(job.result?.records).toBeGreaterThan(20);
    const listed = await s3({ accessKeyId: 'x', secretAccessKey: 'x' })
      .send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `results/${stack.agentId}/${jobId}/` }))
      .then(
        () => 'listed',
        (error: { name?: string }) => error.name,
      );
    // Enforcement is really on: an unknown key is refused.
    expect(listed).toBe('InvalidAccessKeyId');
  }, 200_000);

  it('fails once, naming s3:PutObject and the bucket, when the credentials cannot write', async () => {
    const jobId = await submit('pg-read-only');
    const job = await waitForJob(stack.cloud, jobId, undefined, 180_000);
    expect(job.state, JSON.stringify(job)).toBe('failed');
    expect(job.error?.code).toBe('SDR_ERR_DELIVERY_DENIED');
    const message = job.error?.message ?? '';
    expect(message).toMatch(
      new RegExp(
        `^the storage credentials cannot write s3://${bucket}/results/${stack.agentId}/${jobId}/1/part-00000\\.jsonl\\.gz: grant s3:PutObject on arn:aws:s3:::${bucket}/results/`,
      ),
    );
    expect(message).toContain('AccessDenied');
    // Not retried: a permission does not appear by waiting.
    expect(failedFrames(jobId)).toEqual([
      expect.objectContaining({ code: 'SDR_ERR_DELIVERY_DENIED', willRetry: false }),
    ]);
    expect(message).not.toContain(readOnly.secretAccessKey);
    expect(stack.runtime.rawOutput.join('')).not.toContain(readOnly.secretAccessKey);
  }, 200_000);
});
