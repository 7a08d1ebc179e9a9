import * as zlib from 'node:zlib';
import { z } from 'zod';
import { DELIVERY_MODES, type DeliveryMode } from '../../protocol/index.js';

/** True when this Node's zlib can write zstd (Node 22.15+). */
export const ZSTD_AVAILABLE =
  typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';

const secretReference = z.string().regex(/^[a-z][a-z0-9+.-]*:\/\//, {
  error: 'must be a secret reference such as env://NAME or file:///run/secrets/name, never the value itself',
});
// A key prefix inside the bucket: no leading or trailing slash, no `..`, no empty segment.
const prefix = z
  .string()
  .regex(/^[A-Za-z0-9_.=-]+(\/[A-Za-z0-9_.=-]+)*$/, {
    error: 'expected segments of letters, digits, _ . = - joined by /',
  })
  .refine((value) => !value.split('/').includes('..'), { error: 'must not contain ..' })
  .default('sdr');
const retentionDays = z.number().int().min(1).max(3_650).optional();

const s3Bucket = z
  .object({
    provider: z.literal('s3'),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'expected an S3 bucket name' }),
    prefix,
    region: z.string().min(1).default('us-east-1'),
    /** S3-compatible endpoint (MinIO, Ceph, …); unset for AWS. */
    endpoint: z.url().optional(),
    forcePathStyle: z.boolean().default(false),
    /** Secret references; unset uses the AWS default credential chain (env, profile, IRSA, instance role). */
    credentials: z
      .object({
        accessKeyId: secretReference,
        secretAccessKey: secretReference,
        sessionToken: secretReference.optional(),
      })
      .strict()
      .optional(),
    encryption: z
      .object({ type: z.enum(['SSE-S3', 'SSE-KMS']), kmsKeyId: z.string().min(1).optional() })
      .strict()
      .refine((value) => value.type === 'SSE-KMS' || value.kmsKeyId === undefined, {
        error: 'kmsKeyId only applies to SSE-KMS',
      })
      .optional(),
    retentionDays,
  })
  .strict();

const azureBucket = z
  .object({
    provider: z.literal('azure'),
    /** e.g. https://acme.blob.core.windows.net (or an Azurite URL ending in the account name). */
    accountUrl: z.url(),
    container: z
      .string()
      .regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, { error: 'expected a container name' }),
    prefix,
    /** One of: account name + key reference, a SAS token reference; unset uses DefaultAzureCredential. */
    credentials: z
      .union([
        z.object({ accountName: z.string().min(1), accountKey: secretReference }).strict(),
        z.object({ sasToken: secretReference }).strict(),
      ])
      .optional(),
    encryptionScope: z.string().min(1).optional(),
    retentionDays,
  })
  .strict();

const gcsBucket = z
  .object({
    provider: z.literal('gcs'),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/, { error: 'expected a GCS bucket name' }),
    prefix,
    projectId: z.string().min(1).optional(),
    /** API endpoint override (an emulator); unset for Google. */
    endpoint: z.url().optional(),
    /** A service-account key JSON reference; unset uses Application Default Credentials. */
    credentials: z.object({ serviceAccountJson: secretReference }).strict().optional(),
    /** CMEK: projects/…/locations/…/keyRings/…/cryptoKeys/… */
    kmsKeyName: z.string().min(1).optional(),
    retentionDays,
  })
  .strict();

/** The customer's own bucket a connection's results are relayed through. */
export const bucketSettingsSchema = z.discriminatedUnion('provider', [s3Bucket, azureBucket, gcsBucket]);
export type BucketSettings = z.infer<typeof bucketSettingsSchema>;

const MIB = 1024 * 1024;

/** A connection's `delivery` block; absent means tunnel only. */
export const deliverySettingsSchema = z
  .object({
    default: z.enum(DELIVERY_MODES).optional(),
    allow: z.array(z.enum(DELIVERY_MODES)).min(1).optional(),
    compression: z.enum(['gzip', 'zstd']).default('gzip'),
    /** Uncompressed bytes per part; one part (compressed) is held in memory per upload in flight. */
    partBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(1024 * MIB)
      .default(8 * MIB),
    bucket: bucketSettingsSchema.optional(),
  })
  .strict()
  // `default` alone allows just itself; `allow` alone makes its first mode the default.
  .transform((value) => {
    const fallback = value.default ?? value.allow?.[0] ?? 'tunnel';
    return { ...value, default: fallback, allow: value.allow ?? [fallback] };
  })
  .refine((value) => value.allow.includes(value.default), {
    error: 'default must be one of allow',
    path: ['default'],
  })
  .refine((value) => !value.allow.includes('bucket') || value.bucket !== undefined, {
    error: 'allow lists bucket but no bucket is configured',
    path: ['bucket'],
  })
  .refine((value) => value.compression !== 'zstd' || ZSTD_AVAILABLE, {
    error: `zstd needs a Node whose zlib has it (this is ${process.version}); use gzip`,
    path: ['compression'],
  });
export type DeliverySettings = z.infer<typeof deliverySettingsSchema>;

/** What a connection gets when its entry has no `delivery` block. */
export const TUNNEL_ONLY: DeliverySettings = Object.freeze({
  default: 'tunnel',
  allow: ['tunnel'],
  compression: 'gzip',
  partBytes: 8 * MIB,
}) as DeliverySettings;

/** Secret references inside a bucket's settings, by a name unique within the connection. */
export function bucketSecretReferences(bucket: BucketSettings | undefined): Record<string, string> {
  const credentials = bucket?.credentials;
  if (!credentials) return {};
  return Object.fromEntries(
    Object.entries(credentials).filter(([key, value]) => key !== 'accountName' && typeof value === 'string'),
  );
}

/** The mode a request resolves to on a connection, or undefined when the connection does not allow it. */
export function resolveMode(requested: string, settings: DeliverySettings): DeliveryMode | undefined {
  const mode = requested === 'default' ? settings.default : requested;
  return settings.allow.find((allowed) => allowed === mode);
}
