import { existsSync, readFileSync, statSync } from 'node:fs';
import { getProxyForUrl } from 'proxy-from-env';
import YAML from 'yaml';
import { z } from 'zod';
import {
  Codes,
  DEFAULT_MAX_FRAME_BYTES,
  MAX_CONNECTIONS_PER_INSTANCE,
  type SdrError,
} from '../protocol/index.js';
import type { AzureCredentialOptions, SecretProvidersOptions, VaultAuth } from '../secrets/index.js';
import { describeUnreadableFile, expandFileSettings } from './env-files.js';
import { parseHostList, type RedisSettings } from './redis-connection.js';

const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'expected a whole number' })
    .int({ error: 'expected a whole number' })
    .min(min, { error: `expected at least ${min}` })
    .max(max, { error: `expected at most ${max}` });

/**
 * A secret store's deadline for one request, proxy CONNECT included: never unbounded (0 used to mean
 * "wait for ever", which a silent proxy turned into a hung job).
 */
const secretStoreTimeout = integer(100, 600_000).optional();

/** One boolean grammar for every switch, so `yes` means the same to SDR_HEALTH_ENABLED and SDR_AWS_SM_ENABLED. */
const flag = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { error: 'expected true or false' }))
  .transform((value) => value === 'true' || value === '1' || value === 'yes' || value === 'on');

const text = z.string().trim().min(1);
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * Every setting, by the environment variable that sets it. `.env.example` and the README list the same
 * names; a unit test keeps the three in step.
 */
export const settingsSchema = z.object({
  SDR_CLOUD_URL: z
    .url({ error: 'expected the cloud tunnel URL, e.g. wss://cloud.example.com/v1/tunnel' })
    .refine((url) => /^wss?:\/\//.test(url), { error: 'expected a ws:// or wss:// URL' }),
  SDR_AGENT_TOKEN: text.optional(),
  SDR_AGENT_TOKEN_FILE: text.optional(),
  SDR_CLOUD_PUBLIC_KEY: text.optional(),
  SDR_CLOUD_PUBLIC_KEY_FILE: text.optional(),
  SDR_ALLOW_INSECURE_TUNNEL: flag.default(false),
  SDR_CONNECTIONS_FILE: text.default('/etc/sdr/connections.yaml'),
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
  SDR_JOB_WORKER_MAX_JOBS: integer(1, 100_000).default(50),
  SDR_JOB_WORKER_IDLE_MS: integer(0, 3_600_000).default(10_000),
  SDR_JOB_STALL_TIMEOUT_MS: integer(1_000).default(600_000),
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
  SDR_HEALTH_HOST: text.default('127.0.0.1'),
  SDR_HEALTH_PORT: integer(0, 65_535).default(9464),
  // Pre-signed URL delivery (docs/delivery.md)
  SDR_UPLOAD_ORIGINS: z.string().min(1).optional(),
  SDR_UPLOAD_MAX_TRIES: integer(1, 20).default(5),
  SDR_UPLOAD_BACKOFF_MS: integer(1, 60_000).default(500),
  SDR_UPLOAD_GRANT_TIMEOUT_MS: integer(100, 600_000).default(30_000),
  // Trust limits (docs/security.md): what the cloud may ask of this runtime.
  SDR_AGENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/, { error: 'expected letters, digits, _ . : -' })
    .optional(),
  SDR_MAX_QUEUED_JOBS: integer(1, 1_000_000).default(1_000),
  SDR_REQUEST_MAX_LIFETIME_MS: integer(1_000).default(86_400_000),
  SDR_ACK_TIMEOUT_MS: integer(1_000).default(120_000),
  SDR_LOG_LEVEL: logLevel.default('info'),
  SDR_LOG_FORWARD_LEVEL: logLevel.default('info'),

  // Secret stores (docs/secrets.md); a store whose settings are all absent stays off.
  SDR_VAULT_ADDR: z.url({ error: 'expected the Vault address, e.g. https://vault.internal:8200' }).optional(),
  SDR_VAULT_NAMESPACE: text.optional(),
  SDR_VAULT_CA_FILE: text.optional(),
  SDR_VAULT_TIMEOUT_MS: secretStoreTimeout,
  SDR_VAULT_AUTH_METHOD: z
    .enum(['token', 'approle', 'kubernetes', 'aws'], {
      error: 'expected token, approle, kubernetes or aws',
    })
    .default('token'),
  SDR_VAULT_AUTH_MOUNT: text.optional(),
  SDR_VAULT_TOKEN_FILE: text.optional(),
  SDR_VAULT_TOKEN: text.optional(),
  SDR_VAULT_ROLE_ID_FILE: text.optional(),
  SDR_VAULT_SECRET_ID_FILE: text.optional(),
  SDR_VAULT_ROLE: text.optional(),
  SDR_VAULT_K8S_JWT_FILE: text.optional(),
  SDR_VAULT_AWS_REGION: text.optional(),
  SDR_VAULT_AWS_STS_ENDPOINT: text.optional(),
  SDR_VAULT_AWS_SERVER_ID: text.optional(),
  SDR_AWS_SM_ENABLED: flag.default(false),
  SDR_AWS_SM_REGION: text.optional(),
  SDR_AWS_SM_ENDPOINT: text.optional(),
  SDR_AWS_SM_ACCESS_KEY_ID_REF: text.optional(),
  SDR_AWS_SM_SECRET_ACCESS_KEY_REF: text.optional(),
  SDR_AWS_SM_SESSION_TOKEN_REF: text.optional(),
  SDR_AWS_SM_TIMEOUT_MS: secretStoreTimeout,
  SDR_AZURE_KV_CREDENTIAL: z
    .enum(['default', 'client-secret', 'managed-identity', 'workload-identity'], {
      error: 'expected default, client-secret, managed-identity or workload-identity',
    })
    .optional(),
  SDR_AZURE_KV_TENANT_ID: text.optional(),
  SDR_AZURE_KV_CLIENT_ID: text.optional(),
  SDR_AZURE_KV_CLIENT_SECRET_REF: text.optional(),
  SDR_AZURE_KV_TOKEN_FILE: text.optional(),
  SDR_AZURE_KV_URL_TEMPLATE: text.optional(),
  SDR_AZURE_KV_AUTHORITY_HOST: text.optional(),
  SDR_AZURE_KV_DISABLE_INSTANCE_DISCOVERY: flag.default(false),
  SDR_AZURE_KV_CA_FILE: text.optional(),
  SDR_AZURE_KV_TIMEOUT_MS: secretStoreTimeout,
  SDR_GCP_SM_ENABLED: flag.default(false),
  SDR_GCP_SM_KEY_FILE: text.optional(),
  SDR_GCP_SM_PROJECT: text.optional(),
  SDR_GCP_SM_ENDPOINT: text.optional(),
  SDR_GCP_SM_TRANSPORT: z.enum(['rest', 'grpc'], { error: 'expected rest or grpc' }).default('rest'),
  SDR_GCP_SM_TIMEOUT_MS: secretStoreTimeout,
});

