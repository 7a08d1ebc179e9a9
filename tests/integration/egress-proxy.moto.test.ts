import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SchemaRegistryClient } from '../../adapters/kafka/schema-registry.js';
import { createSagemakerAdapter } from '../../adapters/sagemaker/index.js';
import { createAzureKeyVaultProvider } from '../../secrets/azure-kv/index.js';
import { createGcpSecretManagerProvider } from '../../secrets/gcp-sm/index.js';
import { builtInSecretProviders, parseSecretReference } from '../../secrets/index.js';
import { createVaultSecretProvider } from '../../secrets/vault/index.js';
import { peers } from '../peers/endpoints.js';
import { ConnectProxy } from '../support/connect-proxy.js';
import {
  startGcpSecretManagerDouble,
  type GcpSecretManagerDouble,
} from '../support/gcp-secret-manager-double.js';
import { json, startHttpDouble, type HttpDouble } from '../support/http-double.js';
import { randomAccount } from '../support/sagemaker-gateway.js';
import { MOTO_CREDENTIALS } from '../support/sagemaker-fixtures.js';
import { captureContext, sagemakerConnection } from '../support/sagemaker-run.js';

/*
 * Every outbound client the adapters and secret providers build goes through HTTPS_PROXY unless
 * NO_PROXY names its host: SageMaker, STS (assume-role), Secrets Manager, the Schema Registry, Vault,
 * Azure Key Vault and GCP Secret Manager. moto is reached as 127.0.0.1 and STS as localhost, so the
 * proxy's CONNECT log tells them apart. The Vault, Key Vault and Secret Manager hosts below do not
 * resolve (`.invalid`): the proxy records the CONNECT, fails to reach the host, and the read fails,
 * which a client that went direct would do too, without the CONNECT.
 */
const moto = new URL(peers.motoUrl);
const motoByName = `http://localhost:${moto.port}`;
const saved = { ...process.env };
let proxy: ConnectProxy;
let registry: HttpDouble;
let registryCa = '';
let certDir = '';
let gcpDouble: GcpSecretManagerDouble | undefined;

function useProxy(noProxy = ''): void {
  for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy', 'NO_PROXY', 'no_proxy'])
    delete process.env[name];
  process.env.HTTPS_PROXY = proxy.url;
  process.env.HTTP_PROXY = proxy.url;
  if (noProxy !== '') process.env.NO_PROXY = noProxy;
}

beforeAll(async () => {
  proxy = await ConnectProxy.start();
  // The registry double speaks TLS with a certificate only the connection's own CA vouches for:
  // the TLS settings must apply to the registry's handshake inside the tunnel.
  certDir = mkdtempSync(join(tmpdir(), 'sdr-egress-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(certDir, 'key.pem'),
      '-out',
      join(certDir, 'cert.pem'),
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '1',
    ],
    { stdio: 'ignore' },
  );
  registryCa = readFileSync(join(certDir, 'cert.pem'), 'utf8');
  registry = await startHttpDouble(
    (request, _body, response) => json(response, 200, request.url === '/subjects' ? ['orders-value'] : {}),
    { cert: registryCa, key: readFileSync(join(certDir, 'key.pem'), 'utf8') },
  );
});

afterEach(() => {
  proxy.targets.length = 0;
  for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
  Object.assign(process.env, saved);
});

