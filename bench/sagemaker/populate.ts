/**
 * Fills a moto account with the SageMaker benchmark dataset: `models` models, `trainingJobs` training
 * jobs and `endpoints` endpoints (each with its own endpoint config). Each model serves one training
 * job's artifact and each endpoint one model, so lineage links are real. Creates run in parallel batches.
 */
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  CreateTrainingJobCommand,
  DeleteEndpointCommand,
  DeleteEndpointConfigCommand,
  DeleteModelCommand,
  type SageMakerClient,
} from '@aws-sdk/client-sagemaker';

/** How many of each object the benchmark creates. */
export interface BenchSize {
  models: number;
  trainingJobs: number;
  endpoints: number;
}

const pad = (n: number): string => String(n).padStart(5, '0');

/** Runs `fn` over 0..count-1 with `parallel` calls in flight. */
async function inBatches(
  count: number,
  parallel: number,
  fn: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
}

/** Creates the dataset; returns seconds per phase. */
export async function populate(
  client: SageMakerClient,
  prefix: string,
  size: BenchSize,
  parallel = 16,
): Promise<Record<string, number>> {
  const role = 'arn:aws:iam::123456789012:role/sdr-bench';
  const bucket = `s3://${prefix}-bench`;
  const seconds: Record<string, number> = {};
  const timed = async (phase: string, work: () => Promise<void>): Promise<void> => {
    const started = performance.now();
    await work();
    seconds[phase] = (performance.now() - started) / 1000;
  };
  await timed('trainingJobs', () =>
    inBatches(size.trainingJobs, parallel, (i) =>
      client.send(
        new CreateTrainingJobCommand({
          TrainingJobName: `${prefix}-train-${pad(i)}`,
          RoleArn: role,
          AlgorithmSpecification: { TrainingImage: 'xgboost:1.7-1', TrainingInputMode: 'File' },
          HyperParameters: { max_depth: String(3 + (i % 8)), eta: '0.2', num_round: '100' },
          InputDataConfig: [
            {
              ChannelName: 'train',
              DataSource: {
                S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${bucket}/data/${i % 50}/train/` },
              },
            },
          ],
          OutputDataConfig: { S3OutputPath: `${bucket}/models` },
          ResourceConfig: { InstanceType: 'ml.m5.xlarge', InstanceCount: 1, VolumeSizeInGB: 10 },
          StoppingCondition: { MaxRuntimeInSeconds: 3600 },
        }),
      ),
    ),
  );
  await timed('models', () =>
    inBatches(size.models, parallel, (i) =>
      client.send(
        new CreateModelCommand({
          ModelName: `${prefix}-model-${pad(i)}`,
          ExecutionRoleArn: role,
          PrimaryContainer: {
            Image: 'xgboost:1.7-1',
            // moto writes a training job's artifact to <output>/<job>/output/model.tar.gz.
            ModelDataUrl: `${bucket}/models/${prefix}-train-${pad(i % size.trainingJobs)}/output/model.tar.gz`,
            Environment: { SAGEMAKER_PROGRAM: 'inference.py', API_TOKEN: 'bench-not-a-secret' },
          },
          Tags: [{ Key: 'team', Value: `team-${i % 7}` }],
        }),
      ),
    ),
  );
  await timed('endpoints', () =>
    inBatches(size.endpoints, parallel, async (i) => {
      await client.send(
        new CreateEndpointConfigCommand({
          EndpointConfigName: `${prefix}-epc-${pad(i)}`,
          ProductionVariants: [
            {
              VariantName: 'primary',
              ModelName: `${prefix}-model-${pad(i % size.models)}`,
              InstanceType: 'ml.c5.large',
              InitialInstanceCount: 1 + (i % 3),
            },
          ],
          DataCaptureConfig: {
            EnableCapture: true,
            InitialSamplingPercentage: 10,
            DestinationS3Uri: `${bucket}/capture/${i}`,
            CaptureOptions: [{ CaptureMode: 'Input' }],
          },
        }),
      );
      await client.send(
        new CreateEndpointCommand({
          EndpointName: `${prefix}-ep-${pad(i)}`,
          EndpointConfigName: `${prefix}-epc-${pad(i)}`,
        }),
      );
    }),
  );
  return seconds;
}

/** Deletes what moto can delete; moto 5 has no DeleteTrainingJob, so jobs stay in the run's own account. */
export async function cleanup(
  client: SageMakerClient,
  prefix: string,
  size: BenchSize,
  parallel = 16,
): Promise<void> {
  const quiet = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
  await inBatches(size.endpoints, parallel, async (i) => {
    await quiet(client.send(new DeleteEndpointCommand({ EndpointName: `${prefix}-ep-${pad(i)}` })));
    await quiet(
      client.send(new DeleteEndpointConfigCommand({ EndpointConfigName: `${prefix}-epc-${pad(i)}` })),
    );
  });
  await inBatches(size.models, parallel, (i) =>
    quiet(client.send(new DeleteModelCommand({ ModelName: `${prefix}-model-${pad(i)}` }))),
  );
}
