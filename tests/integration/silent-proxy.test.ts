import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchemaRegistryClient } from '../../adapters/kafka/schema-registry.js';
import { createSagemakerAdapter } from '../../adapters/sagemaker/index.js';
import { createAzureKeyVaultProvider } from '../../secrets/azure-kv/index.js';
import { createGcpSecretManagerProvider } from '../../secrets/gcp-sm/index.js';
import { builtInSecretProviders, parseSecretReference } from '../../secrets/index.js';
import { createVaultSecretProvider } from '../../secrets/vault/index.js';
import { openStore } from '../../storage/index.js';
import { scaled } from '../../scripts/time-scale.js';
import {
  startGcpSecretManagerDouble,
  type GcpSecretManagerDouble,
} from '../support/gcp-secret-manager-double.js';
import { MOTO_CREDENTIALS } from '../support/sagemaker-fixtures.js';
import { captureContext, sagemakerConnection } from '../support/sagemaker-run.js';
import { SilentProxy } from '../support/silent-proxy.js';

/*
 * A proxy that accepts the TCP connection and never answers the CONNECT must not hang any outbound
 * client: each fails by its own deadline (its timeout setting × its attempts), with one line naming
 * the proxy and the fix. The hosts are `.invalid`: nothing here can go direct, and the proxy's
 * connection count shows each client went through it. The only time bound asserted is a generous
 * one that proves "does not hang"; how fast each gives up is not measured here.
 */
const TIMEOUT_MS = 2_000;
const saved = { ...process.env };
let proxy: SilentProxy;
let gcpDouble: GcpSecretManagerDouble;
let dir = '';

beforeAll(async () => {
  proxy = await SilentProxy.start();
  gcpDouble = await startGcpSecretManagerDouble();
  dir = mkdtempSync(join(tmpdir(), 'sdr-silent-proxy-'));
  writeFileSync(join(dir, 'gcp-sa.json'), gcpDouble.keyFileJson, { mode: 0o600 });
  for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy', 'NO_PROXY', 'no_proxy'])
    delete process.env[name];
  process.env.HTTPS_PROXY = proxy.url;
  process.env.HTTP_PROXY = proxy.url;
});

afterAll(async () => {
  for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
  Object.assign(process.env, saved);
  await gcpDouble?.close();
  await proxy?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Waits for `operation` until `attempts` deadlines of TIMEOUT_MS have passed, plus slack (scaled by
 * the machine's load); returns its error message, or fails the test if it has not settled by then.
 */
async function failureWithin(attempts: number, operation: () => Promise<unknown>): Promise<string> {
  const connectionsBefore = proxy.connections;
  const boundMs = scaled(attempts * TIMEOUT_MS * 3 + 20_000);
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), boundMs);
  });
  const outcome = await Promise.race([
    operation().then(
      () => ({ error: undefined as unknown }),
      (error: unknown) => ({ error }),
    ),
    hung,
  ]);
  clearTimeout(timer);
  if (outcome === 'hung')
    throw new Error(`still waiting after ${boundMs} ms: the client hangs on a silent proxy`);
  expect(outcome.error, 'the request must fail, not succeed').toBeInstanceOf(Error);
  expect(proxy.connections, 'the client went through the proxy').toBeGreaterThan(connectionsBefore);
  const message = (outcome.error as Error).message;
  expect(message).not.toContain('\n');
  return message;
}

/** The one-line reason every client gives: which host, which proxy, what to do. */
function namesProxyAndFix(host: string): RegExp {
  const escaped = host.replace(/\./g, '\\.');
  return new RegExp(
    `no answer from ${escaped}:\\d+ within [\\d.]+ m?s through the proxy http://127\\.0\\.0\\.1:\\d+ \\(HTTPS_PROXY\\); ` +
      `check that the proxy allows CONNECT to ${escaped}:\\d+, or list ${escaped} in NO_PROXY`,
  );
}

