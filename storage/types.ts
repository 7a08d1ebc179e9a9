/** One object in a listing, for retention sweeps. */
export interface StoredObject {
  key: string;
  lastModified: Date;
}

/**
 * A bucket (or container) seen through one set of credentials. Keys are full object keys; `url` names an
 * object the way the cloud is told (`s3://…`, `gs://…`, the blob's https URL). Errors are `SdrError`s:
 * `SDR_ERR_DELIVERY_DENIED` naming the permission, otherwise `SDR_ERR_DELIVERY_FAILED` after the client's
 * own retries.
 */
export interface ObjectStore {
  readonly provider: 's3' | 'azure' | 'gcs';
  url(key: string): string;
  /** True when `url` names an object of this store; `keyOf` then gives its key. */
  owns(url: string): boolean;
  keyOf(url: string): string;
  put(key: string, body: Buffer, contentType: string): Promise<void>;
  get(key: string): Promise<Buffer>;
  list(prefix: string): AsyncIterable<StoredObject>;
  remove(keys: readonly string[]): Promise<void>;
}

/** Every store's deadline for one try of one request (connection and proxy CONNECT included). */
interface StoreDeadline {
  /** Milliseconds; each store's default when absent (S3: 10 s to connect, 120 s of silence; others: 120 s a try). */
  requestTimeoutMs?: number | undefined;
}

/** S3 or an S3-compatible store; credentials unset uses the AWS default chain. */
export interface S3StoreOptions extends StoreDeadline {
  provider: 's3';
  bucket: string;
  region: string;
  endpoint?: string | undefined;
  forcePathStyle?: boolean | undefined;
  credentials?:
    { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined } | undefined;
  encryption?: { type: 'SSE-S3' | 'SSE-KMS'; kmsKeyId?: string | undefined } | undefined;
  /** Bytes per multipart part for large objects (at least 5 MiB). */
  partSize?: number | undefined;
}

/** Azure Blob; credentials unset uses DefaultAzureCredential. */
export interface AzureStoreOptions extends StoreDeadline {
  provider: 'azure';
  accountUrl: string;
  container: string;
  credentials?: { accountName: string; accountKey: string } | { sasToken: string } | undefined;
  encryptionScope?: string | undefined;
}

/** Google Cloud Storage; credentials unset uses Application Default Credentials. */
export interface GcsStoreOptions extends StoreDeadline {
  provider: 'gcs';
  bucket: string;
  projectId?: string | undefined;
  endpoint?: string | undefined;
  credentials?: { serviceAccountJson: string } | undefined;
  kmsKeyName?: string | undefined;
}

export type StoreOptions = S3StoreOptions | AzureStoreOptions | GcsStoreOptions;
