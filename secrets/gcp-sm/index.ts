import { readFile } from 'node:fs/promises';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { Codes, SdrError } from '../../protocol/index.js';
import { nodeAgentFor } from '../../storage/http-agents.js';
import { raceAbort } from '../../common/index.js';
import { selectKey } from '../reference.js';
import type { SecretProvider, SecretReference } from '../types.js';

/** Settings of the `gcp-sm://` provider; without a key file, Application Default Credentials are used. */
export interface GcpSecretManagerOptions {
  /** Service-account key file (JSON). Absent: ADC (GOOGLE_APPLICATION_CREDENTIALS, workload identity, metadata). */
  keyFile?: string;
  /** Project for short references (`gcp-sm://pg`); full resource names carry their own. */
  projectId?: string;
  /** `host[:port]` override, e.g. a regional endpoint `secretmanager.europe-west1.rep.googleapis.com`. */
  endpoint?: string;
  /**
   * `rest` (default) speaks HTTP/1.1 JSON, which passes the HTTP proxies customer networks often require;
   * `grpc` uses HTTP/2.
   */
  transport?: 'rest' | 'grpc';
  /** Plain HTTP to `endpoint`; only for a local emulator. */
  insecure?: boolean;
  /** Per-call timeout; default 10 s. */
  timeoutMs?: number;
}

const RESOURCE = /^projects\/([^/]+)\/secrets\/([^/]+)(?:\/versions\/([^/]+))?$/;

/**
 * `gcp-sm://projects/<p>/secrets/<name>[/versions/<v>][#key]` (or `gcp-sm://<name>` with a default
 * project); `?version=<n>` also pins a version; the default is `latest`.
 */
export function createGcpSecretManagerProvider(options: GcpSecretManagerOptions = {}): SecretProvider {
  let client: SecretManagerServiceClient | undefined;
  const timeout = options.timeoutMs ?? 10_000;

  async function getClient(reference: SecretReference): Promise<SecretManagerServiceClient> {
    if (client) return client;
    const [host, port] = splitEndpoint(options.endpoint);
    // Read the key file here rather than let google-auth-library do it: its failure would surface as an
    // unhandled rejection inside the client instead of an error naming the reference.
    let credentials: Record<string, unknown> | undefined;
    if (options.keyFile) {
      try {
        credentials = JSON.parse(await readFile(options.keyFile, 'utf8')) as Record<string, unknown>;
      } catch (cause) {
        const code = (cause as NodeJS.ErrnoException).code ?? 'not JSON';
        throw new Codes.SDR_ERR_SECRET_DENIED(
          reference.raw,
          `gcp-sm: cannot read the service-account key file ${options.keyFile} (${code})`,
        );
      }
    } else if (process.env.GOOGLE_APPLICATION_CREDENTIALS) {
      // Same trap on the ADC path: a missing or broken GOOGLE_APPLICATION_CREDENTIALS file would reject
      // inside the client, unhandled. Check it is readable JSON; google-auth-library still does the rest.
      const path = process.env.GOOGLE_APPLICATION_CREDENTIALS;
      try {
        JSON.parse(await readFile(path, 'utf8'));
      } catch (cause) {
        const code = (cause as NodeJS.ErrnoException).code ?? 'not JSON';
        throw new Codes.SDR_ERR_SECRET_DENIED(
          reference.raw,
          `gcp-sm: cannot read GOOGLE_APPLICATION_CREDENTIALS file ${path} (${code})`,
        );
      }
    }
    client = new SecretManagerServiceClient({
      ...(credentials ? { credentials } : {}),
      ...(options.projectId ? { projectId: options.projectId } : {}),
      ...(host ? { apiEndpoint: host } : {}),
      ...(port ? { port } : {}),
      ...(options.insecure ? { protocol: 'http' } : {}),
      fallback: (options.transport ?? 'rest') === 'rest',
    });
    // google-gax's REST transport hands gaxios a plain keep-alive agent, and gaxios skips HTTPS_PROXY
    // for a request that brings its own agent: without this the client went direct, past the proxy.
    const agent = nodeAgentFor(
      `${options.insecure ? 'http' : 'https'}://${host ?? 'secretmanager.googleapis.com'}`,
      timeout,
    );
    if (agent !== undefined) {
      const auth = client.auth as unknown as { fetch(url: unknown, init?: Record<string, unknown>): unknown };
      const fetchWithoutProxy = auth.fetch.bind(auth);
      auth.fetch = (url, init) => fetchWithoutProxy(url, { ...init, agent });
    }
    return client;
  }

  return {
    scheme: 'gcp-sm',
    async resolve(reference: SecretReference, signal?: AbortSignal): Promise<string> {
      const name = versionName(reference, options.projectId);
      let response;
      try {
        [response] = await raceAbort(
          (await getClient(reference)).accessSecretVersion({ name }, { timeout, maxRetries: 2 }),
          signal,
        );
      } catch (error) {
        throw gcpError(reference, name, error);
      }
      const data = response.payload?.data;
      if (data === undefined || data === null) {
        throw new Codes.SDR_ERR_SECRET_NOT_FOUND(reference.raw, `gcp-sm: ${name} has no payload`);
      }
      const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
      return selectKey(reference, text);
    },
    async close(): Promise<void> {
      await client?.close();
      client = undefined;
    },
  };
}

