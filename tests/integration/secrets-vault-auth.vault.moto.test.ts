import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSecretReference } from '../../secrets/index.js';
import { createVaultSecretProvider } from '../../secrets/vault/index.js';
import { peers } from '../peers/endpoints.js';
import { json, startHttpDouble, type HttpDouble } from '../support/http-double.js';

// Kubernetes and AWS IAM logins against the real Vault dev server. Vault checks a Kubernetes JWT by
// calling the cluster's TokenReview API, here a local double; it checks an AWS IAM login by replaying the
// signed sts:GetCallerIdentity request to STS, here moto.
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

describe('vault AWS IAM auth', () => {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  beforeAll(async () => {
    // The provider takes AWS credentials from the SDK's default chain; moto accepts any keys.
    process.env.AWS_ACCESS_KEY_ID = 'testing';
    process.env.AWS_SECRET_ACCESS_KEY = 'testing';
    await admin('POST', `sys/auth/${aws}`, { type: 'aws' });
    await admin('POST', `auth/${aws}/config/client`, {
      access_key: 'testing',
      secret_key: 'testing',
      sts_endpoint: peers.motoUrl,
      sts_region: 'us-east-1',
      iam_endpoint: peers.motoUrl,
    });
    await admin('POST', `auth/${aws}/role/sdr`, {
      auth_type: 'iam',
      bound_iam_principal_arn: ['arn:aws:iam::123456789012:user/moto'],
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

  it('logs in with a signed sts:GetCallerIdentity request and reads the secret', async () => {
    const provider = createVaultSecretProvider({
      address,
      auth: { method: 'aws', role: 'sdr', mount: aws, stsEndpoint: `${peers.motoUrl}/` },
    });
    expect(await provider.resolve(parseSecretReference(`vault://${kv}/data/pg#password`))).toBe(
      value.password,
    );
    await provider.close?.();
  });
});
