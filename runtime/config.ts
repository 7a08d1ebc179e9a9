import { readFileSync } from 'node:fs';
import { getProxyForUrl } from 'proxy-from-env';
import YAML from 'yaml';
import { z } from 'zod';
import {
  Codes,
  DEFAULT_MAX_FRAME_BYTES,
  MAX_CONNECTIONS_PER_INSTANCE,
  type SdrError,
} from '../protocol/index.js';
import { parseHostList, type RedisSettings } from './redis-connection.js';
import { SECRET_SETTING_NAMES, type SecretProvidersOptions, secretSettingsFrom } from '../secrets/index.js';
import { describeUnreadableFile, expandFileSettings } from './env-files.js';

const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'expected a whole number' })
    .int({ error: 'expected a whole number' })
    .min(min, { error: `expected at least ${min}` })
    .max(max, { error: `expected at most ${max}` });

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' })
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

/**
 * Every setting, by the environment variable that sets it. `.env.example` and the README list the same
 * names; a unit test keeps the three in step.
 */
export const settingsSchema = z.object({
  SDR_CLOUD_URL: z
    .url({ error: 'expected the cloud tunnel URL, e.g. wss://cloud.example.com/v1/tunnel' })
    .refine((url) => /^wss?:\/\//.test(url), { error: 'expected a ws:// or wss:// URL' }),
  SDR_AGENT_TOKEN: z.string().min(1).optional(),
  SDR_AGENT_TOKEN_FILE: z.string().min(1).optional(),
  SDR_CLOUD_PUBLIC_KEY: z.string().min(1).optional(),
  SDR_CLOUD_PUBLIC_KEY_FILE: z.string().min(1).optional(),
  SDR_ALLOW_INSECURE_TUNNEL: flag.default(false),
  SDR_CONNECTIONS_FILE: z.string().min(1).default('/etc/sdr/connections.yaml'),
  SDR_REDIS_URL: z
    .url({ error: 'expected a redis:// or rediss:// URL' })
    .refine((url) => /^rediss?:\/\//.test(url), { error: 'expected a redis:// or rediss:// URL' })
    .default('redis://127.0.0.1:6379'),
  SDR_REDIS_SENTINELS: z.string().min(1).optional(),
  SDR_REDIS_SENTINEL_MASTER: z.string().min(1).default('mymaster'),
  SDR_REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  SDR_REDIS_CLUSTER_NODES: z.string().min(1).optional(),
  SDR_QUEUE_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, { error: 'expected letters, digits, _ or -' })
    .default('sdr-jobs'),
  SDR_CONCURRENCY: integer(1, 100).default(5),
  SDR_JOB_ATTEMPTS: integer(1, 100).default(5),
  SDR_JOB_BACKOFF_MS: integer(0).default(30_000),
  SDR_JOB_BACKOFF_MAX_MS: integer(0).default(600_000),
  SDR_JOB_MAX_RERUNS: integer(0, 10_000).default(20),
  SDR_JOB_MAX_STALLED_COUNT: integer(0, 100).default(2),
  SDR_JOB_LOCK_MS: integer(1_000).default(30_000),
  SDR_JOB_STALLED_INTERVAL_MS: integer(500).default(30_000),
  SDR_JOB_RETENTION_HOURS: integer(1).default(168),
  SDR_JOB_ISOLATION: z.enum(['worker', 'none'], { error: 'expected worker or none' }).default('worker'),
  SDR_JOB_MAX_OLD_SPACE_MB: integer(16, 65_536).default(256),
  SDR_BATCH_MAX_RECORDS: integer(1, 100_000).default(1_000),
  SDR_BATCH_MAX_BYTES: integer(1_024).default(1_048_576),
  SDR_MAX_FRAME_BYTES: integer(65_536).default(DEFAULT_MAX_FRAME_BYTES),
  SDR_CLOCK_SKEW_MS: integer(0).default(30_000),
  SDR_TUNNEL_CONNECTIONS: integer(1, MAX_CONNECTIONS_PER_INSTANCE).default(1),
  SDR_RECONNECT_BASE_MS: integer(10).default(500),
  SDR_RECONNECT_MAX_MS: integer(100).default(60_000),
  SDR_DRAIN_TIMEOUT_MS: integer(0).default(30_000),
  SDR_SECRET_CACHE_TTL_MS: integer(0).default(300_000),
  SDR_HEALTH_ENABLED: flag.default(true),
  SDR_HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
  SDR_HEALTH_PORT: integer(0, 65_535).default(9464),
  // Pre-signed URL delivery (docs/delivery.md)
  SDR_UPLOAD_ORIGINS: z.string().min(1).optional(),
  SDR_UPLOAD_MAX_TRIES: integer(1, 20).default(5),
  SDR_UPLOAD_BACKOFF_MS: integer(1, 60_000).default(500),
  SDR_UPLOAD_GRANT_TIMEOUT_MS: integer(100, 600_000).default(30_000),
  SDR_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SDR_LOG_FORWARD_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
  // Trust limits (docs/security.md): what the cloud may ask of this runtime.
  SDR_AGENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/, { error: 'expected letters, digits, _ . : -' })
    .optional(),
  SDR_MAX_QUEUED_JOBS: integer(1, 1_000_000).default(1_000),
  SDR_REQUEST_MAX_LIFETIME_MS: integer(1_000).default(86_400_000),
  SDR_ACK_TIMEOUT_MS: integer(1_000).default(120_000),
});

