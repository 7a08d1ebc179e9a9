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
}

/** Starts the double on a free port of 127.0.0.1. */
export async function startAzureKeyVaultDouble(): Promise<AzureKeyVaultDouble> {
  const identityHeader = randomBytes(12).toString('hex');
  const issued = new Set<string>();
  const secrets = new Map<string, { version: string; value: string }[]>();
  const forbidden = new Set<string>();
  let authorizedReads = 0;

  const http = await startHttpDouble((request, _body, response) => {
    const url = new URL(request.url ?? '/', 'http://double');
    if (url.pathname === '/msi/token') {
      if (request.headers['x-identity-header'] !== identityHeader) {
        json(response, 401, { error: 'invalid_identity_header' });
        return;
      }
      const token = `azure-double-${randomBytes(16).toString('hex')}`;
      issued.add(token);
      json(response, 200, {
        access_token: token,
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
          'www-authenticate': `Bearer authorization="${http.url}/tenant-double", resource="https://vault.azure.net"`,
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
    setSecret(vault: string, name: string, value: string): string {
      const version = randomBytes(16).toString('hex');
      const list = secrets.get(`${vault}/${name}`) ?? [];
      list.push({ version, value });
      secrets.set(`${vault}/${name}`, list);
      return version;
    },
  });
}
