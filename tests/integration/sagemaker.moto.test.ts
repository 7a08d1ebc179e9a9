/**
 * The SageMaker adapter against moto (server mode) through the test gateway: every extracted field,
 * lineage, filters, credentials (static, default chain, assume-role), read-only use and secrecy.
 */
import {
  CreateModelCommand,
  CreateTrainingJobCommand,
  DeleteModelCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSagemakerAdapter } from '../../adapters/sagemaker/index.js';
import type { MetadataRecord } from '../../adapters/types.js';
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
import {
  captureContext,
  runSagemaker,
  sagemakerConnection,
  type SagemakerRun,
} from '../support/sagemaker-run.js';

// Records are open-ended JSON; the assertions below read nested fields freely.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Rec = any;

const REGION = 'ap-southeast-3';
const ACCOUNT = randomAccount();
const PREFIX = `sdrsm${process.pid.toString(36)}${Date.now().toString(36)}`;
const BULK_JOBS = 105;

let gateway: SagemakerGateway;
let client: SageMakerClient;
let fx: SagemakerFixture;
let full: SagemakerRun;
let fullCalls: SagemakerGateway['calls'];

function connection(extra: Record<string, unknown> = {}) {
  return sagemakerConnection(
    { region: REGION, endpoint: gateway.url, maxRequestsPerSecond: 0, ...extra },
    MOTO_CREDENTIALS,
  );
}

function one(records: MetadataRecord[], kind: string, name: string): Rec {
  const found = records.filter((r) => r.kind === kind && r.name === name);
  expect(found, `${kind} ${name}`).toHaveLength(1);
  return found[0] as Rec;
}

function edges(records: MetadataRecord[]) {
  return records
    .filter((r) => r.kind === 'sagemaker.lineage_edge')
    .map(
      (r) => r as unknown as { from: { ref: string }; to: { ref: string }; relation: string; origin: string },
    );
}

const arn = (type: string, name: string) =>
  `arn:aws:sagemaker:${REGION}:${ACCOUNT}:${type}/${name.toLowerCase()}`;

beforeAll(async () => {
  gateway = await startSagemakerGateway(peers.motoUrl, ACCOUNT);
  client = motoClient(gateway.url, REGION);
  fx = await populateSagemaker(client, gateway, PREFIX, REGION, ACCOUNT);
  // More training jobs than one List page holds, to prove pagination runs to the end.
  const bulk = Array.from({ length: BULK_JOBS }, (_, i) => `${PREFIX}-bulk-${String(i).padStart(3, '0')}`);
  for (let i = 0; i < bulk.length; i += 8)
    await Promise.all(
      bulk.slice(i, i + 8).map((name) =>
        client.send(
          new CreateTrainingJobCommand({
            TrainingJobName: name,
            RoleArn: fx.role,
            AlgorithmSpecification: { TrainingImage: 'bulk:1', TrainingInputMode: 'File' },
            OutputDataConfig: { S3OutputPath: `s3://${PREFIX}-bucket/bulk` },
            ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
            StoppingCondition: { MaxRuntimeInSeconds: 60 },
          }),
        ),
      ),
    );
  gateway.calls.length = 0;
  full = await runSagemaker(connection(), { include: [`${PREFIX}*`] });
  fullCalls = [...gateway.calls];
});

afterAll(async () => {
  if (client && fx) await cleanupSagemaker(client, fx);
  client?.destroy();
  await gateway?.close();
});

