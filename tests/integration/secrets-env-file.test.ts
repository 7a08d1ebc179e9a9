import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createEnvSecretProvider } from '../../secrets/env/index.js';
import { createFileSecretProvider } from '../../secrets/file/index.js';
import { secretProviderConformance } from '../support/secret-provider-conformance.js';

const current = { user: 'crawler', password: `pw-${randomUUID()}` };

secretProviderConformance({
  name: 'env',
  async setup() {
    const environment = { SDR_TEST_PG: JSON.stringify(current) };
    return {
      provider: createEnvSecretProvider(environment),
      jsonRef: 'env://SDR_TEST_PG',
      current,
      missingRef: 'env://SDR_TEST_NOT_SET',
    };
  },
});

let dir = '';
secretProviderConformance({
  name: 'file',
  async setup() {
    dir = await mkdtemp(join(tmpdir(), 'sdr-secrets-'));
    await writeFile(join(dir, 'pg.json'), `${JSON.stringify(current)}\n`);
    return {
      provider: createFileSecretProvider(),
      jsonRef: `file://${join(dir, 'pg.json')}`,
      current,
      missingRef: `file://${join(dir, 'absent')}`,
    };
  },
  async teardown() {
    await rm(dir, { recursive: true, force: true });
  },
});
