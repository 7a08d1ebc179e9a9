/**
 * The delivery benchmark: the synthetic Postgres catalog (bench/postgres/generate.ts) extracted through
 * the compiled runtime and the reference cloud in each delivery mode — tunnel, bucket relay to S3 (moto),
 * Azure Blob (Azurite) and GCS (fake-gcs-server), and pre-signed uploads — with wall time and the
 * runtime's peak RSS beside tunnel mode's. Prints a table and writes bench/results/delivery.json.
 *
 *   npm run bench:delivery -- [--tables 10000] [--reuse] [--keep]
 *
 * Needs the peers of tests/peers (redis, postgres, moto, azurite, fake-gcs) running.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import pg from 'pg';
import type { StoreOptions } from '../../storage/index.js';
import { peers } from '../../tests/peers/endpoints.js';
import { type ExtractionMeasurement, measureExtraction, printTable, writeResults } from '../harness.js';
import { benchServer, dropCatalog, generateCatalog } from '../postgres/generate.js';

const { values } = parseArgs({
  options: {
    tables: { type: 'string', default: '10000' },
    reuse: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const tables = Number(values.tables);
const database = `sdr_pg_bench_${tables}`;
const suffix = randomBytes(3).toString('hex');
const bucket = `sdr-bench-${suffix}`;

async function databaseExists(): Promise<boolean> {
  const admin = new pg.Client({ ...benchServer, database: 'postgres' });
  await admin.connect();
  try {
    return (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount === 1;
  } finally {
    await admin.end();
  }
}

const s3 = {
  endpoint: peers.motoUrl,
  forcePathStyle: true,
  region: 'us-east-1',
  credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
};
const readers: StoreOptions[] = [
  { provider: 's3', bucket, ...s3 },
  {
    provider: 'azure',
    accountUrl: peers.azurite.accountUrl,
    container: bucket,
    credentials: { accountName: peers.azurite.accountName, accountKey: peers.azurite.accountKey },
  },
  { provider: 'gcs', bucket, endpoint: peers.gcsUrl, projectId: 'sdr-bench' },
];

function connection(name: string, bucketLines: string[]): string[] {
  return [
    `  - name: ${name}`,
    '    type: postgres',
    `    host: ${benchServer.host}`,
    `    port: ${benchServer.port}`,
    `    database: ${database}`,
    '    secrets: { user: env://SDR_BENCH_PG_USER, password: env://SDR_BENCH_PG_PASSWORD }',
    '    options: { sslmode: disable }',
    '    delivery:',
    `      allow: [tunnel, presigned${bucketLines.length > 0 ? ', bucket' : ''}]`,
    ...(bucketLines.length > 0 ? ['      bucket:', ...bucketLines.map((line) => `        ${line}`)] : []),
  ];
}

const connectionsYaml = [
  'connections:',
  ...connection('bench-s3', [
    'provider: s3',
    `bucket: ${bucket}`,
    `endpoint: ${peers.motoUrl}`,
    'forcePathStyle: true',
    'credentials: { accessKeyId: env://SDR_BENCH_S3_KEY, secretAccessKey: env://SDR_BENCH_S3_KEY }',
  ]),
  ...connection('bench-azure', [
    'provider: azure',
    `accountUrl: ${peers.azurite.accountUrl}`,
    `container: ${bucket}`,
    `credentials: { accountName: ${peers.azurite.accountName}, accountKey: env://SDR_BENCH_AZURE_KEY }`,
  ]),
  ...connection('bench-gcs', [
    'provider: gcs',
    `bucket: ${bucket}`,
    `endpoint: ${peers.gcsUrl}`,
    'projectId: sdr-bench',
  ]),
  '',
].join('\n');

async function main(): Promise<void> {
  if (!values.reuse || !(await databaseExists())) {
    console.log(`generating ${database} (${tables} tables)`);
    await generateCatalog(database, tables);
  }
  await new S3Client(s3).send(new CreateBucketCommand({ Bucket: bucket }));
  await new BlobServiceClient(
    peers.azurite.accountUrl,
    new StorageSharedKeyCredential(peers.azurite.accountName, peers.azurite.accountKey),
  )
    .getContainerClient(bucket)
    .create();
  await fetch(`${peers.gcsUrl}/storage/v1/b?project=sdr-bench`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: bucket }),
  });
  const runs: [string, string, string][] = [
    ['tunnel', 'bench-s3', 'tunnel'],
    ['bucket (S3, moto)', 'bench-s3', 'bucket'],
    ['bucket (Azure Blob, Azurite)', 'bench-azure', 'bucket'],
    ['bucket (GCS, fake-gcs-server)', 'bench-gcs', 'bucket'],
    ['presigned', 'bench-s3', 'presigned'],
  ];
  const results: (ExtractionMeasurement & { mode: string })[] = [];
  for (const [mode, name, delivery] of runs) {
    console.log(`extracting through ${mode}`);
    const measured = await measureExtraction({
      connectionsYaml,
      connection: name,
      delivery,
      cloud: { bucketReaders: readers },
      runtimeEnv: {
        SDR_BENCH_PG_USER: benchServer.user,
        SDR_BENCH_PG_PASSWORD: benchServer.password,
        SDR_BENCH_S3_KEY: 'bench',
        SDR_BENCH_AZURE_KEY: peers.azurite.accountKey,
      },
      compiled: {},
    });
    results.push({ mode, ...measured });
  }
  const tunnel = results[0]!;
  const rows = results.map((result) => ({
    mode: result.mode,
    'wall s': result.wallSeconds.toFixed(1),
    'x tunnel': (result.wallSeconds / tunnel.wallSeconds).toFixed(2),
    'peak RSS MB': result.runtimePeakRssMb.toFixed(0),
    'RSS x tunnel': (result.runtimePeakRssMb / tunnel.runtimePeakRssMb).toFixed(2),
    records: result.records,
    'same sha256': result.sha256 === tunnel.sha256 ? 'yes' : 'NO',
  }));
  printTable(`delivery modes, ${tables}-table catalog`, rows);
  const path = writeResults('delivery', { measuredAt: new Date().toISOString(), tables, results });
  console.log(`wrote ${path}`);
  if (!values.keep) await dropCatalog(database);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