describe('sagemaker adapter against moto', () => {
  it('extracts models with containers, env var names only, VPC config and tags', () => {
    const a = one(full.records, 'sagemaker.model', fx.names.modelA);
    expect(a).toMatchObject({
      key: arn('model', fx.names.modelA),
      arn: arn('model', fx.names.modelA),
      executionRoleArn: fx.role,
      containers: [
        {
          image: 'sklearn:1.2',
          modelDataUrl: `s3://${PREFIX}-bucket/manual/model.tar.gz`,
          environmentVariableNames: ['API_TOKEN', 'LOG_LEVEL'],
        },
      ],
      vpcConfig: { securityGroupIds: ['sg-0123'], subnets: ['subnet-a', 'subnet-b'] },
      tags: { team: 'ml', 'cost-center': '42' },
    });
    expect(Date.parse(a.createdAt)).toBeGreaterThan(Date.now() - 3_600_000);
    const b = one(full.records, 'sagemaker.model', fx.names.modelB);
    expect(b.containers).toEqual([
      expect.objectContaining({
        image: 'preprocess:1',
        modelDataUrl: null,
        environmentVariableNames: ['STAGE'],
      }),
      expect.objectContaining({
        image: 'xgboost:1.7-1',
        modelDataUrl: fx.trainingArtifact,
        environmentVariableNames: ['SECRET_KEY'],
      }),
    ]);
    expect(b.vpcConfig).toBeNull();
    expect(b.tags).toEqual({});
    const fromPackage = one(full.records, 'sagemaker.model', fx.names.modelFromPackage);
    expect(fromPackage.containers[0].modelPackageName).toBe(fx.packageArns[0]);
  });

  it('extracts model package groups and versioned packages with status, approval, images, artifacts, metrics and creator', () => {
    const group = one(full.records, 'sagemaker.model_package_group', fx.names.group);
    expect(group).toMatchObject({
      arn: arn('model-package-group', fx.names.group),
      description: 'churn models',
    });
    const packages = full.records.filter((r) => r.kind === 'sagemaker.model_package') as Rec[];
    expect(packages.map((p): unknown => p.arn)).toEqual(fx.packageArns);
    expect(packages[0]).toMatchObject({
      parent: group.key,
      groupName: fx.names.group,
      version: 1,
      status: 'Completed',
      approvalStatus: 'Approved',
      images: ['xgboost:1.7-1'],
      s3Artifacts: [fx.trainingArtifact],
      metrics: [
        {
          name: 'ModelQuality.Statistics',
          s3Uri: `s3://${PREFIX}-bucket/eval/v1/statistics.json`,
          contentType: 'application/json',
        },
      ],
      customerMetadata: { owner: 'ml-team' },
    });
    expect(packages[0]!.containers[0].environmentVariableNames).toEqual(['PKG_SECRET']);
    expect(packages[0]!.createdBy).toMatchObject({ userProfileName: expect.any(String) });
    expect(packages[1]).toMatchObject({ version: 2, approvalStatus: 'PendingManualApproval' });
  });

  it('extracts training jobs with status, times, image, hyperparameters, S3 inputs, output and the model produced', () => {
    const job = one(full.records, 'sagemaker.training_job', fx.names.trainingJob);
    expect(job).toMatchObject({
      arn: arn('training-job', fx.names.trainingJob),
      status: 'Completed',
      algorithm: { image: 'xgboost:1.7-1', inputMode: 'File' },
      hyperParameters: { max_depth: '6', eta: '0.2' },
      inputS3Uris: [`s3://${PREFIX}-bucket/data/train/`, `s3://${PREFIX}-bucket/data/val/`],
      outputS3Uri: `s3://${PREFIX}-bucket/models`,
      modelArtifactS3Uri: fx.trainingArtifact,
      instanceType: 'ml.m5.xlarge',
      instanceCount: 2,
      roleArn: fx.role,
      producedModels: [arn('model', fx.names.modelB)],
    });
    for (const field of ['createdAt', 'startedAt', 'endedAt', 'lastModifiedAt'])
      expect(Number.isNaN(Date.parse(job[field])), field).toBe(false);
  });

  it('pages List calls to the end', () => {
    const bulk = full.records.filter(
      (r) => r.kind === 'sagemaker.training_job' && String(r.name).startsWith(`${PREFIX}-bulk-`),
    );
    expect(bulk).toHaveLength(BULK_JOBS);
    const lists = fullCalls.filter((c) => c.operation === 'ListTrainingJobs');
    expect(lists.length).toBeGreaterThanOrEqual(2);
    expect(lists.slice(1).every((c) => typeof c.input.NextToken === 'string')).toBe(true);
  });

  it('extracts processing, transform, tuning and AutoML jobs', () => {
    expect(one(full.records, 'sagemaker.processing_job', fx.names.processingJob)).toMatchObject({
      status: 'Completed',
      algorithm: { image: 'sklearn-processing:1.2' },
      inputS3Uris: [`s3://${PREFIX}-bucket/raw/`],
      outputS3Uri: `s3://${PREFIX}-bucket/data/train/`,
      outputS3Uris: [`s3://${PREFIX}-bucket/data/train/`],
      roleArn: fx.role,
    });
    const transform = one(full.records, 'sagemaker.transform_job', fx.names.transformJob);
    expect(transform).toMatchObject({
      status: 'Completed',
      modelName: fx.names.modelB,
      modelArn: arn('model', fx.names.modelB),
      inputS3Uris: [`s3://${PREFIX}-bucket/batch/in/`],
      outputS3Uri: `s3://${PREFIX}-bucket/batch/out/`,
      instanceType: 'ml.m5.large',
      environmentVariableNames: ['BATCH_SECRET'],
    });
    expect(Date.parse(transform.createdAt)).not.toBeNaN();
    expect(one(full.records, 'sagemaker.hyper_parameter_tuning_job', fx.names.tuningJob)).toMatchObject({
      status: 'Completed',
      strategy: 'Bayesian',
      objective: { type: 'Maximize', metric: 'validation:auc' },
      algorithm: { image: 'xgboost:1.7-1' },
      hyperParameters: { num_round: '100' },
      hyperParameterRanges: { continuous: ['eta'] },
      inputS3Uris: [`s3://${PREFIX}-bucket/data/train/`],
      outputS3Uri: `s3://${PREFIX}-bucket/hpo`,
      // moto reports a placeholder best job that is not an ARN; the adapter links only real ARNs.
      bestTrainingJobArn: null,
    });
    expect(one(full.records, 'sagemaker.automl_job', fx.names.autoMLJob)).toMatchObject({
      algorithm: { problemType: 'Tabular', objective: 'F1' },
      inputS3Uris: [`s3://${PREFIX}-bucket/automl/in/`],
      outputS3Uri: `s3://${PREFIX}-bucket/automl/out/`,
      roleArn: fx.role,
      bestCandidate: { name: expect.any(String) },
      status: expect.any(String),
    });
  });

  it('extracts endpoint configs and endpoints with variants, model, instance type and count, data capture', () => {
    expect(one(full.records, 'sagemaker.endpoint_config', fx.names.endpointConfig)).toMatchObject({
      productionVariants: [
        {
          variantName: 'primary',
          modelName: fx.names.modelB,
          modelArn: arn('model', fx.names.modelB),
          instanceType: 'ml.c5.large',
          initialInstanceCount: 3,
        },
      ],
      dataCapture: {
        enabled: true,
        destinationS3Uri: `s3://${PREFIX}-bucket/capture`,
        samplingPercentage: 20,
      },
    });
    expect(one(full.records, 'sagemaker.endpoint', fx.names.endpoint)).toMatchObject({
      arn: arn('endpoint', fx.names.endpoint),
      status: 'InService',
      endpointConfigName: fx.names.endpointConfig,
      endpointConfigArn: arn('endpoint-config', fx.names.endpointConfig),
      productionVariants: [
        {
          variantName: 'primary',
          modelArn: arn('model', fx.names.modelB),
          instanceType: 'ml.c5.large',
          currentInstanceCount: 3,
        },
      ],
      dataCapture: { enabled: true, destinationS3Uri: `s3://${PREFIX}-bucket/capture` },
    });
  });

  it('extracts feature groups with typed features, identifiers, stores, offline S3 URI and Glue table', () => {
    const fg = one(full.records, 'sagemaker.feature_group', fx.names.featureGroup);
    expect(fg).toMatchObject({
      arn: arn('feature-group', fx.names.featureGroup),
      features: [
        { name: 'customer_id', type: 'String' },
        { name: 'event_time', type: 'Fractional' },
        { name: 'tenure_months', type: 'Integral' },
      ],
      recordIdentifierFeatureName: 'customer_id',
      eventTimeFeatureName: 'event_time',
      // moto does not keep OnlineStoreConfig; the enabled case is covered by the records unit test.
      onlineStore: { enabled: false },
      offlineStore: {
        enabled: true,
        glueTable: { catalog: 'AwsDataCatalog', database: 'sagemaker_featurestore' },
      },
    });
    expect(fg.offlineStore.s3Uri).toMatch(new RegExp(`^s3://${PREFIX}-bucket/features/`));
    expect(fg.offlineStore.glueTable.table).toMatch(/_fg_/);
  });

  it('extracts pipelines with steps and a summary of recent executions', () => {
    const pipeline = one(full.records, 'sagemaker.pipeline', fx.names.pipeline);
    expect(pipeline).toMatchObject({
      displayName: 'Churn training',
      steps: [
        { name: 'Prepare', type: 'Processing' },
        { name: 'Train', type: 'Training' },
        { name: 'Register', type: 'RegisterModel' },
      ],
      recentExecutions: { count: 2, byStatus: { Succeeded: 2 } },
    });
    const latest = pipeline.recentExecutions.latest as { displayName: string }[];
    expect(latest.map((e) => e.displayName).sort()).toEqual(['run-0', 'run-1']);
  });

  it('links S3 dataset → job → model → model package → endpoint and emits lineage entities and associations', () => {
    const all = edges(full.records);
    const has = (from: string, relation: string, to: string) =>
      expect(
        all.some((e) => e.from.ref === from && e.relation === relation && e.to.ref === to),
        `${from} ${relation} ${to}`,
      ).toBe(true);
    const job = arn('training-job', fx.names.trainingJob);
    const modelB = arn('model', fx.names.modelB);
    has(`s3://${PREFIX}-bucket/data/train/`, 'input_to', job);
    has(job, 'produced', modelB);
    has(modelB, 'registered_as', fx.packageArns[0]!);
    has(job, 'produced', fx.packageArns[0]!);
    has(fx.packageArns[0]!, 'deployed_as', arn('model', fx.names.modelFromPackage));
    has(modelB, 'deployed_to', arn('endpoint', fx.names.endpoint));
    has(arn('endpoint', fx.names.endpoint), 'captures_to', `s3://${PREFIX}-bucket/capture`);
    has(modelB, 'used_by', arn('transform-job', fx.names.transformJob));
    has(`s3://${PREFIX}-bucket/raw/`, 'input_to', arn('processing-job', fx.names.processingJob));
    expect(
      all.some(
        (e) =>
          e.from.ref === arn('feature-group', fx.names.featureGroup) &&
          e.relation === 'offline_store' &&
          e.to.ref.startsWith(`s3://${PREFIX}-bucket/features/`),
      ),
    ).toBe(true);
    expect(
      all.some((e) => e.relation === 'catalogued_as' && e.to.ref.startsWith('glue://AwsDataCatalog/')),
    ).toBe(true);
    has(
      fx.lineage.datasetArtifactArn,
      'ContributedTo',
      arn('experiment-trial-component', `${fx.names.trainingJob}-aws-training-job`),
    );
    has(fx.lineage.actionArn, 'AssociatedWith', fx.lineage.contextArn);
    expect(all.filter((e) => e.origin === 'association')).toHaveLength(2);
    expect(one(full.records, 'sagemaker.lineage_artifact', `${PREFIX}-train-data`)).toMatchObject({
      arn: fx.lineage.datasetArtifactArn,
      type: 'DataSet',
      sourceUri: `s3://${PREFIX}-bucket/data/train/`,
    });
    expect(one(full.records, 'sagemaker.lineage_context', `${fx.names.endpoint}-aws-endpoint`)).toMatchObject(
      {
        type: 'Endpoint',
        sourceUri: arn('endpoint', fx.names.endpoint),
      },
    );
    expect(one(full.records, 'sagemaker.lineage_action', `${PREFIX}-deploy-action`)).toMatchObject({
      type: 'ModelDeployment',
      status: 'Completed',
    });
    const keys = full.records.map((r) => r.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('never lets an environment variable value reach a record, a warning or a log line', () => {
    const everything = JSON.stringify([full.records, full.warnings, full.logs]);
    expect(everything).not.toContain(ENV_CANARY);
    expect(everything).toContain('API_TOKEN');
  });

  it('uses only List, Describe and Search operations, describing each object once', () => {
    expect(fullCalls.length).toBeGreaterThan(0);
    const operations = new Set(fullCalls.map((c) => c.operation));
    for (const op of operations) expect(op).toMatch(/^(List|Describe|Search)/);
    const describes = fullCalls
      .filter((c) => c.operation.startsWith('Describe'))
      .map((c) => `${c.operation} ${JSON.stringify(c.input)}`);
    expect(describes.length).toBeGreaterThan(0);
    expect(new Set(describes).size).toBe(describes.length);
    const finished = full.logs.find((l) => l.message === 'sagemaker extraction finished');
    expect(finished?.fields.requests).toBe(fullCalls.length);
    expect(full.warnings).toEqual([]);
  });

  it('filters by name pattern, resource type and creation time', async () => {
    const byName = await runSagemaker(connection(), {
      include: [`${PREFIX}-model-*`, `${PREFIX}-TRAIN`],
      exclude: ['*-model-pkg'],
      resourceTypes: ['models', 'trainingJobs'],
    });
    expect(byName.records.filter((r) => r.kind !== 'sagemaker.lineage_edge').map((r) => r.name)).toEqual([
      fx.names.modelA,
      fx.names.modelB,
      fx.names.trainingJob,
    ]);
    const noModels = await runSagemaker(connection(), {
      include: [`${PREFIX}*`],
      excludeResourceTypes: ['models', 'trainingJobs', 'lineage'],
    });
    const kinds = new Set(noModels.records.map((r) => r.kind));
    expect(kinds.has('sagemaker.model')).toBe(false);
    expect(kinds.has('sagemaker.training_job')).toBe(false);
    expect(kinds.has('sagemaker.endpoint')).toBe(true);

    const cut = new Date();
    const late = `${PREFIX}-late-model`;
    await new Promise((r) => setTimeout(r, 20));
    await client.send(
      new CreateModelCommand({
        ModelName: late,
        ExecutionRoleArn: fx.role,
        PrimaryContainer: { Image: 'late:1' },
      }),
    );
    const recent = await runSagemaker(connection(), {
      include: [`${PREFIX}*`],
      resourceTypes: ['models', 'endpoints'],
      createdAfter: cut.toISOString(),
    });
    expect(recent.records.map((r) => r.name)).toEqual([late]);
  });

  it('resolves credentials from the default chain when the connection has none', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = MOTO_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = MOTO_CREDENTIALS.secretAccessKey;
    try {
      const run = await runSagemaker(
        sagemakerConnection({ region: REGION, endpoint: gateway.url, maxRequestsPerSecond: 0 }),
        { include: [fx.names.modelA], resourceTypes: ['models'] },
      );
      expect(run.records.map((r) => r.name)).toEqual([fx.names.modelA]);
    } finally {
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });

  it('resolves web identity (EKS IRSA) credentials through the default chain against STS', async () => {
    const roleAccount = randomAccount();
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'sdr-irsa-')), 'token');
    writeFileSync(tokenFile, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2RyOnNkciJ9.');
    const env = {
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
      AWS_ROLE_ARN: `arn:aws:iam::${roleAccount}:role/sdr-irsa`,
      AWS_ROLE_SESSION_NAME: 'sdr-irsa-test',
      AWS_ENDPOINT_URL_STS: peers.motoUrl,
      // Never probe the instance metadata address from a test.
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
    };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    const apply = (values: Record<string, string | undefined>) => {
      for (const [k, v] of Object.entries(values)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    };
    apply(env);
    try {
      // Straight to moto: the web-identity keys belong to the role's account.
      const conn = sagemakerConnection({ region: REGION, endpoint: peers.motoUrl, maxRequestsPerSecond: 0 });
      const name = `${PREFIX}-irsa-model`;
      const seeded = new SageMakerClient({ region: REGION, endpoint: peers.motoUrl });
      await seeded.send(
        new CreateModelCommand({
          ModelName: name,
          ExecutionRoleArn: fx.role,
          PrimaryContainer: { Image: 'w:1' },
        }),
      );
      const run = await runSagemaker(conn, { include: [name], resourceTypes: ['models'] });
      expect(run.records.map((r) => r.key)).toEqual([
        `arn:aws:sagemaker:${REGION}:${roleAccount}:model/${name}`,
      ]);
      const facts = await createSagemakerAdapter().check(conn, captureContext());
      expect(facts).toMatchObject({ credentials: 'default-chain', account: roleAccount });
      await seeded.send(new DeleteModelCommand({ ModelName: name }));
      seeded.destroy();
    } finally {
      apply(saved);
    }
  });

  it('assumes a role with an external ID through STS and reads the role account', async () => {
    // Straight to moto: its STS hands out keys that belong to the role's account.
    const roleAccount = randomAccount();
    const roleArn = `arn:aws:iam::${roleAccount}:role/sdr-sagemaker-reader`;
    const assumed = new SageMakerClient({
      region: REGION,
      endpoint: peers.motoUrl,
      credentials: fromTemporaryCredentials({
        masterCredentials: MOTO_CREDENTIALS,
        params: { RoleArn: roleArn, RoleSessionName: 'fixture', ExternalId: 'sdr-ext-1' },
        clientConfig: { region: REGION, endpoint: peers.motoUrl },
      }),
    });
    const name = `${PREFIX}-role-model`;
    await assumed.send(
      new CreateModelCommand({
        ModelName: name,
        ExecutionRoleArn: fx.role,
        PrimaryContainer: { Image: 'r:1' },
      }),
    );
    const conn = sagemakerConnection(
      {
        region: REGION,
        endpoint: peers.motoUrl,
        stsEndpoint: peers.motoUrl,
        roleArn,
        externalId: 'sdr-ext-1',
        maxRequestsPerSecond: 0,
      },
      MOTO_CREDENTIALS,
    );
    const run = await runSagemaker(conn, { include: [name], resourceTypes: ['models'] });
    expect(run.records.map((r) => r.key)).toEqual([
      `arn:aws:sagemaker:${REGION}:${roleAccount}:model/${name}`,
    ]);
    const facts = await createSagemakerAdapter().check(conn, captureContext());
    expect(facts).toMatchObject({
      region: REGION,
      credentials: 'static + assume-role',
      account: roleAccount,
    });
    await assumed.send(new DeleteModelCommand({ ModelName: name }));
    assumed.destroy();
  });

  it('check() reports region, identity source and account', async () => {
    const facts = await createSagemakerAdapter().check(connection(), captureContext());
    expect(facts).toMatchObject({
      region: REGION,
      credentials: 'static',
      account: ACCOUNT,
      modelsVisible: true,
    });
    expect(JSON.stringify(facts)).not.toContain(MOTO_CREDENTIALS.secretAccessKey);
  });

  it('stops promptly when the job is cancelled', async () => {
    const controller = new AbortController();
    const adapter = createSagemakerAdapter();
    const context = captureContext(controller.signal);
    const seen: MetadataRecord[] = [];
    const run = (async () => {
      for await (const record of adapter.extract(
        connection({ describeConcurrency: 1 }),
        adapter.parseOptions({}, 'x'),
        context,
      )) {
        seen.push(record);
        if (seen.length === 3) controller.abort(new Error('cancelled by test'));
      }
    })();
    await expect(run).rejects.toThrow('cancelled by test');
    expect(seen.length).toBeLessThan(6);
  });
});
