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
    ['a missing file', null, /cannot read it \(ENOENT\); set SDR_CONNECTIONS_FILE/],
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
    const file = text === null ? '/nonexistent/connections.yaml' : fileWith(text);
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
});
