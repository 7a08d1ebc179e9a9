/**
 * Pure shaping of SageMaker Describe/List outputs into metadata records. Container environment
 * variables are reduced to their NAMES here, the only place that sees them: values never leave.
 */
import type {
  ActionSummary,
  ArtifactSummary,
  AssociationSummary,
  AutoMLChannel,
  Channel,
  ContainerDefinition,
  ContextSummary,
  DescribeAutoMLJobV2CommandOutput,
  DescribeEndpointCommandOutput,
  DescribeEndpointConfigCommandOutput,
  DescribeFeatureGroupCommandOutput,
  DescribeHyperParameterTuningJobCommandOutput,
  DescribeModelCommandOutput,
  DescribeModelPackageCommandOutput,
  DescribeModelPackageGroupCommandOutput,
  DescribePipelineCommandOutput,
  DescribeProcessingJobCommandOutput,
  DescribeTrainingJobCommandOutput,
  DescribeTransformJobCommandOutput,
  MetricsSource,
  ModelPackageContainerDefinition,
  PipelineExecutionSummary,
  Tag,
  UserContext,
} from '@aws-sdk/client-sagemaker';
import type { MetadataRecord } from '../types.js';

/** A record kind per SageMaker object type; documented in docs/adapters/sagemaker.md. */
export const Kinds = {
  model: 'sagemaker.model',
  modelPackageGroup: 'sagemaker.model_package_group',
  modelPackage: 'sagemaker.model_package',
  trainingJob: 'sagemaker.training_job',
  processingJob: 'sagemaker.processing_job',
  transformJob: 'sagemaker.transform_job',
  hyperParameterTuningJob: 'sagemaker.hyper_parameter_tuning_job',
  autoMLJob: 'sagemaker.automl_job',
  endpointConfig: 'sagemaker.endpoint_config',
  endpoint: 'sagemaker.endpoint',
  featureGroup: 'sagemaker.feature_group',
  pipeline: 'sagemaker.pipeline',
  artifact: 'sagemaker.lineage_artifact',
  context: 'sagemaker.lineage_context',
  action: 'sagemaker.lineage_action',
  edge: 'sagemaker.lineage_edge',
} as const;

/** A job record: the input S3 URIs are read back for lineage edges. */
export type JobRecord = MetadataRecord & { readonly inputS3Uris: string[] };

/** A processing job also names the S3 URIs it writes. */
export type ProcessingJobRecord = JobRecord & { readonly outputS3Uris: string[] };

/** An endpoint record: variants and data capture are read back for lineage edges. */
export type EndpointRecord = MetadataRecord & {
  readonly productionVariants: { readonly modelArn: string | null }[];
  readonly dataCapture: {
    readonly enabled: boolean | null;
    readonly destinationS3Uri: string | null;
    readonly samplingPercentage: number | null;
  } | null;
};

/** A feature group record: its offline store is read back for lineage edges. */
export type FeatureGroupRecord = MetadataRecord & {
  readonly offlineStore: {
    readonly enabled: boolean;
    readonly status: string | null;
    readonly s3Uri: string | null;
    readonly tableFormat: string | null;
    readonly glueTable: {
      readonly catalog: string | null;
      readonly database: string | null;
      readonly table: string | null;
    } | null;
  };
};

/** ISO-8601 or null; the SDK hands out `Date`s. */
export function iso(value: Date | string | undefined): string | null {
  if (value === undefined) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** Only the names of an environment map, sorted; the values are never copied. */
export function envNames(environment: Record<string, string> | undefined): string[] {
  return Object.keys(environment ?? {}).sort();
}

function tagMap(tags: Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) out[tag.Key] = tag.Value ?? '';
  return out;
}

function compact<T>(values: (T | undefined | null)[]): T[] {
  return values.filter((v): v is T => v !== undefined && v !== null);
}

/** Containers of a model: primary first, then the inference pipeline's. */
export function modelContainers(model: DescribeModelCommandOutput): ContainerDefinition[] {
  // An inference-pipeline model has no primary container; some APIs answer `{}` for it.
  return [...(model.PrimaryContainer ? [model.PrimaryContainer] : []), ...(model.Containers ?? [])].filter(
    (c) => Object.keys(c).length > 0,
  );
}

