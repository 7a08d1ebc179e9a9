/**
 * A SageMaker extraction through the real runtime process and the reference cloud, against moto:
 * secrets resolved from env:// references, the job committed with a matching checksum, and neither a
 * credential nor a container environment value anywhere in the result or the runtime's output.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudApi, type LocalStack, startLocalStack, waitForJob } from '../../scripts/local-stack.js';
import { peers } from '../peers/endpoints.js';
import {
  cleanupSagemaker,
  ENV_CANARY,
  MOTO_CREDENTIALS,
  motoClient,
  populateSagemaker,
  type SagemakerFixture,
} from '../support/sagemaker-fixtures.js';
import { randomAccount, startSagemakerGateway, type SagemakerGateway } from '../support/sagemaker-gateway.js';

const REGION = 'eu-south-2';
const ACCOUNT = randomAccount();
const PREFIX = `sdrsme${process.pid.toString(36)}${Date.now().toString(36)}`;

let gateway: SagemakerGateway;
let fx: SagemakerFixture;
let stack: LocalStack | undefined;

beforeAll(async () => {
  gateway = await startSagemakerGateway(peers.motoUrl, ACCOUNT);
  const client = motoClient(gateway.url, REGION);
  fx = await populateSagemaker(client, gateway, PREFIX, REGION, ACCOUNT);
  client.destroy();
});

afterAll(async () => {
  await stack?.close();
  if (gateway && fx) {
    const client = motoClient(gateway.url, REGION);
    await cleanupSagemaker(client, fx);
    client.destroy();
  }
  await gateway?.close();
});

describe('sagemaker end to end through the reference cloud', () => {
  it('commits every record with no credential or environment value in the result or the logs', async () => {
    stack = await startLocalStack({
      workDir: mkdtempSync(join(tmpdir(), 'sdr-e2e-sm-')),
      connectionsYaml: [
        'connections:',
        '  - name: ml',
        '    type: sagemaker',
        '    secrets:',
        '      accessKeyId: env://SDR_E2E_AWS_ACCESS_KEY_ID',
        '      secretAccessKey: env://SDR_E2E_AWS_SECRET_ACCESS_KEY',
        '    options:',
        `      region: ${REGION}`,
        `      endpoint: ${gateway.url}`,
        '      maxRequestsPerSecond: 0',
        '',
      ].join('\n'),
      redisUrl: peers.redisUrl,
      runtimeEnv: {
        SDR_E2E_AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
        SDR_E2E_AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
        SDR_LOG_LEVEL: 'debug',
      },
    });
    const { jobId } = await cloudApi<{ jobId: string }>(
      stack.cloud,
      'POST',
      `/v1/agents/${stack.agentId}/jobs`,
      { connection: 'ml', options: { include: [`${PREFIX}*`] } },
    );
    const job = await waitForJob(stack.cloud, jobId, undefined, 60_000);
    expect(job).toMatchObject({ state: 'committed' });
    expect(job.warnings ?? []).toEqual([]);
    // Read as text: the result is NDJSON, which cloudApi would try to parse as one JSON document.
    const response = await fetch(`${stack.cloud.url}/v1/jobs/${jobId}/result`, {
      headers: { authorization: `Bearer ${stack.cloud.adminToken}` },
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(createHash('sha256').update(text).digest('hex')).toBe(job.result?.sha256);
    const records = text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { kind: string; key: string });
    expect(records).toHaveLength(job.result!.records);
    const kinds = new Set(records.map((r) => r.kind));
    for (const kind of [
      'sagemaker.model',
      'sagemaker.training_job',
      'sagemaker.model_package',
      'sagemaker.endpoint',
      'sagemaker.feature_group',
      'sagemaker.pipeline',
      'sagemaker.lineage_edge',
    ])
      expect(kinds.has(kind), kind).toBe(true);
    expect(records.map((r) => r.key)).toContain(
      `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model/${fx.names.modelA.toLowerCase()}`,
    );
    const everything = [text, ...stack.runtime.rawOutput].join('\n');
    expect(everything).not.toContain(ENV_CANARY);
    expect(everything).not.toContain(MOTO_CREDENTIALS.secretAccessKey);
  });
});