/** The validated, complete, frozen configuration the daemon runs with. */
export interface RuntimeConfig {
  readonly cloudUrl: string;
  readonly agentToken: string;
  readonly cloudPublicKeyPem: string;
  readonly allowInsecureTunnel: boolean;
  /** From HTTPS_PROXY / NO_PROXY for the cloud URL; undefined when the tunnel goes direct. */
  readonly proxyUrl: string | undefined;
  readonly connectionsFile: string;
  readonly redisUrl: string;
  /** Where the queue's Redis is: single server (redisUrl), Sentinel or Cluster. */
  readonly redis: RedisSettings;
  readonly queueName: string;
  readonly concurrency: number;
  /** `worker`: each job's extraction runs in a worker thread with its own heap cap. */
  readonly jobIsolation: 'worker' | 'none';
  readonly jobMaxOldSpaceMb: number;
  readonly jobAttempts: number;
  readonly jobBackoffMs: number;
  readonly jobBackoffMaxMs: number;
  /** Re-runs of attempts ended by the other side (cloud restart, lost link, drain) that spend no attempt. */
  readonly jobMaxReruns: number;
  readonly jobMaxStalledCount: number;
  /** Parallel tunnel connections of this instance (1 to 4). */
  readonly tunnelConnections: number;
  readonly jobLockMs: number;
  readonly jobStalledIntervalMs: number;
  readonly jobRetentionHours: number;
  readonly batchMaxRecords: number;
  readonly batchMaxBytes: number;
  readonly maxFrameBytes: number;
  readonly clockSkewMs: number;
  readonly reconnectBaseMs: number;
  readonly reconnectMaxMs: number;
  readonly drainTimeoutMs: number;
  readonly secretCacheTtlMs: number;
  /** Settings of the Vault, AWS, Azure and GCP providers (docs/secrets.md); absent sections stay off. */
  readonly secretProviders: SecretProvidersOptions;
  readonly health: { readonly enabled: boolean; readonly host: string; readonly port: number };
  /** Pre-signed uploads: allowed origins (default the cloud URL's), tries and backoff, grant wait. */
  readonly uploads: {
    readonly allowedOrigins: readonly string[];
    readonly maxTries: number;
    readonly backoffMs: number;
    readonly grantTimeoutMs: number;
  };
  readonly logLevel: string;
  /** Lowest level of the runtime's own log lines sent to the cloud; `silent` sends none. */
  readonly logForwardLevel: string;
  /** Trust limits; docs/security.md explains each. */
  readonly trust: {
    /** This runtime's agent id; undefined = bound at the first welcome and kept in Redis. */
    readonly agentId: string | undefined;
    readonly maxQueuedJobs: number;
    /** Furthest ahead of its `issuedAt`/now a request's `expiresAt` may lie. */
    readonly requestMaxLifetimeMs: number;
    readonly ackTimeoutMs: number;
  };
}

/** Names of every variable the schema knows, for docs and the `.env.example` check. */
export const SETTING_NAMES: readonly string[] = [
  ...Object.keys(settingsSchema.shape),
  'SDR_CONFIG_FILE',
  ...SECRET_SETTING_NAMES,
];

function readSecretFile(variable: string, path: string | undefined, problems: string[]): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    problems.push(describeUnreadableFile(variable, path, error as NodeJS.ErrnoException));
    return undefined;
  }
}

