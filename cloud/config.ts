import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { describeIssues } from '../common/index.js';
import {
  Codes,
  DEFAULT_CREDIT_WINDOW,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_RECONCILE_INTERVAL_MS,
  DEFAULT_MAX_FRAME_BYTES,
} from '../protocol/index.js';
import type { StoreOptions } from '../storage/index.js';
import { loadBucketReaders } from './bucket-readers.js';

/** Settings of `npm run cloud`, all present. */
export interface CloudMainConfig {
  host: string;
  port: number;
  dataDir: string;
  adminToken: string | undefined;
  tls: { cert: string; key: string } | undefined;
  heartbeatIntervalMs: number;
  reconcileIntervalMs: number;
  creditWindow: number;
  maxFrameBytes: number;
  ackDelayMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Read-only views of customers' buckets, for bucket delivery (CLOUD_BUCKET_READERS_FILE). */
  bucketReaders: StoreOptions[];
}

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const envSchema = z
  .object({
    CLOUD_HOST: z.string().trim().min(1).default('127.0.0.1'),
    CLOUD_PORT: integer(0, 65_535).default(8787),
    CLOUD_DATA_DIR: z.string().trim().min(1).default('./.sdr/cloud'),
    CLOUD_ADMIN_TOKEN: z.string().trim().min(16, 'expected at least 16 characters').optional(),
    CLOUD_TLS_CERT_FILE: z.string().trim().min(1).optional(),
    CLOUD_TLS_KEY_FILE: z.string().trim().min(1).optional(),
    CLOUD_HEARTBEAT_MS: integer(100, 3_600_000).default(DEFAULT_HEARTBEAT_INTERVAL_MS),
    CLOUD_RECONCILE_MS: integer(100, 86_400_000).default(DEFAULT_RECONCILE_INTERVAL_MS),
    CLOUD_CREDIT_WINDOW: integer(1, 10_000).default(DEFAULT_CREDIT_WINDOW),
    CLOUD_MAX_FRAME_BYTES: integer(1024, 256 * 1024 * 1024).default(DEFAULT_MAX_FRAME_BYTES),
    CLOUD_ACK_DELAY_MS: integer(0, 600_000).default(0),
    CLOUD_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    CLOUD_BUCKET_READERS_FILE: z.string().trim().min(1).optional(),
  })
  .refine((env) => (env.CLOUD_TLS_CERT_FILE === undefined) === (env.CLOUD_TLS_KEY_FILE === undefined), {
    message: 'set both or neither of CLOUD_TLS_CERT_FILE and CLOUD_TLS_KEY_FILE',
    path: ['CLOUD_TLS_CERT_FILE'],
  });

function readPem(variable: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new Codes.SDR_ERR_CONFIG_INVALID(`${variable}: cannot read ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/**
 * Compiles the cloud CLI's settings from the environment; an empty variable counts as unset. Throws
 * SDR_ERR_CONFIG_INVALID naming every bad variable on one line.
 */
export function loadCloudConfig(env: NodeJS.ProcessEnv): CloudMainConfig {
  const present = Object.fromEntries(
    Object.entries(env).filter(([name, value]) => name.startsWith('CLOUD_') && value !== ''),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw new Codes.SDR_ERR_CONFIG_INVALID(describeIssues(parsed.error, 'environment'));
  }
  const e = parsed.data;
  return Object.freeze({
    host: e.CLOUD_HOST,
    port: e.CLOUD_PORT,
    dataDir: e.CLOUD_DATA_DIR,
    adminToken: e.CLOUD_ADMIN_TOKEN,
    tls:
      e.CLOUD_TLS_CERT_FILE !== undefined && e.CLOUD_TLS_KEY_FILE !== undefined
        ? {
            cert: readPem('CLOUD_TLS_CERT_FILE', e.CLOUD_TLS_CERT_FILE),
            key: readPem('CLOUD_TLS_KEY_FILE', e.CLOUD_TLS_KEY_FILE),
          }
        : undefined,
    heartbeatIntervalMs: e.CLOUD_HEARTBEAT_MS,
    reconcileIntervalMs: e.CLOUD_RECONCILE_MS,
    creditWindow: e.CLOUD_CREDIT_WINDOW,
    maxFrameBytes: e.CLOUD_MAX_FRAME_BYTES,
    ackDelayMs: e.CLOUD_ACK_DELAY_MS,
    logLevel: e.CLOUD_LOG_LEVEL,
    bucketReaders:
      e.CLOUD_BUCKET_READERS_FILE === undefined ? [] : loadBucketReaders(e.CLOUD_BUCKET_READERS_FILE, env),
  });
}
