import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresAdapter } from '../../adapters/postgres/index.js';
import type { AdapterContext, SourceConnection } from '../../adapters/types.js';
import {
  type CloudSqlDouble,
  PRIVATE_IP,
  PUBLIC_IP,
  startCloudSqlDouble,
} from '../support/cloud-sql-double.js';

// The real Cloud SQL connector against a local SQL Admin API and 3307 endpoint (tests/support/cloud-sql-double.ts)
// in front of the TLS-only PostgreSQL peer (tests/peers/postgres-tls.sh).
const port = Number(process.env.SDR_TEST_PG_TLS_PORT ?? '5433');
const certs = join(process.env.SDR_PEER_DIR ?? '/tmp/sdr-peers', `pg-tls-${port}-certs`);
const peerCa = readFileSync(join(certs, 'ca.pem'), 'utf8');
const IAM_ROLE = `sdr_iam_${process.pid}`;
const PROJECT = 'sdr-test';
const REGION = 'europe-west1';
const INSTANCE = 'orders';
const adapter = createPostgresAdapter();
const work = mkdtempSync(join(tmpdir(), 'sdr-cloudsql-'));
const savedEnv = { ...process.env };
let double: CloudSqlDouble;

const context: AdapterContext = {
  signal: new AbortController().signal,
  log: { debug: () => undefined, info: () => undefined, warn: () => undefined },
  warn: () => undefined,
};

function connection(ipType: string, auth: 'password' | 'iam'): SourceConnection {
  return {
    name: 'cloudsql',
    type: 'postgres',
    database: 'postgres',
    options: {
      cloudSql: {
        instanceConnectionName: `${PROJECT}:${REGION}:${INSTANCE}`,
        ipType,
        auth,
        sqlAdminApiEndpoint: double.apiUrl,
      },
    },
    credentials: auth === 'password' ? { user: 'postgres', password: 'postgres' } : { user: IAM_ROLE },
  };
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({
    host: 'localhost',
    port,
    user: 'postgres',
    password: 'postgres',
    database: 'postgres',
    ssl: { ca: peerCa },
  });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  double = await startCloudSqlDouble({
    project: PROJECT,
    region: REGION,
    instance: INSTANCE,
    work,
    upstream: { port, ca: peerCa },
  });
  // Application Default Credentials from the double's metadata server; never a real one.
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  process.env.GCE_METADATA_HOST = double.metadataHost;
  process.env.METADATA_SERVER_DETECTION = 'assume-present';
  process.env.GOOGLE_CLOUD_PROJECT = PROJECT;
  // IAM database authentication: Cloud SQL vouches for the principal; here the relay logs in to the
  // peer with a certificate for the role (the peer's `cert` rule for members of sdr_pg_certs).
  await admin(
    `DO $$ BEGIN CREATE ROLE sdr_pg_certs NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
     DROP ROLE IF EXISTS ${IAM_ROLE}; CREATE ROLE ${IAM_ROLE} LOGIN IN ROLE sdr_pg_certs`,
  );
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: work, stdio: 'ignore' });
  };
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${IAM_ROLE}`,
    '-keyout',
    'iam.key',
    '-out',
    'iam.csr',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'iam.csr',
    '-CA',
    join(certs, 'ca.pem'),
    '-CAkey',
    join(certs, 'ca.key'),
    '-CAcreateserial',
    '-CAserial',
    join(work, 'peer-ca.srl'),
    '-days',
    '2',
    '-out',
    'iam.pem',
  );
});

afterAll(async () => {
  await double?.close();
  await admin(`DROP ROLE IF EXISTS ${IAM_ROLE}`).catch(() => undefined);
  for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
  Object.assign(process.env, savedEnv);
  rmSync(work, { recursive: true, force: true });
});

describe('Cloud SQL through the connector', () => {
  it.each([
    ['public', PUBLIC_IP],
    ['private', PRIVATE_IP],
  ])('connects over %s IP with password auth', async (ipType, address) => {
    double.upstreamClientCert = undefined;
    const before = double.dialled.length;
    const facts = await adapter.check(connection(ipType, 'password'), context);
    expect(facts).toMatchObject({ user: 'postgres', database: 'postgres' });
    expect(double.dialled.slice(before)).toContain(address);
    expect(double.clientSubjects.at(-1)).toMatch(new RegExp(`^${PROJECT}:${INSTANCE}-ephemeral-`));
  });

  it('connects over PSC (the instance DNS name) with password auth', async () => {
    double.upstreamClientCert = undefined;
    const before = double.dialled.length;
    await expect(adapter.check(connection('psc', 'password'), context)).resolves.toMatchObject({
      user: 'postgres',
    });
    // `localhost` resolves to 127.0.0.1 or ::1, never to the public or private address.
    const dialled = double.dialled.slice(before);
    expect(dialled.length).toBeGreaterThan(0);
    for (const address of dialled) expect(['127.0.0.1', '::1']).toContain(address);
  });

  it('connects with IAM database authentication: the access token rides in the ephemeral certificate request', async () => {
    double.upstreamClientCert = {
      cert: readFileSync(join(work, 'iam.pem'), 'utf8'),
      key: readFileSync(join(work, 'iam.key'), 'utf8'),
    };
    const before = double.ephemeralRequests.length;
    const facts = await adapter.check(connection('public', 'iam'), context);
    expect(facts).toMatchObject({ user: IAM_ROLE });
    const requests = double.ephemeralRequests.slice(before);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((r) => r.access_token === double.accessToken)).toBe(true);
  });

  it('called the SQL Admin API for connect settings and a certificate, with the token', () => {
    const paths = double.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`);
    expect(paths).toContain(`GET /sql/v1beta4/projects/${PROJECT}/instances/${INSTANCE}/connectSettings`);
    expect(paths).toContain(
      `POST /sql/v1beta4/projects/${PROJECT}/instances/${INSTANCE}:generateEphemeralCert`,
    );
  });
});
