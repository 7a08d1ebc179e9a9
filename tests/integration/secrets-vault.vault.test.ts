import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SdrError } from '../../protocol/index.js';
import { parseSecretReference, type SecretProviderLogger } from '../../secrets/index.js';
import { createVaultSecretProvider, type VaultOptions } from '../../secrets/vault/index.js';
import { peers } from '../peers/endpoints.js';
import { findCanary } from '../support/canary.js';
import { closedPort, startHttpDouble } from '../support/http-double.js';
import { secretProviderConformance } from '../support/secret-provider-conformance.js';
import { scaled, waitFor } from '../support/wait.js';

const { address, rootToken } = peers.vault;
const id = `${process.pid}-${randomUUID().slice(0, 6)}`;
const kv2 = `sdr-kv2-${id}`;
const kv1 = `sdr-kv1-${id}`;
const approle = `sdr-approle-${id}`;
const policy = `sdr-reader-${id}`;
const previous = { user: 'crawler', password: `old-${randomUUID()}` };
const current = { user: 'crawler', password: `new-${randomUUID()}` };
let dir = '';
let unreachablePort = 0;

/** The fields of Vault's answers these tests read. */
interface VaultResponse {
  data: Record<string, string>;
  auth: { client_token: string };
}

/** Administers the dev server with the root token, as an operator would with the CLI. */
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

/** Creates an AppRole role and writes its role id and a fresh secret id to files. */
async function approleFiles(role: string, tokenTtl: string, tokenMaxTtl: string) {
  await admin('POST', `auth/${approle}/role/${role}`, {
    token_policies: [policy],
    token_ttl: tokenTtl,
    token_max_ttl: tokenMaxTtl,
  });
  const roleId = (await admin('GET', `auth/${approle}/role/${role}/role-id`)).data.role_id!;
  const secretId = (await admin('POST', `auth/${approle}/role/${role}/secret-id`)).data.secret_id!;
  const roleIdFile = join(dir, `${role}.role-id`);
  const secretIdFile = join(dir, `${role}.secret-id`);
  await writeFile(roleIdFile, `${roleId}\n`);
  await writeFile(secretIdFile, `${secretId}\n`);
  return { roleIdFile, secretIdFile, secretId };
}

function recordingLogger(): SecretProviderLogger & { messages: string[] } {
  const messages: string[] = [];
  return {
    messages,
    info: (_fields, message) => messages.push(message),
    warn: (_fields, message) => messages.push(message),
  };
}

let seeded: Promise<void> | undefined;
function seed(): Promise<void> {
  seeded ??= (async () => {
    dir = await mkdtemp(join(tmpdir(), 'sdr-vault-'));
    unreachablePort = await closedPort();
    await admin('POST', `sys/mounts/${kv2}`, { type: 'kv', options: { version: '2' } });
    await admin('POST', `sys/mounts/${kv1}`, { type: 'kv', options: { version: '1' } });
    await admin('POST', `sys/auth/${approle}`, { type: 'approle' });
    await admin('PUT', `sys/policies/acl/${policy}`, {
      policy: [
        `path "${kv2}/data/*" { capabilities = ["read"] }`,
        `path "${kv2}/data/locked" { capabilities = ["deny"] }`,
        `path "${kv1}/*" { capabilities = ["read"] }`,
      ].join('\n'),
    });
    await admin('POST', `${kv2}/data/pg`, { data: previous });
    await admin('POST', `${kv2}/data/pg`, { data: current });
    await admin('POST', `${kv2}/data/locked`, { data: current });
    await admin('POST', `${kv1}/pg`, current);
  })();
  return seeded;
}

async function approleOptions(role = 'conformance', ttl = '1h', maxTtl = '2h'): Promise<VaultOptions> {
  const files = await approleFiles(role, ttl, maxTtl);
  return {
    address,
    auth: {
      method: 'approle',
      mount: approle,
      roleIdFile: files.roleIdFile,
      secretIdFile: files.secretIdFile,
    },
    timeoutMs: 3_000,
  };
}

secretProviderConformance({
  name: 'vault (AppRole, KV v2)',
  async setup() {
    await seed();
    const options = await approleOptions();
    return {
      provider: createVaultSecretProvider(options),
      jsonRef: `vault://${kv2}/data/pg`,
      current,
      pinned: { ref: `vault://${kv2}/data/pg?version=1`, password: previous.password },
      missingRef: `vault://${kv2}/data/absent#password`,
      missingVersionRef: `vault://${kv2}/data/pg?version=99#password`,
      deniedRef: `vault://${kv2}/data/locked#password`,
      unreachable: () =>
        createVaultSecretProvider({ ...options, address: `http://127.0.0.1:${unreachablePort}` }),
    };
  },
});

