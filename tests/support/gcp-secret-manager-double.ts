import { generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { json, startHttpDouble, type HttpDouble } from './http-double.js';

/**
 * A local double of Secret Manager's REST API (`GET /v1/projects/<p>/secrets/<s>/versions/<v>:access`) and
 * of Google's OAuth token endpoint. It issues a service-account key file whose `token_uri` points at itself
 * and accepts a request only with a bearer it can verify: an access token it issued for a JWT assertion
 * signed by that key, or a self-signed JWT from that key. Anything else gets 401 UNAUTHENTICATED.
 */
export interface GcpSecretManagerDouble extends HttpDouble {
  /** A service-account key file's JSON for this double. */
  keyFileJson: string;
  clientEmail: string;
  /** Adds a version and returns its number. */
  addVersion(project: string, secret: string, value: string): number;
  /** Secrets (`project/secret`) the service account may not access. */
  forbidden: Set<string>;
  /** Reads that carried a verified credential. */
  authorizedReads(): number;
}

/** Starts the double on a free port of 127.0.0.1. */
export async function startGcpSecretManagerDouble(): Promise<GcpSecretManagerDouble> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = 'sdr-runtime@sdr-test.iam.gserviceaccount.com';
  const issued = new Set<string>();
  const versions = new Map<string, string[]>();
  const forbidden = new Set<string>();
  let authorizedReads = 0;

  const http = await startHttpDouble((request, body, response) => {
    const url = new URL(request.url ?? '/', 'http://double');
    if (url.pathname === '/token' && request.method === 'POST') {
      const form = new URLSearchParams(body);
      const claims = verifyJwt(form.get('assertion') ?? '', publicKey);
      if (
        form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer' ||
        claims?.iss !== clientEmail
      ) {
        json(response, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
        return;
      }
      const token = `ya29.double-${randomBytes(16).toString('hex')}`;
      issued.add(token);
      json(response, 200, { access_token: token, expires_in: 3600, token_type: 'Bearer' });
      return;
    }
    const match = /^\/v1\/projects\/([^/]+)\/secrets\/([^/]+)\/versions\/([^/:]+):access$/.exec(url.pathname);
    if (!match || request.method !== 'GET') {
      json(response, 404, { error: { code: 404, message: 'no such API', status: 'NOT_FOUND' } });
      return;
    }
    const authorization = request.headers.authorization ?? '';
    const bearer = authorization.startsWith('Bearer ') ? authorization.slice(7) : '';
    if (!issued.has(bearer) && verifyJwt(bearer, publicKey)?.iss !== clientEmail) {
      json(response, 401, {
        error: {
          code: 401,
          message: 'Request had invalid authentication credentials.',
          status: 'UNAUTHENTICATED',
        },
      });
      return;
    }
    authorizedReads += 1;
    const [, project, secret, version] = match as unknown as [string, string, string, string];
    const name = `projects/${project}/secrets/${secret}`;
    if (forbidden.has(`${project}/${secret}`)) {
      json(response, 403, {
        error: {
          code: 403,
          message: `Permission 'secretmanager.versions.access' denied for resource '${name}/versions/${version}'`,
          status: 'PERMISSION_DENIED',
        },
      });
      return;
    }
    const list = versions.get(`${project}/${secret}`);
    const number = version === 'latest' ? list?.length : Number(version);
    const value = number ? list?.[number - 1] : undefined;
    if (!list || value === undefined) {
      json(response, 404, {
        error: {
          code: 404,
          message: list
            ? `Secret Version [${name}/versions/${version}] not found.`
            : `Secret [${name}] not found or has no versions.`,
          status: 'NOT_FOUND',
        },
      });
      return;
    }
    json(response, 200, {
      name: `${name}/versions/${number}`,
      payload: { data: Buffer.from(value, 'utf8').toString('base64') },
    });
  });

  const keyFileJson = JSON.stringify({
    type: 'service_account',
    project_id: 'sdr-test',
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: clientEmail,
    client_id: '100000000000000000001',
    auth_uri: `${http.url}/auth`,
    token_uri: `${http.url}/token`,
    universe_domain: 'googleapis.com',
  });

  return Object.assign(http, {
    keyFileJson,
    clientEmail,
    forbidden,
    authorizedReads: () => authorizedReads,
    addVersion(project: string, secret: string, value: string): number {
      const list = versions.get(`${project}/${secret}`) ?? [];
      list.push(value);
      versions.set(`${project}/${secret}`, list);
      return list.length;
    },
  });
}

function verifyJwt(token: string, publicKey: KeyObject): { iss?: string } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [header, payload, signature] = parts as [string, string, string];
  const ok = verify(
    'RSA-SHA256',
    Buffer.from(`${header}.${payload}`),
    publicKey,
    Buffer.from(signature, 'base64url'),
  );
  if (!ok) return undefined;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: string };
  } catch {
    return undefined;
  }
}
