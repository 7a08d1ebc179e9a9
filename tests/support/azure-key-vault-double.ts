import { randomBytes } from 'node:crypto';
import { json, startHttpDouble, type HttpDouble } from './http-double.js';

/**
 * A local double of the Key Vault secrets REST API (`GET /<vault>/secrets/<name>[/<version>]`) and of the
 * App Service managed-identity token endpoint that `ManagedIdentityCredential` calls. It follows Key Vault's
 * challenge flow (401 with `WWW-Authenticate` first) and only answers a bearer token it issued itself, to a
 * caller that presented the identity header: a client that sends no or wrong credentials gets 401.
 */
export interface AzureKeyVaultDouble extends HttpDouble {
  /** The `X-IDENTITY-HEADER` value the token endpoint requires (set IDENTITY_HEADER to it). */
  identityHeader: string;
  /** IDENTITY_ENDPOINT for the managed-identity credential. */
  identityEndpoint: string;
  /** Stores a new version of a secret and returns its version id. */
  setSecret(vault: string, name: string, value: string): string;
  /** Secrets the identity may not read (403 Forbidden). */
  forbidden: Set<string>;
  /** How many secret reads carried a token this double issued. */
  authorizedReads(): number;
  /** The tenant the vault's auth challenge names (a credential for another tenant is refused by the SDK). */
  tenantId: string;
  /** Issues a bearer token the vault accepts, as Entra ID would after a successful exchange. */
  issueToken(): string;
}

/** Starts the double on a free port of 127.0.0.1. */
export async function startAzureKeyVaultDouble(): Promise<AzureKeyVaultDouble> {
  const identityHeader = randomBytes(12).toString('hex');
  const issued = new Set<string>();
  const secrets = new Map<string, { version: string; value: string }[]>();
  const forbidden = new Set<string>();
  let authorizedReads = 0;
  const tenantId = 'tenant-double';
  const issueToken = (): string => {
    const token = `azure-double-${randomBytes(16).toString('hex')}`;
    issued.add(token);
    return token;
  };

  const http = await startHttpDouble((request, _body, response) => {
    const url = new URL(request.url ?? '/', 'http://double');
    if (url.pathname === '/msi/token') {
      if (request.headers['x-identity-header'] !== identityHeader) {
        json(response, 401, { error: 'invalid_identity_header' });
        return;
      }
      json(response, 200, {
        access_token: issueToken(),
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        resource: url.searchParams.get('resource'),
        token_type: 'Bearer',
      });
      return;
    }
    const match = /^\/([^/]+)\/secrets\/([^/]+)(?:\/([^/]*))?$/.exec(url.pathname);
    if (!match || request.method !== 'GET') {
      json(response, 404, { error: { code: 'NotFound', message: 'no such API' } });
      return;
    }
    const authorization = request.headers.authorization ?? '';
    const token = authorization.startsWith('Bearer ') ? authorization.slice(7) : '';
    if (!issued.has(token)) {
      json(
        response,
        401,
        { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } },
        {
          'www-authenticate': `Bearer authorization="${http.url}/${tenantId}", resource="https://vault.azure.net"`,
        },
      );
      return;
    }
    authorizedReads += 1;
    const [, vault, name, version] = match as unknown as [string, string, string, string | undefined];
    if (forbidden.has(`${vault}/${name}`)) {
      json(response, 403, {
        error: { code: 'Forbidden', message: `Caller is not authorized to perform action on resource.` },
      });
      return;
    }
    const versions = secrets.get(`${vault}/${name}`);
    const found = version ? versions?.find((v) => v.version === version) : versions?.at(-1);
    if (!found) {
      json(response, 404, {
        error: {
          code: 'SecretNotFound',
          message: `A secret with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`,
        },
      });
      return;
    }
    json(response, 200, {
      value: found.value,
      id: `https://${vault}.vault.azure.net/secrets/${name}/${found.version}`,
      attributes: { enabled: true, created: 1700000000, updated: 1700000000, recoveryLevel: 'Recoverable' },
      tags: {},
    });
  });

  return Object.assign(http, {
    identityHeader,
    identityEndpoint: `${http.url}/msi/token`,
    forbidden,
    authorizedReads: () => authorizedReads,
    tenantId,
    issueToken,
    setSecret(vault: string, name: string, value: string): string {
      const version = randomBytes(16).toString('hex');
      const list = secrets.get(`${vault}/${name}`) ?? [];
      list.push({ version, value });
      secrets.set(`${vault}/${name}`, list);
      return version;
    },
  });
}

/** One app registration the Entra ID double knows: a client secret, or a federated (workload) token. */
export type EntraIdClient =
  { clientId: string; clientSecret: string } | { clientId: string; federatedToken: () => string };

/** A token exchange the Entra ID double saw, for assertions (the form is what the client posted). */
export interface EntraIdExchange {
  tenant: string;
  form: URLSearchParams;
  granted: boolean;
}

/**
 * An HTTPS double of the Microsoft Entra ID endpoints MSAL uses for the client-credentials grant:
 * OpenID discovery (`/<tenant>/v2.0/.well-known/openid-configuration`) and the v2 token endpoint
 * (`/<tenant>/oauth2/v2.0/token`). It grants a token of `vault` only to a registered client that proves
 * itself: the exact client secret, or a client assertion equal to the current federated token.
 */
export interface EntraIdDouble extends HttpDouble {
  /** The `authorityHost` to configure. */
  authorityHost: string;
  exchanges: EntraIdExchange[];
}

/** Starts the Entra ID double over HTTPS with the given certificate (see `makeLocalTls`). */
export async function startEntraIdDouble(
  vault: Pick<AzureKeyVaultDouble, 'issueToken' | 'tenantId'>,
  clients: EntraIdClient[],
  tls: { cert: string; key: string },
): Promise<EntraIdDouble> {
  const exchanges: EntraIdExchange[] = [];
  const http: HttpDouble = await startHttpDouble((request, body, response) => {
    const url = new URL(request.url ?? '/', 'https://double');
    const [, tenant = '', ...rest] = url.pathname.split('/');
    const path = rest.join('/');
    const base = `${http.url}/${tenant}`;
    if (request.method === 'GET' && path === 'v2.0/.well-known/openid-configuration') {
      json(response, 200, {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        issuer: `${base}/v2.0`,
        jwks_uri: `${base}/discovery/v2.0/keys`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      });
      return;
    }
    if (request.method === 'POST' && path === 'oauth2/v2.0/token') {
      const form = new URLSearchParams(body);
      const client = clients.find((c) => c.clientId === form.get('client_id'));
      const proved =
        client !== undefined &&
        tenant === vault.tenantId &&
        form.get('grant_type') === 'client_credentials' &&
        (form.get('scope') ?? '').split(' ').includes('https://vault.azure.net/.default') &&
        ('clientSecret' in client
          ? form.get('client_secret') === client.clientSecret
          : form.get('client_assertion_type') === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' &&
            form.get('client_assertion') === client.federatedToken());
      exchanges.push({ tenant, form, granted: proved });
      if (!proved) {
        json(response, 401, {
          error: 'invalid_client',
          error_description: 'AADSTS7000215: Invalid client secret provided.',
          error_codes: [7000215],
        });
        return;
      }
      json(response, 200, {
        token_type: 'Bearer',
        expires_in: 3599,
        ext_expires_in: 3599,
        access_token: vault.issueToken(),
      });
      return;
    }
    json(response, 404, { error: 'not_found', error_description: `no ${request.method} ${url.pathname}` });
  }, tls);
  return Object.assign(http, { authorityHost: http.url, exchanges });
}
