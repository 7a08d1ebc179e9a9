import {
  DescribeAutoMLJobV2Command,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeFeatureGroupCommand,
  DescribeHyperParameterTuningJobCommand,
  DescribeModelCommand,
  DescribeModelPackageCommand,
  DescribeModelPackageGroupCommand,
  DescribePipelineCommand,
  DescribeProcessingJobCommand,
  DescribeTrainingJobCommand,
  DescribeTransformJobCommand,
  ListActionsCommand,
  ListArtifactsCommand,
  ListAssociationsCommand,
  ListAutoMLJobsCommand,
  ListContextsCommand,
  ListEndpointConfigsCommand,
  ListEndpointsCommand,
  ListFeatureGroupsCommand,
  ListHyperParameterTuningJobsCommand,
  ListModelPackageGroupsCommand,
  ListModelPackagesCommand,
  ListModelsCommand,
  ListPipelineExecutionsCommand,
  ListPipelinesCommand,
  ListProcessingJobsCommand,
  ListTagsCommand,
  ListTrainingJobsCommand,
  ListTransformJobsCommand,
  type ActionSummary,
  type ArtifactSummary,
  type AssociationSummary,
  type ContextSummary,
  type DescribeAutoMLJobV2CommandOutput,
  type DescribeEndpointCommandOutput,
  type DescribeEndpointConfigCommandOutput,
  type DescribeFeatureGroupCommandOutput,
  type DescribeHyperParameterTuningJobCommandOutput,
  type DescribeModelCommandOutput,
  type DescribeModelPackageCommandOutput,
  type DescribeModelPackageGroupCommandOutput,
  type DescribePipelineCommandOutput,
  type DescribeProcessingJobCommandOutput,
  type DescribeTrainingJobCommandOutput,
  type DescribeTransformJobCommandOutput,
  type FeatureDefinition,
  type PipelineExecutionSummary,
  type SageMakerClient,
  type Tag,
} from '@aws-sdk/client-sagemaker';
import type { AdapterContext, MetadataRecord } from '../types.js';
import { abortError, isAccessDenied, isNotFound, toSdrError, type SagemakerSession } from './client.js';
import { mapOrdered } from './map-ordered.js';
import { nameFilter, type ResourceType, type SagemakerExtractOptions } from './options.js';
import * as R from './records.js';

/** The largest page every SageMaker List operation accepts. */
const PAGE = 100;

interface Page<S> {
  items: S[] | undefined;
  next: string | undefined;
}

interface Denial {
  readonly what: string;
  count: number;
  example: string;
}

/**
 * One extraction over one account and region. Types run in an order that lets later objects link
 * to earlier ones (models before the jobs that produced them, configs before endpoints); each
 * object is described once, and only the few indexes lineage needs are kept.
 */
export class Extraction {
  private readonly client: SageMakerClient;
  private readonly signal: AbortSignal;
  private readonly wanted: (name: string) => boolean;
  private readonly denials = new Map<string, Denial>();
  private readonly edgesSent = new Set<string>();
  /** Model data URL → ARNs of the models serving it. */
  private readonly modelsByDataUrl = new Map<string, string[]>();
  private readonly modelArnByName = new Map<string, string>();
  /** Training job name → its ARN and model artifact, for tuning jobs and model packages. */
  private readonly trainingJobs = new Map<string, { arn: string; artifact: string | undefined }>();
  private readonly jobByArtifact = new Map<string, string>();
  /** Endpoint configs are read for their own records and again by endpoints: one Describe, shared. */
  private readonly endpointConfigs = new Map<
    string,
    Promise<DescribeEndpointConfigCommandOutput | undefined>
  >();
  private arnPrefix: string | undefined;
  private emitted = 0;

  constructor(
    private readonly session: SagemakerSession,
    private readonly connection: string,
    private readonly options: SagemakerExtractOptions,
    private readonly concurrency: number,
    private readonly context: AdapterContext,
  ) {
    this.client = session.client;
    this.signal = context.signal;
    const requested = nameFilter(options.include, options.exclude);
    const ceiling = nameFilter(options.within ?? [], []);
    this.wanted = (name) => ceiling(name) && requested(name);
  }