type Settings = z.infer<typeof settingsSchema>;

/** The validated, complete, frozen configuration the daemon runs with. */
export interface RuntimeConfig {
  /** Empty when compiled with `scope: 'local'` (`sdr extract`), which needs no cloud. */
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
  readonly jobWorkerMaxJobs: number;
  readonly jobWorkerIdleMs: number;
  /** Longest wait for an adapter's next record before the attempt is stopped as stalled. */
  readonly jobStallTimeoutMs: number;
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
export const SETTING_NAMES: readonly string[] = [...Object.keys(settingsSchema.shape), 'SDR_CONFIG_FILE'];

/**
 * `SDR_*` variables that are not settings and are never reported as unknown: the test suite's and the
 * benchmarks' own (`SDR_TEST_*`, `SDR_PEER_*`, `SDR_BENCH_*`). Documented in the README.
 */
// SDR_COMPOSE_* are compose.yaml's own variables (image names); a .env that sets them reaches the runtime too.
export const IGNORED_PREFIXES: readonly string[] = ['SDR_TEST_', 'SDR_PEER_', 'SDR_BENCH_', 'SDR_COMPOSE_'];

/** How much of the cloud configuration a command needs. */
export interface CompileOptions {
  /** `daemon` (default) needs the cloud settings; `local` (`sdr extract`) does not. */
  scope?: 'daemon' | 'local';
}

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

/** Edit distance, for "did you mean": small inputs only (setting names). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** The known setting closest to `name`, or undefined when none is plausibly meant. */
export function closestSetting(name: string): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const known of SETTING_NAMES) {
    const distance = editDistance(name, known);
    if (!best || distance < best.distance) best = { name: known, distance };
  }
  // Beyond a third of the name, a suggestion is a guess that misleads more than it helps.
  return best && best.distance <= Math.max(3, Math.ceil(name.length / 3)) ? best.name : undefined;
}

