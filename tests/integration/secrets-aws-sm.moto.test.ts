import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdrError } from '../../protocol/index.js';
import { createAwsSecretsManagerProvider } from '../../secrets/aws-sm/index.js';
import { builtInSecretProviders, parseSecretReference, type SecretProvider } from '../../secrets/index.js';
import { peers } from '../peers/endpoints.js';
import { assertNoCanary } from '../support/canary.js';
import { closedPort } from '../support/http-double.js';
import { randomAccount } from '../support/sagemaker-gateway.js';
import { secretProviderConformance } from '../support/secret-provider-conformance.js';

// moto accepts any keys; they still travel through the provider's static-credential references.
const environment = { SDR_TEST_AWS_KEY_ID: 'testing', SDR_TEST_AWS_SECRET: 'testing' };
const prefix = `sdr-secrets-${process.pid}-${randomUUID().slice(0, 8)}`;
const admin = new SecretsManagerClient({
  region: 'us-east-1',
  endpoint: peers.motoUrl,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});
const previous = { user: 'crawler', password: `old-${randomUUID()}` };
const current = { user: 'crawler', password: `new-${randomUUID()}` };
const created: string[] = [];
let previousVersionId = '';
let unreachablePort = 0;

async function awsProvider(endpoint = peers.motoUrl): Promise<SecretProvider> {
  const provider = (
    await builtInSecretProviders({
      environment,
      aws: {
        region: 'us-east-1',
        endpoint,
        timeoutMs: 2_000,
        staticCredentials: {
          accessKeyId: 'env://SDR_TEST_AWS_KEY_ID',
          secretAccessKey: 'env://SDR_TEST_AWS_SECRET',
        },
      },
    })
  ).find((p) => p.scheme === 'aws-sm');
  if (!provider) throw new Error('aws-sm not registered');
  return provider;
}

async function seed(): Promise<void> {
  if (created.length > 0) return;
  unreachablePort = await closedPort();
  const name = `${prefix}/pg`;
  const first = await admin.send(
    new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(previous) }),
  );
  previousVersionId = first.VersionId!;
  await admin.send(new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify(current) }));
  created.push(name);
  await admin.send(
    new CreateSecretCommand({ Name: `${prefix}/keystore`, SecretBinary: Buffer.from([0, 1, 2, 250, 251]) }),
  );
  created.push(`${prefix}/keystore`);
}

secretProviderConformance({
  name: 'aws-sm',
  async setup() {
    await seed();
    const unreachable = await awsProvider(`http://127.0.0.1:${unreachablePort}`);
    return {
      provider: await awsProvider(),
      jsonRef: `aws-sm://${prefix}/pg`,
      current,
      pinned: { ref: `aws-sm://${prefix}/pg?version=AWSPREVIOUS`, password: previous.password },
      missingRef: `aws-sm://${prefix}/absent`,
      missingVersionRef: `aws-sm://${prefix}/pg?version=${randomUUID()}`,
      unreachable: () => unreachable,
    };
  },
});

describe('aws-sm provider', () => {
  beforeAll(seed);
  afterAll(async () => {
    for (const name of created) {
      await admin.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    }
    admin.destroy();
  });

  it('pins a version by id and by staging label', async () => {
    const provider = await awsProvider();
    const resolve = (raw: string) => provider.resolve(parseSecretReference(raw));
    expect(await resolve(`aws-sm://${prefix}/pg?version=${previousVersionId}#password`)).toBe(
      previous.password,
    );
    expect(await resolve(`aws-sm://${prefix}/pg?version=AWSCURRENT#password`)).toBe(current.password);
    await provider.close?.();
  });

  it('returns SecretBinary base64-encoded', async () => {
    const provider = await awsProvider();
    expect(await provider.resolve(parseSecretReference(`aws-sm://${prefix}/keystore`))).toBe(
      Buffer.from([0, 1, 2, 250, 251]).toString('base64'),
    );
    await provider.close?.();
  });

  it('uses the SDK default credential chain when no static keys are configured', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = 'testing';
    process.env.AWS_SECRET_ACCESS_KEY = 'testing';
    const provider = createAwsSecretsManagerProvider({ region: 'us-east-1', endpoint: peers.motoUrl });
    try {
      expect(await provider.resolve(parseSecretReference(`aws-sm://${prefix}/pg#user`))).toBe(current.user);
    } finally {
      await provider.close?.();
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });

  it('reports a static-key reference that does not resolve, naming that reference', async () => {
    const [provider] = (
      await builtInSecretProviders({
        environment: {},
        aws: {
          region: 'us-east-1',
          endpoint: peers.motoUrl,
          staticCredentials: { accessKeyId: 'env://SDR_NO_KEY', secretAccessKey: 'env://SDR_NO_SECRET' },
        },
      })
    ).filter((p) => p.scheme === 'aws-sm');
    await expect(provider!.resolve(parseSecretReference(`aws-sm://${prefix}/pg`))).rejects.toMatchObject({
      code: 'SDR_ERR_SECRET_NOT_FOUND',
      message: expect.stringMatching(/env:\/\/SDR_NO_(KEY|SECRET)/),
    });
  });
});