/** Empty strings (which SageMaker returns for "no failure") become null. */
function text(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value;
}

/** Model data URLs a container serves (single-file or S3 prefix). */
export function containerDataUrls(
  container: ContainerDefinition | ModelPackageContainerDefinition,
): string[] {
  return compact([container.ModelDataUrl, container.ModelDataSource?.S3DataSource?.S3Uri]);
}

/** `sagemaker.model` */
export function modelRecord(model: DescribeModelCommandOutput, tags: Tag[] | undefined): MetadataRecord {
  return {
    kind: Kinds.model,
    key: model.ModelArn ?? `model/${model.ModelName}`,
    name: model.ModelName,
    arn: model.ModelArn,
    createdAt: iso(model.CreationTime),
    executionRoleArn: model.ExecutionRoleArn ?? null,
    containers: modelContainers(model).map((c) => ({
      hostname: c.ContainerHostname ?? null,
      image: c.Image ?? null,
      mode: c.Mode ?? null,
      modelDataUrl: c.ModelDataUrl ?? c.ModelDataSource?.S3DataSource?.S3Uri ?? null,
      modelPackageName: c.ModelPackageName ?? null,
      environmentVariableNames: envNames(c.Environment),
    })),
    vpcConfig:
      (model.VpcConfig?.SecurityGroupIds?.length ?? 0) + (model.VpcConfig?.Subnets?.length ?? 0) > 0
        ? {
            securityGroupIds: model.VpcConfig?.SecurityGroupIds ?? [],
            subnets: model.VpcConfig?.Subnets ?? [],
          }
        : null,
    networkIsolation: model.EnableNetworkIsolation ?? false,
    tags: tags === undefined ? null : tagMap(tags),
  };
}

function s3Channels(channels: Channel[] | undefined): string[] {
  return compact((channels ?? []).map((c) => c.DataSource?.S3DataSource?.S3Uri));
}

/** `sagemaker.training_job`; `producedModels` are the ARNs of models serving its artifacts. */
export function trainingJobRecord(
  job: DescribeTrainingJobCommandOutput,
  producedModels: string[],
): JobRecord {
  return {
    kind: Kinds.trainingJob,
    key: job.TrainingJobArn ?? `training-job/${job.TrainingJobName}`,
    name: job.TrainingJobName,
    arn: job.TrainingJobArn,
    status: job.TrainingJobStatus ?? null,
    secondaryStatus: job.SecondaryStatus ?? null,
    failureReason: text(job.FailureReason),
    createdAt: iso(job.CreationTime),
    startedAt: iso(job.TrainingStartTime),
    endedAt: iso(job.TrainingEndTime),
    lastModifiedAt: iso(job.LastModifiedTime),
    algorithm: {
      image: job.AlgorithmSpecification?.TrainingImage ?? null,
      algorithmName: job.AlgorithmSpecification?.AlgorithmName ?? null,
      inputMode: job.AlgorithmSpecification?.TrainingInputMode ?? null,
    },
    hyperParameters: job.HyperParameters ?? {},
    environmentVariableNames: envNames(job.Environment),
    roleArn: job.RoleArn ?? null,
    instanceType: job.ResourceConfig?.InstanceType ?? null,
    instanceCount: job.ResourceConfig?.InstanceCount ?? null,
    inputS3Uris: s3Channels(job.InputDataConfig),
    outputS3Uri: job.OutputDataConfig?.S3OutputPath ?? null,
    modelArtifactS3Uri: job.ModelArtifacts?.S3ModelArtifacts ?? null,
    tuningJobArn: job.TuningJobArn ?? null,
    autoMLJobArn: job.AutoMLJobArn ?? null,
    producedModels,
  };
}