afterAll(async () => {
  await gcpDouble?.close();
  await registry?.close();
  await proxy?.close();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('egress through HTTPS_PROXY', () => {
  it('SageMaker and STS (assume-role) both CONNECT through the proxy', async () => {
    useProxy();
    const roleAccount = randomAccount();
    const conn = sagemakerConnection(
      {
        region: 'eu-west-1',
        endpoint: peers.motoUrl,
        stsEndpoint: motoByName,
        roleArn: `arn:aws:iam::${roleAccount}:role/sdr-egress`,
        maxRequestsPerSecond: 0,
      },
      MOTO_CREDENTIALS,
    );
    const facts = await createSagemakerAdapter().check(conn, captureContext());
    expect(facts).toMatchObject({ credentials: 'static + assume-role' });
    expect(proxy.targets).toContain(`localhost:${moto.port}`);
    expect(proxy.targets).toContain(`${moto.hostname}:${moto.port}`);
  });

  it('Secrets Manager CONNECTs through the proxy', async () => {
    useProxy();
    const provider = (
      await builtInSecretProviders({
        environment: { K: 'testing', S: 'testing' },
        aws: {
          region: 'us-east-1',
          endpoint: motoByName,
          timeoutMs: 10_000,
          staticCredentials: { accessKeyId: 'env://K', secretAccessKey: 'env://S' },
        },
      })
    ).find((p) => p.scheme === 'aws-sm')!;
    // A secret that does not exist still makes the request; only the path matters here.
    await expect(provider.resolve(parseSecretReference('aws-sm://sdr-egress-missing'))).rejects.toThrow();
    expect(proxy.targets).toContain(`localhost:${moto.port}`);
  });

  it('the Schema Registry CONNECTs through the proxy and verifies the registry with its own CA', async () => {
    useProxy();
    const client = new SchemaRegistryClient(
      { url: registry.url, ca: registryCa },
      new AbortController().signal,
      2,
    );
    try {
      expect(await client.subjects()).toEqual(['orders-value']);
    } finally {
      await client.close();
    }
    expect(proxy.targets).toContain(`127.0.0.1:${registry.port}`);
  });

  it('Vault CONNECTs through the proxy', async () => {
    useProxy();
    const provider = createVaultSecretProvider({
      address: 'https://vault.sdr-egress.invalid:8200',
      auth: { method: 'token', token: 'sdr-egress-token' },
      timeoutMs: 5_000,
    });
    try {
      await expect(provider.resolve(parseSecretReference('vault://secret/pg'))).rejects.toThrow();
    } finally {
      await provider.close?.();
    }
    expect(proxy.targets).toContain('vault.sdr-egress.invalid:8200');
  });

  it('Azure Key Vault CONNECTs through the proxy', async () => {
    useProxy();
    const provider = createAzureKeyVaultProvider(
      {
        credential: { method: 'managed-identity' },
        vaultUrlTemplate: 'https://{vault}.vault.sdr-egress.invalid',
        timeoutMs: 5_000,
      },
      // A token needs no network here: the assertion is about the vault's own requests.
      async () => ({
        getToken: async () => ({ token: 'sdr-egress', expiresOnTimestamp: Date.now() + 3_600_000 }),
      }),
    );
    try {
      await expect(provider.resolve(parseSecretReference('azure-kv://kv1/pg'))).rejects.toThrow();
    } finally {
      await provider.close?.();
    }
    expect(proxy.targets).toContain('kv1.vault.sdr-egress.invalid:443');
  });

  it('GCP Secret Manager CONNECTs through the proxy', async () => {
    useProxy();
    // The double's key file signs locally (and names the double as its token endpoint), so no Google
    // host is needed before the Secret Manager request itself.
    gcpDouble ??= await startGcpSecretManagerDouble();
    const keyFile = join(certDir, 'gcp-sa.json');
    writeFileSync(keyFile, gcpDouble.keyFileJson, { mode: 0o600 });
    const provider = createGcpSecretManagerProvider({
      keyFile,
      endpoint: 'secretmanager.sdr-egress.invalid:443',
      timeoutMs: 5_000,
    });
    try {
      await expect(
        provider.resolve(parseSecretReference('gcp-sm://projects/sdr-egress/secrets/pg')),
      ).rejects.toThrow();
    } finally {
      await provider.close?.();
    }
    expect(proxy.targets).toContain('secretmanager.sdr-egress.invalid:443');
  });

  it('NO_PROXY sends a client direct', async () => {
    useProxy(`localhost,127.0.0.1`);
    const client = new SchemaRegistryClient(
      { url: registry.url, ca: registryCa },
      new AbortController().signal,
      2,
    );
    try {
      expect(await client.subjects()).toEqual(['orders-value']);
    } finally {
      await client.close();
    }
    const facts = await createSagemakerAdapter().check(
      sagemakerConnection(
        { region: 'eu-west-1', endpoint: peers.motoUrl, maxRequestsPerSecond: 0 },
        MOTO_CREDENTIALS,
      ),
      captureContext(),
    );
    expect(facts).toMatchObject({ credentials: 'static' });
    expect(proxy.targets).toEqual([]);
  });
});