/**
 * Names that `env://` references use as secret holders: a customer may well name them `SDR_PG_PASSWORD`,
 * and they are not settings. Read from the connections file and the `*_REF` settings.
 */
function referencedVariables(raw: Record<string, string>): Set<string> {
  const names = new Set<string>();
  const scan = (text: string) => {
    for (const match of text.matchAll(/env:\/\/([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(match[1] as string);
  };
  for (const [key, value] of Object.entries(raw)) if (key.endsWith('_REF')) scan(value);
  try {
    scan(readFileSync(raw.SDR_CONNECTIONS_FILE ?? '/etc/sdr/connections.yaml', 'utf8'));
  } catch {
    // An unreadable connections file is reported where it is loaded.
  }
  return names;
}

function unknownProblem(name: string, where: string): string {
  const suggestion = closestSetting(name);
  return `${name}: unknown ${where}${suggestion ? ` — did you mean ${suggestion}?` : ''} (the settings are listed in .env.example)`;
}

/** True when a setting is known, or is the `_FILE` form of a known one (expanded before compilation). */
function isKnown(name: string): boolean {
  return (
    SETTING_NAMES.includes(name) || (name.endsWith('_FILE') && SETTING_NAMES.includes(name.slice(0, -5)))
  );
}

/** A value that reads like a file path where the key or token itself belongs. */
function looksLikePath(value: string): boolean {
  if (value.includes('\n') || value.startsWith('-----')) return false;
  if (/^(\/|\.\.?\/|~\/)/.test(value)) return true;
  return /\.(pem|pub|key|crt|txt|token)$/i.test(value) && existsSync(value) && statSync(value).isFile();
}

/**
 * Compiles the configuration from the environment (and `SDR_CONFIG_FILE`, which the environment
 * overrides). Throws one `SDR_ERR_CONFIG_INVALID` listing every problem, one line each, including every
 * unknown `SDR_*` name with the closest known one.
 */
export function compileConfig(
  processEnv: NodeJS.ProcessEnv = process.env,
  options: CompileOptions = {},
): RuntimeConfig {
  const local = options.scope === 'local';
  const env = expandFileSettings(processEnv, SETTING_NAMES);
  const fromFile = env.SDR_CONFIG_FILE ? readConfigFile(env.SDR_CONFIG_FILE) : {};
  const raw: Record<string, string> = { ...fromFile };
  for (const [key, value] of Object.entries(env))
    if (key.startsWith('SDR_') && value !== '' && value !== undefined) raw[key] = value;

  const problems: string[] = [];
  for (const key of Object.keys(fromFile)) {
    if (!isKnown(key)) problems.push(unknownProblem(key, `key in SDR_CONFIG_FILE ${env.SDR_CONFIG_FILE}`));
  }
  const unknownEnv = Object.keys(env).filter(
    (key) =>
      key.startsWith('SDR_') &&
      !isKnown(key) &&
      !IGNORED_PREFIXES.some((prefix) => key.startsWith(prefix)) &&
      !(key in fromFile),
  );
  if (unknownEnv.length > 0) {
    const referenced = referencedVariables(raw);
    for (const key of unknownEnv) if (!referenced.has(key)) problems.push(unknownProblem(key, 'variable'));
  }

  const candidate = local ? { SDR_CLOUD_URL: 'wss://local.invalid/', ...raw } : raw;
  const parsed = settingsSchema.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? 'config');
      problems.push(
        raw[name] === undefined ? `${name}: required — ${issue.message}` : `${name}: ${issue.message}`,
      );
    }
  }

  let agentToken = '';
  let publicKey = '';
  if (!local) {
    agentToken =
      raw.SDR_AGENT_TOKEN ?? readSecretFile('SDR_AGENT_TOKEN_FILE', raw.SDR_AGENT_TOKEN_FILE, problems) ?? '';
    if (raw.SDR_AGENT_TOKEN === undefined && raw.SDR_AGENT_TOKEN_FILE === undefined) {
      problems.push(
        'SDR_AGENT_TOKEN: required — the agent token the cloud issued (or SDR_AGENT_TOKEN_FILE with its path)',
      );
    }
    publicKey =
      raw.SDR_CLOUD_PUBLIC_KEY ??
      readSecretFile('SDR_CLOUD_PUBLIC_KEY_FILE', raw.SDR_CLOUD_PUBLIC_KEY_FILE, problems) ??
      '';
    if (raw.SDR_CLOUD_PUBLIC_KEY === undefined && raw.SDR_CLOUD_PUBLIC_KEY_FILE === undefined) {
      problems.push(
        "SDR_CLOUD_PUBLIC_KEY: required — the cloud's Ed25519 public key, PEM or base64 (or SDR_CLOUD_PUBLIC_KEY_FILE with its path)",
      );
    }
    for (const name of ['SDR_AGENT_TOKEN', 'SDR_CLOUD_PUBLIC_KEY', 'SDR_VAULT_TOKEN']) {
      const value = raw[name]?.trim();
      if (value !== undefined && looksLikePath(value)) {
        problems.push(
          `${name}: holds a file path (${value}), not the value itself; set ${name}_FILE=${value} instead`,
        );
      }
    }
    const insecureAllowed = parsed.success && parsed.data.SDR_ALLOW_INSECURE_TUNNEL;
    if (raw.SDR_CLOUD_URL?.startsWith('ws://') && !insecureAllowed) {
      problems.push(
        'SDR_CLOUD_URL: plain ws:// is refused; use wss:// (or set SDR_ALLOW_INSECURE_TUNNEL=true for local development)',
      );
    }
  }
  if (!parsed.success) {
    // Still report the cross-field problems of everything that did parse, so one run lists them all.
    const rest = { ...candidate };
    for (const issue of parsed.error.issues) delete rest[String(issue.path[0])];
    const partial = settingsSchema.safeParse(rest);
    if (partial.success) secretProvidersFrom(partial.data, problems);
    throw new Codes.SDR_ERR_CONFIG_INVALID(problems.join('\n'));
  }
  const s = parsed.data;
  const secretProviders = secretProvidersFrom(s, problems);

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
  if (problems.length > 0 || (!local && (!agentToken || !publicKey)))
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
  const proxy = local ? '' : getProxyForUrl(s.SDR_CLOUD_URL.replace(/^ws/, 'http'));
  return Object.freeze({
    cloudUrl: local ? (raw.SDR_CLOUD_URL ?? '') : s.SDR_CLOUD_URL,
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
    jobWorkerMaxJobs: s.SDR_JOB_WORKER_MAX_JOBS,
    jobWorkerIdleMs: s.SDR_JOB_WORKER_IDLE_MS,
    jobStallTimeoutMs: s.SDR_JOB_STALL_TIMEOUT_MS,
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

const optional = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

/** Builds the secret stores' options from validated settings; cross-field problems go to `problems`. */
function secretProvidersFrom(s: Settings, problems: string[]): SecretProvidersOptions {
  const providers: SecretProvidersOptions = {};
  const need = (name: keyof Settings, why: string): string => {
    const value = s[name];
    if (value === undefined) problems.push(`${name}: required ${why}`);
    return typeof value === 'string' ? value : '';
  };

  if (s.SDR_VAULT_ADDR) {
    const method = s.SDR_VAULT_AUTH_METHOD;
    const mount = optional('mount', s.SDR_VAULT_AUTH_MOUNT);
    let auth: VaultAuth;
    if (method === 'token') {
      if (!s.SDR_VAULT_TOKEN && !s.SDR_VAULT_TOKEN_FILE)
        problems.push('SDR_VAULT_TOKEN_FILE: required for token auth (or SDR_VAULT_TOKEN)');
      auth = {
        method,
        ...optional('token', s.SDR_VAULT_TOKEN),
        ...optional('tokenFile', s.SDR_VAULT_TOKEN_FILE),
      };
    } else if (method === 'approle') {
      auth = {
        method,
        roleIdFile: need('SDR_VAULT_ROLE_ID_FILE', 'for AppRole auth'),
        secretIdFile: need('SDR_VAULT_SECRET_ID_FILE', 'for AppRole auth'),
        ...mount,
      };
    } else if (method === 'kubernetes') {
      auth = {
        method,
        role: need('SDR_VAULT_ROLE', 'for Kubernetes auth'),
        ...optional('jwtFile', s.SDR_VAULT_K8S_JWT_FILE),
        ...mount,
      };
    } else {
      auth = {
        method,
        role: need('SDR_VAULT_ROLE', 'for AWS IAM auth'),
        ...mount,
        ...optional('region', s.SDR_VAULT_AWS_REGION),
        ...optional('stsEndpoint', s.SDR_VAULT_AWS_STS_ENDPOINT),
        ...optional('serverIdHeader', s.SDR_VAULT_AWS_SERVER_ID),
      };
    }
    providers.vault = {
      address: s.SDR_VAULT_ADDR,
      auth,
      ...optional('namespace', s.SDR_VAULT_NAMESPACE),
      ...optional('caFile', s.SDR_VAULT_CA_FILE),
      ...optional('timeoutMs', s.SDR_VAULT_TIMEOUT_MS),
    };
  }

  if (s.SDR_AWS_SM_ENABLED || s.SDR_AWS_SM_REGION || s.SDR_AWS_SM_ENDPOINT) {
    const keyId = s.SDR_AWS_SM_ACCESS_KEY_ID_REF;
    const secretKey = s.SDR_AWS_SM_SECRET_ACCESS_KEY_REF;
    if ((keyId === undefined) !== (secretKey === undefined)) {
      problems.push(
        'SDR_AWS_SM_ACCESS_KEY_ID_REF: goes together with SDR_AWS_SM_SECRET_ACCESS_KEY_REF; set both or neither',
      );
    }
    providers.aws = {
      ...optional('region', s.SDR_AWS_SM_REGION),
      ...optional('endpoint', s.SDR_AWS_SM_ENDPOINT),
      ...optional('timeoutMs', s.SDR_AWS_SM_TIMEOUT_MS),
      ...(keyId && secretKey
        ? {
            staticCredentials: {
              accessKeyId: keyId,
              secretAccessKey: secretKey,
              ...optional('sessionToken', s.SDR_AWS_SM_SESSION_TOKEN_REF),
            },
          }
        : {}),
    };
  }

  const azureMethod = s.SDR_AZURE_KV_CREDENTIAL;
  if (azureMethod) {
    const clientId = optional('clientId', s.SDR_AZURE_KV_CLIENT_ID);
    let credential: AzureCredentialOptions;
    if (azureMethod === 'default' || azureMethod === 'managed-identity') {
      credential = { method: azureMethod, ...clientId };
    } else if (azureMethod === 'workload-identity') {
      credential = {
        method: azureMethod,
        ...clientId,
        ...optional('tenantId', s.SDR_AZURE_KV_TENANT_ID),
        ...optional('tokenFile', s.SDR_AZURE_KV_TOKEN_FILE),
      };
    } else {
      credential = {
        method: azureMethod,
        tenantId: need('SDR_AZURE_KV_TENANT_ID', 'for client-secret credentials'),
        clientId: need('SDR_AZURE_KV_CLIENT_ID', 'for client-secret credentials'),
        clientSecret: need('SDR_AZURE_KV_CLIENT_SECRET_REF', 'for client-secret credentials'),
      };
    }
    providers.azure = {
      credential,
      ...optional('vaultUrlTemplate', s.SDR_AZURE_KV_URL_TEMPLATE),
      ...optional('authorityHost', s.SDR_AZURE_KV_AUTHORITY_HOST),
      ...(s.SDR_AZURE_KV_DISABLE_INSTANCE_DISCOVERY ? { disableInstanceDiscovery: true } : {}),
      ...optional('caFile', s.SDR_AZURE_KV_CA_FILE),
      ...optional('timeoutMs', s.SDR_AZURE_KV_TIMEOUT_MS),
    };
  }

  if (s.SDR_GCP_SM_ENABLED || s.SDR_GCP_SM_KEY_FILE || s.SDR_GCP_SM_PROJECT) {
    providers.gcp = {
      transport: s.SDR_GCP_SM_TRANSPORT,
      ...optional('keyFile', s.SDR_GCP_SM_KEY_FILE),
      ...optional('projectId', s.SDR_GCP_SM_PROJECT),
      ...optional('endpoint', s.SDR_GCP_SM_ENDPOINT),
      ...optional('timeoutMs', s.SDR_GCP_SM_TIMEOUT_MS),
    };
  }
  return providers;
}

/** Codes a user fixes by changing configuration; the CLI prints them without a stack and exits 78. */
export const CONFIG_ERROR_CODES: readonly string[] = [
  'SDR_ERR_CONFIG_INVALID',
  'SDR_ERR_CONNECTIONS_INVALID',
  'SDR_ERR_HEALTH_PORT_IN_USE',
  'SDR_ERR_REDIS_EVICTION',
];

/** True for errors the user fixes by changing configuration; main prints these without a stack. */
export function isConfigError(error: unknown): error is SdrError {
  return (
    error instanceof Error &&
    'code' in error &&
    typeof error.code === 'string' &&
    CONFIG_ERROR_CODES.includes(error.code)
  );
}