/** `sagemaker.processing_job` */
export function processingJobRecord(job: DescribeProcessingJobCommandOutput): ProcessingJobRecord {
  const outputs = compact((job.ProcessingOutputConfig?.Outputs ?? []).map((o) => o.S3Output?.S3Uri));
  return {
    kind: Kinds.processingJob,
    key: job.ProcessingJobArn ?? `processing-job/${job.ProcessingJobName}`,
    name: job.ProcessingJobName,
    arn: job.ProcessingJobArn,
    status: job.ProcessingJobStatus ?? null,
    failureReason: text(job.FailureReason),
    createdAt: iso(job.CreationTime),
    startedAt: iso(job.ProcessingStartTime),
    endedAt: iso(job.ProcessingEndTime),
    lastModifiedAt: iso(job.LastModifiedTime),
    algorithm: { image: job.AppSpecification?.ImageUri ?? null, algorithmName: null },
    hyperParameters: {},
    environmentVariableNames: envNames(job.Environment),
    roleArn: job.RoleArn ?? null,
    instanceType: job.ProcessingResources?.ClusterConfig?.InstanceType ?? null,
    instanceCount: job.ProcessingResources?.ClusterConfig?.InstanceCount ?? null,
    inputS3Uris: compact((job.ProcessingInputs ?? []).map((i) => i.S3Input?.S3Uri)),
    outputS3Uri: outputs[0] ?? null,
    outputS3Uris: outputs,
    trainingJobArn: job.TrainingJobArn ?? null,
    autoMLJobArn: job.AutoMLJobArn ?? null,
    producedModels: [],
  };
}

/** `sagemaker.transform_job`; `modelArn` is the model it ran (it produces predictions, not a model). */
export function transformJobRecord(
  job: DescribeTransformJobCommandOutput,
  modelArn: string | null,
): JobRecord {
  return {
    kind: Kinds.transformJob,
    key: job.TransformJobArn ?? `transform-job/${job.TransformJobName}`,
    name: job.TransformJobName,
    arn: job.TransformJobArn,
    status: job.TransformJobStatus ?? null,
    failureReason: text(job.FailureReason),
    createdAt: iso(job.CreationTime),
    startedAt: iso(job.TransformStartTime),
    endedAt: iso(job.TransformEndTime),
    modelName: job.ModelName ?? null,
    modelArn,
    hyperParameters: {},
    environmentVariableNames: envNames(job.Environment),
    instanceType: job.TransformResources?.InstanceType ?? null,
    instanceCount: job.TransformResources?.InstanceCount ?? null,
    inputS3Uris: compact([job.TransformInput?.DataSource?.S3DataSource?.S3Uri]),
    outputS3Uri: job.TransformOutput?.S3OutputPath ?? null,
    autoMLJobArn: job.AutoMLJobArn ?? null,
    producedModels: [],
  };
}

/** `sagemaker.hyper_parameter_tuning_job`; the model it produced is its best training job's. */
export function tuningJobRecord(
  job: DescribeHyperParameterTuningJobCommandOutput,
  bestTrainingJobArn: string | null,
  producedModels: string[],
): JobRecord {
  const definition = job.TrainingJobDefinition ?? job.TrainingJobDefinitions?.[0];
  const ranges = job.HyperParameterTuningJobConfig?.ParameterRanges;
  return {
    kind: Kinds.hyperParameterTuningJob,
    key: job.HyperParameterTuningJobArn ?? `hyper-parameter-tuning-job/${job.HyperParameterTuningJobName}`,
    name: job.HyperParameterTuningJobName,
    arn: job.HyperParameterTuningJobArn,
    status: job.HyperParameterTuningJobStatus ?? null,
    failureReason: text(job.FailureReason),
    createdAt: iso(job.CreationTime),
    endedAt: iso(job.HyperParameterTuningEndTime),
    lastModifiedAt: iso(job.LastModifiedTime),
    strategy: job.HyperParameterTuningJobConfig?.Strategy ?? null,
    objective: job.HyperParameterTuningJobConfig?.HyperParameterTuningJobObjective
      ? {
          type: job.HyperParameterTuningJobConfig.HyperParameterTuningJobObjective.Type ?? null,
          metric: job.HyperParameterTuningJobConfig.HyperParameterTuningJobObjective.MetricName ?? null,
        }
      : null,
    algorithm: {
      image: definition?.AlgorithmSpecification?.TrainingImage ?? null,
      algorithmName: definition?.AlgorithmSpecification?.AlgorithmName ?? null,
    },
    hyperParameters: definition?.StaticHyperParameters ?? {},
    hyperParameterRanges: {
      continuous: (ranges?.ContinuousParameterRanges ?? []).map((r) => r.Name),
      integer: (ranges?.IntegerParameterRanges ?? []).map((r) => r.Name),
      categorical: (ranges?.CategoricalParameterRanges ?? []).map((r) => r.Name),
    },
    inputS3Uris: s3Channels(definition?.InputDataConfig),
    outputS3Uri: definition?.OutputDataConfig?.S3OutputPath ?? null,
    bestTrainingJobName: job.BestTrainingJob?.TrainingJobName ?? null,
    bestTrainingJobArn,
    producedModels,
  };
}

