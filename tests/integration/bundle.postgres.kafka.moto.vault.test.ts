/**
 * The shipped build (scripts/bundle.ts: esbuild bundle plus only the node_modules of the packages it leaves
 * external), run as the image runs it: `sdr extract` from the bundle loads every adapter (PostgreSQL,
 * Kafka, SageMaker, PostgreSQL through the Cloud SQL connector) and resolves credentials from every secret
 * store. A package the bundle needs but does not ship fails here with ERR_MODULE_NOT_FOUND, not in a
 * customer's container. Jobs through the bundle's job worker run in the fault suite, which runs the bundle.
 */
import { SecretsManagerClient, CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledBuild } from '../../scripts/compiled-build.js';
import { childProcessEnv } from '../../scripts/runtime-process.js';
import { peers } from '../peers/endpoints.js';
import { closedPort } from '../support/http-double.js';
import { PgFixture } from '../support/pg-fixture.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const suffix = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
const vaultMount = `sdrbundle${suffix}`;
const awsName = `sdr-bundle-${suffix}/pg`;
const aws = { region: 'us-east-1', accessKeyId: 'testing', secretAccessKey: 'testing' };
let build: string;
let ownBuild: string | undefined;
let dir: string;
let fixture: PgFixture;
let env: Record<string, string>;

/** `sdr <args>` from the bundle, with exactly `env` (plus PATH and HOME), from the build's directory. */
function sdr(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(build, 'dist/runtime/cli.js'), ...args],
      {
        cwd: build,
        env: { ...childProcessEnv(), ...env },
        timeout: 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function vault(method: string, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${peers.vault.address}/v1/${path}`, {
    method,
    headers: { 'x-vault-token': peers.vault.rootToken, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`vault ${method} ${path}: ${response.status} ${await response.text()}`);
}

const records = (run: Run) => Number(/wrote (\d+) records/.exec(run.stderr)?.[1] ?? -1);

beforeAll(async () => {
  // The global setup's build when there is one (it removes it); else one of this file's own.
  build = process.env.SDR_TEST_BUILD_DIR ?? (ownBuild = compiledBuild());
  dir = mkdtempSync(join(tmpdir(), 'sdr-bundle-'));
  fixture = await PgFixture.create('sdr_bundle', 3);
  const login = { user: fixture.user, password: fixture.password };
  await vault('POST', `sys/mounts/${vaultMount}`, { type: 'kv', options: { version: '2' } });
  await vault('POST', `${vaultMount}/data/pg`, { data: login });
  const secrets = new SecretsManagerClient({
    region: aws.region,
    endpoint: peers.motoUrl,
    credentials: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey },
  });
  await secrets.send(new CreateSecretCommand({ Name: awsName, SecretString: JSON.stringify(login) }));
  secrets.destroy();

  // Stores with no peer here (tests/integration/secrets-{azure-kv,gcp-sm}.test.ts use in-process doubles)
  // point at a closed port: resolving fails with the store's own error, which needs its SDK loaded.
  const closed = await closedPort();
  const gcpKey = join(dir, 'sa.json');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(
    gcpKey,
    JSON.stringify({
      type: 'service_account',
      project_id: 'sdr-test',
      private_key_id: 'k1',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: 'sdr@sdr-test.iam.gserviceaccount.com',
      token_uri: `http://127.0.0.1:${closed}/token`,
    }),
    { mode: 0o600 },
  );

  const pg = (name: string, user: string, password: string, options = '{ sslmode: disable }') =>
    [
      `  - name: ${name}`,
      '    type: postgres',
      `    host: ${peers.postgres.host}`,
      `    port: ${peers.postgres.port}`,
      `    database: ${fixture.database}`,
      `    secrets: { user: ${user}, password: ${password} }`,
      `    options: ${options}`,
    ].join('\n');
  const connections = [
    'connections:',
    pg('pg-env', 'env://SDR_TEST_PG_USER', 'env://SDR_TEST_PG_PASSWORD'),
    pg('pg-file', 'env://SDR_TEST_PG_USER', `file://${join(dir, 'pg-password')}`),
    pg('pg-vault', `vault://${vaultMount}/data/pg#user`, `vault://${vaultMount}/data/pg#password`),
    pg('pg-aws', `aws-sm://${awsName}#user`, `aws-sm://${awsName}#password`),
    pg('pg-azure', 'azure-kv://sdr-vault/pg#user', 'azure-kv://sdr-vault/pg#password'),
    pg(
      'pg-gcp',
      'gcp-sm://projects/sdr-test/secrets/pg#user',
      'gcp-sm://projects/sdr-test/secrets/pg#password',
    ),
    pg(
      'pg-cloudsql',
      'env://SDR_TEST_PG_USER',
      'env://SDR_TEST_PG_PASSWORD',
      `{ cloudSql: { instanceConnectionName: 'sdr-test:europe-west1:orders', sqlAdminApiEndpoint: 'http://127.0.0.1:${closed}/' } }`,
    ),
    '  - name: kafka',
    '    type: kafka',
    `    options: { bootstrapServers: ['${peers.kafka.plaintext}'], securityProtocol: PLAINTEXT, allowPlaintext: true }`,
    '  - name: sagemaker',
    '    type: sagemaker',
    `    options: { region: ${aws.region}, endpoint: '${peers.motoUrl}' }`,
    '    secrets: { accessKeyId: env://SDR_TEST_AWS_KEY_ID, secretAccessKey: env://SDR_TEST_AWS_SECRET }',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'connections.yaml'), connections);
  writeFileSync(join(dir, 'pg-password'), fixture.password);
  env = {
    SDR_CONNECTIONS_FILE: join(dir, 'connections.yaml'),
    ...fixture.secretEnv,
    SDR_TEST_AWS_KEY_ID: aws.accessKeyId,
    SDR_TEST_AWS_SECRET: aws.secretAccessKey,
    SDR_VAULT_ADDR: peers.vault.address,
    SDR_VAULT_TOKEN: peers.vault.rootToken,
    SDR_AWS_SM_REGION: aws.region,
    SDR_AWS_SM_ENDPOINT: peers.motoUrl,
    SDR_AWS_SM_ACCESS_KEY_ID_REF: 'env://SDR_TEST_AWS_KEY_ID',
    SDR_AWS_SM_SECRET_ACCESS_KEY_REF: 'env://SDR_TEST_AWS_SECRET',
    SDR_AZURE_KV_CREDENTIAL: 'managed-identity',
    SDR_AZURE_KV_URL_TEMPLATE: `https://127.0.0.1:${closed}/{vault}`,
    SDR_AZURE_KV_TIMEOUT_MS: '2000',
    IDENTITY_ENDPOINT: `http://127.0.0.1:${closed}/msi/token`,
    IDENTITY_HEADER: 'sdr-test',
    SDR_GCP_SM_KEY_FILE: gcpKey,
    SDR_GCP_SM_ENDPOINT: `127.0.0.1:${closed}`,
    SDR_GCP_SM_TIMEOUT_MS: '2000',
    // The Cloud SQL connector's default credentials: none, so it fails at once without a metadata server.
    GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'absent.json'),
  };
}, 300_000);

