import type { GcsStoreOptions, ObjectStore, StoredObject, StoreAction } from './index.js';
import { raceAbort } from '../common/index.js';
import { storageError } from './errors.js';

const MAX_RETRIES = 4;

/** One HTTP request, a chunk of a resumable upload included; generous, so only a silent peer reaches it. */
const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

const PERMISSION: Record<StoreAction, string> = {
  put: 'storage.objects.create (roles/storage.objectCreator)',
  get: 'storage.objects.get (roles/storage.objectViewer)',
  list: 'storage.objects.list (roles/storage.objectViewer)',
  remove: 'storage.objects.delete (roles/storage.objectUser)',
};

/**
 * A Google Cloud Storage bucket; the SDK is loaded on first use. Its HTTP layer (gaxios) reads
 * HTTPS_PROXY / NO_PROXY itself, the same variables storage/http-agents.ts reads for the other clients.
 */
export async function createGcsStore(options: GcsStoreOptions): Promise<ObjectStore> {
  const { Storage } = await import('@google-cloud/storage');
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const endpoint = options.endpoint ?? 'https://storage.googleapis.com';
  const storage = new Storage({
    ...(options.projectId && { projectId: options.projectId }),
    ...(options.endpoint && { apiEndpoint: options.endpoint }),
    ...(options.credentials && { credentials: JSON.parse(options.credentials.serviceAccountJson) as object }),
    retryOptions: { autoRetry: true, maxRetries: MAX_RETRIES },
    timeout: requestTimeoutMs,
  });
  // gaxios' own timeout does not cover the OAuth token request, which also goes through HTTPS_PROXY: a
  // proxy that never answers held every operation for ever. Each operation gets a deadline; past it the
  // caller gets the error while the abandoned request ends when the proxy closes.
  const within = <T>(operation: Promise<T>): Promise<T> =>
    raceAbort(operation, AbortSignal.timeout(requestTimeoutMs * (MAX_RETRIES + 1)));
  const bucket = storage.bucket(options.bucket);
  const base = `gs://${options.bucket}/`;
  const fail = (action: StoreAction, key: string, error: unknown) => {
    const api = error as { code?: number | string; errors?: { reason?: string }[] };
    return storageError(error, {
      target: `${base}${key}`,
      permission: `${PERMISSION[action]} on gs://${options.bucket}${options.kmsKeyName && action === 'put' ? ` (and roles/cloudkms.cryptoKeyEncrypterDecrypter on ${options.kmsKeyName} for the storage service agent)` : ''}`,
      status: typeof api.code === 'number' ? api.code : undefined,
      code: api.errors?.[0]?.reason ?? (typeof api.code === 'string' ? api.code : undefined),
      tries: MAX_RETRIES + 1,
      deadline: { endpoint, timeoutMs: requestTimeoutMs * (MAX_RETRIES + 1) },
    });
  };
  return {
    provider: 'gcs',
    url: (key) => `${base}${key}`,
    owns: (url) => url.startsWith(base),
    keyOf: (url) => url.slice(base.length),
    async put(key, body, contentType) {
      try {
        // Large bodies use a resumable upload, which re-sends only the chunks not yet stored.
        await within(
          bucket.file(key, options.kmsKeyName ? { kmsKeyName: options.kmsKeyName } : {}).save(body, {
            contentType,
            resumable: body.length > 8 * 1024 * 1024,
            preconditionOpts: { ifGenerationMatch: 0 },
          }),
        );
      } catch (error) {
        throw fail('put', key, error);
      }
    },
    async get(key) {
      try {
        const [content] = await within(bucket.file(key).download());
        return content;
      } catch (error) {
        throw fail('get', key, error);
      }
    },
    async *list(prefix): AsyncIterable<StoredObject> {
      let files;
      try {
        [files] = await within(bucket.getFiles({ prefix }));
      } catch (error) {
        throw fail('list', prefix, error);
      }
      for (const file of files) {
        const updated = file.metadata.updated ?? file.metadata.timeCreated;
        yield { key: file.name, lastModified: new Date(String(updated)) };
      }
    },
    async remove(keys) {
      for (const key of keys) {
        try {
          await within(bucket.file(key).delete({ ignoreNotFound: true }));
        } catch (error) {
          throw fail('remove', key, error);
        }
      }
    },
  };
}