function autoMLInputs(
  channels: AutoMLChannel[] | DescribeAutoMLJobV2CommandOutput['AutoMLJobInputDataConfig'],
) {
  return compact((channels ?? []).map((c) => c.DataSource?.S3DataSource?.S3Uri));
}

/** `sagemaker.automl_job` (read with DescribeAutoMLJobV2, which also answers for V1 jobs). */
export function autoMLJobRecord(job: DescribeAutoMLJobV2CommandOutput, producedModels: string[]): JobRecord {
  const problem = job.AutoMLProblemTypeConfigName ?? null;
  const best = job.BestCandidate;
  return {
    kind: Kinds.autoMLJob,
    key: job.AutoMLJobArn ?? `automl-job/${job.AutoMLJobName}`,
    name: job.AutoMLJobName,
    arn: job.AutoMLJobArn,
    status: job.AutoMLJobStatus ?? null,
    secondaryStatus: job.AutoMLJobSecondaryStatus ?? null,
    failureReason: text(job.FailureReason),
    createdAt: iso(job.CreationTime),
    endedAt: iso(job.EndTime),
    lastModifiedAt: iso(job.LastModifiedTime),
    algorithm: { problemType: problem, objective: job.AutoMLJobObjective?.MetricName ?? null },
    hyperParameters: {},
    roleArn: job.RoleArn ?? null,
    inputS3Uris: autoMLInputs(job.AutoMLJobInputDataConfig),
    outputS3Uri: job.OutputDataConfig?.S3OutputPath ?? null,
    bestCandidate: best
      ? {
          name: best.CandidateName ?? null,
          status: best.CandidateStatus ?? null,
          images: compact((best.InferenceContainers ?? []).map((c) => c.Image)),
          modelDataUrls: compact((best.InferenceContainers ?? []).map((c) => c.ModelDataUrl)),
        }
      : null,
    producedModels,
  };
}

/** `sagemaker.model_package_group` */
export function modelPackageGroupRecord(group: DescribeModelPackageGroupCommandOutput): MetadataRecord {
  return {
    kind: Kinds.modelPackageGroup,
    key: group.ModelPackageGroupArn ?? `model-package-group/${group.ModelPackageGroupName}`,
    name: group.ModelPackageGroupName,
    arn: group.ModelPackageGroupArn,
    description: group.ModelPackageGroupDescription ?? null,
    status: group.ModelPackageGroupStatus ?? null,
    createdAt: iso(group.CreationTime),
    createdBy: creator(group.CreatedBy),
  };
}

function creator(user: UserContext | undefined): Record<string, string | null> | null {
  if (!user) return null;
  return {
    userProfileName: user.UserProfileName ?? null,
    userProfileArn: user.UserProfileArn ?? null,
    domainId: user.DomainId ?? null,
    iamIdentityArn: user.IamIdentity?.Arn ?? null,
  };
}

function metricReport(name: string, source: MetricsSource | undefined) {
  return source?.S3Uri ? [{ name, s3Uri: source.S3Uri, contentType: source.ContentType ?? null }] : [];
}

