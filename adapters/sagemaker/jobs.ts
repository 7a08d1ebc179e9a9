/** Training, hyper-parameter tuning, AutoML, processing and batch transform jobs. */
import {
  DescribeAutoMLJobV2Command,
  DescribeHyperParameterTuningJobCommand,
  DescribeProcessingJobCommand,
  DescribeTrainingJobCommand,
  DescribeTransformJobCommand,
  paginateListAutoMLJobs,
  paginateListHyperParameterTuningJobs,
  paginateListProcessingJobs,
  paginateListTrainingJobs,
  paginateListTransformJobs,
} from '@aws-sdk/client-sagemaker';
import type { MetadataRecord } from '../types.js';
import type { Crawl } from './crawl.js';
import * as R from './records.js';

export async function* trainingJobs(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  for await (const page of crawl.list({
    action: 'sagemaker:ListTrainingJobs',
    what: 'training jobs',
    pages: paginateListTrainingJobs(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.TrainingJobSummaries,
    name: (j) => j.TrainingJobName,
    created: (j) => j.CreationTime,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const name = summary.TrainingJobName!;
      const job = await crawl.describe('sagemaker:DescribeTrainingJob', 'training jobs', name, () =>
        crawl.client.send(new DescribeTrainingJobCommand({ TrainingJobName: name }), crawl.sendOptions),
      );
      if (!job?.TrainingJobArn) return [];
      crawl.learnArnPrefix(job.TrainingJobArn);
      const artifact = job.ModelArtifacts?.S3ModelArtifacts;
      crawl.trainingJobs.set(name, { arn: job.TrainingJobArn, artifact });
      if (artifact) crawl.jobByArtifact.set(artifact, job.TrainingJobArn);
      const produced = crawl.modelsServing([artifact]);
      const record = R.trainingJobRecord(job, produced);
      return [
        record,
        ...crawl.jobEdges(
          R.Kinds.trainingJob,
          job.TrainingJobArn,
          record.inputS3Uris,
          [artifact ?? job.OutputDataConfig?.S3OutputPath],
          produced,
        ),
      ];
    });
  }
}

export async function* tuningJobs(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  for await (const page of crawl.list({
    action: 'sagemaker:ListHyperParameterTuningJobs',
    what: 'hyper-parameter tuning jobs',
    pages: paginateListHyperParameterTuningJobs(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.HyperParameterTuningJobSummaries,
    name: (j) => j.HyperParameterTuningJobName,
    created: (j) => j.CreationTime,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const name = summary.HyperParameterTuningJobName!;
      const job = await crawl.describe('sagemaker:DescribeHyperParameterTuningJob', 'tuning jobs', name, () =>
        crawl.client.send(
          new DescribeHyperParameterTuningJobCommand({ HyperParameterTuningJobName: name }),
          crawl.sendOptions,
        ),
      );
      if (!job?.HyperParameterTuningJobArn) return [];
      const bestName = job.BestTrainingJob?.TrainingJobName;
      const best = bestName ? crawl.trainingJobs.get(bestName) : undefined;
      const reported = job.BestTrainingJob?.TrainingJobArn;
      const bestArn = best?.arn ?? (reported?.startsWith('arn:') ? reported : null);
      const produced = crawl.modelsServing([best?.artifact]);
      const record = R.tuningJobRecord(job, bestArn, produced);
      const arn = job.HyperParameterTuningJobArn;
      const out = [
        record,
        ...crawl.jobEdges(R.Kinds.hyperParameterTuningJob, arn, record.inputS3Uris, [], produced),
      ];
      if (bestArn)
        out.push(
          ...crawl.edge(
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

export async function* autoMLJobs(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  for await (const page of crawl.list({
    action: 'sagemaker:ListAutoMLJobs',
    what: 'AutoML jobs',
    pages: paginateListAutoMLJobs(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.AutoMLJobSummaries,
    name: (j) => j.AutoMLJobName,
    created: (j) => j.CreationTime,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const name = summary.AutoMLJobName!;
      // DescribeAutoMLJobV2 answers for jobs created by either CreateAutoMLJob or CreateAutoMLJobV2.
      const job = await crawl.describe('sagemaker:DescribeAutoMLJobV2', 'AutoML jobs', name, () =>
        crawl.client.send(new DescribeAutoMLJobV2Command({ AutoMLJobName: name }), crawl.sendOptions),
      );
      if (!job?.AutoMLJobArn) return [];
      const produced = crawl.modelsServing(
        (job.BestCandidate?.InferenceContainers ?? []).map((c) => c.ModelDataUrl),
      );
      const record = R.autoMLJobRecord(job, produced);
      return [
        record,
        ...crawl.jobEdges(
          R.Kinds.autoMLJob,
          job.AutoMLJobArn,
          record.inputS3Uris,
          [job.OutputDataConfig?.S3OutputPath],
          produced,
        ),
      ];
    });
  }
}

export async function* processingJobs(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  for await (const page of crawl.list({
    action: 'sagemaker:ListProcessingJobs',
    what: 'processing jobs',
    pages: paginateListProcessingJobs(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.ProcessingJobSummaries,
    name: (j) => j.ProcessingJobName,
    created: (j) => j.CreationTime,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const name = summary.ProcessingJobName!;
      const job = await crawl.describe('sagemaker:DescribeProcessingJob', 'processing jobs', name, () =>
        crawl.client.send(new DescribeProcessingJobCommand({ ProcessingJobName: name }), crawl.sendOptions),
      );
      if (!job?.ProcessingJobArn) return [];
      const record = R.processingJobRecord(job);
      return [
        record,
        ...crawl.jobEdges(
          R.Kinds.processingJob,
          job.ProcessingJobArn,
          record.inputS3Uris,
          record.outputS3Uris,
          [],
        ),
      ];
    });
  }
}

export async function* transformJobs(crawl: Crawl): AsyncGenerator<MetadataRecord> {
  for await (const page of crawl.list({
    action: 'sagemaker:ListTransformJobs',
    what: 'transform jobs',
    pages: paginateListTransformJobs(crawl.pagination, {}, crawl.sendOptions),
    items: (out) => out.TransformJobSummaries,
    name: (j) => j.TransformJobName,
    created: (j) => j.CreationTime,
  })) {
    yield* crawl.describePage(page, async (summary) => {
      const name = summary.TransformJobName!;
      const job = await crawl.describe('sagemaker:DescribeTransformJob', 'transform jobs', name, () =>
        crawl.client.send(new DescribeTransformJobCommand({ TransformJobName: name }), crawl.sendOptions),
      );
      if (!job?.TransformJobArn) return [];
      crawl.learnArnPrefix(job.TransformJobArn);
      const modelArn = job.ModelName ? crawl.modelArn(job.ModelName) : null;
      const record = R.transformJobRecord(job, modelArn);
      const arn = job.TransformJobArn;
      const out = [
        ...crawl.jobEdges(
          R.Kinds.transformJob,
          arn,
          record.inputS3Uris,
          [job.TransformOutput?.S3OutputPath],
          [],
        ),
      ];
      if (modelArn)
        out.push(
          ...crawl.edge(
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
