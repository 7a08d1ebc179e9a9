import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RequestRateLimiter, toSdrError } from '../../adapters/sagemaker/client.js';
import { mapOrdered } from '../../adapters/shared/index.js';
import { nameFilter, parseExtractOptions, parseSettings } from '../../adapters/sagemaker/options.js';
import {
  envNames,
  featureGroupRecord,
  modelRecord,
  tuningJobRecord,
} from '../../adapters/sagemaker/records.js';
import { ADAPTER_TYPES, loadAdapters } from '../../adapters/index.js';

const sourceDir = new URL('../../adapters/sagemaker/', import.meta.url);
const sources = readdirSync(sourceDir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => readFileSync(new URL(f, sourceDir), 'utf8'));

/** Every SageMaker operation the adapter's code names: command classes and the SDK's paginators. */
function commandsUsed(): Set<string> {
  const used = new Set<string>();
  for (const text of sources) {
    for (const m of text.matchAll(/\b([A-Z][A-Za-z0-9]+)Command\b/g)) used.add(m[1]!);
    for (const m of text.matchAll(/\bpaginate([A-Z][A-Za-z0-9]+)\b/g)) used.add(m[1]!);
  }
  return used;
}

describe('sagemaker adapter is read-only', () => {
  it('names no SageMaker operation other than List*, Describe*, Search or lineage queries', () => {
    const used = commandsUsed();
    expect(used.size).toBeGreaterThan(20);
    for (const op of used) expect(op).toMatch(/^(List|Describe|Search$|QueryLineage$)/);
  });

  it('documents a minimal IAM policy holding exactly the actions the code uses', () => {
    const doc = readFileSync(new URL('../../docs/adapters/sagemaker.md', import.meta.url), 'utf8');
    const policy = /```json\n(\{[\s\S]*?"Version"[\s\S]*?\})\n```/.exec(doc)?.[1];
    expect(policy, 'a ```json IAM policy block').toBeDefined();
    const actions = (JSON.parse(policy!) as { Statement: { Action: string[] }[] }).Statement.flatMap(
      (s) => s.Action,
    );
    expect(new Set(actions)).toEqual(new Set([...commandsUsed()].map((op) => `sagemaker:${op}`)));
  });

  it('is registered as the sagemaker adapter', async () => {
    expect(ADAPTER_TYPES).toContain('sagemaker');
    expect((await loadAdapters(['sagemaker'])).map((a) => a.type)).toEqual(['sagemaker']);
  });
});

