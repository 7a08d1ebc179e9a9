import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAzureKeyVaultProvider } from '../../secrets/azure-kv/index.js';
import { builtInSecretProviders, parseSecretReference } from '../../secrets/index.js';
import { startAzureKeyVaultDouble, type AzureKeyVaultDouble } from '../support/azure-key-vault-double.js';
import { closedPort } from '../support/http-double.js';
import { secretProviderConformance } from '../support/secret-provider-conformance.js';

// No Key Vault emulator installs here (none on npm, PyPI or Debian), so the real SDK and the real
// ManagedIdentityCredential talk to a local double of the REST API that checks the tokens it receives.
let double: AzureKeyVaultDouble;
const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
const previous = { user: 'crawler', password: `old-${randomUUID()}` };
const current = { user: 'crawler', password: `new-${randomUUID()}` };
let previousVersion = '';

async function startDouble(): Promise<void> {
  if (double) return;
  double = await startAzureKeyVaultDouble();
  // The SDK's managed-identity credential reads the App Service identity variables, as it does in production.
  process.env.IDENTITY_ENDPOINT = double.identityEndpoint;
  process.env.IDENTITY_HEADER = double.identityHeader;
  previousVersion = double.setSecret('sdr-vault', 'pg-prod', JSON.stringify(previous));
  double.setSecret('sdr-vault', 'pg-prod', JSON.stringify(current));
  double.setSecret('sdr-vault', 'locked', JSON.stringify(current));
  double.forbidden.add('sdr-vault/locked');
}

function options(port?: number) {
  return {
    credential: { method: 'managed-identity' as const },
    vaultUrlTemplate: `http://127.0.0.1:${port ?? double.port}/{vault}`,
    disableChallengeResourceVerification: true,
    allowInsecureConnection: true,
    timeoutMs: 2_000,
  };
}

secretProviderConformance({
  name: 'azure-kv',
  async setup() {
    await startDouble();
    return {
      provider: createAzureKeyVaultProvider(options()),
      jsonRef: 'azure-kv://sdr-vault/pg-prod',
      current,
      pinned: { ref: `azure-kv://sdr-vault/pg-prod?version=${previousVersion}`, password: previous.password },
      missingRef: 'azure-kv://sdr-vault/absent',
      missingVersionRef: 'azure-kv://sdr-vault/pg-prod?version=00000000000000000000000000000000',
      deniedRef: 'azure-kv://sdr-vault/locked#password',
      unreachable: () => createAzureKeyVaultProvider({ ...options(unreachablePort) }),
    };
  },
});

let unreachablePort = 0;
beforeAll(async () => {
  unreachablePort = await closedPort();
});

describe('azure-kv provider', () => {
  beforeAll(startDouble);
  afterAll(async () => {
    await double?.close();
    process.env.IDENTITY_ENDPOINT = saved.endpoint;
    process.env.IDENTITY_HEADER = saved.header;
    if (saved.endpoint === undefined) delete process.env.IDENTITY_ENDPOINT;
    if (saved.header === undefined) delete process.env.IDENTITY_HEADER;
  });

  it('authenticates with a managed-identity token the store issued', async () => {
    const provider = createAzureKeyVaultProvider(options());
    const before = double.authorizedReads();
    expect(await provider.resolve(parseSecretReference('azure-kv://sdr-vault/pg-prod#password'))).toBe(
      current.password,
    );
    expect(double.authorizedReads()).toBeGreaterThan(before);
    const tokenRequest = double.requests.find((r) => r.path.startsWith('/msi/token'));
    expect(tokenRequest?.headers['x-identity-header']).toBe(double.identityHeader);
  });

  it('accepts a version pinned in the path as well as with ?version=', async () => {
    const provider = createAzureKeyVaultProvider(options());
    expect(
      await provider.resolve(
        parseSecretReference(`azure-kv://sdr-vault/pg-prod/${previousVersion}#password`),
      ),
    ).toBe(previous.password);
  });

  it('is registered only when configured, and reports a client-secret reference that does not resolve', async () => {
    expect(builtInSecretProviders({}).map((p) => p.scheme)).not.toContain('azure-kv');
    const [provider] = builtInSecretProviders({
      environment: {},
      azure: {
        ...options(),
        credential: {
          method: 'client-secret',
          tenantId: 't',
          clientId: 'c',
          clientSecret: 'env://SDR_NOT_SET',
        },
      },
    }).filter((p) => p.scheme === 'azure-kv');
    await expect(
      provider!.resolve(parseSecretReference('azure-kv://sdr-vault/pg-prod')),
    ).rejects.toMatchObject({
      code: 'SDR_ERR_SECRET_NOT_FOUND',
      message: expect.stringContaining('env://SDR_NOT_SET'),
    });
  });

  it('rejects a malformed reference', async () => {
    const provider = createAzureKeyVaultProvider(options());
    await expect(provider.resolve(parseSecretReference('azure-kv://only-vault'))).rejects.toMatchObject({
      code: 'SDR_ERR_SECRET_REF_INVALID',
    });
  });
});
