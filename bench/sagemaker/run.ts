/**
 * SageMaker benchmark: fills a fresh moto account with 2,000 models, 5,000 training jobs and 200
 * endpoints, then extracts everything (a) with the adapter alone in a child process and (b) through
 * the real runtime process and the reference cloud (bench/harness.ts). Prints a table and writes
 * bench/results/sagemaker.json: wall time, peak RSS, and API requests per object against the floor
 * (one List page per 100 objects plus one Describe per object).
 *
 *   npm run bench:sagemaker [-- --models 2000 --training-jobs 5000 --endpoints 200 --concurrency 4]
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { ensurePeer, repoRoot } from '../../scripts/local-stack.js';
import { peers } from '../../tests/peers/endpoints.js';
import {
  randomAccount,
  startSagemakerGateway,
  type GatewayCall,
} from '../../tests/support/sagemaker-gateway.js';
import { measureExtraction, printTable, writeResults } from '../harness.js';
import { cleanup, populate, type BenchSize } from './populate.js';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: '2000' },
    'training-jobs': { type: 'string', default: '5000' },
    endpoints: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '4' },
    'skip-runtime': { type: 'boolean', default: false },
  },
});
const size: BenchSize = {
  models: Number(args.models),
  trainingJobs: Number(args['training-jobs']),
  endpoints: Number(args.endpoints),
};
const concurrency = Number(args.concurrency);
const REGION = 'sa-east-1';
const ACCOUNT = randomAccount();
const PREFIX = `sdrbench${Date.now().toString(36)}`;
const CREDENTIALS = { accessKeyId: 'AKIABENCHSDR00000001', secretAccessKey: 'moto-bench-not-a-secret' };

/** Objects that cost a Describe, and the request floor: ceil(n/100) List pages + n Describes per type. */
const described = {
  models: size.models,
  trainingJobs: size.trainingJobs,
  endpoints: size.endpoints,
  endpointConfigs: size.endpoints,
};
const objects = Object.values(described).reduce((a, b) => a + b, 0);
const floor = Object.values(described).reduce((sum, n) => sum + Math.ceil(n / 100) + n, 0);

function countByOperation(calls: readonly GatewayCall[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of calls) out[c.operation] = (out[c.operation] ?? 0) + 1;
  return out;
}

const moto = await ensurePeer('moto', Number(new URL(peers.motoUrl).port));
if (moto) console.log(moto);
const gateway = await startSagemakerGateway(peers.motoUrl, ACCOUNT);
const client = new SageMakerClient({
  region: REGION,
  endpoint: gateway.url,
  credentials: CREDENTIALS,
  maxAttempts: 3,
});

try {
  console.log(
    `populating moto account ${ACCOUNT} (${REGION}): ${size.models} models, ${size.trainingJobs} training jobs, ${size.endpoints} endpoints`,
  );
  const populateStarted = performance.now();
  const populateSeconds = await populate(client, PREFIX, size);
  const populateTotal = (performance.now() - populateStarted) / 1000;
  console.log(`populated in ${populateTotal.toFixed(1)} s`, populateSeconds);

  const connectionOptions = {
    region: REGION,
    endpoint: gateway.url,
    maxRequestsPerSecond: 0,
    describeConcurrency: concurrency,
  };
  const rows: Record<string, string | number>[] = [];
  const runs: Record<string, unknown>[] = [];

  for (const [label, extractOptions] of [
    ['adapter, all types', {}],
    ['adapter, modelTags off', { modelTags: false }],
  ] as const) {
    gateway.calls.length = 0;
    // Asynchronous: the gateway the child talks to lives in this process's event loop.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        join(repoRoot, 'bench/sagemaker/extract-child.ts'),
        JSON.stringify(connectionOptions),
        JSON.stringify(extractOptions),
      ],
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          SDR_BENCH_AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
          SDR_BENCH_AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      records: number;
      wallMs: number;
      peakRssMb: number;
      requests: number;
      byKind: Record<string, number>;
    };
    const requests = gateway.calls.length;
    rows.push({
      path: label,
      objects,
      records: result.records,
      'wall s': result.wallMs / 1000,
      'objects/s': objects / (result.wallMs / 1000),
      'peak RSS MB': result.peakRssMb,
      requests,
      'req/object': requests / objects,
      'floor req/object': floor / objects,
    });
    runs.push({
      path: label,
      ...result,
      requestsSeenByMoto: requests,
      byOperationSeenByMoto: countByOperation(gateway.calls),
    });
  }

  if (!args['skip-runtime']) {
    gateway.calls.length = 0;
    const measured = await measureExtraction({
      connection: 'sm-bench',
      connectionsYaml: [
        'connections:',
        '  - name: sm-bench',
        '    type: sagemaker',
        '    secrets:',
        '      accessKeyId: env://SDR_BENCH_AWS_ACCESS_KEY_ID',
        '      secretAccessKey: env://SDR_BENCH_AWS_SECRET_ACCESS_KEY',
        '    options:',
        ...Object.entries(connectionOptions).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`),
        '',
      ].join('\n'),
      runtimeEnv: {
        SDR_BENCH_AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        SDR_BENCH_AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      },
    });
    const requests = gateway.calls.length;
    rows.push({
      path: 'runtime + reference cloud',
      objects,
      records: measured.records,
      'wall s': measured.wallSeconds,
      'objects/s': objects / measured.wallSeconds,
      'peak RSS MB': measured.runtimePeakRssMb,
      requests,
      'req/object': requests / objects,
      'floor req/object': floor / objects,
    });
    runs.push({
      path: 'runtime + reference cloud',
      ...measured,
      requestsSeenByMoto: requests,
      byOperationSeenByMoto: countByOperation(gateway.calls),
    });
  }

  printTable(
    `SageMaker extraction — ${size.models} models, ${size.trainingJobs} training jobs, ${size.endpoints} endpoints (+ configs) in moto; describeConcurrency ${concurrency}, no rate cap`,
    rows,
  );
  const file = writeResults('sagemaker', {
    size,
    objects,
    floorRequests: floor,
    describeConcurrency: concurrency,
    maxRequestsPerSecond: 0,
    populate: { seconds: populateTotal, byPhase: populateSeconds, parallel: 16 },
    rows,
    runs,
  });
  console.log(`\nwrote ${file}`);
} finally {
  await cleanup(client, PREFIX, size).catch((error: unknown) => console.error('cleanup failed:', error));
  client.destroy();
  await gateway.close();
}