describe('vault provider', () => {
  beforeAll(seed);
  afterAll(async () => {
    await admin('DELETE', `sys/mounts/${kv2}`).catch(() => undefined);
    await admin('DELETE', `sys/mounts/${kv1}`).catch(() => undefined);
    await admin('DELETE', `sys/auth/${approle}`).catch(() => undefined);
    await admin('DELETE', `sys/policies/acl/${policy}`).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('reads KV v1 and refuses to pin a version there', async () => {
    const provider = createVaultSecretProvider(await approleOptions('kv1'));
    expect(await provider.resolve(parseSecretReference(`vault://${kv1}/pg#password`))).toBe(current.password);
    await expect(
      provider.resolve(parseSecretReference(`vault://${kv1}/pg?version=1#password`)),
    ).rejects.toMatchObject({
      code: 'SDR_ERR_SECRET_REF_INVALID',
    });
    await provider.close?.();
  });

  it('names the reference and the path when permission is denied', async () => {
    const provider = createVaultSecretProvider(await approleOptions('denied'));
    const raw = `vault://${kv2}/data/locked#password`;
    await expect(provider.resolve(parseSecretReference(raw))).rejects.toThrow(
      `secret ${raw}: permission denied: vault: permission denied on ${kv2}/data/locked`,
    );
    await provider.close?.();
  });

  it('renews a token before it expires', async () => {
    const ttlMs = scaled(3_000);
    const created = await admin('POST', 'auth/token/create', {
      policies: [policy],
      ttl: `${Math.ceil(ttlMs / 1000)}s`,
      explicit_max_ttl: '1h',
      renewable: true,
    });
    const expiresAt = Date.now() + ttlMs;
    const tokenFile = join(dir, 'renewable.token');
    await writeFile(tokenFile, created.auth.client_token);
    const logger = recordingLogger();
    const provider = createVaultSecretProvider({ address, auth: { method: 'token', tokenFile }, logger });
    const raw = `vault://${kv2}/data/pg#password`;
    expect(await provider.resolve(parseSecretReference(raw))).toBe(current.password);
    await waitFor('the provider to renew its token', () => logger.messages.includes('renewed vault token'), {
      seen: () => logger.messages,
    });
    // Past the token's first expiry it still reads: the renewal, not luck, kept it alive.
    await waitFor("the token's original TTL to pass", () => Date.now() > expiresAt + 500, {
      timeoutMs: ttlMs + 5_000,
    });
    expect(await provider.resolve(parseSecretReference(raw))).toBe(current.password);
    await provider.close?.();
  });

  it('logs in again with AppRole when the token reaches its max TTL', async () => {
    const logger = recordingLogger();
    const provider = createVaultSecretProvider({ ...(await approleOptions('short', '2s', '2s')), logger });
    const raw = `vault://${kv2}/data/pg#password`;
    expect(await provider.resolve(parseSecretReference(raw))).toBe(current.password);
    // Every read in between must succeed; the token's end must bring a second login, not an error.
    const logins = () => logger.messages.filter((m) => m === 'logged in to vault').length;
    const failedReads: string[] = [];
    await waitFor(
      'a second AppRole login after the token reached its max TTL',
      async () => {
        const value = await provider
          .resolve(parseSecretReference(raw))
          .catch((error: unknown) => `error: ${(error as Error).message}`);
        if (value !== current.password) failedReads.push(value.startsWith('error') ? value : 'a wrong value');
        return logins() >= 2 || failedReads.length > 0;
      },
      { intervalMs: 200, seen: () => logger.messages },
    );
    expect(failedReads).toEqual([]);
    expect(logins()).toBeGreaterThanOrEqual(2);
    await provider.close?.();
  });

  it('logs in again with AppRole when its token is revoked out of band', async () => {
    const logger = recordingLogger();
    const provider = createVaultSecretProvider({ ...(await approleOptions('revoked')), logger });
    const raw = `vault://${kv2}/data/pg#user`;
    expect(await provider.resolve(parseSecretReference(raw))).toBe(current.user);
    await admin('PUT', `sys/leases/revoke-prefix/auth/${approle}/login`);
    expect(await provider.resolve(parseSecretReference(raw))).toBe(current.user);
    expect(logger.messages).toContain('vault token no longer valid; logging in again');
    await provider.close?.();
  });

  it('reports a wrong AppRole secret id as denied, without the secret id', async () => {
    const options = await approleOptions('wrong');
    const wrong = `wrong-${randomUUID()}`;
    if (options.auth.method !== 'approle') throw new Error('unreachable');
    await writeFile(options.auth.secretIdFile, wrong);
    const provider = createVaultSecretProvider(options);
    const raw = `vault://${kv2}/data/pg#password`;
    const error = (await provider.resolve(parseSecretReference(raw)).catch((e: unknown) => e)) as SdrError;
    expect(error.code).toBe('SDR_ERR_SECRET_DENIED');
    expect(error.message).toContain(raw);
    expect(error.message).toMatch(/vault: approle login failed/);
    expect(findCanary(error, wrong)).toBeUndefined();
    await provider.close?.();
  });

  it('reports a revoked static token as denied', async () => {
    const created = await admin('POST', 'auth/token/create', { policies: [policy], ttl: '1h' });
    const token = created.auth.client_token;
    await admin('POST', 'auth/token/revoke', { token });
    const provider = createVaultSecretProvider({ address, auth: { method: 'token', token } });
    const error = (await provider
      .resolve(parseSecretReference(`vault://${kv2}/data/pg`))
      .catch((e: unknown) => e)) as SdrError;
    expect(error.code).toBe('SDR_ERR_SECRET_DENIED');
    expect(error.message).toMatch(/token was rejected/);
    expect(findCanary(error, token)).toBeUndefined();
  });

  it('sends the Enterprise namespace header', async () => {
    const double = await startHttpDouble((_request, _body, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ data: { ttl: 0, renewable: false } }));
    });
    try {
      const provider = createVaultSecretProvider({
        address: double.url,
        namespace: 'team-a/prod',
        auth: { method: 'token', token: 'namespace-test' },
      });
      await provider.resolve(parseSecretReference('vault://kv/data/pg')).catch(() => undefined);
      expect(double.requests.length).toBeGreaterThan(0);
      for (const request of double.requests) expect(request.headers['x-vault-namespace']).toBe('team-a/prod');
    } finally {
      await double.close();
    }
  });

  describe('over TLS with a custom CA', () => {
    const { binary } = peers.vault;
    let server: ChildProcess | undefined;
    let tlsDir = '';
    let tlsAddress = '';

    beforeAll(async () => {
      if (!existsSync(binary)) throw new Error(`${binary} is missing; run tests/peers/vault.sh`);
      tlsDir = await mkdtemp(join(tmpdir(), 'sdr-vault-tls-'));
      const port = await closedPort();
      tlsAddress = `https://127.0.0.1:${port}`;
      server = spawn(
        binary,
        [
          'server',
          '-dev',
          '-dev-tls',
          `-dev-tls-cert-dir=${tlsDir}`,
          `-dev-listen-address=127.0.0.1:${port}`,
          `-dev-root-token-id=${rootToken}`,
          '-dev-no-store-token',
        ],
        { stdio: 'ignore' },
      );
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (existsSync(join(tlsDir, 'vault-ca.pem'))) {
          const ok = await fetch(`http://127.0.0.1:${port}`).then(
            () => true,
            () => false,
          );
          // Any answer (even a TLS complaint over plain HTTP) means it listens.
          if (ok) break;
        }
        if (Date.now() > deadline) throw new Error('vault -dev-tls did not start');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    });
    afterAll(async () => {
      server?.kill('SIGTERM');
      await rm(tlsDir, { recursive: true, force: true });
    });

    it('trusts the configured CA and refuses the server without it', async () => {
      const ca = join(tlsDir, 'vault-ca.pem');
      const trusted = createVaultSecretProvider({
        address: tlsAddress,
        caFile: ca,
        auth: { method: 'token', token: rootToken },
      });
      await expect(trusted.resolve(parseSecretReference('vault://secret/data/absent'))).rejects.toMatchObject(
        {
          code: 'SDR_ERR_SECRET_NOT_FOUND',
        },
      );
      const untrusted = createVaultSecretProvider({
        address: tlsAddress,
        auth: { method: 'token', token: rootToken },
      });
      await expect(
        untrusted.resolve(parseSecretReference('vault://secret/data/absent')),
      ).rejects.toMatchObject({
        code: 'SDR_ERR_SECRET_UNAVAILABLE',
        message: expect.stringMatching(/TLS/),
      });
      await trusted.close?.();
      await untrusted.close?.();
    });
  });
});