  /** Streams every wanted record; warnings for denied actions go to `context.warn` at the end. */
  async *run(): AsyncGenerator<MetadataRecord> {
    const started = performance.now();
    const steps: [ResourceType, () => AsyncGenerator<MetadataRecord>][] = [
      ['models', () => this.models()],
      ['trainingJobs', () => this.trainingJobsStep()],
      ['hyperParameterTuningJobs', () => this.tuningJobs()],
      ['autoMLJobs', () => this.autoMLJobs()],
      ['processingJobs', () => this.processingJobs()],
      ['transformJobs', () => this.transformJobs()],
      ['modelPackageGroups', () => this.modelPackageGroups()],
      ['modelPackages', () => this.modelPackages()],
      ['endpointConfigs', () => this.endpointConfigsStep()],
      ['endpoints', () => this.endpoints()],
      ['featureGroups', () => this.featureGroups()],
      ['pipelines', () => this.pipelines()],
      ['lineage', () => this.lineage()],
    ];
    for (const [type, step] of steps) {
      if (!this.options.resourceTypes.has(type)) continue;
      for await (const record of step()) {
        this.emitted += 1;
        yield record;
      }
    }
    for (const denial of this.denials.values()) this.context.warn(this.describeDenial(denial));
    const { stats } = this.session;
    this.context.log.info(
      {
        records: this.emitted,
        requests: stats.total,
        throttled: stats.throttled,
        byOperation: Object.fromEntries(stats.byOperation),
        ms: Math.round(performance.now() - started),
      },
      'sagemaker extraction finished',
    );
  }

  private describeDenial(d: Denial): string {
    return d.count === 0
      ? `${d.what}`
      : `${d.what} (${d.count} object${d.count === 1 ? '' : 's'} skipped, e.g. "${d.example}")`;
  }

  private deny(action: string, what: string, example: string | undefined): void {
    const existing = this.denials.get(action);
    if (existing) {
      if (example !== undefined) existing.count += 1;
      return;
    }
    this.denials.set(action, { what, count: example === undefined ? 0 : 1, example: example ?? '' });
  }

  /** Sends one command; the caller names the output shape it reads (a subset of the SDK's output type). */
  private send<T>(command: object): Promise<T> {
    // The SDK's send() is typed per command class; this one funnel keeps abort handling in one place.
    const send = this.client.send.bind(this.client) as (
      command: object,
      options: { abortSignal: AbortSignal },
    ) => Promise<unknown>;
    return send(command, { abortSignal: this.signal }).catch((error: unknown) => {
      // The SDK rejects in-flight calls with its own "Request aborted"; the job's reason says more.
      if (this.signal.aborted) throw abortError(this.signal);
      throw error;
    }) as Promise<T>;
  }

  private checkAborted(): void {
    if (this.signal.aborted) throw abortError(this.signal);
  }

  private recentEnough(created: Date | undefined): boolean {
    const after = this.options.createdAfter;
    return after === undefined || created === undefined || created.getTime() > after.getTime();
  }

  /**
   * Pages a List operation to the end, yielding the wanted items of each page. A denied List is a
   * warning naming the IAM action and ends this resource type only.
   */
  private async *list<S>(
    action: string,
    what: string,
    fetch: (token: string | undefined) => Promise<Page<S>>,
    name: (item: S) => string | undefined,
    created: (item: S) => Date | undefined,
    identity: (item: S) => string | undefined = name,
    byName = true,
  ): AsyncGenerator<S[]> {
    const seen = new Set<string>();
    let token: string | undefined;
    do {
      this.checkAborted();
      let page: Page<S>;
      try {
        page = await fetch(token);
      } catch (error) {
        this.checkAborted();
        if (isAccessDenied(error)) {
          this.deny(action, `${action} was denied: ${what} were not extracted; grant ${action}`, undefined);
          return;
        }
        throw toSdrError(error, this.connection, action);
      }
      const items = (page.items ?? []).filter((item) => {
        const id = identity(item);
        // A page boundary shifting under concurrent writes can repeat an item; describe it once.
        if (id === undefined || seen.has(id) || !this.recentEnough(created(item))) return false;
        if (byName && !this.wanted(name(item) ?? id)) return false;
        seen.add(id);
        return true;
      });
      if (items.length > 0) yield items;
      token = page.next;
    } while (token);
  }

