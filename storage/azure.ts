import type { AzureStoreOptions, ObjectStore, StoredObject, StoreAction } from './index.js';
import { storageError } from './errors.js';
import { azureProxyFor } from './http-agents.js';

const MAX_TRIES = 5;

/** One try of one request, upload of a part included; generous, so only a silent peer reaches it. */
const DEFAULT_TRY_TIMEOUT_MS = 120_000;

const PERMISSION: Record<StoreAction, string> = {
  put: 'blob write (Storage Blob Data Contributor, or a SAS with c and w)',
  get: 'blob read (Storage Blob Data Reader, or a SAS with r)',
  list: 'blob list (Storage Blob Data Reader, or a SAS with l)',
  remove: 'blob delete (Storage Blob Data Contributor, or a SAS with d)',
};

/** An Azure Blob container; the SDK (and @azure/identity when no key is given) is loaded on first use. */
export async function createAzureStore(options: AzureStoreOptions): Promise<ObjectStore> {
  const blob = await import('@azure/storage-blob');
  const accountUrl = options.accountUrl.replace(/\/+$/, '');
  const proxyOptions = azureProxyFor(accountUrl);
  const tryTimeoutMs = options.requestTimeoutMs ?? DEFAULT_TRY_TIMEOUT_MS;
  // The SDK has no client-side try timeout (tryTimeoutInMs is only sent to the server), so a proxy that
  // never answers the CONNECT held every operation for ever: each operation gets a deadline of its own.
  const deadline = () => ({ abortSignal: AbortSignal.timeout(tryTimeoutMs * MAX_TRIES) });
  const pipelineOptions = {
    retryOptions: { maxTries: MAX_TRIES },
    ...(proxyOptions && { proxyOptions }),
  };
  let service: InstanceType<typeof blob.BlobServiceClient>;
  const credentials = options.credentials;
  if (credentials && 'accountKey' in credentials) {
    service = new blob.BlobServiceClient(
      accountUrl,
      new blob.StorageSharedKeyCredential(credentials.accountName, credentials.accountKey),
      pipelineOptions,
    );
  } else if (credentials && 'sasToken' in credentials) {
    const sas = credentials.sasToken.replace(/^\?/, '');
    service = new blob.BlobServiceClient(
      `${accountUrl}?${sas}`,
      new blob.AnonymousCredential(),
      pipelineOptions,
    );
  } else {
    const { DefaultAzureCredential } = await import('@azure/identity');
    service = new blob.BlobServiceClient(accountUrl, new DefaultAzureCredential(), pipelineOptions);
  }
  const container = service.getContainerClient(options.container);
  const base = `${accountUrl}/${options.container}/`;
  const fail = (action: StoreAction, key: string, error: unknown) => {
    const rest = error as { statusCode?: number; code?: string };
    return storageError(error, {
      target: `${base}${key}`,
      permission: `${PERMISSION[action]} on container ${options.container}${options.encryptionScope ? ` with encryption scope ${options.encryptionScope}` : ''}`,
      status: rest.statusCode,
      code: rest.code,
      tries: MAX_TRIES,
      deadline: { endpoint: accountUrl, timeoutMs: tryTimeoutMs * MAX_TRIES },
    });
  };
  return {
    provider: 'azure',
    url: (key) => `${base}${key}`,
    owns: (url) => url.startsWith(base),
    keyOf: (url) => url.slice(base.length),
    async put(key, body, contentType) {
      try {
        // Bodies above maxSingleShotSize go up as staged blocks, two at a time.
        await container.getBlockBlobClient(key).uploadData(body, {
          blobHTTPHeaders: { blobContentType: contentType },
          maxSingleShotSize: 8 * 1024 * 1024,
          blockSize: 4 * 1024 * 1024,
          concurrency: 2,
          ...deadline(),
          ...(options.encryptionScope && { encryptionScope: options.encryptionScope }),
        });
      } catch (error) {
        throw fail('put', key, error);
      }
    },
    async get(key) {
      try {
        return await container.getBlockBlobClient(key).downloadToBuffer(0, undefined, deadline());
      } catch (error) {
        throw fail('get', key, error);
      }
    },
    async *list(prefix): AsyncIterable<StoredObject> {
      try {
        for await (const item of container.listBlobsFlat({ prefix, ...deadline() })) {
          yield { key: item.name, lastModified: item.properties.lastModified };
        }
      } catch (error) {
        throw fail('list', prefix, error);
      }
    },
    async remove(keys) {
      for (const key of keys) {
        try {
          await container.getBlockBlobClient(key).deleteIfExists(deadline());
        } catch (error) {
          throw fail('remove', key, error);
        }
      }
    },
  };
}