afterAll(async () => {
  if (ownBuild) rmSync(ownBuild, { recursive: true, force: true });
  await fixture?.drop();
  await vault('DELETE', `sys/mounts/${vaultMount}`, {}).catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the bundle as shipped', () => {
  it('extracts PostgreSQL with credentials from env, a file, Vault and AWS Secrets Manager', async () => {
    const runs = await Promise.all(
      ['pg-env', 'pg-file', 'pg-vault', 'pg-aws'].map((name) => sdr(['extract', name])),
    );
    for (const run of runs) {
      expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (package|module)|Dynamic require/);
      expect(run.code, run.stderr).toBe(0);
      expect(records(run)).toBeGreaterThan(3);
    }
    // The same bytes whichever store held the password.
    expect(new Set(runs.map((run) => run.stdout)).size).toBe(1);
  });

  it('extracts Kafka and SageMaker', async () => {
    // moto has no ListFeatureGroups and the like: models and training jobs are what it serves.
    const runs = {
      kafka: await sdr(['extract', 'kafka']),
      sagemaker: await sdr([
        'extract',
        'sagemaker',
        '--options',
        JSON.stringify({ resourceTypes: ['models', 'trainingJobs'] }),
      ]),
    };
    for (const [name, run] of Object.entries(runs)) {
      expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (package|module)|Dynamic require/);
      expect(run.code, `${name}: ${run.stderr}`).toBe(0);
    }
    // The Kafka peer always has topics (its internal ones at least); a fresh moto account may have no models.
    expect(records(runs.kafka)).toBeGreaterThan(0);
    expect(records(runs.sagemaker)).toBeGreaterThanOrEqual(0);
  });

  it('loads the Azure Key Vault and GCP Secret Manager SDKs and the Cloud SQL connector (their own errors against a closed port)', async () => {
    const [azure, gcp, cloudSql] = await Promise.all([
      sdr(['extract', 'pg-azure']),
      sdr(['extract', 'pg-gcp']),
      sdr(['extract', 'pg-cloudsql']),
    ]);
    for (const run of [azure, gcp, cloudSql]) {
      expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (package|module)|Dynamic require/);
      expect(run.code).toBe(1);
    }
    expect(azure.stderr).toMatch(/^sdr: SDR_ERR_SECRET_(UNAVAILABLE|DENIED): .*azure-kv:\/\/sdr-vault\/pg/m);
    expect(gcp.stderr).toMatch(/^sdr: SDR_ERR_SECRET_(UNAVAILABLE|DENIED): .*gcp-sm:\/\/projects\/sdr-test/m);
    expect(cloudSql.stderr).toMatch(/^sdr: SDR_ERR_PG_CLOUDSQL: .*sdr-test:europe-west1:orders/m);
  });
});
