import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAzureKeyVaultProvider } from '../../secrets/azure-kv/index.js';
import { builtInSecretProviders, parseSecretReference } from '../../secrets/index.js';
import { compileConfig } from '../../runtime/config.js';
import { makeLocalTls } from '../../scripts/local-stack.js';
import {
  startAzureKeyVaultDouble,
  startEntraIdDouble,
  type AzureKeyVaultDouble,
  type EntraIdDouble,
} from '../support/azure-key-vault-double.js';
import { assertNoCanary } from '../support/canary.js';
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

// Every describe below shares the one double, so it closes after the whole file.
afterAll(async () => {
  await double?.close();
  process.env.IDENTITY_ENDPOINT = saved.endpoint;
  process.env.IDENTITY_HEADER = saved.header;
  if (saved.endpoint === undefined) delete process.env.IDENTITY_ENDPOINT;
  if (saved.header === undefined) delete process.env.IDENTITY_HEADER;
});

describe('azure-kv provider', () => {
  beforeAll(startDouble);

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
    expect((await builtInSecretProviders({})).map((p) => p.scheme)).not.toContain('azure-kv');
    const [provider] = (
      await builtInSecretProviders({
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
      })
    ).filter((p) => p.scheme === 'azure-kv');
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

// Client-secret and workload-identity credentials go through MSAL, which only talks to an HTTPS authority:
// Entra ID's double serves discovery and the token endpoint over TLS with a throwaway CA, which the provider
// trusts through SDR_AZURE_KV_CA_FILE (the SDK's own `tlsOptions.ca`, no NODE_EXTRA_CA_CERTS, no globals).
describe('azure-kv provider with Microsoft Entra ID credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdr-azure-entra-'));
  const clientSecret = `client-secret-${randomUUID()}`;
  const federatedToken = `federated-${randomUUID()}`;
  const tokenFile = join(dir, 'azure-identity-token');
  let entra: EntraIdDouble;
  let caFile = '';

  beforeAll(async () => {
    await startDouble();
    const tls = makeLocalTls(join(dir, 'tls'));
    caFile = tls.caFile;
    writeFileSync(tokenFile, federatedToken);
    entra = await startEntraIdDouble(
      double,
      [
        { clientId: 'sdr-client-secret-app', clientSecret },
        { clientId: 'sdr-workload-app', federatedToken: () => federatedToken },
      ],
      tls,
    );
  });
  afterAll(async () => {
    await entra?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The provider as the runtime builds it from SDR_* settings, pointed at the doubles. */
  async function providerFrom(settings: Record<string, string>, environment: NodeJS.ProcessEnv = {}) {
    const { secretProviders: providers } = compileConfig(
      {
        SDR_AZURE_KV_TENANT_ID: double.tenantId,
        SDR_AZURE_KV_AUTHORITY_HOST: entra.authorityHost,
        SDR_AZURE_KV_DISABLE_INSTANCE_DISCOVERY: 'true',
        SDR_AZURE_KV_CA_FILE: caFile,
        SDR_AZURE_KV_URL_TEMPLATE: `http://127.0.0.1:${double.port}/{vault}`,
        SDR_AZURE_KV_TIMEOUT_MS: '2000',
        ...settings,
      },
      { scope: 'local' },
    );
    const azure = {
      ...providers.azure!,
      disableChallengeResourceVerification: true,
      allowInsecureConnection: true,
    };
    return (await builtInSecretProviders({ azure, environment })).find((p) => p.scheme === 'azure-kv')!;
  }

  it('client-secret: exchanges the referenced client secret for a token the vault accepts', async () => {
    const provider = await providerFrom(
      {
        SDR_AZURE_KV_CREDENTIAL: 'client-secret',
        SDR_AZURE_KV_CLIENT_ID: 'sdr-client-secret-app',
        SDR_AZURE_KV_CLIENT_SECRET_REF: 'env://SDR_TEST_AZURE_CLIENT_SECRET',
      },
      { SDR_TEST_AZURE_CLIENT_SECRET: clientSecret },
    );
    const before = double.authorizedReads();
    expect(await provider.resolve(parseSecretReference('azure-kv://sdr-vault/pg-prod#password'))).toBe(
      current.password,
    );
    expect(double.authorizedReads()).toBeGreaterThan(before);
    const exchange = entra.exchanges.findLast((e) => e.form.get('client_id') === 'sdr-client-secret-app');
    expect(exchange?.granted).toBe(true);
    expect(exchange?.tenant).toBe(double.tenantId);
    expect(exchange?.form.get('grant_type')).toBe('client_credentials');
    expect(exchange?.form.get('client_secret')).toBe(clientSecret);
  });

  it('client-secret: a wrong secret is denied without the secret in the error', async () => {
    const wrong = `wrong-secret-${randomUUID()}`;
    const provider = await providerFrom(
      {
        SDR_AZURE_KV_CREDENTIAL: 'client-secret',
        SDR_AZURE_KV_CLIENT_ID: 'sdr-client-secret-app',
        SDR_AZURE_KV_CLIENT_SECRET_REF: 'env://SDR_TEST_AZURE_CLIENT_SECRET',
      },
      { SDR_TEST_AZURE_CLIENT_SECRET: wrong },
    );
    const error: unknown = await provider
      .resolve(parseSecretReference('azure-kv://sdr-vault/pg-prod#password'))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toMatchObject({ code: 'SDR_ERR_SECRET_DENIED' });
    assertNoCanary(error, wrong, 'the error');
    assertNoCanary(error, current.password, 'the error');
    expect(
      entra.exchanges.findLast((e) => e.form.get('client_id') === 'sdr-client-secret-app')?.granted,
    ).toBe(false);
  });

  it('workload-identity: presents the federated token file as the client assertion', async () => {
    const provider = await providerFrom({
      SDR_AZURE_KV_CREDENTIAL: 'workload-identity',
      SDR_AZURE_KV_CLIENT_ID: 'sdr-workload-app',
      SDR_AZURE_KV_TOKEN_FILE: tokenFile,
    });
    expect(await provider.resolve(parseSecretReference('azure-kv://sdr-vault/pg-prod#password'))).toBe(
      current.password,
    );
    const exchange = entra.exchanges.findLast((e) => e.form.get('client_id') === 'sdr-workload-app');
    expect(exchange?.granted).toBe(true);
    expect(exchange?.form.get('client_assertion_type')).toBe(
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
    expect(exchange?.form.get('client_assertion')).toBe(federatedToken);
  });

  it('workload-identity: a token Entra ID does not accept is denied without leaking it', async () => {
    const otherFile = join(dir, 'other-token');
    const other = `stale-federated-${randomUUID()}`;
    writeFileSync(otherFile, other);
    const provider = await providerFrom({
      SDR_AZURE_KV_CREDENTIAL: 'workload-identity',
      SDR_AZURE_KV_CLIENT_ID: 'sdr-workload-app',
      SDR_AZURE_KV_TOKEN_FILE: otherFile,
    });
    const error: unknown = await provider
      .resolve(parseSecretReference('azure-kv://sdr-vault/pg-prod#password'))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toMatchObject({ code: 'SDR_ERR_SECRET_DENIED' });
    assertNoCanary(error, other, 'the error');
    assertNoCanary(error, federatedToken, 'the error');
    assertNoCanary(error, current.password, 'the error');
  });

  it('does not trust the authority without the CA file', async () => {
    const provider = await providerFrom(
      {
        SDR_AZURE_KV_CREDENTIAL: 'client-secret',
        SDR_AZURE_KV_CLIENT_ID: 'sdr-client-secret-app',
        SDR_AZURE_KV_CLIENT_SECRET_REF: 'env://SDR_TEST_AZURE_CLIENT_SECRET',
        SDR_AZURE_KV_CA_FILE: '',
      },
      { SDR_TEST_AZURE_CLIENT_SECRET: clientSecret },
    );
    const exchanges = entra.exchanges.length;
    const error: unknown = await provider
      .resolve(parseSecretReference('azure-kv://sdr-vault/pg-prod#password'))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toMatchObject({ code: expect.stringMatching(/^SDR_ERR_SECRET_(DENIED|UNAVAILABLE)$/) });
    assertNoCanary(error, clientSecret, 'the error');
    expect(entra.exchanges.length).toBe(exchanges);
  });
});
