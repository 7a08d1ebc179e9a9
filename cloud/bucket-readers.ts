import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeIssues } from '../common/index.js';
import { Codes } from '../protocol/index.js';
import type { StoreOptions } from '../storage/index.js';

/*
 * The reference cloud's read-only credentials for customers' buckets (CLOUD_BUCKET_READERS_FILE), the
 * `bucketReaders` of createCloud. Credential values are references, env://NAME or file:///path, resolved
 * here when the cloud starts: the cloud has its own credentials and never the runtime's secret providers.
 */

const reference = z.string().regex(/^(env:\/\/[A-Za-z_][A-Za-z0-9_]*|file:\/\/\/.+)$/, {
  error: 'must be env://NAME or file:///path, never the value itself',
});

const s3Reader = z
  .object({
    provider: z.literal('s3'),
    bucket: z.string().min(3),
    region: z.string().min(1).default('us-east-1'),
    endpoint: z.url().optional(),
    forcePathStyle: z.boolean().default(false),
    /** Unset: the AWS default chain of the cloud's own process (AWS_* variables, profile, role). */
    credentials: z
      .object({ accessKeyId: reference, secretAccessKey: reference, sessionToken: reference.optional() })
      .strict()
      .optional(),
  })
  .strict();

const azureReader = z
  .object({
    provider: z.literal('azure'),
    accountUrl: z.url(),
    container: z.string().min(3),
    /** Unset: DefaultAzureCredential. */
    credentials: z
      .union([
        z.object({ accountName: z.string().min(1), accountKey: reference }).strict(),
        z.object({ sasToken: reference }).strict(),
      ])
      .optional(),
  })
  .strict();

const gcsReader = z
  .object({
    provider: z.literal('gcs'),
    bucket: z.string().min(3),
    projectId: z.string().min(1).optional(),
    endpoint: z.url().optional(),
    /** Unset: Application Default Credentials. */
    credentials: z.object({ serviceAccountJson: reference }).strict().optional(),
  })
  .strict();

const readersFileSchema = z
  .object({ readers: z.array(z.discriminatedUnion('provider', [s3Reader, azureReader, gcsReader])) })
  .strict();

type Reader = z.infer<typeof readersFileSchema>['readers'][number];

function invalid(file: string, detail: string, cause?: unknown): Error {
  return new Codes.SDR_ERR_CONFIG_INVALID(
    `CLOUD_BUCKET_READERS_FILE ${file}: ${detail}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Reads and validates the readers file and resolves its credential references against `env` and the
 * file system. Throws SDR_ERR_CONFIG_INVALID naming the file, the reader and the field (never a value).
 */
export function loadBucketReaders(file: string, env: NodeJS.ProcessEnv): StoreOptions[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw invalid(file, `cannot read it: ${(cause as Error).message}`, cause);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (cause) {
    throw invalid(file, `not YAML or JSON: ${(cause as Error).message.split('\n')[0] ?? ''}`);
  }
  const parsed = readersFileSchema.safeParse(document);
  if (!parsed.success) {
    throw invalid(file, describeIssues(parsed.error, 'file'));
  }
  return parsed.data.readers.map((reader, index) => {
    const resolve = (field: string, ref: string): string => {
      const where = `readers.${index}.credentials.${field}`;
      if (ref.startsWith('env://')) {
        const value = env[ref.slice('env://'.length)];
        if (value === undefined || value === '') throw invalid(file, `${where}: ${ref} is not set`);
        return value;
      }
      const path = ref.slice('file://'.length);
      try {
        return readFileSync(path, 'utf8').trim();
      } catch (cause) {
        throw invalid(file, `${where}: cannot read ${path}: ${(cause as Error).message}`);
      }
    };
    return storeOptionsOf(reader, resolve);
  });
}

function storeOptionsOf(reader: Reader, resolve: (field: string, ref: string) => string): StoreOptions {
  switch (reader.provider) {
    case 's3': {
      const { credentials, ...rest } = reader;
      return {
        ...rest,
        credentials: credentials && {
          accessKeyId: resolve('accessKeyId', credentials.accessKeyId),
          secretAccessKey: resolve('secretAccessKey', credentials.secretAccessKey),
          ...(credentials.sessionToken && {
            sessionToken: resolve('sessionToken', credentials.sessionToken),
          }),
        },
      };
    }
    case 'azure': {
      const { credentials, ...rest } = reader;
      return {
        ...rest,
        credentials:
          credentials &&
          ('sasToken' in credentials
            ? { sasToken: resolve('sasToken', credentials.sasToken) }
            : {
                accountName: credentials.accountName,
                accountKey: resolve('accountKey', credentials.accountKey),
              }),
      };
    }
    case 'gcs': {
      const { credentials, ...rest } = reader;
      return {
        ...rest,
        credentials: credentials && {
          serviceAccountJson: resolve('serviceAccountJson', credentials.serviceAccountJson),
        },
      };
    }
  }
}
