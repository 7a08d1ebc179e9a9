/**
 * Populates moto with one of every SageMaker object the adapter extracts, under a name prefix, and
 * registers the lineage entities moto cannot hold with the gateway (AWS-shaped summaries).
 */
import {
  CreateAutoMLJobV2Command,
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateFeatureGroupCommand,
  CreateHyperParameterTuningJobCommand,
  CreateModelCommand,
  CreateModelPackageCommand,
  CreateModelPackageGroupCommand,
  CreatePipelineCommand,
  CreateProcessingJobCommand,
  CreateTrainingJobCommand,
  CreateTransformJobCommand,
  DeleteEndpointCommand,
  DeleteEndpointConfigCommand,
  DeleteModelCommand,
  DeletePipelineCommand,
  DescribeTrainingJobCommand,
  SageMakerClient,
  StartPipelineExecutionCommand,
} from '@aws-sdk/client-sagemaker';
import type { SagemakerGateway } from './sagemaker-gateway.js';

/** Test credentials for moto (it accepts any); never real. */
export const MOTO_CREDENTIALS = {
  accessKeyId: 'AKIAMOTOSDRTEST00001',
  secretAccessKey: 'moto-secret-not-real',
};

/** A value planted in container environments; it must never appear in a record, log or warning. */
export const ENV_CANARY = 'canary-7f3c1e-do-not-leak';

/** What the fixture created, for assertions. */
export interface SagemakerFixture {
  prefix: string;
  region: string;
  account: string;
  role: string;
  names: {
    modelA: string;
    modelB: string;
    modelFromPackage: string;
    trainingJob: string;
    processingJob: string;
    transformJob: string;
    tuningJob: string;
    autoMLJob: string;
    group: string;
    endpointConfig: string;
    endpoint: string;
    featureGroup: string;
    pipeline: string;
  };
  trainingArtifact: string;
  packageArns: string[];
  lineage: { datasetArtifactArn: string; contextArn: string; actionArn: string };
}

/** A SageMaker client for setup and cleanup (through the gateway, so it lands in the gateway's account). */
export function motoClient(endpoint: string, region: string): SageMakerClient {
  return new SageMakerClient({ region, endpoint, credentials: MOTO_CREDENTIALS, maxAttempts: 2 });
}