  /** One Describe; a denial is counted for one warning per action, a vanished object is skipped. */
  private async describe<T>(
    action: string,
    what: string,
    name: string,
    call: () => Promise<T>,
  ): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      this.checkAborted();
      if (isAccessDenied(error)) {
        this.deny(action, `${action} was denied for ${what}; grant ${action}`, name);
        return undefined;
      }
      if (isNotFound(error)) {
        this.context.log.debug({ action, name }, 'sagemaker object vanished between List and Describe');
        return undefined;
      }
      throw toSdrError(error, this.connection, action);
    }
  }

  private *edge(
    from: R.EdgeEnd,
    to: R.EdgeEnd,
    relation: string,
    parent: string | undefined,
  ): Generator<MetadataRecord> {
    const record = R.edgeRecord(from, to, relation, 'derived', parent);
    if (this.edgesSent.has(record.key)) return;
    this.edgesSent.add(record.key);
    yield record;
  }

  /** Emits `records` after a page's Describes, in list order, at most `concurrency` in flight. */
  private async *describePage<S>(
    items: S[],
    describe: (item: S) => Promise<MetadataRecord[]>,
  ): AsyncGenerator<MetadataRecord> {
    for await (const records of mapOrdered(items, this.concurrency, describe)) yield* records;
  }

  private learnArnPrefix(arn: string | undefined): void {
    if (this.arnPrefix === undefined && arn !== undefined) {
      const match = /^(arn:[^:]+:sagemaker:[^:]*:\d+:)/.exec(arn);
      if (match) this.arnPrefix = match[1];
    }
  }

  /** A model's ARN by name: known from this job, or built like SageMaker builds it (lower-cased name). */
  private modelArn = (name: string): string => {
    if (name.startsWith('arn:')) return name;
    return (
      this.modelArnByName.get(name) ??
      `${this.arnPrefix ?? 'arn:aws:sagemaker:::'}model/${name.toLowerCase()}`
    );
  };

  private modelPackageArn(nameOrArn: string): string {
    return nameOrArn.startsWith('arn:')
      ? nameOrArn
      : `${this.arnPrefix ?? 'arn:aws:sagemaker:::'}model-package/${nameOrArn.toLowerCase()}`;
  }

  private modelsServing(urls: (string | undefined)[]): string[] {
    const out = new Set<string>();
    for (const url of urls) if (url) for (const arn of this.modelsByDataUrl.get(url) ?? []) out.add(arn);
    return [...out];
  }

  private *jobEdges(
    kind: string,
    arn: string,
    inputs: string[],
    outputs: (string | null | undefined)[],
    produced: string[],
  ): Generator<MetadataRecord> {
    const job = { type: kind, ref: arn };
    for (const uri of inputs) yield* this.edge({ type: 's3', ref: uri }, job, 'input_to', arn);
    for (const uri of outputs) if (uri) yield* this.edge(job, { type: 's3', ref: uri }, 'wrote', arn);
    for (const model of produced) yield* this.edge(job, { type: R.Kinds.model, ref: model }, 'produced', arn);
  }

  // ---------------------------------------------------------------- models

  private async *models(): AsyncGenerator<MetadataRecord> {
    const action = 'sagemaker:ListModels';
    for await (const page of this.list(
      action,
      'models',
      async (token) => {
        const out = await this.send<{
          Models?: { ModelName?: string; ModelArn?: string; CreationTime?: Date }[];
          NextToken?: string;
        }>(new ListModelsCommand({ MaxResults: PAGE, NextToken: token }));
        return { items: out.Models, next: out.NextToken };
      },
      (m) => m.ModelName,
      (m) => m.CreationTime,
    )) {
      yield* this.describePage(page, async (summary) => {
        const name = summary.ModelName!;
        const model = await this.describe('sagemaker:DescribeModel', 'models', name, () =>
          this.send<DescribeModelCommandOutput>(new DescribeModelCommand({ ModelName: name })),
        );
        if (!model) return [];
        const tags =
          this.options.modelTags && model.ModelArn ? await this.tags(model.ModelArn, name) : undefined;
        return this.modelRecords(model, tags);
      });
    }
  }

  private async tags(arn: string, name: string): Promise<Tag[] | undefined> {
    const action = 'sagemaker:ListTags';
    const tags: Tag[] = [];
    let token: string | undefined;
    do {
      const out = await this.describe(action, 'model tags (models were emitted with tags: null)', name, () =>
        this.send<{ Tags?: Tag[]; NextToken?: string }>(
          new ListTagsCommand({ ResourceArn: arn, MaxResults: PAGE, NextToken: token }),
        ),
      );
      if (!out) return undefined;
      tags.push(...(out.Tags ?? []));
      token = out.NextToken;
    } while (token);
    return tags;
  }

  private modelRecords(model: DescribeModelCommandOutput, tags: Tag[] | undefined): MetadataRecord[] {
    const record = R.modelRecord(model, tags);
    const arn = record.key;
    this.learnArnPrefix(model.ModelArn);
    if (model.ModelName) this.modelArnByName.set(model.ModelName, arn);
    const out: MetadataRecord[] = [record];
    for (const container of R.modelContainers(model)) {
      for (const url of R.containerDataUrls(container)) {
        const list = this.modelsByDataUrl.get(url) ?? [];
        list.push(arn);
        this.modelsByDataUrl.set(url, list);
      }
      if (container.ModelPackageName) {
        const pkg = this.modelPackageArn(container.ModelPackageName);
        out.push(
          ...this.edge(
            { type: R.Kinds.modelPackage, ref: pkg },
            { type: R.Kinds.model, ref: arn },
            'deployed_as',
            arn,
          ),
        );
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- jobs

  private async *trainingJobsStep(): AsyncGenerator<MetadataRecord> {
    for await (const page of this.list(
      'sagemaker:ListTrainingJobs',
      'training jobs',
      async (token) => {
        const out = await this.send<{
          TrainingJobSummaries?: { TrainingJobName?: string; CreationTime?: Date }[];
          NextToken?: string;
        }>(new ListTrainingJobsCommand({ MaxResults: PAGE, NextToken: token }));
        return { items: out.TrainingJobSummaries, next: out.NextToken };
      },
      (j) => j.TrainingJobName,
      (j) => j.CreationTime,
    )) {
      yield* this.describePage(page, async (summary) => {
        const name = summary.TrainingJobName!;
        const job = await this.describe('sagemaker:DescribeTrainingJob', 'training jobs', name, () =>
          this.send<DescribeTrainingJobCommandOutput>(
            new DescribeTrainingJobCommand({ TrainingJobName: name }),
          ),
        );
        if (!job?.TrainingJobArn) return [];
        this.learnArnPrefix(job.TrainingJobArn);
        const artifact = job.ModelArtifacts?.S3ModelArtifacts;
        this.trainingJobs.set(name, { arn: job.TrainingJobArn, artifact });
        if (artifact) this.jobByArtifact.set(artifact, job.TrainingJobArn);
        const produced = this.modelsServing([artifact]);
        const record = R.trainingJobRecord(job, produced);
        return [
          record,
          ...this.jobEdges(
            R.Kinds.trainingJob,
            job.TrainingJobArn,
            record.inputS3Uris as string[],
            [artifact ?? job.OutputDataConfig?.S3OutputPath],
            produced,
          ),
        ];
      });
    }
  }

  private async *tuningJobs(): AsyncGenerator<MetadataRecord> {
    for await (const page of this.list(
      'sagemaker:ListHyperParameterTuningJobs',
      'hyper-parameter tuning jobs',
      async (token) => {
        const out = await this.send<{
          HyperParameterTuningJobSummaries?: { HyperParameterTuningJobName?: string; CreationTime?: Date }[];
          NextToken?: string;
        }>(new ListHyperParameterTuningJobsCommand({ MaxResults: PAGE, NextToken: token }));
        return { items: out.HyperParameterTuningJobSummaries, next: out.NextToken };
      },
      (j) => j.HyperParameterTuningJobName,
      (j) => j.CreationTime,
    )) {
      yield* this.describePage(page, async (summary) => {
        const name = summary.HyperParameterTuningJobName!;
        const job = await this.describe(
          'sagemaker:DescribeHyperParameterTuningJob',
          'tuning jobs',
          name,
          () =>
            this.send<DescribeHyperParameterTuningJobCommandOutput>(
              new DescribeHyperParameterTuningJobCommand({ HyperParameterTuningJobName: name }),
            ),
        );
        if (!job?.HyperParameterTuningJobArn) return [];
        const bestName = job.BestTrainingJob?.TrainingJobName;
        const best = bestName ? this.trainingJobs.get(bestName) : undefined;
        const reported = job.BestTrainingJob?.TrainingJobArn;
        const bestArn = best?.arn ?? (reported?.startsWith('arn:') ? reported : null);
        const produced = this.modelsServing([best?.artifact]);
        const record = R.tuningJobRecord(job, bestArn, produced);
        const arn = job.HyperParameterTuningJobArn;
        const out = [
          record,
          ...this.jobEdges(
            R.Kinds.hyperParameterTuningJob,
            arn,
            record.inputS3Uris as string[],
            [],
            produced,
          ),
        ];
        if (bestArn)
          out.push(
            ...this.edge(
              { type: R.Kinds.hyperParameterTuningJob, ref: arn },
              { type: R.Kinds.trainingJob, ref: bestArn },
              'selected_best',
              arn,
            ),
          );
        return out;
      });
    }
  }

  private async *autoMLJobs(): AsyncGenerator<MetadataRecord> {
    for await (const page of this.list(
      'sagemaker:ListAutoMLJobs',
      'AutoML jobs',
      async (token) => {
        const out = await this.send<{
          AutoMLJobSummaries?: { AutoMLJobName?: string; CreationTime?: Date }[];
          NextToken?: string;
        }>(new ListAutoMLJobsCommand({ MaxResults: PAGE, NextToken: token }));
        return { items: out.AutoMLJobSummaries, next: out.NextToken };
      },
      (j) => j.AutoMLJobName,
      (j) => j.CreationTime,
    )) {
      yield* this.describePage(page, async (summary) => {
        const name = summary.AutoMLJobName!;
        // DescribeAutoMLJobV2 answers for jobs created by either CreateAutoMLJob or CreateAutoMLJobV2.
        const job = await this.describe('sagemaker:DescribeAutoMLJobV2', 'AutoML jobs', name, () =>
          this.send<DescribeAutoMLJobV2CommandOutput>(
            new DescribeAutoMLJobV2Command({ AutoMLJobName: name }),
          ),
        );
        if (!job?.AutoMLJobArn) return [];
        const produced = this.modelsServing(
          (job.BestCandidate?.InferenceContainers ?? []).map((c) => c.ModelDataUrl),
        );
        const record = R.autoMLJobRecord(job, produced);
        return [
          record,
          ...this.jobEdges(
            R.Kinds.autoMLJob,
            job.AutoMLJobArn,
            record.inputS3Uris as string[],
            [job.OutputDataConfig?.S3OutputPath],
            produced,
          ),
        ];
      });
    }
  }

  private async *processingJobs(): AsyncGenerator<MetadataRecord> {
    for await (const page of this.list(
      'sagemaker:ListProcessingJobs',
      'processing jobs',
      async (token) => {
        const out = await this.send<{
          ProcessingJobSummaries?: { ProcessingJobName?: string; CreationTime?: Date }[];
          NextToken?: string;
        }>(new ListProcessingJobsCommand({ MaxResults: PAGE, NextToken: token }));
        return { items: out.ProcessingJobSummaries, next: out.NextToken };
      },
      (j) => j.ProcessingJobName,
      (j) => j.CreationTime,
    )) {
      yield* this.describePage(page, async (summary) => {
        const name = summary.ProcessingJobName!;
        const job = await this.describe('sagemaker:DescribeProcessingJob', 'processing jobs', name, () =>
          this.send<DescribeProcessingJobCommandOutput>(
            new DescribeProcessingJobCommand({ ProcessingJobName: name }),
          ),
        );
        if (!job?.ProcessingJobArn) return [];
        const record = R.processingJobRecord(job);
        return [
          record,
          ...this.jobEdges(
            R.Kinds.processingJob,
            job.ProcessingJobArn,
            record.inputS3Uris as string[],
            record.outputS3Uris as string[],
            [],
          ),
        ];
      });
    }
  }

  private async *transformJobs(): AsyncGenerator<MetadataRecord> {
    for await (const page of this.list(
      'sagemaker:ListTransformJobs',
      'transform jobs',
      async (token) => {
        const out = await this.send<{
          TransformJobSummaries?: { TransformJobName?: string; CreationTime?: Date }[];
          NextToken?: string;
        }>(new ListTransformJobsCommand({ MaxResults: PAGE, NextToken: token }));
        return { items: out.TransformJobSummaries, next: out.NextToken };
      },
      (j) => j.TransformJobName,
      (j) => j.CreationTime,
    )) {
      yield* this.describePage(page, async (summary) => {
        const name = summary.TransformJobName!;
        const job = await this.describe('sagemaker:DescribeTransformJob', 'transform jobs', name, () =>
          this.send<DescribeTransformJobCommandOutput>(
            new DescribeTransformJobCommand({ TransformJobName: name }),
          ),
        );
        if (!job?.TransformJobArn) return [];
        this.learnArnPrefix(job.TransformJobArn);
        const modelArn = job.ModelName ? this.modelArn(job.ModelName) : null;
        const record = R.transformJobRecord(job, modelArn);
        const arn = job.TransformJobArn;
        const out = [
          ...this.jobEdges(
            R.Kinds.transformJob,
            arn,
            record.inputS3Uris as string[],
            [job.TransformOutput?.S3OutputPath],
            [],
          ),
        ];
        if (modelArn)
          out.push(
            ...this.edge(
              { type: R.Kinds.model, ref: modelArn },
              { type: R.Kinds.transformJob, ref: arn },
              'used_by',
              arn,
            ),
          );
        return [record, ...out];
      });
    }
  }

  // ---------------------------------------------------------------- model registry

  private async *modelPackageGroups(): AsyncGenerator<MetadataRecord> {
    for await (const page of this.list(
      'sagemaker:ListModelPackageGroups',
      'model package groups',
      async (token) => {
        const out = await this.send<{
          ModelPackageGroupSummaryList?: { ModelPackageGroupName?: string; CreationTime?: Date }[];
          NextToken?: string;
        }>(new ListModelPackageGroupsCommand({ MaxResults: PAGE, NextToken: token }));
        return { items: out.ModelPackageGroupSummaryList, next: out.NextToken };
      },
      (g) => g.ModelPackageGroupName,
      (g) => g.CreationTime,
    )) {
      yield* this.describePage(page, async (summary) => {
        const name = summary.ModelPackageGroupName!;
        const group = await this.describe(
          'sagemaker:DescribeModelPackageGroup',
          'model package groups',
          name,
          () =>
            this.send<DescribeModelPackageGroupCommandOutput>(
              new DescribeModelPackageGroupCommand({ ModelPackageGroupName: name }),
            ),
        );
        return group ? [R.modelPackageGroupRecord(group)] : [];
      });
    }
  }

  private async *modelPackages(): AsyncGenerator<MetadataRecord> {
    // One listing of every package, versioned and unversioned, instead of one listing per group.
    for await (const page of this.list(
      'sagemaker:ListModelPackages',
      'model packages',
      async (token) => {
        const out = await this.send<{
          ModelPackageSummaryList?: {
            ModelPackageArn?: string;
            ModelPackageName?: string;
            ModelPackageGroupName?: string;
            CreationTime?: Date;
          }[];
          NextToken?: string;
        }>(new ListModelPackagesCommand({ MaxResults: PAGE, NextToken: token, ModelPackageType: 'Both' }));
        return { items: out.ModelPackageSummaryList, next: out.NextToken };
      },
      // Versioned packages are named after their group; patterns match the group's name.
      (p) => p.ModelPackageGroupName ?? p.ModelPackageName,
      (p) => p.CreationTime,
      (p) => p.ModelPackageArn,
    )) {
      yield* this.describePage(page, async (summary) => {
        const arn = summary.ModelPackageArn!;
        const pkg = await this.describe('sagemaker:DescribeModelPackage', 'model packages', arn, () =>
          this.send<DescribeModelPackageCommandOutput>(
            new DescribeModelPackageCommand({ ModelPackageName: arn }),
          ),
        );
        if (!pkg?.ModelPackageArn) return [];
        this.learnArnPrefix(pkg.ModelPackageArn);
        const groupArn = pkg.ModelPackageGroupName
          ? pkg.ModelPackageArn.replace(
              /:model-package\/.*$/,
              `:model-package-group/${pkg.ModelPackageGroupName.toLowerCase()}`,
            )
          : null;
        const record = R.modelPackageRecord(pkg, groupArn);
        const me = { type: R.Kinds.modelPackage, ref: pkg.ModelPackageArn };
        const urls = (pkg.InferenceSpecification?.Containers ?? []).flatMap(R.containerDataUrls);
        const out: MetadataRecord[] = [record];
        for (const model of this.modelsServing(urls))
          out.push(
            ...this.edge({ type: R.Kinds.model, ref: model }, me, 'registered_as', pkg.ModelPackageArn),
          );
        for (const url of urls) {
          const job = this.jobByArtifact.get(url);
          if (job)
            out.push(
              ...this.edge({ type: R.Kinds.trainingJob, ref: job }, me, 'produced', pkg.ModelPackageArn),
            );
        }
        return out;
      });
    }
  }

  // ---------------------------------------------------------------- hosting

  private endpointConfig(name: string): Promise<DescribeEndpointConfigCommandOutput | undefined> {
    let pending = this.endpointConfigs.get(name);
    if (!pending) {
      pending = this.describe('sagemaker:DescribeEndpointConfig', 'endpoint configs', name, () =>
        this.send<DescribeEndpointConfigCommandOutput>(
          new DescribeEndpointConfigCommand({ EndpointConfigName: name }),
        ),
      );
      this.endpointConfigs.set(name, pending);
    }
    return pending;
  }

  private async *endpointConfigsStep(): AsyncGenerator<MetadataRecord> {
    for await (const page of this.list(
      'sagemaker:ListEndpointConfigs',
      'endpoint configs',
      async (token) => {
        const out = await this.send<{
          EndpointConfigs?: { EndpointConfigName?: string; CreationTime?: Date }[];
          NextToken?: string;
        }>(new ListEndpointConfigsCommand({ MaxResults: PAGE, NextToken: token }));
        return { items: out.EndpointConfigs, next: out.NextToken };
      },
      (c) => c.EndpointConfigName,
      (c) => c.CreationTime,
    )) {
      yield* this.describePage(page, async (summary) => {
        const config = await this.endpointConfig(summary.EndpointConfigName!);
        if (!config) return [];
        this.learnArnPrefix(config.EndpointConfigArn);
        return [R.endpointConfigRecord(config, this.modelArn)];
      });
    }
  }

  private async *endpoints(): AsyncGenerator<MetadataRecord> {
    for await (const page of this.list(
      'sagemaker:ListEndpoints',
      'endpoints',
      async (token) => {
        const out = await this.send<{
          Endpoints?: { EndpointName?: string; CreationTime?: Date }[];
          NextToken?: string;
        }>(new ListEndpointsCommand({ MaxResults: PAGE, NextToken: token }));
        return { items: out.Endpoints, next: out.NextToken };
      },
      (e) => e.EndpointName,
      (e) => e.CreationTime,
    )) {
      yield* this.describePage(page, async (summary) => {
        const name = summary.EndpointName!;
        const endpoint = await this.describe('sagemaker:DescribeEndpoint', 'endpoints', name, () =>
          this.send<DescribeEndpointCommandOutput>(new DescribeEndpointCommand({ EndpointName: name })),
        );
        if (!endpoint?.EndpointArn) return [];
        this.learnArnPrefix(endpoint.EndpointArn);
        const config = endpoint.EndpointConfigName
          ? await this.endpointConfig(endpoint.EndpointConfigName)
          : undefined;
        const record = R.endpointRecord(endpoint, config, this.modelArn);
        const me = { type: R.Kinds.endpoint, ref: endpoint.EndpointArn };
        const out: MetadataRecord[] = [record];
        for (const variant of record.productionVariants as { modelArn: string | null }[])
          if (variant.modelArn)
            out.push(
              ...this.edge(
                { type: R.Kinds.model, ref: variant.modelArn },
                me,
                'deployed_to',
                endpoint.EndpointArn,
              ),
            );
        const capture = (record.dataCapture as { destinationS3Uri: string | null } | null)?.destinationS3Uri;
        if (capture)
          out.push(...this.edge(me, { type: 's3', ref: capture }, 'captures_to', endpoint.EndpointArn));
        return out;
      });
    }
  }

  // ---------------------------------------------------------------- feature store

  private async *featureGroups(): AsyncGenerator<MetadataRecord> {
    for await (const page of this.list(
      'sagemaker:ListFeatureGroups',
      'feature groups',
      async (token) => {
        const out = await this.send<{
          FeatureGroupSummaries?: { FeatureGroupName?: string; CreationTime?: Date }[];
          NextToken?: string;
        }>(new ListFeatureGroupsCommand({ MaxResults: PAGE, NextToken: token }));
        return { items: out.FeatureGroupSummaries, next: out.NextToken };
      },
      (g) => g.FeatureGroupName,
      (g) => g.CreationTime,
    )) {
      yield* this.describePage(page, async (summary) => {
        const name = summary.FeatureGroupName!;
        // DescribeFeatureGroup pages its feature definitions; the first page is the Describe itself.
        const features: FeatureDefinition[] = [];
        let token: string | undefined;
        let group: DescribeFeatureGroupCommandOutput | undefined;
        do {
          const out = await this.describe('sagemaker:DescribeFeatureGroup', 'feature groups', name, () =>
            this.send<DescribeFeatureGroupCommandOutput>(
              new DescribeFeatureGroupCommand({ FeatureGroupName: name, NextToken: token }),
            ),
          );
          if (!out) return [];
          group ??= out;
          features.push(...(out.FeatureDefinitions ?? []));
          token = out.NextToken || undefined;
        } while (token);
        if (!group.FeatureGroupArn) return [];
        const record = R.featureGroupRecord(group, features);
        const me = { type: R.Kinds.featureGroup, ref: group.FeatureGroupArn };
        const offline = record.offlineStore as {
          s3Uri: string | null;
          glueTable: { catalog: string | null; database: string | null; table: string | null } | null;
        };
        const out: MetadataRecord[] = [record];
        if (offline.s3Uri)
          out.push(...this.edge(me, { type: 's3', ref: offline.s3Uri }, 'offline_store', me.ref));
        if (offline.glueTable?.table)
          out.push(
            ...this.edge(
              me,
              {
                type: 'glue_table',
                ref: `glue://${offline.glueTable.catalog ?? 'AwsDataCatalog'}/${offline.glueTable.database ?? ''}/${offline.glueTable.table}`,
              },
              'catalogued_as',
              me.ref,
            ),
          );
        return out;
      });
    }
  }

  // ---------------------------------------------------------------- pipelines

  private async *pipelines(): AsyncGenerator<MetadataRecord> {
    for await (const page of this.list(
      'sagemaker:ListPipelines',
      'pipelines',
      async (token) => {
        const out = await this.send<{
          PipelineSummaries?: { PipelineName?: string; CreationTime?: Date }[];
          NextToken?: string;
        }>(new ListPipelinesCommand({ MaxResults: PAGE, NextToken: token }));
        return { items: out.PipelineSummaries, next: out.NextToken };
      },
      (p) => p.PipelineName,
      (p) => p.CreationTime,
    )) {
      yield* this.describePage(page, async (summary) => {
        const name = summary.PipelineName!;
        const pipeline = await this.describe('sagemaker:DescribePipeline', 'pipelines', name, () =>
          this.send<DescribePipelineCommandOutput>(new DescribePipelineCommand({ PipelineName: name })),
        );
        if (!pipeline) return [];
        let executions: PipelineExecutionSummary[] | null = null;
        if (this.options.pipelineExecutions > 0) {
          // Only the most recent executions: one page, newest first.
          const out = await this.describe(
            'sagemaker:ListPipelineExecutions',
            'pipeline executions (pipelines were emitted without recentExecutions)',
            name,
            () =>
              this.send<{ PipelineExecutionSummaries?: PipelineExecutionSummary[] }>(
                new ListPipelineExecutionsCommand({
                  PipelineName: name,
                  SortBy: 'CreationTime',
                  SortOrder: 'Descending',
                  MaxResults: this.options.pipelineExecutions,
                }),
              ),
          );
          executions = out
            ? (out.PipelineExecutionSummaries ?? []).slice(0, this.options.pipelineExecutions)
            : null;
        }
        return [R.pipelineRecord(pipeline, executions)];
      });
    }
  }

  // ---------------------------------------------------------------- lineage entities

  private async *lineage(): AsyncGenerator<MetadataRecord> {
    for await (const page of this.list(
      'sagemaker:ListArtifacts',
      'lineage artifacts',
      async (token) => {
        const out = await this.send<{ ArtifactSummaries?: ArtifactSummary[]; NextToken?: string }>(
          new ListArtifactsCommand({ MaxResults: PAGE, NextToken: token }),
        );
        return { items: out.ArtifactSummaries, next: out.NextToken };
      },
      (a) => a.ArtifactName ?? a.ArtifactArn,
      (a) => a.CreationTime,
    ))
      for (const a of page) yield R.artifactRecord(a);

    for await (const page of this.list(
      'sagemaker:ListContexts',
      'lineage contexts',
      async (token) => {
        const out = await this.send<{ ContextSummaries?: ContextSummary[]; NextToken?: string }>(
          new ListContextsCommand({ MaxResults: PAGE, NextToken: token }),
        );
        return { items: out.ContextSummaries, next: out.NextToken };
      },
      (c) => c.ContextName,
      (c) => c.CreationTime,
    ))
      for (const c of page) yield R.contextRecord(c);

    for await (const page of this.list(
      'sagemaker:ListActions',
      'lineage actions',
      async (token) => {
        const out = await this.send<{ ActionSummaries?: ActionSummary[]; NextToken?: string }>(
          new ListActionsCommand({ MaxResults: PAGE, NextToken: token }),
        );
        return { items: out.ActionSummaries, next: out.NextToken };
      },
      (a) => a.ActionName,
      (a) => a.CreationTime,
    ))
      for (const a of page) yield R.actionRecord(a);

    // Associations have no name of their own: include/exclude patterns apply to the entities only.
    for await (const page of this.list(
      'sagemaker:ListAssociations',
      'lineage associations',
      async (token) => {
        const out = await this.send<{ AssociationSummaries?: AssociationSummary[]; NextToken?: string }>(
          new ListAssociationsCommand({ MaxResults: PAGE, NextToken: token }),
        );
        return { items: out.AssociationSummaries, next: out.NextToken };
      },
      (a) => `${a.SourceArn} ${a.AssociationType} ${a.DestinationArn}`,
      (a) => a.CreationTime,
      undefined,
      false,
    ))
      for (const a of page) {
        const edge = R.associationEdge(a);
        if (edge && !this.edgesSent.has(edge.key)) {
          this.edgesSent.add(edge.key);
          yield edge;
        }
      }
  }
}
