import { readFileSync } from 'node:fs';
import nodeVault from 'node-vault';
import { Codes, type SdrError } from '../../protocol/index.js';
import { raceAbort } from '../../common/index.js';
import type { SecretProvider, SecretProviderLogger, SecretReference } from '../types.js';
import { loginRequest, readCredentialFile, type VaultAuth, type VaultLogin } from './auth.js';
import { VaultNoAnswer, vaultTransport, type VaultTransport } from './transport.js';

export type { VaultAuth } from './auth.js';

/** Settings of the `vault://` provider. */
export interface VaultOptions {
  /** e.g. `https://vault.internal:8200`. */
  address: string;
  auth: VaultAuth;
  /** Vault Enterprise namespace, sent as `X-Vault-Namespace`. */
  namespace?: string;
  /** PEM file of the CA that signed Vault's certificate. */
  caFile?: string;
  /** Longest wait for any one request (login, lookup, read, renewal), proxy CONNECT included; default 10 s. */
  timeoutMs?: number;
  logger?: SecretProviderLogger | undefined;
}

/** Renew when this fraction of the token's TTL has passed, so a slow renewal still lands before expiry. */
const RENEW_AT = 2 / 3;

interface VaultHttpError {
  status: number;
  reason: string;
}

/**
 * `vault://<mount>/<api path>[?version=n][#key]`: reads KV v1 (`vault://secret/pg`) and KV v2
 * (`vault://kv/data/pg`, versions pinnable). The path is Vault's API path as written, so no mount lookup
 * (and no `sys/mounts` permission) is needed; the response's shape tells v1 from v2.
 */
export function createVaultSecretProvider(options: VaultOptions): SecretProvider {
  return new VaultSecretProvider(options);
}

