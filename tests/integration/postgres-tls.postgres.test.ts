import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresAdapter } from '../../adapters/postgres/index.js';
import type { AdapterContext, SourceConnection } from '../../adapters/types.js';
import { SdrError } from '../../protocol/index.js';

// Runs against the TLS-only server of tests/peers/postgres-tls.sh (certificate for DNS:localhost only).
const port = Number(process.env.SDR_TEST_PG_TLS_PORT ?? '5433');
const certs = join(process.env.SDR_PEER_DIR ?? '/tmp/sdr-peers', `pg-tls-${port}-certs`);
const caFile = join(certs, 'ca.pem');
const CERT_ROLE = `sdr_pg_cert_${process.pid}`;
const adapter = createPostgresAdapter();
const work = mkdtempSync(join(tmpdir(), 'sdr-pg-tls-'));

const context: AdapterContext = {
  signal: new AbortController().signal,
  log: { debug: () => undefined, info: () => undefined, warn: () => undefined },
  warn: () => undefined,
};

function connection(
  options: Record<string, unknown>,
  overrides: Partial<SourceConnection> = {},
  credentials: Record<string, string> = { user: 'postgres', password: 'postgres' },
): SourceConnection {
  return {
    name: 'tls',
    type: 'postgres',
    host: '127.0.0.1',
    port,
    database: 'postgres',
    options,
    credentials,
    ...overrides,
  };
}

async function failure(promise: Promise<unknown>): Promise<SdrError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SdrError);
    return error as SdrError;
  }
  throw new Error('expected a failure');
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: work, stdio: 'ignore' });
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({
    host: 'localhost',
    port,
    user: 'postgres',
    password: 'postgres',
    database: 'postgres',
    ssl: { ca: readFileSync(caFile, 'utf8') },
  });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  // A client certificate for CERT_ROLE signed by the test CA, and an unrelated CA.
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${CERT_ROLE}`,
    '-keyout',
    'client.key',
    '-out',
    'client.csr',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    caFile,
    '-CAkey',
    join(certs, 'ca.key'),
    '-CAcreateserial',
    '-CAserial',
    join(work, 'ca.srl'),
    '-days',
    '2',
    '-out',
    'client.pem',
  );
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=other CA',
    '-keyout',
    'other.key',
    '-out',
    'other.pem',
  );
  await admin(
    `DO $$ BEGIN CREATE ROLE sdr_pg_certs NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
     DROP ROLE IF EXISTS ${CERT_ROLE}; CREATE ROLE ${CERT_ROLE} LOGIN IN ROLE sdr_pg_certs`,
  );
});

afterAll(async () => {
  await admin(`DROP ROLE IF EXISTS ${CERT_ROLE}`);
  rmSync(work, { recursive: true, force: true });
});

describe('postgres adapter over TLS', () => {
  it('names the pg_hba.conf refusal when TLS is disabled against a TLS-only server', async () => {
    const error = await failure(adapter.check(connection({ sslmode: 'disable' }), context));
    expect(error.code).toBe('SDR_ERR_PG_AUTH');
    expect(error.message).toContain(
      'no pg_hba.conf entry for host "127.0.0.1", user "postgres", database "postgres", no encryption',
    );
    expect(error.message).toContain('change sslmode');
  });

  it('encrypts without verifying under require', async () => {
    const facts = await adapter.check(connection({ sslmode: 'require' }), context);
    expect(facts).toMatchObject({ ssl: true, canReadCatalog: true });
  });

  it('verifies the chain under verify-ca, from a file or a secret', async () => {
    expect(
      await adapter.check(connection({ sslmode: 'verify-ca', sslrootcert: caFile }), context),
    ).toMatchObject({
      ssl: true,
    });
    const fromSecret = connection({ sslmode: 'verify-ca' }, undefined, {
      user: 'postgres',
      password: 'postgres',
      sslrootcert: readFileSync(caFile, 'utf8'),
    });
    expect(await adapter.check(fromSecret, context)).toMatchObject({ ssl: true });
  });

  it('rejects a server certificate from another CA', async () => {
    const error = await failure(
      adapter.check(connection({ sslmode: 'verify-ca', sslrootcert: join(work, 'other.pem') }), context),
    );
    expect(error.code).toBe('SDR_ERR_PG_TLS');
    expect(error.message).toContain('127.0.0.1:');
  });

  it('checks the host name under verify-full', async () => {
    const mismatch = await failure(
      adapter.check(connection({ sslmode: 'verify-full', sslrootcert: caFile }), context),
    );
    expect(mismatch.code).toBe('SDR_ERR_PG_TLS');
    expect(mismatch.message).toMatch(/127\.0\.0\.1/);
    const facts = await adapter.check(
      connection({ sslmode: 'verify-full', sslrootcert: caFile }, { host: 'localhost' }),
      context,
    );
    expect(facts).toMatchObject({ ssl: true });
  });

  it('authenticates with a client certificate given as secrets, and never echoes the key', async () => {
    const key = readFileSync(join(work, 'client.key'), 'utf8');
    const withCert = connection(
      { sslmode: 'verify-full', sslrootcert: caFile },
      { host: 'localhost' },
      {
        user: CERT_ROLE,
        sslcert: readFileSync(join(work, 'client.pem'), 'utf8'),
        sslkey: key,
      },
    );
    expect(await adapter.check(withCert, context)).toMatchObject({ user: CERT_ROLE, ssl: true });
    const records = [];
    for await (const record of adapter.extract(withCert, adapter.parseOptions({}, 'tls'), context))
      records.push(record);
    expect(records[0]).toMatchObject({ kind: 'database', key: `postgres://localhost:${port}/postgres` });

    const withoutCert = connection(
      { sslmode: 'verify-full', sslrootcert: caFile },
      { host: 'localhost' },
      {
        user: CERT_ROLE,
      },
    );
    const error = await failure(adapter.check(withoutCert, context));
    expect(error.code).toBe('SDR_ERR_PG_AUTH');
    expect(error.message).not.toContain(key.slice(40, 80));
  });
});
