/**
 * Result delivery besides the tunnel. The object sink, the presigned target (undici) and the object stores
 * (their proxy agents and SDKs) are imported when an attempt or a retention sweep first needs them: a
 * runtime that only delivers over the tunnel, the default, never loads them (see docs/operations.md, Memory).
 */
import type { Logger } from 'pino';
import type { DeliveryMode, FrameOf, UploadUrl } from '../../protocol/index.js';
import type { ObjectStore, StoreOptions } from '../../storage/index.js';
import type { AttemptStream } from '../attempt-stream.js';
import type { AttemptIdentity } from './object-sink.js';
import type { PresignedSettings, PresignedTarget } from './presigned-target.js';
import type { BucketSettings, DeliverySettings } from './settings.js';
import type { ResultSink } from './sink.js';

export type { PresignedSettings, PresignedTarget } from './presigned-target.js';
export type { ResultSink } from './sink.js';

async function openStore(options: StoreOptions): Promise<ObjectStore> {
  return (await import('../../storage/index.js')).openStore(options);
}

/** Store options for a connection's bucket, with its credential references resolved to `credentials`. */
export function storeOptionsFor(
  bucket: BucketSettings,
  credentials: Readonly<Record<string, string>>,
  partBytes: number,
): StoreOptions {
  const has = Object.keys(credentials).length > 0;
  switch (bucket.provider) {
    case 's3':
      return {
        provider: 's3',
        bucket: bucket.bucket,
        region: bucket.region,
        endpoint: bucket.endpoint,
        forcePathStyle: bucket.forcePathStyle,
        encryption: bucket.encryption,
        partSize: partBytes,
        credentials: has
          ? {
              accessKeyId: credentials.accessKeyId ?? '',
              secretAccessKey: credentials.secretAccessKey ?? '',
              sessionToken: credentials.sessionToken,
            }
          : undefined,
      };
    case 'azure':
      return {
        provider: 'azure',
        accountUrl: bucket.accountUrl,
        container: bucket.container,
        encryptionScope: bucket.encryptionScope,
        credentials:
          bucket.credentials && 'accountName' in bucket.credentials
            ? { accountName: bucket.credentials.accountName, accountKey: credentials.accountKey ?? '' }
            : credentials.sasToken !== undefined
              ? { sasToken: credentials.sasToken }
              : undefined,
      };
    case 'gcs':
      return {
        provider: 'gcs',
        bucket: bucket.bucket,
        projectId: bucket.projectId,
        endpoint: bucket.endpoint,
        kmsKeyName: bucket.kmsKeyName,
        credentials:
          credentials.serviceAccountJson !== undefined
            ? { serviceAccountJson: credentials.serviceAccountJson }
            : undefined,
      };
  }
}

/** What opening an object sink needs besides the attempt's stream. */
export interface ObjectSinkContext {
  mode: Exclude<DeliveryMode, 'tunnel'>;
  settings: DeliverySettings;
  identity: AttemptIdentity;
  /** Resolved bucket credentials (bucket mode). */
  bucketCredentials: Readonly<Record<string, string>>;
  presigned: PresignedSettings;
  initialUploads: readonly UploadUrl[];
  link: { send(frame: FrameOf<'upload.request'>): boolean };
  signal: AbortSignal;
}

/** Opens the sink of a bucket or presigned attempt; the presigned target is returned to route grants to. */
export async function openObjectSink(
  stream: AttemptStream,
  context: ObjectSinkContext,
): Promise<{ sink: ResultSink; presigned?: PresignedTarget }> {
  const { settings, identity, signal } = context;
  const sinkOptions = { compression: settings.compression, partBytes: settings.partBytes, signal };
  const { ObjectSink } = await import('./object-sink.js');
  if (context.mode === 'presigned') {
    const { PresignedTarget } = await import('./presigned-target.js');
    const target = new PresignedTarget(
      context.link,
      identity.requestId,
      identity.attempt,
      context.presigned,
      signal,
      identity.attempt === 1 ? context.initialUploads : [],
    );
    return { sink: new ObjectSink(target, stream, identity, sinkOptions), presigned: target };
  }
  const bucket = settings.bucket as BucketSettings;
  const { attemptPrefix, BucketTarget } = await import('./bucket-target.js');
  const store = await openStore(storeOptionsFor(bucket, context.bucketCredentials, settings.partBytes));
  const keyPrefix = attemptPrefix(bucket.prefix, identity.agentId, identity.requestId, identity.attempt);
  return { sink: new ObjectSink(new BucketTarget(store, keyPrefix), stream, identity, sinkOptions) };
}

/**
 * Deletes this agent's objects older than the bucket's `retentionDays` under its prefix (off when unset).
 * Only keys under `<prefix>/<agentId>/` are touched: the runtime never deletes what it did not write.
 */
export async function sweepRetention(
  bucket: BucketSettings,
  credentials: Readonly<Record<string, string>>,
  agentId: string,
  log: Logger,
  now = Date.now(),
): Promise<number> {
  if (bucket.retentionDays === undefined || agentId === '') return 0;
  const store: ObjectStore = await openStore(storeOptionsFor(bucket, credentials, 8 * 1024 * 1024));
  const cutoff = now - bucket.retentionDays * 86_400_000;
  const old: string[] = [];
  for await (const object of store.list(`${bucket.prefix}/${agentId}/`)) {
    if (object.lastModified.getTime() < cutoff) old.push(object.key);
  }
  if (old.length > 0) {
    await store.remove(old);
    log.info(
      { objects: old.length, retentionDays: bucket.retentionDays },
      'deleted results past their retention',
    );
  }
  return old.length;
}