function versionName(reference: SecretReference, projectId: string | undefined): string {
  const path = reference.path.replace(/^\/+|\/+$/g, '');
  let project: string;
  let secret: string;
  let version: string | undefined;
  const match = RESOURCE.exec(path);
  if (match) {
    [, project, secret, version] = match as unknown as [string, string, string, string | undefined];
  } else if (!path.includes('/') && projectId) {
    project = projectId;
    secret = path;
  } else {
    throw new Codes.SDR_ERR_SECRET_REF_INVALID(
      reference.raw,
      'expected gcp-sm://projects/<project>/secrets/<name>[/versions/<version>]',
    );
  }
  if (reference.version !== undefined) {
    if (version !== undefined && version !== reference.version) {
      throw new Codes.SDR_ERR_SECRET_REF_INVALID(reference.raw, 'two different versions are pinned');
    }
    version = reference.version;
  }
  return `projects/${project}/secrets/${secret}/versions/${version ?? 'latest'}`;
}

function splitEndpoint(endpoint: string | undefined): [string | undefined, number | undefined] {
  if (!endpoint) return [undefined, undefined];
  const bare = endpoint.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
  const colon = bare.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(bare.slice(colon + 1))) {
    return [bare.slice(0, colon), Number(bare.slice(colon + 1))];
  }
  return [bare, undefined];
}

/** gRPC status names and codes (gRPC transport) and HTTP statuses (REST transport) google-gax reports. */
const STATUS: Record<string, 'not-found' | 'denied' | 'precondition' | 'invalid'> = {
  5: 'not-found',
  404: 'not-found',
  NOT_FOUND: 'not-found',
  7: 'denied',
  16: 'denied',
  401: 'denied',
  403: 'denied',
  PERMISSION_DENIED: 'denied',
  UNAUTHENTICATED: 'denied',
  9: 'precondition',
  FAILED_PRECONDITION: 'precondition',
  3: 'invalid',
  INVALID_ARGUMENT: 'invalid',
};

/**
 * Maps a google-gax error to a coded one. The raw error is not kept as a cause: a GaxiosError carries the
 * request configuration, including the Authorization header.
 */
function gcpError(reference: SecretReference, name: string, error: unknown): SdrError {
  if (error instanceof SdrError) return error;
  const code = (error as { code?: unknown }).code;
  const raw = (error as { details?: unknown }).details ?? (error as { message?: unknown }).message;
  let details = typeof raw === 'string' ? raw : '';
  // A proxy that never answered the CONNECT: the agent's reason names the proxy and the fix.
  const noAnswer = details.indexOf('no answer from');
  if (code === 'ETIMEDOUT' && noAnswer >= 0)
    return new Codes.SDR_ERR_SECRET_UNAVAILABLE(
      reference.raw,
      `gcp-sm: reading ${name}: ${details.slice(noAnswer).split('\n')[0]}`,
    );
  let status: string | undefined;
  try {
    // REST errors carry Google's JSON error body as their message.
    const body = JSON.parse(details) as { error?: { message?: string; status?: string } };
    details = body.error?.message ?? details;
    status = body.error?.status;
  } catch {
    // a plain message
  }
  details = details.split('\n')[0]?.slice(0, 300) ?? '';
  const kind = STATUS[status ?? ''] ?? STATUS[String(code)];
  const ref = reference.raw;
  if (kind === 'not-found') return new Codes.SDR_ERR_SECRET_NOT_FOUND(ref, `gcp-sm: no ${name}`);
  if (kind === 'precondition') {
    return new Codes.SDR_ERR_SECRET_NOT_FOUND(ref, `gcp-sm: ${name} is disabled or destroyed: ${details}`);
  }
  if (kind === 'denied') {
    return new Codes.SDR_ERR_SECRET_DENIED(ref, `gcp-sm: permission denied on ${name}: ${details}`);
  }
  if (kind === 'invalid') return new Codes.SDR_ERR_SECRET_REF_INVALID(ref, `gcp-sm: ${details}`);
  // google-auth-library reports a missing or unusable key file / ADC as a plain Error.
  if (typeof code !== 'number' && /credential|key file|private key|invalid_grant/i.test(details)) {
    return new Codes.SDR_ERR_SECRET_DENIED(ref, `gcp-sm: no usable credentials: ${details}`);
  }
  const why = typeof code === 'string' ? code : details || 'request failed';
  return new Codes.SDR_ERR_SECRET_UNAVAILABLE(ref, `gcp-sm: ${why} reading ${name}`);
}
