/**
 * The delivery benchmark: the synthetic Postgres catalog (bench/postgres/generate.ts) extracted through
 * the compiled runtime and the reference cloud in each delivery mode — tunnel, bucket relay to S3 (moto),
 * Azure Blob (Azurite) and GCS (fake-gcs-server), and pre-signed uploads — with wall time and the
 * runtime's peak RSS beside tunnel mode's. Prints a table and writes bench/results/delivery.json.
 *
 *   npm run bench:delivery -- [--tables 10000] [--modes tunnel,s3,azure,gcs,presigned] [--reuse] [--keep]
 *
 * Beside each mode's wall time: how long the cloud spent reading and verifying the objects after
 * `job.end` ("verify s"), and for S3 what moto itself costs: the same part bytes PUT and GET with a plain
 * client, one at a time as the runtime and the cloud do ("moto put s" / "moto get s"), and what gzip
 * costs on them ("gzip s"), to tell the emulator's time from ours.
 *
 * Needs the peers of tests/peers (redis, postgres, moto, azurite, fake-gcs) running.
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import pg from 'pg';
import type { StoreOptions } from '../../storage/index.js';
import { peers } from '../../tests/peers/endpoints.js';
import { type ExtractionMeasurement, measureExtraction, printTable, writeResults } from '../harness.js';
import { gzipChunked, seconds } from './emulator-cost.js';
import { benchServer, dropCatalog, generateCatalog } from '../postgres/generate.js';

const { values } = parseArgs({
  options: {
    tables: { type: 'string', default: '10000' },
    modes: { type: 'string', default: 'tunnel,s3,azure,gcs,presigned' },
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
    // A machine shared with other work can stretch the 10,000-table catalog query past the 60 s default.
    '    options: { sslmode: disable, statementTimeoutMs: 600000 }',
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
  const runs: [string, string, string, string][] = [
    ['tunnel', 'tunnel', 'bench-s3', 'tunnel'],
    ['s3', 'bucket (S3, moto)', 'bench-s3', 'bucket'],
    ['azure', 'bucket (Azure Blob, Azurite)', 'bench-azure', 'bucket'],
    ['gcs', 'bucket (GCS, fake-gcs-server)', 'bench-gcs', 'bucket'],
    ['presigned', 'presigned', 'bench-s3', 'presigned'],
  ];
  const wanted = new Set(values.modes.split(',').map((mode) => mode.trim()));
  const results: (ExtractionMeasurement & { mode: string; verifySeconds?: number; load: string })[] = [];
  for (const [key, mode, name, delivery] of runs) {
    if (!wanted.has(key)) continue;
    console.log(`extracting through ${mode}`);
    // When the cloud starts reading the objects (job.end has arrived): wall time after it is the cloud's.
    let submittedAt = 0n;
    let verifyStartedAt: bigint | undefined;
    const measured = await measureExtraction({
      connectionsYaml,
      connection: name,
      delivery,
      cloud: {
        bucketReaders: readers,
        beforeVerify: async () => {
          verifyStartedAt = process.hrtime.bigint();
        },
      },
      runtimeEnv: {
        SDR_BENCH_PG_USER: benchServer.user,
        SDR_BENCH_PG_PASSWORD: benchServer.password,
        SDR_BENCH_S3_KEY: 'bench',
        SDR_BENCH_AZURE_KEY: peers.azurite.accountKey,
      },
      compiled: {},
      onSubmitted: () => {
        submittedAt = process.hrtime.bigint();
      },
    });
    const verifySeconds =
      verifyStartedAt === undefined
        ? undefined
        : measured.wallSeconds - seconds(submittedAt, verifyStartedAt);
    results.push({ mode, ...measured, verifySeconds, load: loadAverage() });
  }
  const emulator = wanted.has('s3') ? await motoCost() : undefined;
  // Without tunnel in --modes there is no baseline: the ratio columns stay empty.
  const tunnel = results.find((result) => result.mode === 'tunnel');
  const ratio = (value: number, base: number | undefined) =>
    base === undefined ? '' : (value / base).toFixed(2);
  const rows = results.map((result) => ({
    mode: result.mode,
    'wall s': result.wallSeconds.toFixed(1),
    'x tunnel': ratio(result.wallSeconds, tunnel?.wallSeconds),
    'verify s': result.verifySeconds === undefined ? '' : result.verifySeconds.toFixed(1),
    'peak RSS MB': result.runtimePeakRssMb.toFixed(0),
    'RSS x tunnel': ratio(result.runtimePeakRssMb, tunnel?.runtimePeakRssMb),
    records: result.records,
    'same sha256': tunnel === undefined ? '' : result.sha256 === tunnel.sha256 ? 'yes' : 'NO',
    load: result.load,
  }));
  printTable(`delivery modes, ${tables}-table catalog`, rows);
  if (emulator) {
    printTable("moto alone, the S3 run's parts", [
      {
        parts: emulator.parts,
        'JSONL MB': (emulator.uncompressedBytes / 1e6).toFixed(1),
        'compressed MB': (emulator.compressedBytes / 1e6).toFixed(1),
        'moto put s': emulator.putSeconds.toFixed(1),
        'moto get s': emulator.getSeconds.toFixed(1),
        'gzip s': emulator.gzipSeconds.toFixed(1),
        'gzip -1 s': emulator.gzipLevel1Seconds.toFixed(1),
        'gzip -1 MB': (emulator.gzipLevel1Bytes / 1e6).toFixed(1),
        load: emulator.load,
      },
    ]);
  }
  const path = writeResults('delivery', {
    measuredAt: new Date().toISOString(),
    tables,
    results,
    ...(emulator && { motoAlone: emulator }),
  });
  console.log(`wrote ${path}`);
  if (!values.keep) await dropCatalog(database);
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((value) => value.toFixed(1))
    .join(' ');
}

/**
 * moto's own cost for the S3 run's objects: each part (the bench bucket holds only that run's) GET and
 * PUT again one at a time with a plain client, and gzip over their uncompressed bytes.
 */
async function motoCost() {
  const client = new S3Client(s3);
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'sdr/' }));
  const keys = (listed.Contents ?? [])
    .map((object) => object.Key ?? '')
    .filter((key) => key.endsWith('.jsonl.gz'))
    .sort();
  const bodies: Buffer[] = [];
  let started = process.hrtime.bigint();
  for (const key of keys) {
    const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    bodies.push(Buffer.from(await answer.Body!.transformToByteArray()));
  }
  const getSeconds = seconds(started);
  started = process.hrtime.bigint();
  for (const [i, body] of bodies.entries()) {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `raw/${keys[i]}`,
        Body: body,
        ContentType: 'application/gzip',
      }),
    );
  }
  const putSeconds = seconds(started);
  const plain = bodies.map((body) => gunzipSync(body));
  const level6 = await gzipChunked(plain, 6);
  const level1 = await gzipChunked(plain, 1);
  return {
    parts: keys.length,
    compressedBytes: bodies.reduce((sum, body) => sum + body.length, 0),
    putSeconds,
    getSeconds,
    uncompressedBytes: plain.reduce((sum, body) => sum + body.length, 0),
    gzipSeconds: level6.seconds,
    gzipLevel1Seconds: level1.seconds,
    gzipLevel1Bytes: level1.bytes,
    load: loadAverage(),
  };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