/**
 * moto enforces IAM only when switched on server-wide (and the peer is shared), so a gateway in front of it
 * answers GetSecretValue the way AWS does for an identity without `secretsmanager:GetSecretValue`, and
 * forwards every other call to moto in an account of its own.
 */
async function startDenyingGateway(upstreamUrl: string, account: string): Promise<DenyingGateway> {
  const upstream = new URL(upstreamUrl);
  const gateway = { url: '', reads: 0, close: async () => {} };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.headers['x-amz-target'] === 'secretsmanager.GetSecretValue') {
        gateway.reads += 1;
        response.writeHead(400, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-errortype': 'AccessDeniedException',
          'x-amzn-requestid': randomUUID(),
        });
        response.end(JSON.stringify({ __type: 'AccessDeniedException', message: DENIAL }));
        return;
      }
      const forwarded = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: request.method,
          path: request.url,
          headers: { ...request.headers, host: upstream.host, 'x-moto-account-id': account },
        },
        (reply) => {
          response.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(response);
        },
      );
      forwarded.on('error', () => response.writeHead(502).end());
      forwarded.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gateway.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  gateway.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return gateway;
}

interface DenyingGateway {
  url: string;
  /** GetSecretValue calls the gateway answered. */
  reads: number;
  close(): Promise<void>;
}

const DENIAL =
  'User: arn:aws:iam::123456789012:user/sdr is not authorized to perform: secretsmanager:GetSecretValue on resource: prod/pg';

describe('aws-sm provider, identity without secretsmanager:GetSecretValue', () => {
  // The secret exists, holding a canary; the static secret key is a canary too: neither may reach the error.
  const password = `canary-${randomUUID()}`;
  const secretKey = `canary-key-${randomUUID()}`;
  let gateway: DenyingGateway;
  let owner: SecretsManagerClient;

  beforeAll(async () => {
    gateway = await startDenyingGateway(peers.motoUrl, randomAccount());
    owner = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: gateway.url,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    await owner.send(
      new CreateSecretCommand({
        Name: 'prod/pg',
        SecretString: JSON.stringify({ user: 'crawler', password }),
      }),
    );
  });
  afterAll(async () => {
    await owner?.send(new DeleteSecretCommand({ SecretId: 'prod/pg', ForceDeleteWithoutRecovery: true }));
    owner?.destroy();
    await gateway?.close();
  });

  it('fails with SDR_ERR_SECRET_DENIED naming the reference and the reason, once, without a value', async () => {
    const [provider] = (
      await builtInSecretProviders({
        environment: { SDR_TEST_AWS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', SDR_TEST_AWS_SECRET: secretKey },
        aws: {
          region: 'us-east-1',
          endpoint: gateway.url,
          timeoutMs: 2_000,
          staticCredentials: {
            accessKeyId: 'env://SDR_TEST_AWS_KEY_ID',
            secretAccessKey: 'env://SDR_TEST_AWS_SECRET',
          },
        },
      })
    ).filter((p) => p.scheme === 'aws-sm');
    const before = gateway.reads;
    let error: unknown;
    try {
      await provider!.resolve(parseSecretReference('aws-sm://prod/pg#password'));
    } catch (caught) {
      error = caught;
    } finally {
      await provider!.close?.();
    }
    expect(error).toBeInstanceOf(SdrError);
    expect(error).toMatchObject({ code: 'SDR_ERR_SECRET_DENIED', retryable: false });
    const { message } = error as SdrError;
    expect(message).toContain('aws-sm://prod/pg#password');
    expect(message).toContain('AccessDeniedException');
    expect(message).toContain('is not authorized to perform: secretsmanager:GetSecretValue');
    assertNoCanary(error, password, 'the denial');
    assertNoCanary(error, secretKey, 'the denial');
    // A denial is final: the SDK must not have retried it as a transient failure.
    expect(gateway.reads - before).toBe(1);
  });
});
