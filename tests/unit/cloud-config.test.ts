import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../../cloud/config.js';
import { SdrError } from '../../protocol/index.js';

function configError(env: NodeJS.ProcessEnv): SdrError {
  try {
    loadCloudConfig(env);
  } catch (error) {
    if (error instanceof SdrError) return error;
    throw error;
  }
  throw new Error('expected a config error');
}

describe('cloud CLI config', () => {
  it('fills every default', () => {
    expect(loadCloudConfig({ PATH: '/bin' })).toEqual({
      host: '127.0.0.1',
      port: 8787,
      dataDir: './.sdr/cloud',
      adminToken: undefined,
      tls: undefined,
      heartbeatIntervalMs: 15_000,
      reconcileIntervalMs: 60_000,
      creditWindow: 8,
      maxFrameBytes: 4 * 1024 * 1024,
      ackDelayMs: 0,
      logLevel: 'info',
      bucketReaders: [],
    });
  });

  it('reads every setting and treats empty variables as unset', () => {
    const config = loadCloudConfig({
      CLOUD_HOST: '0.0.0.0',
      CLOUD_PORT: '9000',
      CLOUD_DATA_DIR: '/var/lib/sdr-cloud',
      CLOUD_ADMIN_TOKEN: 'a-long-enough-admin-token',
      CLOUD_HEARTBEAT_MS: '500',
      CLOUD_CREDIT_WINDOW: '2',
      CLOUD_MAX_FRAME_BYTES: '65536',
      CLOUD_ACK_DELAY_MS: '25',
      CLOUD_LOG_LEVEL: 'debug',
      CLOUD_TLS_CERT_FILE: '',
    });
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 9000,
      dataDir: '/var/lib/sdr-cloud',
      adminToken: 'a-long-enough-admin-token',
      heartbeatIntervalMs: 500,
      creditWindow: 2,
      maxFrameBytes: 65_536,
      ackDelayMs: 25,
      logLevel: 'debug',
      tls: undefined,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names every bad variable on one line', () => {
    const error = configError({
      CLOUD_PORT: 'eighty',
      CLOUD_CREDIT_WINDOW: '0',
      CLOUD_LOG_LEVEL: 'loud',
      CLOUD_ADMIN_TOKEN: 'short',
    });
    expect(error.code).toBe('SDR_ERR_CONFIG_INVALID');
    expect(error.message).not.toContain('\n');
    for (const name of ['CLOUD_PORT', 'CLOUD_CREDIT_WINDOW', 'CLOUD_LOG_LEVEL', 'CLOUD_ADMIN_TOKEN']) {
      expect(error.message).toContain(name);
    }
    expect(error.message).not.toContain('short');
  });

  it('needs both TLS files, and readable ones', () => {
    expect(configError({ CLOUD_TLS_CERT_FILE: '/x.crt' }).message).toContain('both or neither');
    const dir = mkdtempSync(join(tmpdir(), 'sdr-cloud-config-'));
    try {
      writeFileSync(join(dir, 'c.pem'), 'CERT');
      writeFileSync(join(dir, 'k.pem'), 'KEY');
      expect(
        loadCloudConfig({ CLOUD_TLS_CERT_FILE: join(dir, 'c.pem'), CLOUD_TLS_KEY_FILE: join(dir, 'k.pem') })
          .tls,
      ).toEqual({ cert: 'CERT', key: 'KEY' });
      expect(
        configError({ CLOUD_TLS_CERT_FILE: join(dir, 'c.pem'), CLOUD_TLS_KEY_FILE: join(dir, 'missing.pem') })
          .message,
      ).toContain('CLOUD_TLS_KEY_FILE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('CLOUD_BUCKET_READERS_FILE', () => {
    const withFile = (text: string, run: (file: string, dir: string) => void) => {
      const dir = mkdtempSync(join(tmpdir(), 'sdr-cloud-readers-'));
      try {
        writeFileSync(join(dir, 'readers.yaml'), text);
        run(join(dir, 'readers.yaml'), dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };

    it('builds one reader per entry, credentials resolved from env:// and file:// references', () => {
      withFile(
        [
          'readers:',
          '  - provider: s3',
          '    bucket: acme-sdr',
          '    endpoint: http://127.0.0.1:5000',
          '    forcePathStyle: true',
          '    credentials: { accessKeyId: env://READER_KEY_ID, secretAccessKey: file:///SECRET_FILE }',
          '  - provider: azure',
          '    accountUrl: http://127.0.0.1:10000/devstoreaccount1',
          '    container: sdr-results',
          '    credentials: { sasToken: env://READER_SAS }',
          '  - provider: gcs',
          '    bucket: acme-sdr',
          '    endpoint: http://127.0.0.1:4443',
          '    projectId: acme',
          '',
        ].join('\n'),
        (file, dir) => {
          writeFileSync(join(dir, 'secret'), 'reader-secret\n');
          const yaml = readFileSync(file, 'utf8').replace('/SECRET_FILE', join(dir, 'secret'));
          writeFileSync(file, yaml);
          const config = loadCloudConfig({
            CLOUD_BUCKET_READERS_FILE: file,
            READER_KEY_ID: 'reader-id',
            READER_SAS: 'sv=2024&sig=x',
          });
          expect(config.bucketReaders).toEqual([
            {
              provider: 's3',
              bucket: 'acme-sdr',
              region: 'us-east-1',
              endpoint: 'http://127.0.0.1:5000',
              forcePathStyle: true,
              credentials: { accessKeyId: 'reader-id', secretAccessKey: 'reader-secret' },
            },
            {
              provider: 'azure',
              accountUrl: 'http://127.0.0.1:10000/devstoreaccount1',
              container: 'sdr-results',
              credentials: { sasToken: 'sv=2024&sig=x' },
            },
            {
              provider: 'gcs',
              bucket: 'acme-sdr',
              endpoint: 'http://127.0.0.1:4443',
              projectId: 'acme',
              credentials: undefined,
            },
          ]);
        },
      );
    });

    it('refuses a credential written as a value, an unknown field, an unset variable, never quoting a value', () => {
      withFile(
        'readers:\n  - { provider: s3, bucket: acme-sdr, credentials: { accessKeyId: AKIAVALUE, secretAccessKey: env://S } }\n',
        (file) => {
          const message = configError({ CLOUD_BUCKET_READERS_FILE: file }).message;
          expect(message).toContain(`CLOUD_BUCKET_READERS_FILE ${file}: readers.0.credentials.accessKeyId`);
          expect(message).toContain('never the value itself');
          expect(message).not.toContain('AKIAVALUE');
        },
      );
      withFile('readers:\n  - { provider: gcs, bucket: acme-sdr, colour: blue }\n', (file) => {
        expect(configError({ CLOUD_BUCKET_READERS_FILE: file }).message).toMatch(/readers\.0.*colour/);
      });
      withFile(
        'readers:\n  - { provider: s3, bucket: acme-sdr, credentials: { accessKeyId: env://ID, secretAccessKey: env://S } }\n',
        (file) => {
          expect(configError({ CLOUD_BUCKET_READERS_FILE: file, ID: 'x' }).message).toContain(
            'readers.0.credentials.secretAccessKey: env://S is not set',
          );
        },
      );
      expect(configError({ CLOUD_BUCKET_READERS_FILE: '/nonexistent/readers.yaml' }).message).toContain(
        'CLOUD_BUCKET_READERS_FILE /nonexistent/readers.yaml: cannot read it',
      );
    });
  });
});