class VaultSecretProvider implements SecretProvider {
  readonly scheme = 'vault';
  private readonly client: nodeVault.client;
  private readonly timeoutMs: number;
  private readonly transport: VaultTransport;
  private token: string | undefined;
  private login: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: VaultOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    let ca: string | undefined;
    if (options.caFile) {
      try {
        ca = readFileSync(options.caFile, 'utf8');
      } catch (cause) {
        throw new Codes.SDR_ERR_CONFIG_INVALID(`vault CA file ${options.caFile} cannot be read`, { cause });
      }
    }
    this.transport = vaultTransport(options.address, ca, this.timeoutMs);
    this.client = nodeVault({
      endpoint: options.address,
      // Our transport: through the one proxy decision, TLS verified against `ca`, every request bounded.
      'request-promise': this.transport.requestPromise,
    });
    // node-vault falls back to VAULT_TOKEN / VAULT_NAMESPACE / VAULT_PREFIX; our settings come only from options.
    this.client.token = '';
    (this.client as unknown as { namespace: string; pathPrefix: string }).namespace = options.namespace ?? '';
    (this.client as unknown as { namespace: string; pathPrefix: string }).pathPrefix = '';
  }

  async resolve(reference: SecretReference, signal?: AbortSignal): Promise<string> {
    const path = reference.path.replace(/^\/+/, '');
    const version =
      reference.version === undefined || reference.version === 'latest' ? undefined : reference.version;
    if (version !== undefined && !/^\d+$/.test(version)) {
      throw new Codes.SDR_ERR_SECRET_REF_INVALID(reference.raw, 'a Vault KV version is a positive integer');
    }
    const url = encodePath(path) + (version === undefined ? '' : `?version=${version}`);
    const body = await raceAbort(this.readWithAuth(reference, path, url), signal);
    return this.extract(reference, path, version, body);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    this.token = undefined;
    this.client.token = '';
    await this.transport.close();
  }

  /** Reads once; when Vault says 403 and the token itself is no longer valid, logs in again and retries. */
  private async readWithAuth(reference: SecretReference, path: string, url: string): Promise<unknown> {
    await this.ensureLoggedIn(reference);
    try {
      return await this.client.read(url);
    } catch (error) {
      const http = describeVaultError(error, this.options.address);
      if (http.status === 403 && !(await this.tokenStillValid())) {
        this.options.logger?.info({ provider: 'vault' }, 'vault token no longer valid; logging in again');
        this.token = undefined;
        await this.ensureLoggedIn(reference);
        try {
          return await this.client.read(url);
        } catch (retryError) {
          throw this.readError(reference, path, describeVaultError(retryError, this.options.address));
        }
      }
      throw this.readError(reference, path, http);
    }
  }

  private readError(reference: SecretReference, path: string, http: VaultHttpError): SdrError {
    const ref = reference.raw;
    if (http.status === 403)
      return new Codes.SDR_ERR_SECRET_DENIED(ref, `vault: permission denied on ${path}`);
    if (http.status === 404) {
      const what =
        reference.version === undefined ? 'no secret' : `no version ${reference.version} of the secret`;
      const hint = /versioned|v2/i.test(http.reason) ? ' (a KV v2 path needs /data/, e.g. kv/data/name)' : '';
      return new Codes.SDR_ERR_SECRET_NOT_FOUND(ref, `vault: ${what} at ${path}${hint}`);
    }
    if (http.status === 400 || http.status === 405) {
      return new Codes.SDR_ERR_SECRET_NOT_FOUND(ref, `vault: cannot read ${path}: ${http.reason}`);
    }
    return new Codes.SDR_ERR_SECRET_UNAVAILABLE(ref, `vault: ${http.reason} reading ${path}`);
  }

  private extract(
    reference: SecretReference,
    path: string,
    version: string | undefined,
    body: unknown,
  ): string {
    const data = (body as { data?: unknown } | undefined)?.data;
    let fields: unknown = data;
    if (isKv2(data)) {
      fields = data.data;
      if (fields === null || fields === undefined) {
        const which = version === undefined ? 'the current version' : `version ${version}`;
        throw new Codes.SDR_ERR_SECRET_NOT_FOUND(
          reference.raw,
          `vault: ${which} of ${path} is deleted or destroyed`,
        );
      }
    } else if (version !== undefined) {
      throw new Codes.SDR_ERR_SECRET_REF_INVALID(
        reference.raw,
        `vault: ${path} is not a KV v2 secret, so it has no versions to pin`,
      );
    }
    if (typeof fields !== 'object' || fields === null) {
      throw new Codes.SDR_ERR_SECRET_NOT_FOUND(reference.raw, `vault: ${path} holds no key/value data`);
    }
    if (reference.key === undefined) return JSON.stringify(fields);
    const picked = (fields as Record<string, unknown>)[reference.key];
    if (picked === undefined || picked === null) {
      throw new Codes.SDR_ERR_SECRET_NOT_FOUND(reference.raw, `vault: ${path} has no key "${reference.key}"`);
    }
    return typeof picked === 'string' ? picked : JSON.stringify(picked);
  }

  /** Logs in once for concurrent callers. */
  private async ensureLoggedIn(reference: SecretReference): Promise<void> {
    if (this.token !== undefined) return;
    this.login ??= this.logIn().finally(() => {
      this.login = undefined;
    });
    try {
      await this.login;
    } catch (error) {
      if (error instanceof LoginFailure) {
        const Code = error.denied ? Codes.SDR_ERR_SECRET_DENIED : Codes.SDR_ERR_SECRET_UNAVAILABLE;
        throw new Code(reference.raw, error.message);
      }
      throw error;
    }
  }

  private async logIn(): Promise<void> {
    if (this.closed) throw new LoginFailure('vault: provider is closed', false);
    const login = await this.obtainToken();
    this.token = login.token;
    this.client.token = login.token;
    this.schedule(login);
  }

  private async obtainToken(): Promise<VaultLogin> {
    const auth = this.options.auth;
    if (auth.method === 'token') {
      let token = auth.token;
      if (auth.tokenFile) token = await readFileOrFail(auth.tokenFile, 'token');
      if (!token) throw new LoginFailure('vault: token auth configured without a token or token file', true);
      this.client.token = token;
      try {
        const self = (await this.client.tokenLookupSelf()) as {
          data?: { ttl?: number; renewable?: boolean };
        };
        return { token, ttlSeconds: self.data?.ttl ?? 0, renewable: self.data?.renewable ?? false };
      } catch (error) {
        this.client.token = '';
        const http = describeVaultError(error, this.options.address);
        if (http.status === 403)
          throw new LoginFailure('vault: the token was rejected (expired or revoked)', true);
        throw new LoginFailure(
          `vault: token lookup failed: ${http.reason}`,
          http.status >= 400 && http.status < 500,
        );
      }
    }
    let request;
    try {
      request = await loginRequest(auth);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      throw new LoginFailure(
        `vault: ${auth.method} login cannot read its credentials${code ? ` (${code})` : ''}`,
        true,
      );
    }
    this.client.token = '';
    try {
      const response = (await this.client.write(request.path, request.body)) as {
        auth?: { client_token?: string; lease_duration?: number; renewable?: boolean };
      };
      const token = response.auth?.client_token;
      if (!token) throw new LoginFailure(`vault: ${auth.method} login returned no token`, false);
      this.options.logger?.info({ provider: 'vault', method: auth.method }, 'logged in to vault');
      return {
        token,
        ttlSeconds: response.auth?.lease_duration ?? 0,
        renewable: response.auth?.renewable ?? false,
      };
    } catch (error) {
      if (error instanceof LoginFailure) throw error;
      const http = describeVaultError(error, this.options.address);
      const denied = http.status >= 400 && http.status < 500;
      throw new LoginFailure(`vault: ${auth.method} login failed: ${http.reason}`, denied);
    }
  }

  /** Renews before expiry; when the token cannot be renewed (max TTL, revoked), logs in again. */
  private schedule(login: VaultLogin): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    if (this.closed || login.ttlSeconds <= 0) return;
    const delayMs = Math.max(250, login.ttlSeconds * 1000 * RENEW_AT);
    this.renewTimer = setTimeout(() => void this.refresh(login), delayMs);
    // A pending renewal must not keep the process alive after everything else has stopped.
    this.renewTimer.unref();
  }

  private async refresh(previous: VaultLogin): Promise<void> {
    if (this.closed) return;
    const canLogIn = this.options.auth.method !== 'token' || this.options.auth.tokenFile !== undefined;
    if (previous.renewable) {
      try {
        const renewed = (await this.client.tokenRenewSelf()) as {
          auth?: { client_token?: string; lease_duration?: number; renewable?: boolean };
        };
        const ttlSeconds = renewed.auth?.lease_duration ?? 0;
        // Vault caps renewals at the token's max TTL; a renewal that no longer extends it means the end is near.
        if (ttlSeconds > previous.ttlSeconds / 2 || !canLogIn) {
          this.options.logger?.info({ provider: 'vault', ttlSeconds }, 'renewed vault token');
          this.schedule({
            token: previous.token,
            ttlSeconds,
            renewable: renewed.auth?.renewable ?? false,
          });
          return;
        }
      } catch (error) {
        const http = describeVaultError(error, this.options.address);
        this.options.logger?.warn({ provider: 'vault', reason: http.reason }, 'vault token renewal failed');
      }
    }
    if (!canLogIn) return;
    try {
      this.token = undefined;
      this.login ??= this.logIn().finally(() => {
        this.login = undefined;
      });
      await this.login;
    } catch (error) {
      // The next resolve logs in again and reports the failure against its reference.
      this.options.logger?.warn(
        { provider: 'vault', reason: error instanceof Error ? error.message : String(error) },
        'vault re-login failed',
      );
    }
  }

  private async tokenStillValid(): Promise<boolean> {
    try {
      await this.client.tokenLookupSelf();
      return true;
    } catch {
      return false;
    }
  }
}