/** `sagemaker.model_package`; `parent` is its group's ARN for versioned packages. */
export function modelPackageRecord(
  pkg: DescribeModelPackageCommandOutput,
  groupArn: string | null,
): MetadataRecord {
  const containers = pkg.InferenceSpecification?.Containers ?? [];
  const m = pkg.ModelMetrics;
  return {
    kind: Kinds.modelPackage,
    key: pkg.ModelPackageArn ?? `model-package/${pkg.ModelPackageName}`,
    ...(groupArn === null ? {} : { parent: groupArn }),
    name: pkg.ModelPackageName ?? pkg.ModelPackageGroupName ?? null,
    arn: pkg.ModelPackageArn,
    groupName: pkg.ModelPackageGroupName ?? null,
    version: pkg.ModelPackageVersion ?? null,
    status: pkg.ModelPackageStatus ?? null,
    approvalStatus: pkg.ModelApprovalStatus ?? null,
    description: pkg.ModelPackageDescription ?? null,
    createdAt: iso(pkg.CreationTime),
    lastModifiedAt: iso(pkg.LastModifiedTime),
    createdBy: creator(pkg.CreatedBy),
    images: compact(containers.map((c) => c.Image)),
    s3Artifacts: containers.flatMap(containerDataUrls),
    containers: containers.map((c) => ({
      image: c.Image ?? null,
      modelDataUrl: c.ModelDataUrl ?? c.ModelDataSource?.S3DataSource?.S3Uri ?? null,
      framework: c.Framework ?? null,
      frameworkVersion: c.FrameworkVersion ?? null,
      environmentVariableNames: envNames(c.Environment),
    })),
    metrics: [
      ...metricReport('ModelQuality.Statistics', m?.ModelQuality?.Statistics),
      ...metricReport('ModelQuality.Constraints', m?.ModelQuality?.Constraints),
      ...metricReport('ModelDataQuality.Statistics', m?.ModelDataQuality?.Statistics),
      ...metricReport('ModelDataQuality.Constraints', m?.ModelDataQuality?.Constraints),
      ...metricReport('Bias.Report', m?.Bias?.Report),
      ...metricReport('Explainability.Report', m?.Explainability?.Report),
    ],
    customerMetadata: pkg.CustomerMetadataProperties ?? {},
  };
}

/** `sagemaker.endpoint_config` */
export function endpointConfigRecord(
  config: DescribeEndpointConfigCommandOutput,
  modelArn: (name: string) => string,
): MetadataRecord {
  return {
    kind: Kinds.endpointConfig,
    key: config.EndpointConfigArn ?? `endpoint-config/${config.EndpointConfigName}`,
    name: config.EndpointConfigName,
    arn: config.EndpointConfigArn,
    createdAt: iso(config.CreationTime),
    productionVariants: (config.ProductionVariants ?? []).map((v) => ({
      variantName: v.VariantName ?? null,
      modelName: v.ModelName ?? null,
      modelArn: v.ModelName ? modelArn(v.ModelName) : null,
      instanceType: v.InstanceType ?? null,
      initialInstanceCount: v.InitialInstanceCount ?? null,
      initialVariantWeight: v.InitialVariantWeight ?? null,
      serverless: v.ServerlessConfig
        ? {
            memorySizeInMB: v.ServerlessConfig.MemorySizeInMB,
            maxConcurrency: v.ServerlessConfig.MaxConcurrency,
          }
        : null,
    })),
    dataCapture: config.DataCaptureConfig
      ? {
          enabled: config.DataCaptureConfig.EnableCapture ?? true,
          destinationS3Uri: config.DataCaptureConfig.DestinationS3Uri ?? null,
          samplingPercentage: config.DataCaptureConfig.InitialSamplingPercentage ?? null,
        }
      : null,
    kmsKeyId: config.KmsKeyId ?? null,
  };
}

/** `sagemaker.endpoint`: the live variants joined with their config's model and instance type. */
export function endpointRecord(
  endpoint: DescribeEndpointCommandOutput,
  config: DescribeEndpointConfigCommandOutput | undefined,
  modelArn: (name: string) => string,
): EndpointRecord {
  const configured = new Map((config?.ProductionVariants ?? []).map((v) => [v.VariantName, v]));
  const live = endpoint.ProductionVariants ?? [];
  const names = live.length > 0 ? live.map((v) => v.VariantName) : [...configured.keys()];
  const capture = endpoint.DataCaptureConfig;
  return {
    kind: Kinds.endpoint,
    key: endpoint.EndpointArn ?? `endpoint/${endpoint.EndpointName}`,
    name: endpoint.EndpointName,
    arn: endpoint.EndpointArn,
    status: endpoint.EndpointStatus ?? null,
    failureReason: text(endpoint.FailureReason),
    createdAt: iso(endpoint.CreationTime),
    lastModifiedAt: iso(endpoint.LastModifiedTime),
    endpointConfigName: endpoint.EndpointConfigName ?? null,
    endpointConfigArn: config?.EndpointConfigArn ?? null,
    productionVariants: names.map((name) => {
      const running = live.find((v) => v.VariantName === name);
      const planned = configured.get(name);
      return {
        variantName: name ?? null,
        modelName: planned?.ModelName ?? null,
        modelArn: planned?.ModelName ? modelArn(planned.ModelName) : null,
        instanceType: planned?.InstanceType ?? null,
        currentInstanceCount: running?.CurrentInstanceCount ?? null,
        desiredInstanceCount: running?.DesiredInstanceCount ?? planned?.InitialInstanceCount ?? null,
        currentWeight: running?.CurrentWeight ?? null,
        images: compact((running?.DeployedImages ?? []).map((i) => i.ResolvedImage ?? i.SpecifiedImage)),
      };
    }),
    dataCapture: capture
      ? {
          enabled: capture.EnableCapture ?? null,
          destinationS3Uri: capture.DestinationS3Uri ?? null,
          samplingPercentage: capture.CurrentSamplingPercentage ?? null,
        }
      : config?.DataCaptureConfig
        ? {
            enabled: config.DataCaptureConfig.EnableCapture ?? true,
            destinationS3Uri: config.DataCaptureConfig.DestinationS3Uri ?? null,
            samplingPercentage: config.DataCaptureConfig.InitialSamplingPercentage ?? null,
          }
        : null,
  };
}