function readConfigFile(path: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = YAML.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new Codes.SDR_ERR_CONFIG_INVALID(
      `SDR_CONFIG_FILE: cannot read ${path}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Codes.SDR_ERR_CONFIG_INVALID(
      `SDR_CONFIG_FILE: ${path} must hold a mapping of SDR_* names to values`,
    );
  }
  return Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, String(value)]));
}

/**
 * Compiles the configuration from the environment (and `SDR_CONFIG_FILE`, which the environment
 * overrides). Throws one `SDR_ERR_CONFIG_INVALID` listing every problem, one line each.
 */
export function compileConfig(processEnv: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const env = expandFileSettings(processEnv, SETTING_NAMES);
  const fromFile = env.SDR_CONFIG_FILE ? readConfigFile(env.SDR_CONFIG_FILE) : {};
  const raw: Record<string, string> = { ...fromFile };
  for (const [key, value] of Object.entries(env))
    if (key.startsWith('SDR_') && value !== '' && value !== undefined) raw[key] = value;

  const problems: string[] = [];
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? 'config');
      problems.push(
        raw[name] === undefined ? `${name}: required — ${issue.message}` : `${name}: ${issue.message}`,
      );
    }
  }
  const agentToken =
    raw.SDR_AGENT_TOKEN ?? readSecretFile('SDR_AGENT_TOKEN_FILE', raw.SDR_AGENT_TOKEN_FILE, problems);
  if (raw.SDR_AGENT_TOKEN === undefined && raw.SDR_AGENT_TOKEN_FILE === undefined) {
    problems.push(
      'SDR_AGENT_TOKEN: required — the agent token the cloud issued (or SDR_AGENT_TOKEN_FILE with its path)',
    );
  }
  const publicKey =
    raw.SDR_CLOUD_PUBLIC_KEY ??
    readSecretFile('SDR_CLOUD_PUBLIC_KEY_FILE', raw.SDR_CLOUD_PUBLIC_KEY_FILE, problems);
  if (raw.SDR_CLOUD_PUBLIC_KEY === undefined && raw.SDR_CLOUD_PUBLIC_KEY_FILE === undefined) {
    problems.push(
      "SDR_CLOUD_PUBLIC_KEY: required — the cloud's Ed25519 public key, PEM or base64 (or SDR_CLOUD_PUBLIC_KEY_FILE with its path)",
    );
  }
  const insecureAllowed = ['true', '1', 'yes'].includes(raw.SDR_ALLOW_INSECURE_TUNNEL ?? '');
  if (raw.SDR_CLOUD_URL?.startsWith('ws://') && !insecureAllowed) {
    problems.push(
      'SDR_CLOUD_URL: plain ws:// is refused; use wss:// (or set SDR_ALLOW_INSECURE_TUNNEL=true for local development)',
    );
  }
  let secretProviders: SecretProvidersOptions = {};
  try {
    secretProviders = secretSettingsFrom(raw).providers;
  } catch (error) {
    problems.push(...(error as Error).message.split('\n'));
  }
  if (!parsed.success) throw new Codes.SDR_ERR_CONFIG_INVALID(problems.join('\n'));
  const s = parsed.data;

  if (s.SDR_BATCH_MAX_BYTES > s.SDR_MAX_FRAME_BYTES / 2) {
    problems.push(
      `SDR_BATCH_MAX_BYTES: must be at most half of SDR_MAX_FRAME_BYTES (${s.SDR_MAX_FRAME_BYTES / 2}) to leave room for framing`,
    );
  }
  if (s.SDR_RECONNECT_BASE_MS > s.SDR_RECONNECT_MAX_MS) {
    problems.push('SDR_RECONNECT_BASE_MS: must not exceed SDR_RECONNECT_MAX_MS');
  }
  if (s.SDR_JOB_BACKOFF_MS > s.SDR_JOB_BACKOFF_MAX_MS) {
    problems.push('SDR_JOB_BACKOFF_MS: must not exceed SDR_JOB_BACKOFF_MAX_MS');
  }
  const hostList = (name: string, text: string | undefined, defaultPort: number) => {
    try {
      return parseHostList(text, defaultPort);
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}; expected host:port,host:port`);
      return [];
    }
  };
  const sentinels = hostList('SDR_REDIS_SENTINELS', s.SDR_REDIS_SENTINELS, 26_379);
  const clusterNodes = hostList('SDR_REDIS_CLUSTER_NODES', s.SDR_REDIS_CLUSTER_NODES, 6_379);
  if (sentinels.length > 0 && clusterNodes.length > 0) {
    problems.push('SDR_REDIS_SENTINELS: cannot be combined with SDR_REDIS_CLUSTER_NODES; choose one');
  }
  if (problems.length > 0 || !agentToken || !publicKey)
    throw new Codes.SDR_ERR_CONFIG_INVALID(problems.join('\n'));

  const uploadOrigins = (s.SDR_UPLOAD_ORIGINS ?? new URL(s.SDR_CLOUD_URL.replace(/^ws/, 'http')).origin)
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const origin of uploadOrigins) {
    if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
      problems.push(`SDR_UPLOAD_ORIGINS: "${origin}" is not an origin such as https://uploads.example.com`);
    }
  }
  if (problems.length > 0) throw new Codes.SDR_ERR_CONFIG_INVALID(problems.join('\n'));
  const proxy = getProxyForUrl(s.SDR_CLOUD_URL.replace(/^ws/, 'http'));
  return Object.freeze({
    cloudUrl: s.SDR_CLOUD_URL,
    agentToken,
    cloudPublicKeyPem: publicKey,
    allowInsecureTunnel: s.SDR_ALLOW_INSECURE_TUNNEL,
    proxyUrl: proxy === '' ? undefined : proxy,
    connectionsFile: s.SDR_CONNECTIONS_FILE,
    redisUrl: s.SDR_REDIS_URL,
    redis: Object.freeze({
      url: s.SDR_REDIS_URL,
      sentinels,
      sentinelMaster: s.SDR_REDIS_SENTINEL_MASTER,
      sentinelPassword: s.SDR_REDIS_SENTINEL_PASSWORD,
      clusterNodes,
    }),
    queueName: s.SDR_QUEUE_NAME,
    concurrency: s.SDR_CONCURRENCY,
    jobIsolation: s.SDR_JOB_ISOLATION,
    jobMaxOldSpaceMb: s.SDR_JOB_MAX_OLD_SPACE_MB,
    jobAttempts: s.SDR_JOB_ATTEMPTS,
    jobBackoffMs: s.SDR_JOB_BACKOFF_MS,
    jobBackoffMaxMs: s.SDR_JOB_BACKOFF_MAX_MS,
    jobMaxReruns: s.SDR_JOB_MAX_RERUNS,
    jobMaxStalledCount: s.SDR_JOB_MAX_STALLED_COUNT,
    tunnelConnections: s.SDR_TUNNEL_CONNECTIONS,
    jobLockMs: s.SDR_JOB_LOCK_MS,
    jobStalledIntervalMs: s.SDR_JOB_STALLED_INTERVAL_MS,
    jobRetentionHours: s.SDR_JOB_RETENTION_HOURS,
    batchMaxRecords: s.SDR_BATCH_MAX_RECORDS,
    batchMaxBytes: s.SDR_BATCH_MAX_BYTES,
    maxFrameBytes: s.SDR_MAX_FRAME_BYTES,
    clockSkewMs: s.SDR_CLOCK_SKEW_MS,
    reconnectBaseMs: s.SDR_RECONNECT_BASE_MS,
    reconnectMaxMs: s.SDR_RECONNECT_MAX_MS,
    drainTimeoutMs: s.SDR_DRAIN_TIMEOUT_MS,
    secretCacheTtlMs: s.SDR_SECRET_CACHE_TTL_MS,
    secretProviders,
    health: Object.freeze({
      enabled: s.SDR_HEALTH_ENABLED,
      host: s.SDR_HEALTH_HOST,
      port: s.SDR_HEALTH_PORT,
    }),
    uploads: Object.freeze({
      allowedOrigins: uploadOrigins,
      maxTries: s.SDR_UPLOAD_MAX_TRIES,
      backoffMs: s.SDR_UPLOAD_BACKOFF_MS,
      grantTimeoutMs: s.SDR_UPLOAD_GRANT_TIMEOUT_MS,
    }),
    logLevel: s.SDR_LOG_LEVEL,
    logForwardLevel: s.SDR_LOG_FORWARD_LEVEL,
    trust: Object.freeze({
      agentId: s.SDR_AGENT_ID,
      maxQueuedJobs: s.SDR_MAX_QUEUED_JOBS,
      requestMaxLifetimeMs: s.SDR_REQUEST_MAX_LIFETIME_MS,
      ackTimeoutMs: s.SDR_ACK_TIMEOUT_MS,
    }),
  });
}

/** True for errors the user fixes by changing configuration; main prints these without a stack. */
export function isConfigError(error: unknown): error is SdrError {
  return (
    error instanceof Error &&
    'code' in error &&
    (error.code === 'SDR_ERR_CONFIG_INVALID' ||
      error.code === 'SDR_ERR_CONNECTIONS_INVALID' ||
      error.code === 'SDR_ERR_REDIS_EVICTION')
  );
}