describe('sagemaker options', () => {
  it('defaults to every resource type and validates the rest', () => {
    const options = parseExtractOptions({}, 'sm');
    expect(options.resourceTypes.size).toBe(13);
    expect(options).toMatchObject({ include: [], exclude: [], modelTags: true, pipelineExecutions: 10 });
    const some = parseExtractOptions(
      {
        resourceTypes: ['models', 'endpoints'],
        excludeResourceTypes: ['endpoints'],
        createdAfter: '2026-01-01T00:00:00Z',
      },
      'sm',
    );
    expect([...some.resourceTypes]).toEqual(['models']);
    expect(some.createdAfter?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    for (const bad of [{ resourceTypes: ['notebooks'] }, { createdAfter: 'yesterday' }, { unknown: 1 }])
      expect(() => parseExtractOptions(bad, 'sm')).toThrow(
        expect.objectContaining({ code: 'SDR_ERR_INVALID_OPTIONS' }),
      );
  });

  it('takes static credentials or none, never half, and never echoes a secret', () => {
    const conn = (options: Record<string, unknown>, credentials: Record<string, string>) => ({
      name: 'sm',
      type: 'sagemaker',
      options,
      credentials,
    });
    expect(parseSettings(conn({ region: 'eu-west-1' }, {})).credentials).toBeUndefined();
    expect(
      parseSettings(conn({}, { accessKeyId: 'AKIA1', secretAccessKey: 's', sessionToken: 't' })).credentials,
    ).toEqual({ accessKeyId: 'AKIA1', secretAccessKey: 's', sessionToken: 't' });
    const half = (): unknown => parseSettings(conn({}, { secretAccessKey: 'super-secret-value' }));
    expect(half).toThrow(expect.objectContaining({ code: 'SDR_ERR_SAGEMAKER_CONFIG' }));
    expect(half).toThrow(/sagemaker connection "sm" is misconfigured/);
    expect(() => half()).not.toThrow(/super-secret-value/);
    expect(() => parseSettings(conn({ externalId: 'x1' }, {}))).toThrow(/roleArn/);
    expect(() => parseSettings(conn({ region: 'mars' }, {}))).toThrow(/region/);
    expect(parseSettings(conn({}, {}))).toMatchObject({ maxRequestsPerSecond: 10, describeConcurrency: 4 });
  });

  it('matches names against case-insensitive globs', () => {
    const wanted = nameFilter(['churn-*', 'fraud-?'], ['*-tmp']);
    expect(['churn-a', 'CHURN-b', 'fraud-1'].every(wanted)).toBe(true);
    expect(['churn-a-tmp', 'fraud-12', 'other', 'churn.x'].some(wanted)).toBe(false);
    expect(nameFilter([], [])('anything')).toBe(true);
  });
});

describe('sagemaker records from AWS-documented responses moto does not produce', () => {
  it('reports an enabled online store', () => {
    const record = featureGroupRecord(
      {
        $metadata: {},
        FeatureGroupArn: 'arn:aws:sagemaker:eu-west-1:123456789012:feature-group/customers',
        FeatureGroupName: 'customers',
        RecordIdentifierFeatureName: 'id',
        EventTimeFeatureName: 'ts',
        FeatureDefinitions: [{ FeatureName: 'id', FeatureType: 'String' }],
        CreationTime: new Date('2026-01-01T00:00:00Z'),
        OnlineStoreConfig: { EnableOnlineStore: true },
        NextToken: undefined,
      },
      [{ FeatureName: 'id', FeatureType: 'String' }],
    );
    expect(record).toMatchObject({ onlineStore: { enabled: true }, offlineStore: { enabled: false } });
  });

  it('links a tuning job to its best training job and the model it produced', () => {
    const record = tuningJobRecord(
      {
        $metadata: {},
        HyperParameterTuningJobName: 'hpo',
        HyperParameterTuningJobArn: 'arn:aws:sagemaker:eu-west-1:123456789012:hyper-parameter-tuning-job/hpo',
        HyperParameterTuningJobConfig: { Strategy: 'Random', ResourceLimits: { MaxParallelTrainingJobs: 1 } },
        HyperParameterTuningJobStatus: 'Completed',
        CreationTime: new Date(),
        TrainingJobStatusCounters: {},
        ObjectiveStatusCounters: {},
        BestTrainingJob: {
          TrainingJobName: 'hpo-001-abc',
          TrainingJobArn: 'arn:aws:sagemaker:eu-west-1:123456789012:training-job/hpo-001-abc',
          CreationTime: new Date(),
          TrainingJobStatus: 'Completed',
          TunedHyperParameters: { eta: '0.3' },
        },
      },
      'arn:aws:sagemaker:eu-west-1:123456789012:training-job/hpo-001-abc',
      ['arn:aws:sagemaker:eu-west-1:123456789012:model/best'],
    );
    expect(record).toMatchObject({
      bestTrainingJobName: 'hpo-001-abc',
      producedModels: ['arn:aws:sagemaker:eu-west-1:123456789012:model/best'],
    });
  });

  it('keeps environment variable names and drops their values', () => {
    expect(envNames({ B: 'secret-b', A: 'secret-a' })).toEqual(['A', 'B']);
    const record = modelRecord(
      {
        $metadata: {},
        ModelName: 'm',
        ModelArn: 'arn:aws:sagemaker:eu-west-1:123456789012:model/m',
        CreationTime: new Date(),
        PrimaryContainer: { Image: 'i', Environment: { TOKEN: 'secret-token' } },
      },
      undefined,
    );
    expect(JSON.stringify(record)).not.toContain('secret-token');
    expect(record.tags).toBeNull();
  });
});

describe('sagemaker request pacing', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs at most `limit` calls at once and yields in input order', async () => {
    let running = 0;
    let peak = 0;
    const out: number[] = [];
    for await (const value of mapOrdered([5, 1, 4, 2, 3, 0], 2, async (n) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, n));
      running -= 1;
      return n * 10;
    }))
      out.push(value);
    expect(out).toEqual([50, 10, 40, 20, 30, 0]);
    expect(peak).toBe(2);
  });

  it('spaces requests at the configured rate', async () => {
    vi.useFakeTimers();
    const limiter = new RequestRateLimiter(10);
    const signal = new AbortController().signal;
    const done: number[] = [];
    for (let i = 0; i < 3; i += 1) void limiter.acquire(signal).then(() => done.push(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toEqual([0]);
    await vi.advanceTimersByTimeAsync(100);
    expect(done).toEqual([0, 1]);
    await vi.advanceTimersByTimeAsync(100);
    expect(done).toEqual([0, 1, 2]);
  });

  it('stops waiting when the job is cancelled', async () => {
    const limiter = new RequestRateLimiter(0.5);
    const controller = new AbortController();
    await limiter.acquire(controller.signal);
    const waiting = limiter.acquire(controller.signal);
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
  });
});

describe('sagemaker error classification', () => {
  const aws = (name: string, status: number, message = 'm') =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

  it.each([
    [aws('UnrecognizedClientException', 400), 'SDR_ERR_SAGEMAKER_AUTH'],
    [aws('ExpiredTokenException', 400), 'SDR_ERR_SAGEMAKER_AUTH'],
    [
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
      'SDR_ERR_SAGEMAKER_AUTH',
    ],
    [aws('AccessDenied', 403, 'User is not authorized to perform: sts:AssumeRole'), 'SDR_ERR_SAGEMAKER_AUTH'],
    [aws('AccessDeniedException', 400), 'SDR_ERR_SAGEMAKER_DENIED'],
    [aws('ThrottlingException', 400), 'SDR_ERR_SAGEMAKER_THROTTLED'],
    [aws('SomethingElse', 429), 'SDR_ERR_SAGEMAKER_THROTTLED'],
    [
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      'SDR_ERR_SAGEMAKER_UNREACHABLE',
    ],
    [aws('InternalFailure', 500), 'SDR_ERR_SAGEMAKER_API'],
  ])('%s becomes %s, keeping the cause', (error, code) => {
    const mapped = toSdrError(error, 'sm', 'sagemaker:ListModels');
    expect(mapped).toMatchObject({ code });
    expect(mapped.cause).toBe(error);
  });
});
