import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConnections } from '../../runtime/connections.js';
import { builtInSecretProviders, SecretResolver } from '../../secrets/index.js';

const resolver = new SecretResolver(await builtInSecretProviders(), 0);
const validators = {
  adapterTypes: ['postgres'],
  validateSecretReference: (ref: string) => resolver.validate(ref),
};

function fileWith(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'sdr-conn-')), 'connections.yaml');
  writeFileSync(path, text);
  return path;
}

describe('loadConnections', () => {
  it('loads connections with secret references', () => {
    const file = fileWith(`connections:
  - name: warehouse
    type: postgres
    host: db.internal
    port: 5432
    database: app
    secrets: { user: env://PG_USER, password: file:///run/secrets/pg }
    options: { sslmode: require }
`);
    const connection = loadConnections(file, validators).get('warehouse');
    expect(connection).toMatchObject({
      host: 'db.internal',
      port: 5432,
      secrets: { password: 'file:///run/secrets/pg' },
    });
  });

  it.each([
    ['a missing file', null, /does not exist \(ENOENT\); set SDR_CONNECTIONS_FILE .*connections\.yaml/],
    [
      'a directory (a compose bind mount of a missing file)',
      'dir',
      /is a directory, not a file \(EISDIR\); with docker compose, create connections\.yaml/,
    ],
    ['broken YAML', 'connections: [', /not valid YAML/],
    [
      'a secret value instead of a reference',
      'connections:\n  - {name: pg, type: postgres, secrets: {password: hunter22}}',
      /connection "pg" → secrets → password: must be a secret reference/,
    ],
    [
      'an unknown type',
      'connections:\n  - {name: pg, type: oracle}',
      /type "oracle" has no adapter \(known: postgres\)/,
    ],
    [
      'a duplicate name',
      'connections:\n  - {name: pg, type: postgres}\n  - {name: pg, type: postgres}',
      /"pg" is defined twice/,
    ],
    [
      'an unknown secret scheme',
      'connections:\n  - {name: pg, type: postgres, secrets: {password: "nope://x"}}',
      /names no known provider/,
    ],
    ['a misspelt field', 'connections:\n  - {name: pg, type: postgres, hots: db}', /connection "pg"/],
  ])('refuses %s with a message naming the entry', (_label, text, message) => {
    const file =
      text === null
        ? '/nonexistent/connections.yaml'
        : text === 'dir'
          ? mkdtempSync(join(tmpdir(), 'sdr-conn-dir-'))
          : fileWith(text);
    expect(() => loadConnections(file, validators)).toThrow(message);
  });

  it('never echoes a pasted secret value in its error', () => {
    const file = fileWith(
      'connections:\n  - {name: pg, type: postgres, secrets: {password: "S3cr3t-Value"}}',
    );
    expect(() => loadConnections(file, validators)).toThrow(
      expect.not.objectContaining({ message: expect.stringContaining('S3cr3t') }) as Error,
    );
  });

  it('defaults a connection to tunnel delivery only and reads a bucket block', () => {
    const file = fileWith(`connections:
  - { name: plain, type: postgres }
  - name: lake
    type: postgres
    delivery:
      default: bucket
      allow: [bucket, tunnel]
      bucket:
        provider: s3
        bucket: acme-sdr
        credentials: { accessKeyId: env://KEY_ID, secretAccessKey: env://KEY }
        encryption: { type: SSE-KMS, kmsKeyId: alias/sdr }
        retentionDays: 30
`);
    const connections = loadConnections(file, validators);
    expect(connections.get('plain')?.delivery).toMatchObject({ default: 'tunnel', allow: ['tunnel'] });
    expect(connections.get('lake')?.delivery).toMatchObject({
      default: 'bucket',
      allow: ['bucket', 'tunnel'],
      compression: 'gzip',
      partBytes: 8 * 1024 * 1024,
      bucket: { provider: 's3', prefix: 'sdr', region: 'us-east-1', retentionDays: 30 },
    });
  });

  it.each([
    [
      'a default not allowed',
      '{ default: bucket, allow: [tunnel] }',
      /delivery → default: default must be one of allow/,
    ],
    [
      'bucket allowed without a bucket',
      '{ allow: [bucket] }',
      /delivery → bucket: allow lists bucket but no bucket/,
    ],
    ['an unknown mode', '{ allow: [carrier-pigeon] }', /delivery → allow → 0/],
    [
      'an unknown provider',
      '{ allow: [bucket], bucket: { provider: dropbox, bucket: x } }',
      /delivery → bucket → provider/,
    ],
    [
      'a storage key pasted as a value',
      '{ allow: [bucket], bucket: { provider: azure, accountUrl: "https://a.blob.core.windows.net", container: sdr, credentials: { sasToken: "sv=2024&sig=abc" } } }',
      /delivery → bucket → credentials/,
    ],
    [
      'a storage key with an unknown secret scheme',
      '{ allow: [bucket], bucket: { provider: s3, bucket: acme-sdr, credentials: { accessKeyId: "nope://a", secretAccessKey: "env://B" } } }',
      /secret "delivery.bucket.credentials.accessKeyId": .*names no known provider/,
    ],
    ['a part size below 64 KiB', '{ partBytes: 1000 }', /delivery → partBytes/],
  ])('refuses a delivery block with %s', (_label, delivery, message) => {
    const file = fileWith(`connections:\n  - { name: pg, type: postgres, delivery: ${delivery} }\n`);
    expect(() => loadConnections(file, validators)).toThrow(message);
  });
});