/** A login problem, reported against whichever reference needed the token. */
class LoginFailure extends Error {
  constructor(
    message: string,
    readonly denied: boolean,
  ) {
    super(message);
  }
}

async function readFileOrFail(path: string, what: string): Promise<string> {
  try {
    return await readCredentialFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new LoginFailure(`vault: cannot read the ${what} file${code ? ` (${code})` : ''}`, true);
  }
}

function isKv2(data: unknown): data is { data: unknown; metadata: { version?: number } } {
  return (
    typeof data === 'object' &&
    data !== null &&
    'data' in data &&
    'metadata' in data &&
    typeof (data as { metadata: unknown }).metadata === 'object' &&
    (data as { metadata: unknown }).metadata !== null &&
    typeof (data as { metadata: { version?: unknown } }).metadata.version === 'number'
  );
}

function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}

/**
 * Status and a safe reason from a node-vault or transport error. The raw error is never kept as a cause:
 * it may carry the request's headers (the Vault token) and body (an AppRole secret id).
 */
function describeVaultError(error: unknown, address: string): VaultHttpError {
  if (error instanceof VaultNoAnswer) return { status: 0, reason: error.message };
  const response = (error as { response?: { statusCode?: number; body?: { errors?: unknown[] } } }).response;
  if (response?.statusCode !== undefined) {
    const first = response.body?.errors?.find((e) => typeof e === 'string' && e !== '');
    return {
      status: response.statusCode,
      reason: typeof first === 'string' ? first : `HTTP ${response.statusCode}`,
    };
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code === 'ECONNABORTED' || code === 'ETIMEDOUT')
      return { status: 0, reason: `timed out talking to ${address}` };
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|TLS|SSL/.test(code)) {
      return { status: 0, reason: `TLS to ${address} failed (${code}); check SDR_VAULT_CA_FILE` };
    }
    return { status: 0, reason: `cannot reach ${address} (${code})` };
  }
  return { status: 0, reason: `request to ${address} failed` };
}