/** `sagemaker.feature_group`; `features` spans every DescribeFeatureGroup page. */
export function featureGroupRecord(
  group: DescribeFeatureGroupCommandOutput,
  features: NonNullable<DescribeFeatureGroupCommandOutput['FeatureDefinitions']>,
): FeatureGroupRecord {
  const offline = group.OfflineStoreConfig;
  const catalog = offline?.DataCatalogConfig;
  return {
    kind: Kinds.featureGroup,
    key: group.FeatureGroupArn ?? `feature-group/${group.FeatureGroupName}`,
    name: group.FeatureGroupName,
    arn: group.FeatureGroupArn,
    status: group.FeatureGroupStatus ?? null,
    createdAt: iso(group.CreationTime),
    description: group.Description ?? null,
    features: features.map((f) => ({ name: f.FeatureName ?? null, type: f.FeatureType ?? null })),
    recordIdentifierFeatureName: group.RecordIdentifierFeatureName ?? null,
    eventTimeFeatureName: group.EventTimeFeatureName ?? null,
    onlineStore: { enabled: group.OnlineStoreConfig?.EnableOnlineStore ?? false },
    offlineStore: offline
      ? {
          enabled: true,
          status: group.OfflineStoreStatus?.Status ?? null,
          s3Uri: offline.S3StorageConfig?.ResolvedOutputS3Uri ?? offline.S3StorageConfig?.S3Uri ?? null,
          tableFormat: offline.TableFormat ?? null,
          glueTable: catalog
            ? {
                catalog: catalog.Catalog ?? null,
                database: catalog.Database ?? null,
                table: catalog.TableName ?? null,
              }
            : null,
        }
      : { enabled: false, status: null, s3Uri: null, tableFormat: null, glueTable: null },
    roleArn: group.RoleArn ?? null,
  };
}

interface PipelineStep {
  name: string | null;
  type: string | null;
}

/** Steps of a pipeline definition (JSON); an unreadable definition yields none rather than failing. */
export function pipelineSteps(definition: string | undefined): PipelineStep[] {
  if (definition === undefined) return [];
  try {
    const parsed = JSON.parse(definition) as { Steps?: { Name?: unknown; Type?: unknown }[] };
    return (Array.isArray(parsed.Steps) ? parsed.Steps : []).map((s) => ({
      name: typeof s.Name === 'string' ? s.Name : null,
      type: typeof s.Type === 'string' ? s.Type : null,
    }));
  } catch {
    return [];
  }
}

