/**
 * Throttling and AccessDenied against moto: the gateway answers some calls with AWS-shaped
 * ThrottlingException (HTTP 400 and 429) or AccessDeniedException, so the SDK's adaptive retry and
 * the adapter's per-resource-type warnings run for real.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSagemakerAdapter } from '../../adapters/sagemaker/index.js';
import { SdrError } from '../../protocol/index.js';
import { peers } from '../peers/endpoints.js';
import {
  cleanupSagemaker,
  MOTO_CREDENTIALS,
  motoClient,
  populateSagemaker,
  type SagemakerFixture,
} from '../support/sagemaker-fixtures.js';
import { randomAccount, startSagemakerGateway, type SagemakerGateway } from '../support/sagemaker-gateway.js';
import { captureContext, runSagemaker, sagemakerConnection } from '../support/sagemaker-run.js';

const REGION = 'ap-northeast-3';
const ACCOUNT = randomAccount();
const PREFIX = `sdrsmf${process.pid.toString(36)}${Date.now().toString(36)}`;

let gateway: SagemakerGateway;
let fx: SagemakerFixture;

function connection(extra: Record<string, unknown> = {}) {
  return sagemakerConnection(
    { region: REGION, endpoint: gateway.url, maxRequestsPerSecond: 0, ...extra },
    MOTO_CREDENTIALS,
  );
}

beforeAll(async () => {
  gateway = await startSagemakerGateway(peers.motoUrl, ACCOUNT);
  const client = motoClient(gateway.url, REGION);
  fx = await populateSagemaker(client, gateway, PREFIX, REGION, ACCOUNT);
  client.destroy();
});

afterAll(async () => {
  if (gateway && fx) {
    gateway.faults.length = 0;
    const client = motoClient(gateway.url, REGION);
    await cleanupSagemaker(client, fx);
    client.destroy();
  }
  await gateway?.close();
});

describe('sagemaker adapter under throttling and denial', () => {
  it('retries ThrottlingException (HTTP 400) and HTTP 429 through the SDK adaptive retry and completes', async () => {
    gateway.calls.length = 0;
    gateway.faults.push(
      { operation: 'ListModels', error: 'ThrottlingException', status: 400, times: 2 },
      { operation: 'DescribeModel', error: 'ThrottlingException', status: 429, times: 2 },
    );
    const run = await runSagemaker(connection(), { include: [`${PREFIX}*`], resourceTypes: ['models'] });
    expect(run.records.filter((r) => r.kind === 'sagemaker.model')).toHaveLength(3);
    expect(run.warnings).toEqual([]);
    const listCalls = gateway.calls.filter((c) => c.operation === 'ListModels');
    expect(listCalls.map((c) => c.status)).toEqual([400, 400, 200]);
    expect(gateway.calls.filter((c) => c.operation === 'DescribeModel' && c.status === 429)).toHaveLength(2);
    const finished = run.logs.find((l) => l.message === 'sagemaker extraction finished');
    expect(finished?.fields).toMatchObject({ throttled: 4, requests: gateway.calls.length });
  });

  it('fails with a retryable SDR_ERR_SAGEMAKER_THROTTLED when throttling outlasts every attempt', async () => {
    gateway.faults.length = 0;
    gateway.faults.push({ operation: 'ListEndpoints', error: 'ThrottlingException', times: Infinity });
    const failure = await runSagemaker(connection({ maxAttempts: 2 }), {
      include: [`${PREFIX}*`],
      resourceTypes: ['endpoints'],
    }).catch((error: unknown) => error);
    gateway.faults.length = 0;
    expect(failure).toBeInstanceOf(SdrError);
    expect(failure).toMatchObject({ code: 'SDR_ERR_SAGEMAKER_THROTTLED', retryable: true });
    expect((failure as Error).message).toContain('sagemaker:ListEndpoints');
  });

  it('turns a denied List or Describe into a warning naming the IAM action and extracts the rest', async () => {
    gateway.faults.length = 0;
    gateway.faults.push(
      { operation: 'ListTrainingJobs', error: 'AccessDeniedException', times: Infinity },
      { operation: 'DescribeEndpoint', error: 'AccessDeniedException', times: Infinity },
      { operation: 'ListTags', error: 'AccessDeniedException', times: Infinity },
    );
    const run = await runSagemaker(connection(), { include: [`${PREFIX}*`] });
    gateway.faults.length = 0;
    const kinds = new Set(run.records.map((r) => r.kind));
    expect(kinds.has('sagemaker.training_job')).toBe(false);
    expect(kinds.has('sagemaker.endpoint')).toBe(false);
    for (const kind of [
      'sagemaker.model',
      'sagemaker.endpoint_config',
      'sagemaker.feature_group',
      'sagemaker.pipeline',
    ])
      expect(kinds.has(kind), kind).toBe(true);
    const models = run.records.filter((r) => r.kind === 'sagemaker.model');
    expect(models.every((m) => m.tags === null)).toBe(true);
    expect(run.warnings).toHaveLength(3);
    expect(run.warnings.find((w) => w.includes('sagemaker:ListTrainingJobs'))).toMatch(
      /training jobs were not extracted/,
    );
    expect(run.warnings.find((w) => w.includes('sagemaker:DescribeEndpoint'))).toContain(
      `"${fx.names.endpoint}"`,
    );
    expect(run.warnings.find((w) => w.includes('sagemaker:ListTags'))).toContain('3 objects');
  });

  it('check() fails with SDR_ERR_SAGEMAKER_DENIED naming sagemaker:ListModels', async () => {
    gateway.faults.length = 0;
    gateway.faults.push({ operation: 'ListModels', error: 'AccessDeniedException', times: 1 });
    const failure = await createSagemakerAdapter()
      .check(connection(), captureContext())
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'SDR_ERR_SAGEMAKER_DENIED', retryable: false });
    expect((failure as Error).message).toContain('sagemaker:ListModels');
  });
});
