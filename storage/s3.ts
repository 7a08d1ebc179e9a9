import type { S3StoreOptions, ObjectStore, StoredObject, StoreAction } from './index.js';
import { storageError } from './errors.js';
import { awsRequestHandlerFor, DEFAULT_AWS_CONNECTION_TIMEOUT_MS } from './http-agents.js';

const MAX_ATTEMPTS = 5;

const PERMISSION: Record<StoreAction, string> = {
  put: 's3:PutObject',
  get: 's3:GetObject',
  list: 's3:ListBucket',
  remove: 's3:DeleteObject',
};

/** An S3 (or S3-compatible) bucket; the SDK is loaded on first use only. */
export async function createS3Store(options: S3StoreOptions): Promise<ObjectStore> {
  const [s3, { Upload }] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]);
  const endpoint = options.endpoint ?? `https://s3.${options.region}.amazonaws.com`;
  const connectionTimeout = options.requestTimeoutMs ?? DEFAULT_AWS_CONNECTION_TIMEOUT_MS;
  const client = new s3.S3Client({
    region: options.region,
    maxAttempts: MAX_ATTEMPTS,
    ...(options.endpoint && { endpoint: options.endpoint }),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.credentials && { credentials: options.credentials }),
    requestHandler: awsRequestHandlerFor(endpoint, { connectionTimeout, requestTimeout: 120_000 }),
  });
  const { bucket } = options;
  const fail = (action: StoreAction, key: string, error: unknown) => {
    const meta = error as { $metadata?: { httpStatusCode?: number }; name?: string; Code?: string };
    const kms =
      action === 'put' && options.encryption?.type === 'SSE-KMS'
        ? ' (and kms:GenerateDataKey on the key)'
        : '';
    return storageError(error, {
      target: `s3://${bucket}/${key}`,
      permission: `${PERMISSION[action]} on arn:aws:s3:::${bucket}${action === 'list' ? '' : `/${key}`}${kms}`,
      status: meta.$metadata?.httpStatusCode,
      code: meta.Code ?? meta.name,
      tries: MAX_ATTEMPTS,
      deadline: { endpoint, timeoutMs: connectionTimeout },
    });
  };
  const encryption =
    options.encryption?.type === 'SSE-KMS'
      ? {
          ServerSideEncryption: 'aws:kms' as const,
          ...(options.encryption.kmsKeyId && { SSEKMSKeyId: options.encryption.kmsKeyId }),
        }
      : options.encryption?.type === 'SSE-S3'
        ? { ServerSideEncryption: 'AES256' as const }
        : {};
  const prefix = `s3://${bucket}/`;
  return {
    provider: 's3',
    url: (key) => `${prefix}${key}`,
    owns: (url) => url.startsWith(prefix),
    keyOf: (url) => url.slice(prefix.length),
    async put(key, body, contentType) {
      try {
        // lib-storage sends one PUT for small bodies and a multipart upload (bounded queue) for large ones.
        await new Upload({
          client,
          params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType, ...encryption },
          partSize: Math.max(5 * 1024 * 1024, options.partSize ?? 0),
          queueSize: 2,
          leavePartsOnError: false,
        }).done();
      } catch (error) {
        throw fail('put', key, error);
      }
    },
    async get(key) {
      try {
        const answer = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(
          await (answer.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
        );
      } catch (error) {
        throw fail('get', key, error);
      }
    },
    async *list(keyPrefix): AsyncIterable<StoredObject> {
      try {
        for await (const page of s3.paginateListObjectsV2(
          { client },
          { Bucket: bucket, Prefix: keyPrefix },
        )) {
          for (const object of page.Contents ?? []) {
            if (object.Key && object.LastModified)
              yield { key: object.Key, lastModified: object.LastModified };
          }
        }
      } catch (error) {
        throw fail('list', keyPrefix, error);
      }
    },
    async remove(keys) {
      for (let i = 0; i < keys.length; i += 1000) {
        const chunk = keys.slice(i, i + 1000);
        try {
          await client.send(
            new s3.DeleteObjectsCommand({
              Bucket: bucket,
              Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
            }),
          );
        } catch (error) {
          throw fail('remove', chunk[0] ?? '', error);
        }
      }
    },
  };
}
