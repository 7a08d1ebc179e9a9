import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSecretReference } from '../../secrets/index.js';
import { createVaultSecretProvider } from '../../secrets/vault/index.js';
import { peers } from '../peers/endpoints.js';
import { json, startHttpDouble, type HttpDouble } from '../support/http-double.js';

// Kubernetes and AWS IAM logins against the Vault API peer (OpenBao in dev mode, or HashiCorp Vault where
// SDR_TEST_VAULT_ADDR points at one). The server checks a Kubernetes JWT by calling the cluster's
// TokenReview API, here a local double; it checks an AWS IAM login by replaying the signed
// sts:GetCallerIdentity request to STS, here moto. OpenBao has no aws auth method (it left the
// cloud-vendor methods out of its builds), so against it the replay is done by the test itself, and the
// full login runs only against a server that has the method.
const { address, rootToken } = peers.vault;
const id = `${process.pid}-${randomUUID().slice(0, 6)}`;
const kv = `sdr-auth-kv-${id}`;
const k8s = `sdr-k8s-${id}`;
const aws = `sdr-aws-${id}`;
const policy = `sdr-auth-reader-${id}`;
const value = { password: `pw-${randomUUID()}` };
let dir = '';
let kube: HttpDouble;

/** The fields of Vault's answers these tests read. */
interface VaultResponse {
  data: Record<string, string>;
  auth: { client_token: string };
}

async function admin(method: string, path: string, body?: unknown): Promise<VaultResponse> {
  const response = await fetch(`${address}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': rootToken, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`vault ${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : {}) as VaultResponse;
}

/** A service-account JWT of the legacy shape; Vault reads its claims, TokenReview vouches for it. */
function serviceAccountJwt(namespace: string, name: string, uid: string): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return [
    b64({ alg: 'RS256', kid: 'double' }),
    b64({
      iss: 'kubernetes/serviceaccount',
      sub: `system:serviceaccount:${namespace}:${name}`,
      'kubernetes.io/serviceaccount/namespace': namespace,
      'kubernetes.io/serviceaccount/service-account.name': name,
      'kubernetes.io/serviceaccount/service-account.uid': uid,
    }),
    randomBytes(256).toString('base64url'),
  ].join('.');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sdr-vault-auth-'));
  await admin('POST', `sys/mounts/${kv}`, { type: 'kv', options: { version: '2' } });
  await admin('PUT', `sys/policies/acl/${policy}`, {
    policy: `path "${kv}/data/*" { capabilities = ["read"] }`,
  });
  await admin('POST', `${kv}/data/pg`, { data: value });
});

