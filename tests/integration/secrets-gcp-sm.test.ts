import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGcpSecretManagerProvider, type GcpSecretManagerOptions } from '../../secrets/gcp-sm/index.js';
import { parseSecretReference } from '../../secrets/index.js';
import {
  startGcpSecretManagerDouble,
  type GcpSecretManagerDouble,
} from '../support/gcp-secret-manager-double.js';
import { closedPort } from '../support/http-double.js';
import { secretProviderConformance } from '../support/secret-provider-conformance.js';

// No Secret Manager emulator installs here (Google ships none; the community ones are not on the reachable
// registries), so the real SDK, with a real service-account key file, talks to a local REST double that
// verifies the signed credentials it receives.
let double: GcpSecretManagerDouble;
let dir = '';
let keyFile = '';
const previous = { user: 'crawler', password: `old-${randomUUID()}` };
const current = { user: 'crawler', password: `new-${randomUUID()}` };

async function startDouble(): Promise<void> {
  if (double) return;
  double = await startGcpSecretManagerDouble();
  dir = await mkdtemp(join(tmpdir(), 'sdr-gcp-'));
  keyFile = join(dir, 'sa.json');
  await writeFile(keyFile, double.keyFileJson, { mode: 0o600 });
  double.addVersion('sdr-test', 'pg-prod', JSON.stringify(previous));
  double.addVersion('sdr-test', 'pg-prod', JSON.stringify(current));
  double.addVersion('sdr-test', 'locked', JSON.stringify(current));
  double.forbidden.add('sdr-test/locked');
}

function options(port = double.port): GcpSecretManagerOptions {
  return { keyFile, endpoint: `127.0.0.1:${port}`, insecure: true, timeoutMs: 2_000 };
}

let unreachablePort = 0;
beforeAll(async () => {
  unreachablePort = await closedPort();
});

secretProviderConformance({
  name: 'gcp-sm',
  async setup() {
    await startDouble();
    return {
      provider: createGcpSecretManagerProvider(options()),
      jsonRef: 'gcp-sm://projects/sdr-test/secrets/pg-prod/versions/latest',
      current,
      pinned: { ref: 'gcp-sm://projects/sdr-test/secrets/pg-prod/versions/1', password: previous.password },
      missingRef: 'gcp-sm://projects/sdr-test/secrets/absent',
      missingVersionRef: 'gcp-sm://projects/sdr-test/secrets/pg-prod/versions/99',
      deniedRef: 'gcp-sm://projects/sdr-test/secrets/locked#password',
      unreachable: () => createGcpSecretManagerProvider(options(unreachablePort)),
    };
  },
});

describe('gcp-sm provider', () => {
  beforeAll(startDouble);
  afterAll(async () => {
    await double?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('signs its requests with the service-account key file', async () => {
    const provider = createGcpSecretManagerProvider(options());
    const before = double.authorizedReads();
    expect(
      await provider.resolve(parseSecretReference('gcp-sm://projects/sdr-test/secrets/pg-prod#password')),
    ).toBe(current.password);
    expect(double.authorizedReads()).toBeGreaterThan(before);
    await provider.close?.();
  });

  it('without a key file, picks up the service account through ADC (GOOGLE_APPLICATION_CREDENTIALS)', async () => {
    // Each client builds its own GoogleAuth, which reads the variable when it first needs a credential, so
    // setting it around this one provider is enough; it is restored so no other test sees it.
    const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = keyFile;
    const provider = createGcpSecretManagerProvider({
      endpoint: `127.0.0.1:${double.port}`,
      insecure: true,
      timeoutMs: 2_000,
    });
    try {
      const before = double.authorizedReads();
      expect(
        await provider.resolve(parseSecretReference('gcp-sm://projects/sdr-test/secrets/pg-prod#password')),
      ).toBe(current.password);
      // The double counts only reads whose bearer it verified against this key's public half.
      expect(double.authorizedReads()).toBe(before + 1);
    } finally {
      await provider.close?.();
      if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    }
  });

  it('reports a GOOGLE_APPLICATION_CREDENTIALS file that does not exist as denied, naming the reference', async () => {
    const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = join(dir, 'absent-adc.json');
    const provider = createGcpSecretManagerProvider({
      endpoint: `127.0.0.1:${double.port}`,
      insecure: true,
      timeoutMs: 2_000,
    });
    try {
      await expect(
        provider.resolve(parseSecretReference('gcp-sm://projects/sdr-test/secrets/pg-prod')),
      ).rejects.toMatchObject({
        code: 'SDR_ERR_SECRET_DENIED',
        message: expect.stringContaining('gcp-sm://projects/sdr-test/secrets/pg-prod'),
      });
    } finally {
      await provider.close?.();
      if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    }
  });

  it('pins with ?version= and resolves short names against the configured project', async () => {
    const provider = createGcpSecretManagerProvider({ ...options(), projectId: 'sdr-test' });
    expect(await provider.resolve(parseSecretReference('gcp-sm://pg-prod?version=1#password'))).toBe(
      previous.password,
    );
    await provider.close?.();
  });

  it('reports a key file that does not exist as denied, naming the reference', async () => {
    const provider = createGcpSecretManagerProvider({ ...options(), keyFile: join(dir, 'absent.json') });
    await expect(
      provider.resolve(parseSecretReference('gcp-sm://projects/sdr-test/secrets/pg-prod')),
    ).rejects.toMatchObject({
      code: 'SDR_ERR_SECRET_DENIED',
      message: expect.stringContaining('gcp-sm://projects/sdr-test/secrets/pg-prod'),
    });
    await provider.close?.();
  });

  it('rejects a reference that is not a resource name', async () => {
    const provider = createGcpSecretManagerProvider(options());
    await expect(provider.resolve(parseSecretReference('gcp-sm://a/b'))).rejects.toMatchObject({
      code: 'SDR_ERR_SECRET_REF_INVALID',
    });
  });
});