/** Creates the fixture in moto under `prefix` in `region`, lineage in `gateway`. */
export async function populateSagemaker(
  client: SageMakerClient,
  gateway: SagemakerGateway,
  prefix: string,
  region: string,
  account: string,
): Promise<SagemakerFixture> {
  const role = `arn:aws:iam::${account}:role/${prefix}-sagemaker`;
  const arn = (type: string, name: string): string =>
    `arn:aws:sagemaker:${region}:${account}:${type}/${name.toLowerCase()}`;
  const n = {
    modelA: `${prefix}-model-a`,
    modelB: `${prefix}-model-b`,
    modelFromPackage: `${prefix}-model-pkg`,
    trainingJob: `${prefix}-train`,
    processingJob: `${prefix}-prep`,
    transformJob: `${prefix}-batch`,
    tuningJob: `${prefix}-hpo`,
    autoMLJob: `${prefix}-automl`,
    group: `${prefix}-group`,
    endpointConfig: `${prefix}-epc`,
    endpoint: `${prefix}-ep`,
    featureGroup: `${prefix}-fg`,
    pipeline: `${prefix}-pipe`,
  };
  const bucket = `s3://${prefix}-bucket`;

  await client.send(
    new CreateTrainingJobCommand({
      TrainingJobName: n.trainingJob,
      RoleArn: role,
      AlgorithmSpecification: { TrainingImage: 'xgboost:1.7-1', TrainingInputMode: 'File' },
      HyperParameters: { max_depth: '6', eta: '0.2' },
      InputDataConfig: [
        {
          ChannelName: 'train',
          DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${bucket}/data/train/` } },
        },
        {
          ChannelName: 'validation',
          DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${bucket}/data/val/` } },
        },
      ],
      OutputDataConfig: { S3OutputPath: `${bucket}/models` },
      ResourceConfig: { InstanceType: 'ml.m5.xlarge', InstanceCount: 2, VolumeSizeInGB: 10 },
      StoppingCondition: { MaxRuntimeInSeconds: 3600 },
      Environment: { TRAIN_SECRET: ENV_CANARY },
    }),
  );
  const trained = await client.send(new DescribeTrainingJobCommand({ TrainingJobName: n.trainingJob }));
  const trainingArtifact = trained.ModelArtifacts!.S3ModelArtifacts!;

  await client.send(
    new CreateModelCommand({
      ModelName: n.modelA,
      ExecutionRoleArn: role,
      PrimaryContainer: {
        Image: 'sklearn:1.2',
        ModelDataUrl: `${bucket}/manual/model.tar.gz`,
        Environment: { API_TOKEN: ENV_CANARY, LOG_LEVEL: 'debug' },
      },
      VpcConfig: { SecurityGroupIds: ['sg-0123'], Subnets: ['subnet-a', 'subnet-b'] },
      Tags: [
        { Key: 'team', Value: 'ml' },
        { Key: 'cost-center', Value: '42' },
      ],
    }),
  );
  await client.send(
    new CreateModelCommand({
      ModelName: n.modelB,
      ExecutionRoleArn: role,
      Containers: [
        { Image: 'preprocess:1', Environment: { STAGE: 'pre' } },
        { Image: 'xgboost:1.7-1', ModelDataUrl: trainingArtifact, Environment: { SECRET_KEY: ENV_CANARY } },
      ],
    }),
  );

  await client.send(
    new CreateModelPackageGroupCommand({
      ModelPackageGroupName: n.group,
      ModelPackageGroupDescription: 'churn models',
    }),
  );
  const packageArns: string[] = [];
  for (const [i, approval] of (['Approved', 'PendingManualApproval'] as const).entries()) {
    const out = await client.send(
      new CreateModelPackageCommand({
        ModelPackageGroupName: n.group,
        ModelPackageDescription: `version ${i + 1}`,
        ModelApprovalStatus: approval,
        InferenceSpecification: {
          Containers: [
            {
              Image: 'xgboost:1.7-1',
              ModelDataUrl: trainingArtifact,
              Environment: { PKG_SECRET: ENV_CANARY },
            },
          ],
          SupportedContentTypes: ['text/csv'],
          SupportedResponseMIMETypes: ['text/csv'],
        },
        ModelMetrics: {
          ModelQuality: {
            Statistics: {
              ContentType: 'application/json',
              S3Uri: `${bucket}/eval/v${i + 1}/statistics.json`,
            },
          },
        },
        CustomerMetadataProperties: { owner: 'ml-team' },
      }),
    );
    packageArns.push(out.ModelPackageArn!);
  }
  await client.send(
    new CreateModelCommand({
      ModelName: n.modelFromPackage,
      ExecutionRoleArn: role,
      PrimaryContainer: { ModelPackageName: packageArns[0] },
    }),
  );

  await client.send(
    new CreateProcessingJobCommand({
      ProcessingJobName: n.processingJob,
      RoleArn: role,
      AppSpecification: { ImageUri: 'sklearn-processing:1.2' },
      ProcessingResources: {
        ClusterConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 5 },
      },
      ProcessingInputs: [
        {
          InputName: 'raw',
          S3Input: {
            S3Uri: `${bucket}/raw/`,
            LocalPath: '/opt/ml/processing/input',
            S3DataType: 'S3Prefix',
            S3InputMode: 'File',
          },
        },
      ],
      ProcessingOutputConfig: {
        Outputs: [
          {
            OutputName: 'train',
            S3Output: {
              S3Uri: `${bucket}/data/train/`,
              LocalPath: '/opt/ml/processing/train',
              S3UploadMode: 'EndOfJob',
            },
          },
        ],
      },
      StoppingCondition: { MaxRuntimeInSeconds: 600 },
      Environment: { PREP_SECRET: ENV_CANARY },
    }),
  );
  await client.send(
    new CreateTransformJobCommand({
      TransformJobName: n.transformJob,
      ModelName: n.modelB,
      TransformInput: {
        DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${bucket}/batch/in/` } },
        ContentType: 'text/csv',
      },
      TransformOutput: { S3OutputPath: `${bucket}/batch/out/` },
      TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
      Environment: { BATCH_SECRET: ENV_CANARY },
    }),
  );
  await client.send(
    new CreateHyperParameterTuningJobCommand({
      HyperParameterTuningJobName: n.tuningJob,
      HyperParameterTuningJobConfig: {
        Strategy: 'Bayesian',
        HyperParameterTuningJobObjective: { Type: 'Maximize', MetricName: 'validation:auc' },
        ResourceLimits: { MaxNumberOfTrainingJobs: 4, MaxParallelTrainingJobs: 2 },
        ParameterRanges: { ContinuousParameterRanges: [{ Name: 'eta', MinValue: '0.1', MaxValue: '0.5' }] },
      },
      TrainingJobDefinition: {
        AlgorithmSpecification: { TrainingImage: 'xgboost:1.7-1', TrainingInputMode: 'File' },
        StaticHyperParameters: { num_round: '100' },
        RoleArn: role,
        InputDataConfig: [
          {
            ChannelName: 'train',
            DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${bucket}/data/train/` } },
          },
        ],
        OutputDataConfig: { S3OutputPath: `${bucket}/hpo` },
        ResourceConfig: { InstanceType: 'ml.m5.xlarge', InstanceCount: 1, VolumeSizeInGB: 10 },
        StoppingCondition: { MaxRuntimeInSeconds: 3600 },
      },
    }),
  );
  await client.send(
    new CreateAutoMLJobV2Command({
      AutoMLJobName: n.autoMLJob,
      AutoMLJobInputDataConfig: [
        {
          ChannelType: 'training',
          DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${bucket}/automl/in/` } },
        },
      ],
      OutputDataConfig: { S3OutputPath: `${bucket}/automl/out/` },
      AutoMLProblemTypeConfig: {
        TabularJobConfig: {
          TargetAttributeName: 'churn',
          ProblemType: 'BinaryClassification',
          CompletionCriteria: { MaxCandidates: 5 },
        },
      },
      AutoMLJobObjective: { MetricName: 'F1' },
      RoleArn: role,
    }),
  );

  await client.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: n.endpointConfig,
      ProductionVariants: [
        {
          VariantName: 'primary',
          ModelName: n.modelB,
          InstanceType: 'ml.c5.large',
          InitialInstanceCount: 3,
          InitialVariantWeight: 1,
        },
      ],
      DataCaptureConfig: {
        EnableCapture: true,
        InitialSamplingPercentage: 20,
        DestinationS3Uri: `${bucket}/capture`,
        CaptureOptions: [{ CaptureMode: 'Input' }, { CaptureMode: 'Output' }],
      },
    }),
  );
  await client.send(
    new CreateEndpointCommand({ EndpointName: n.endpoint, EndpointConfigName: n.endpointConfig }),
  );

  await client.send(
    new CreateFeatureGroupCommand({
      FeatureGroupName: n.featureGroup,
      RecordIdentifierFeatureName: 'customer_id',
      EventTimeFeatureName: 'event_time',
      FeatureDefinitions: [
        { FeatureName: 'customer_id', FeatureType: 'String' },
        { FeatureName: 'event_time', FeatureType: 'Fractional' },
        { FeatureName: 'tenure_months', FeatureType: 'Integral' },
      ],
      OfflineStoreConfig: { S3StorageConfig: { S3Uri: `${bucket}/features` } },
      RoleArn: role,
    }),
  );
  gateway.featureGroups.add(n.featureGroup);

  await client.send(
    new CreatePipelineCommand({
      PipelineName: n.pipeline,
      RoleArn: role,
      PipelineDisplayName: 'Churn training',
      PipelineDefinition: JSON.stringify({
        Version: '2020-12-01',
        Steps: [
          { Name: 'Prepare', Type: 'Processing', Arguments: {} },
          { Name: 'Train', Type: 'Training', Arguments: {} },
          { Name: 'Register', Type: 'RegisterModel', Arguments: {} },
        ],
      }),
    }),
  );
  for (let i = 0; i < 2; i += 1)
    await client.send(
      new StartPipelineExecutionCommand({
        PipelineName: n.pipeline,
        PipelineExecutionDisplayName: `run-${i}`,
      }),
    );

  // Lineage entities as SageMaker records them automatically for a training job: an S3 dataset
  // artifact, the job's trial component, an endpoint context and a deployment action.
  const now = Date.now() / 1000;
  const datasetArtifactArn = `arn:aws:sagemaker:${region}:${account}:artifact/${prefix}0a1b2c3d4e5f`;
  const contextArn = `arn:aws:sagemaker:${region}:${account}:context/${n.endpoint}-aws-endpoint`;
  const actionArn = `arn:aws:sagemaker:${region}:${account}:action/${prefix}-deploy-action`;
  const trialComponentArn = arn('experiment-trial-component', `${n.trainingJob}-aws-training-job`);
  gateway.lineage.artifacts.push({
    ArtifactArn: datasetArtifactArn,
    ArtifactName: `${prefix}-train-data`,
    Source: {
      SourceUri: `${bucket}/data/train/`,
      SourceTypes: [{ SourceIdType: 'S3ETag', Value: '"9b2cf535f27731c974343645a3985328"' }],
    },
    ArtifactType: 'DataSet',
    CreationTime: now,
    LastModifiedTime: now,
  });
  gateway.lineage.contexts.push({
    ContextArn: contextArn,
    ContextName: `${n.endpoint}-aws-endpoint`,
    Source: { SourceUri: arn('endpoint', n.endpoint), SourceType: 'AWS::SageMaker::Endpoint' },
    ContextType: 'Endpoint',
    CreationTime: now,
    LastModifiedTime: now,
  });
  gateway.lineage.actions.push({
    ActionArn: actionArn,
    ActionName: `${prefix}-deploy-action`,
    Source: {
      SourceUri: arn('endpoint-config', n.endpointConfig),
      SourceType: 'AWS::SageMaker::EndpointConfig',
    },
    ActionType: 'ModelDeployment',
    Status: 'Completed',
    CreationTime: now,
    LastModifiedTime: now,
  });
  gateway.lineage.associations.push(
    {
      SourceArn: datasetArtifactArn,
      DestinationArn: trialComponentArn,
      SourceType: 'DataSet',
      DestinationType: 'SageMakerTrainingJob',
      AssociationType: 'ContributedTo',
      SourceName: `${prefix}-train-data`,
      DestinationName: `${n.trainingJob}-aws-training-job`,
      CreationTime: now,
      CreatedBy: {},
    },
    {
      SourceArn: actionArn,
      DestinationArn: contextArn,
      SourceType: 'ModelDeployment',
      DestinationType: 'Endpoint',
      AssociationType: 'AssociatedWith',
      SourceName: `${prefix}-deploy-action`,
      DestinationName: `${n.endpoint}-aws-endpoint`,
      CreationTime: now,
      CreatedBy: {},
    },
  );

  return {
    prefix,
    region,
    account,
    role,
    names: n,
    trainingArtifact,
    packageArns,
    lineage: { datasetArtifactArn, contextArn, actionArn },
  };
}

/** Deletes what moto can delete (it has no delete for jobs, packages or feature groups; the region and prefix isolate those). */
export async function cleanupSagemaker(client: SageMakerClient, fixture: SagemakerFixture): Promise<void> {
  const n = fixture.names;
  const quiet = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
  await quiet(client.send(new DeleteEndpointCommand({ EndpointName: n.endpoint })));
  await quiet(client.send(new DeleteEndpointConfigCommand({ EndpointConfigName: n.endpointConfig })));
  for (const name of [n.modelA, n.modelB, n.modelFromPackage])
    await quiet(client.send(new DeleteModelCommand({ ModelName: name })));
  await quiet(client.send(new DeletePipelineCommand({ PipelineName: n.pipeline })));
}
