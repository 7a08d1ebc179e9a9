import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPostgresAdapter } from '../../adapters/postgres/index.js';
import { compileSettings } from '../../adapters/postgres/options.js';
import type { AdapterContext, SourceConnection } from '../../adapters/types.js';
import { SdrError } from '../../protocol/index.js';

// What can be tested without Google: configuration and the errors when credentials are missing.
// The connector is never allowed to look for a GCE metadata server here (that would be network traffic).

function connection(
  cloudSql: Record<string, unknown>,
  credentials: Record<string, string> = {},
): SourceConnection {
  return {
    name: 'cloudsql',
    type: 'postgres',
    database: 'app',
    options: { cloudSql },
    credentials: { user: 'crawler', password: 'Pa55-secret', ...credentials },
  };
}

const context: AdapterContext = {
  signal: new AbortController().signal,
  log: { debug: () => undefined, info: () => undefined, warn: () => undefined },
  warn: () => undefined,
};

async function failure(promise: Promise<unknown>): Promise<SdrError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SdrError);
    return error as SdrError;
  }
  throw new Error('expected a failure');
}

describe('Cloud SQL settings', () => {
  it('uses the instance connection name as the host and defaults to public IP and password auth', () => {
    const settings = compileSettings(connection({ instanceConnectionName: 'proj:europe-west1:main' }));
    expect(settings.host).toBe('proj:europe-west1:main');
    expect(settings.cloudSql).toEqual({
      instanceConnectionName: 'proj:europe-west1:main',
      ipType: 'public',
      auth: 'password',
    });
    expect(settings.tls.mode).toBe('disable');
  });

  it('rejects malformed and contradictory settings with SDR_ERR_PG_CONFIG', () => {
    const code = expect.objectContaining({ code: 'SDR_ERR_PG_CONFIG' });
    expect(() => compileSettings(connection({ instanceConnectionName: 'just-a-name' }))).toThrow(code);
    expect(() => compileSettings(connection({ instanceConnectionName: 'p:r:i', ipType: 'vpn' }))).toThrow(
      /ipType/,
    );
    expect(() =>
      compileSettings({
        ...connection({ instanceConnectionName: 'p:r:i' }),
        options: { cloudSql: { instanceConnectionName: 'p:r:i' }, sslmode: 'verify-full' },
      }),
    ).toThrow(/do not apply to Cloud SQL/);
    expect(() => compileSettings(connection({ instanceConnectionName: 'p:r:i' }, { password: '' }))).toThrow(
      /needs credentials.password/,
    );
    // IAM database authentication needs no password.
    expect(
      compileSettings(
        connection({ instanceConnectionName: 'p:r:i', auth: 'iam', ipType: 'psc' }, { password: '' }),
      ).cloudSql,
    ).toMatchObject({ auth: 'iam', ipType: 'psc' });
  });
});

describe('Cloud SQL without Google credentials', () => {
  beforeEach(() => {
    vi.stubEnv('METADATA_SERVER_DETECTION', 'none');
    vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', '');
    vi.stubEnv('HOME', '/nonexistent-home');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('says where credentials come from', async () => {
    const adapter = createPostgresAdapter();
    const error = await failure(
      adapter.check(connection({ instanceConnectionName: 'proj:region:inst' }), context),
    );
    expect(error.code).toBe('SDR_ERR_PG_CLOUDSQL');
    expect(error.message).toContain('no Google credentials found for Cloud SQL instance proj:region:inst');
    expect(error.message).toContain('GOOGLE_APPLICATION_CREDENTIALS');
    expect(error.message).not.toContain('Pa55-secret');
  });

  it('rejects a googleCredentials secret that is not a key file without quoting it', async () => {
    const adapter = createPostgresAdapter();
    const error = await failure(
      adapter.check(
        connection({ instanceConnectionName: 'proj:region:inst' }, { googleCredentials: 'not-json-S3CRET' }),
        context,
      ),
    );
    expect(error.code).toBe('SDR_ERR_PG_CONFIG');
    expect(error.message).not.toContain('S3CRET');
  });
});