describe.concurrent('a proxy that never answers the CONNECT', () => {
  it('Vault fails within its timeout, naming the proxy', async () => {
    const provider = createVaultSecretProvider({
      address: 'https://vault.sdr-silent.invalid:8200',
      auth: { method: 'token', token: 'sdr-silent-token' },
      timeoutMs: TIMEOUT_MS,
    });
    try {
      const message = await failureWithin(1, () =>
        provider.resolve(parseSecretReference('vault://secret/pg')),
      );
      expect(message).toMatch(/^SDR_ERR_SECRET_UNAVAILABLE|could not be read/);
      expect(message).toMatch(namesProxyAndFix('vault.sdr-silent.invalid'));
    } finally {
      await provider.close?.();
    }
  });

  it('AWS Secrets Manager fails after its attempts, naming the proxy', async () => {
    const provider = (
      await builtInSecretProviders({
        environment: { K: 'sdr-silent-key', S: 'sdr-silent-secret' },
        aws: {
          region: 'us-east-1',
          endpoint: 'https://secretsmanager.sdr-silent.invalid',
          timeoutMs: TIMEOUT_MS,
          staticCredentials: { accessKeyId: 'env://K', secretAccessKey: 'env://S' },
        },
      })
    ).find((p) => p.scheme === 'aws-sm')!;
    try {
      const message = await failureWithin(3, () => provider.resolve(parseSecretReference('aws-sm://pg')));
      expect(message).toMatch(namesProxyAndFix('secretsmanager.sdr-silent.invalid'));
    } finally {
      await provider.close?.();
    }
  });

  it('Azure Key Vault fails within its timeout, naming the proxy', async () => {
    const provider = createAzureKeyVaultProvider(
      {
        credential: { method: 'managed-identity' },
        vaultUrlTemplate: 'https://{vault}.vault.sdr-silent.invalid',
        timeoutMs: TIMEOUT_MS,
      },
      async () => ({
        getToken: async () => ({ token: 'sdr-silent', expiresOnTimestamp: Date.now() + 3_600_000 }),
      }),
    );
    try {
      const message = await failureWithin(3, () =>
        provider.resolve(parseSecretReference('azure-kv://kv1/pg')),
      );
      expect(message).toMatch(namesProxyAndFix('kv1.vault.sdr-silent.invalid'));
    } finally {
      await provider.close?.();
    }
  });

  it('GCP Secret Manager fails within its timeout, naming the proxy', async () => {
    const provider = createGcpSecretManagerProvider({
      keyFile: join(dir, 'gcp-sa.json'),
      endpoint: 'secretmanager.sdr-silent.invalid:443',
      timeoutMs: TIMEOUT_MS,
    });
    try {
      const message = await failureWithin(3, () =>
        provider.resolve(parseSecretReference('gcp-sm://projects/sdr-silent/secrets/pg')),
      );
      expect(message).toMatch(namesProxyAndFix('secretmanager.sdr-silent.invalid'));
    } finally {
      await provider.close?.();
    }
  });

  it('the Schema Registry client fails within its timeout, naming the proxy', async () => {
    const client = new SchemaRegistryClient(
      { url: 'https://registry.sdr-silent.invalid:8081' },
      new AbortController().signal,
      2,
      TIMEOUT_MS,
    );
    try {
      const message = await failureWithin(1, () => client.subjects());
      expect(message).toMatch(
        /^Schema Registry at https:\/\/registry\.sdr-silent\.invalid:8081 could not be reached: /,
      );
      expect(message).toMatch(namesProxyAndFix('registry.sdr-silent.invalid'));
    } finally {
      await client.close();
    }
  });

  it('the SageMaker adapter fails after its attempts (10 s to connect each), naming the proxy', async () => {
    const adapter = createSagemakerAdapter();
    const connection = sagemakerConnection(
      {
        region: 'eu-west-1',
        endpoint: 'https://sagemaker.sdr-silent.invalid',
        maxAttempts: 1,
        maxRequestsPerSecond: 0,
      },
      MOTO_CREDENTIALS,
    );
    // Its connection timeout is fixed at 10 s, five times this file's TIMEOUT_MS.
    const message = await failureWithin(5, () => adapter.check(connection, captureContext()));
    expect(message).toMatch(/could not be reached/);
    expect(message).toMatch(namesProxyAndFix('sagemaker.sdr-silent.invalid'));
  });

  it('the S3 store fails after its tries, naming the proxy', async () => {
    const store = await openStore({
      provider: 's3',
      bucket: 'sdr-silent',
      region: 'us-east-1',
      endpoint: 'https://s3.sdr-silent.invalid',
      forcePathStyle: true,
      credentials: { accessKeyId: 'sdr-silent-key', secretAccessKey: 'sdr-silent-secret' },
      requestTimeoutMs: TIMEOUT_MS,
    });
    const message = await failureWithin(5, () => store.get('part-0.jsonl.gz'));
    expect(message).toMatch(namesProxyAndFix('s3.sdr-silent.invalid'));
  });

  it('the Azure Blob store fails after its tries, naming the proxy', async () => {
    const store = await openStore({
      provider: 'azure',
      accountUrl: 'https://account.blob.sdr-silent.invalid',
      container: 'sdr-silent',
      credentials: { sasToken: 'sv=2024-01-01&sig=sdr-silent' },
      requestTimeoutMs: TIMEOUT_MS,
    });
    const message = await failureWithin(5, () => store.get('part-0.jsonl.gz'));
    expect(message).toMatch(namesProxyAndFix('account.blob.sdr-silent.invalid'));
  });

  it('the GCS store fails after its tries, naming the proxy', async () => {
    const store = await openStore({
      provider: 'gcs',
      bucket: 'sdr-silent',
      projectId: 'sdr-silent',
      endpoint: 'https://storage.sdr-silent.invalid',
      credentials: { serviceAccountJson: gcpDouble.keyFileJson },
      requestTimeoutMs: TIMEOUT_MS,
    });
    const message = await failureWithin(5, () => store.get('part-0.jsonl.gz'));
    expect(message).toMatch(namesProxyAndFix('storage.sdr-silent.invalid'));
  });
});
