/**
 * `npm run demo`: the whole product path on this machine. The reference cloud signs a request, the
 * runtime (a separate process) takes it over a wss:// tunnel, queues it in Redis, crawls a sample
 * PostgreSQL catalog with a read-only role, and streams the records back until the cloud commits them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { cloudApi, ensurePeer, repoRoot, startLocalStack, waitForJob } from './local-stack.js';

const PG = {
  host: '127.0.0.1',
  port: Number(process.env.SDR_DEMO_PG_PORT ?? 5432),
  user: 'postgres',
  password: process.env.SDR_DEMO_PG_PASSWORD ?? 'postgres',
};
const REDIS_PORT = Number(process.env.SDR_DEMO_REDIS_PORT ?? 6379);
const DATABASE = 'sdr_demo';
const CRAWLER = 'sdr_demo_crawler';

const say = (line: string) => process.stdout.write(`demo: ${line}\n`);

async function loadSampleSchema(crawlerPassword: string): Promise<void> {
  const admin = new pg.Client({ ...PG, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${DATABASE}`);
    await admin.query(`DROP ROLE IF EXISTS ${CRAWLER}`);
    // The crawler may connect and see the catalog; it is granted no SELECT on any table.
    await admin.query(`CREATE ROLE ${CRAWLER} LOGIN PASSWORD '${crawlerPassword}'`);
    await admin.query(`GRANT CONNECT ON DATABASE ${DATABASE} TO ${CRAWLER}`);
  } finally {
    await admin.end();
  }
  const db = new pg.Client({ ...PG, database: DATABASE });
  await db.connect();
  try {
    await db.query(readFileSync(join(repoRoot, 'scripts/demo-schema.sql'), 'utf8'));
    await db.query(`GRANT USAGE ON SCHEMA shop, analytics TO ${CRAWLER}`);
  } finally {
    await db.end();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  for (const [name, port] of [
    ['redis', REDIS_PORT],
    ['postgres', PG.port],
  ] as const) {
    const note = await ensurePeer(name, port);
    if (note) say(note);
  }
  const crawlerPassword = randomBytes(18).toString('base64url');
  await loadSampleSchema(crawlerPassword);
  say(`loaded the sample schema into database ${DATABASE} (read-only role ${CRAWLER}, no SELECT on tables)`);

  const workDir = join(repoRoot, '.sdr/demo');
  rmSync(workDir, { recursive: true, force: true });
  const stack = await startLocalStack({
    workDir,
    tls: true,
    redisUrl: `redis://127.0.0.1:${REDIS_PORT}`,
    connectionsYaml: [
      'connections:',
      '  - name: demo-shop',
      '    type: postgres',
      `    host: ${PG.host}`,
      `    port: ${PG.port}`,
      `    database: ${DATABASE}`,
      '    secrets:',
      `      user: env://SDR_DEMO_PG_USER`,
      `      password: env://SDR_DEMO_PG_CRAWLER_PASSWORD`,
      '    options: { sslmode: disable }',
      '',
    ].join('\n'),
    runtimeEnv: {
      SDR_DEMO_PG_USER: CRAWLER,
      SDR_DEMO_PG_CRAWLER_PASSWORD: crawlerPassword,
      SDR_LOG_LEVEL: 'warn',
    },
  });
  try {
    say(
      `reference cloud on ${stack.cloud.url}; runtime connected over ${stack.cloud.tunnelUrl} as agent ${stack.agentId}`,
    );
    const submittedAt = Date.now();
    const { jobId } = await cloudApi<{ jobId: string }>(
      stack.cloud,
      'POST',
      `/v1/agents/${stack.agentId}/jobs`,
      {
        connection: 'demo-shop',
        options: {},
      },
    );
    say(`cloud signed and sent job ${jobId}`);
    const job = await waitForJob(stack.cloud, jobId);
    const seconds = (Date.now() - submittedAt) / 1000;
    if (job.state !== 'committed' || !job.result) {
      throw new Error(
        `job ended ${job.state}: ${job.error ? `${job.error.code}: ${job.error.message}` : 'no result'}`,
      );
    }
    const jsonl = await cloudApi<string>(stack.cloud, 'GET', `/v1/jobs/${jobId}/result`);
    const records = jsonl
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { kind: string });
    const perKind = new Map<string, number>();
    for (const record of records) perKind.set(record.kind, (perKind.get(record.kind) ?? 0) + 1);
    const sha256 = createHash('sha256').update(jsonl).digest('hex');
    if (sha256 !== job.result.sha256)
      throw new Error(`committed file sha256 ${sha256} ≠ reported ${job.result.sha256}`);

    say('committed:');
    for (const [kind, count] of [...perKind].sort())
      process.stdout.write(`  ${kind.padEnd(22)} ${String(count).padStart(6)}\n`);
    process.stdout.write(`  ${'total records'.padEnd(22)} ${String(records.length).padStart(6)}\n`);
    process.stdout.write(`  ${'bytes'.padEnd(22)} ${String(job.result.bytes).padStart(6)}\n`);
    process.stdout.write(`  ${'seconds (job)'.padEnd(22)} ${seconds.toFixed(2).padStart(6)}\n`);
    process.stdout.write(`  ${'sha256'.padEnd(22)} ${job.result.sha256}\n`);
    process.stdout.write(`  ${'result file'.padEnd(22)} ${job.result.path}\n`);
    say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await stack.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