/** `sagemaker.pipeline` with its steps and a summary of its recent executions. */
export function pipelineRecord(
  pipeline: DescribePipelineCommandOutput,
  executions: PipelineExecutionSummary[] | null,
): MetadataRecord {
  const byStatus: Record<string, number> = {};
  for (const e of executions ?? []) {
    const status = e.PipelineExecutionStatus ?? 'Unknown';
    byStatus[status] = (byStatus[status] ?? 0) + 1;
  }
  return {
    kind: Kinds.pipeline,
    key: pipeline.PipelineArn ?? `pipeline/${pipeline.PipelineName}`,
    name: pipeline.PipelineName,
    arn: pipeline.PipelineArn,
    displayName: pipeline.PipelineDisplayName ?? null,
    description: pipeline.PipelineDescription ?? null,
    status: pipeline.PipelineStatus ?? null,
    createdAt: iso(pipeline.CreationTime),
    lastModifiedAt: iso(pipeline.LastModifiedTime),
    lastRunAt: iso(pipeline.LastRunTime),
    roleArn: pipeline.RoleArn ?? null,
    steps: pipelineSteps(pipeline.PipelineDefinition),
    recentExecutions:
      executions === null
        ? null
        : {
            count: executions.length,
            byStatus,
            latest: executions.map((e) => ({
              arn: e.PipelineExecutionArn ?? null,
              displayName: e.PipelineExecutionDisplayName ?? null,
              status: e.PipelineExecutionStatus ?? null,
              startedAt: iso(e.StartTime),
            })),
          },
  };
}

/** `sagemaker.lineage_artifact` from a ListArtifacts summary. */
export function artifactRecord(a: ArtifactSummary): MetadataRecord {
  return {
    kind: Kinds.artifact,
    key: a.ArtifactArn ?? `artifact/${a.ArtifactName}`,
    name: a.ArtifactName ?? null,
    arn: a.ArtifactArn,
    type: a.ArtifactType ?? null,
    sourceUri: a.Source?.SourceUri ?? null,
    sourceTypes: (a.Source?.SourceTypes ?? []).map((t) => ({
      type: t.SourceIdType ?? null,
      value: t.Value ?? null,
    })),
    createdAt: iso(a.CreationTime),
    lastModifiedAt: iso(a.LastModifiedTime),
  };
}

/** `sagemaker.lineage_context` from a ListContexts summary. */
export function contextRecord(c: ContextSummary): MetadataRecord {
  return {
    kind: Kinds.context,
    key: c.ContextArn ?? `context/${c.ContextName}`,
    name: c.ContextName ?? null,
    arn: c.ContextArn,
    type: c.ContextType ?? null,
    sourceUri: c.Source?.SourceUri ?? null,
    sourceType: c.Source?.SourceType ?? null,
    createdAt: iso(c.CreationTime),
    lastModifiedAt: iso(c.LastModifiedTime),
  };
}

/** `sagemaker.lineage_action` from a ListActions summary. */
export function actionRecord(a: ActionSummary): MetadataRecord {
  return {
    kind: Kinds.action,
    key: a.ActionArn ?? `action/${a.ActionName}`,
    name: a.ActionName ?? null,
    arn: a.ActionArn,
    type: a.ActionType ?? null,
    status: a.Status ?? null,
    sourceUri: a.Source?.SourceUri ?? null,
    sourceType: a.Source?.SourceType ?? null,
    createdAt: iso(a.CreationTime),
    lastModifiedAt: iso(a.LastModifiedTime),
  };
}

/** One end of a lineage edge: an S3 URI, a Glue table or a SageMaker ARN. */
export interface EdgeEnd {
  readonly type: string;
  readonly ref: string;
}

/** `sagemaker.lineage_edge`: `from` flows into `to`; `origin` tells derived from recorded associations. */
export function edgeRecord(
  from: EdgeEnd,
  to: EdgeEnd,
  relation: string,
  origin: 'derived' | 'association',
  parent?: string,
): MetadataRecord {
  return {
    kind: Kinds.edge,
    key: `${from.ref} -[${relation}]-> ${to.ref}`,
    ...(parent === undefined ? {} : { parent }),
    from,
    to,
    relation,
    origin,
  };
}

/** An edge from a ListAssociations summary. */
export function associationEdge(a: AssociationSummary): MetadataRecord | undefined {
  if (!a.SourceArn || !a.DestinationArn) return undefined;
  return {
    ...edgeRecord(
      { type: a.SourceType ?? 'unknown', ref: a.SourceArn },
      { type: a.DestinationType ?? 'unknown', ref: a.DestinationArn },
      a.AssociationType ?? 'AssociatedWith',
      'association',
    ),
    fromName: a.SourceName ?? null,
    toName: a.DestinationName ?? null,
    createdAt: iso(a.CreationTime),
  };
}
