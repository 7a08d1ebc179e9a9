import { describe, expect, it } from 'vitest';
import { mapPgError } from '../../adapters/postgres/errors.js';
import { childKey, columnKey, relationKey, serverKey } from '../../adapters/postgres/keys.js';
import { compileSettings, defaultSslMode, toPostgresRegex } from '../../adapters/postgres/options.js';
import type { SourceConnection } from '../../adapters/types.js';

const target = {
  host: 'db.internal',
  port: 5432,
  database: 'app',
  user: 'crawler',
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 60_000,
  lockTimeoutMs: 5_000,
  secrets: ['hunter2-secret'],
};

function connection(overrides: Partial<SourceConnection> = {}): SourceConnection {
  return {
    name: 'c',
    type: 'postgres',
    host: 'db.internal',
    options: {},
    credentials: { user: 'crawler', password: 'hunter2-secret' },
    ...overrides,
  };
}

describe('postgres name filters', () => {
  it('compiles globs to anchored PostgreSQL regexes with every other character literal', () => {
    expect(toPostgresRegex('sales_*')).toBe('^sales_.*$');
    expect(toPostgresRegex('a.b?')).toBe('^a\\.b.$');
    expect(toPostgresRegex('x(1)+[y]')).toBe('^x\\(1\\)\\+\\[y\\]$');
    expect(toPostgresRegex('/tmp_\\d+/')).toBe('^(?:tmp_\\d+)$');
    expect(toPostgresRegex('/Big/i')).toBe('(?i)^(?:Big)$');
  });
});

describe('postgres keys', () => {
  it('encodes every identifier so odd names cannot collide', () => {
    const db = `${serverKey('DB.Internal', 5432)}/app`;
    expect(db).toBe('postgres://db.internal:5432/app');
    expect(relationKey(db, 'a/b', 'c')).not.toBe(relationKey(db, 'a', 'b/c'));
    expect(columnKey(relationKey(db, 's', 't'), 'x')).not.toBe(relationKey(db, 's', 't/x'));
    expect(childKey(relationKey(db, 's', 't'), 'index', '@index')).toBe(
      'postgres://db.internal:5432/app/s/t/@index/%40index',
    );
    expect(serverKey('::1', 5432)).toBe('postgres://[::1]:5432');
    expect(serverKey('proj:region:inst', 5432)).toBe('postgres://proj%3Aregion%3Ainst:5432');
  });
});

describe('postgres connection settings', () => {
  it('defaults to TLS except on loopback', () => {
    expect(defaultSslMode('127.0.0.1')).toBe('disable');
    expect(defaultSslMode('localhost')).toBe('disable');
    expect(defaultSslMode('db.internal')).toBe('require');
    expect(compileSettings(connection()).tls.mode).toBe('require');
    expect(compileSettings(connection()).port).toBe(5432);
    expect(compileSettings(connection()).database).toBe('postgres');
  });

  it('takes certificates from secrets before files and rejects half a client certificate', () => {
    const settings = compileSettings(
      connection({ credentials: { user: 'u', sslrootcert: 'CA-PEM' }, options: { sslmode: 'verify-full' } }),
    );
    expect(settings.tls).toEqual({ mode: 'verify-full', ca: 'CA-PEM' });
    expect(() => compileSettings(connection({ credentials: { user: 'u', sslcert: 'C' } }))).toThrow(
      expect.objectContaining({ code: 'SDR_ERR_PG_CONFIG' }),
    );
    expect(() => compileSettings(connection({ options: { sslrootcert: '/nonexistent/ca.pem' } }))).toThrow(
      /sslrootcert file \/nonexistent\/ca.pem cannot be read/,
    );
    expect(() => compileSettings(connection({ options: { sslmode: 'prefer' } }))).toThrow(/sslmode/);
    expect(() => compileSettings(connection({ credentials: {} }))).toThrow(/credentials.user/);
  });
});

describe('postgres error mapping', () => {
  it('names the pg_hba problem and what to do', () => {
    const error = mapPgError(
      Object.assign(
        new Error('no pg_hba.conf entry for host "10.0.0.5", user "crawler", database "app", no encryption'),
        {
          code: '28000',
        },
      ),
      target,
      'connect',
    );
    expect(error.code).toBe('SDR_ERR_PG_AUTH');
    expect(error.message).toContain('no pg_hba.conf entry for host "10.0.0.5"');
    expect(error.message).toContain('pg_hba.conf line');
  });

  it('describes timeouts, DNS failures and TLS failures', () => {
    expect(mapPgError(new Error('timeout expired'), target, 'connect').message).toContain(
      'timed out connecting to db.internal:5432 after 10 s',
    );
    expect(
      mapPgError(Object.assign(new Error('x'), { code: 'ENOTFOUND' }), target, 'connect').message,
    ).toContain('host db.internal could not be resolved');
    const tls = mapPgError(
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      target,
      'connect',
    );
    expect(tls.code).toBe('SDR_ERR_PG_TLS');
    expect(
      mapPgError(
        Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
        target,
        'query',
      ).message,
    ).toContain('statement timed out after 60 s');
  });

  it('never lets a secret value through', () => {
    const error = mapPgError(new Error('weird failure mentioning hunter2-secret'), target, 'query');
    expect(error.message).not.toContain('hunter2-secret');
  });
});