afterAll(async () => {
  for (const path of [
    `sys/mounts/${kv}`,
    `sys/auth/${k8s}`,
    `sys/auth/${aws}`,
    `sys/policies/acl/${policy}`,
  ]) {
    await admin('DELETE', path).catch(() => undefined);
  }
  await kube?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('vault Kubernetes auth', () => {
  const uid = randomUUID();
  const jwt = serviceAccountJwt('sdr', 'sdr-runtime', uid);
  const reviewerJwt = `reviewer-${randomUUID()}`;

  beforeAll(async () => {
    kube = await startHttpDouble((request, body, response) => {
      const review = JSON.parse(body || '{}') as { spec?: { token?: string } };
      const authenticated =
        request.url?.startsWith('/apis/authentication.k8s.io/v1/tokenreviews') &&
        request.headers.authorization === `Bearer ${reviewerJwt}` &&
        review.spec?.token === jwt;
      json(response, 201, {
        kind: 'TokenReview',
        apiVersion: 'authentication.k8s.io/v1',
        status: authenticated
          ? { authenticated: true, user: { username: 'system:serviceaccount:sdr:sdr-runtime', uid } }
          : { authenticated: false, error: 'token not valid' },
      });
    });
    await admin('POST', `sys/auth/${k8s}`, { type: 'kubernetes' });
    await admin('POST', `auth/${k8s}/config`, {
      kubernetes_host: kube.url,
      token_reviewer_jwt: reviewerJwt,
      disable_local_ca_jwt: true,
      // OpenBao wants a CA whenever it is told not to read the pod's; the double speaks plain HTTP, so
      // any well-formed certificate does.
      kubernetes_ca_cert: rootCertificates[0],
    });
    await admin('POST', `auth/${k8s}/role/sdr`, {
      bound_service_account_names: ['sdr-runtime'],
      bound_service_account_namespaces: ['sdr'],
      token_policies: [policy],
      token_ttl: '1h',
    });
  });

  it('logs in with the pod service-account token and reads the secret', async () => {
    const jwtFile = join(dir, 'sa-token');
    await writeFile(jwtFile, `${jwt}\n`);
    const provider = createVaultSecretProvider({
      address,
      auth: { method: 'kubernetes', role: 'sdr', mount: k8s, jwtFile },
    });
    expect(await provider.resolve(parseSecretReference(`vault://${kv}/data/pg#password`))).toBe(
      value.password,
    );
    expect(kube.requests.some((r) => r.path.includes('tokenreviews'))).toBe(true);
    await provider.close?.();
  });

  it('is denied for a token the cluster does not vouch for', async () => {
    const jwtFile = join(dir, 'other-token');
    await writeFile(jwtFile, serviceAccountJwt('sdr', 'sdr-runtime', randomUUID()));
    const provider = createVaultSecretProvider({
      address,
      auth: { method: 'kubernetes', role: 'sdr', mount: k8s, jwtFile },
    });
    await expect(
      provider.resolve(parseSecretReference(`vault://${kv}/data/pg#password`)),
    ).rejects.toMatchObject({
      code: 'SDR_ERR_SECRET_DENIED',
      message: expect.stringContaining('vault: kubernetes login failed'),
    });
    await provider.close?.();
  });
});

/** Whether the server has the aws auth method (HashiCorp Vault does; OpenBao 2.x does not). */
const serverHasAwsAuth = await admin('POST', `sys/auth/${aws}`, { type: 'aws' }).then(
  () => true,
  (error: unknown) => {
    if (/plugin not found/.test(String(error))) return false;
    throw error;
  },
);

describe('vault AWS IAM auth', () => {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  const principal = 'arn:aws:iam::123456789012:user/moto';

  beforeAll(async () => {
    // The provider takes AWS credentials from the SDK's default chain; moto accepts any keys.
    process.env.AWS_ACCESS_KEY_ID = 'testing';
    process.env.AWS_SECRET_ACCESS_KEY = 'testing';
    if (!serverHasAwsAuth) return;
    await admin('POST', `auth/${aws}/config/client`, {
      access_key: 'testing',
      secret_key: 'testing',
      sts_endpoint: peers.motoUrl,
      sts_region: 'us-east-1',
      iam_endpoint: peers.motoUrl,
    });
    await admin('POST', `auth/${aws}/role/sdr`, {
      auth_type: 'iam',
      bound_iam_principal_arn: [principal],
      resolve_aws_unique_ids: false,
      token_policies: [policy],
      token_ttl: '1h',
    });
  });
  afterAll(() => {
    if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = saved.id;
    if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  });

  it('sends a signed sts:GetCallerIdentity request that STS answers with the caller, as the server replays it', async () => {
    // Stands in for the server's login endpoint only to capture what the provider sends; the check the
    // server would make (replay the request to STS, read the caller's ARN) is then made against moto.
    let login: Record<string, string> | undefined;
    const server = await startHttpDouble((request, body, response) => {
      if (request.url === `/v1/auth/${aws}/login`) login = JSON.parse(body) as Record<string, string>;
      json(response, 400, { errors: ['captured by the test'] });
    });
    try {
      const provider = createVaultSecretProvider({
        address: server.url,
        auth: { method: 'aws', role: 'sdr', mount: aws, stsEndpoint: `${peers.motoUrl}/` },
      });
      await provider.resolve(parseSecretReference(`vault://${kv}/data/pg#password`)).catch(() => undefined);
      await provider.close?.();
    } finally {
      await server.close();
    }
    if (!login) throw new Error(`the provider sent no login to /v1/auth/${aws}/login`);
    const decode = (field: string) => Buffer.from(login![field] ?? '', 'base64').toString('utf8');
    expect(login.role).toBe('sdr');
    expect(login.iam_http_request_method).toBe('POST');
    expect(decode('iam_request_url')).toBe(`${peers.motoUrl}/`);
    const headers = JSON.parse(decode('iam_request_headers')) as Record<string, string | string[]>;
    expect(String(headers.authorization)).toMatch(
      /^AWS4-HMAC-SHA256 Credential=testing\/\d{8}\/us-east-1\/sts\//,
    );
    const replayed = await fetch(decode('iam_request_url'), {
      method: 'POST',
      headers: Object.fromEntries(
        Object.entries(headers)
          .filter(([name]) => name.toLowerCase() !== 'host')
          .map(([name, value]) => [name, Array.isArray(value) ? value.join(',') : value]),
      ),
      body: decode('iam_request_body'),
    });
    const answer = await replayed.text();
    expect(replayed.status, answer).toBe(200);
    // STS names the caller arn:aws:sts::…:user/moto; the server maps that to the IAM principal it binds.
    expect(answer).toContain('<Arn>arn:aws:sts::123456789012:user/moto</Arn>');
  });

  it.skipIf(!serverHasAwsAuth)(
    "logs in through the server's aws method and reads the secret (needs a server with that method; OpenBao has none)",
    async () => {
      const provider = createVaultSecretProvider({
        address,
        auth: { method: 'aws', role: 'sdr', mount: aws, stsEndpoint: `${peers.motoUrl}/` },
      });
      expect(await provider.resolve(parseSecretReference(`vault://${kv}/data/pg#password`))).toBe(
        value.password,
      );
      await provider.close?.();
    },
  );
});
