/**
 * The one catalogue of stable error codes. A code is never reused once retired; `docs/errors.md`
 * documents each, and a unit test checks that the two agree.
 */

/** Options every catalogued error accepts. */
export interface SdrErrorOptions {
  cause?: unknown;
}

/** Base class of every error the product raises on purpose; checked by `code`, never by message. */
export class SdrError extends Error {
  /** Stable identifier such as `SDR_ERR_CONFIG_INVALID`. */
  readonly code: string;
  /** False when running the same work again cannot succeed (bad config, missing object, no permission). */
  readonly retryable: boolean;

  constructor(code: string, message: string, retryable: boolean, options?: SdrErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = code;
    this.code = code;
    this.retryable = retryable;
  }
}

type Formatter<A extends unknown[]> = (...args: A) => string;

/** A constructor for one catalogued code; `new Codes.X(...args, { cause })`. */
export interface SdrErrorClass<A extends unknown[]> {
  new (...args: [...A, SdrErrorOptions?]): SdrError;
  readonly code: string;
  readonly retryable: boolean;
  /** How many message arguments come before the options. */
  readonly arity: number;
}

function define<A extends unknown[]>(
  code: string,
  retryable: boolean,
  format: Formatter<A>,
): SdrErrorClass<A> {
  const arity = format.length;
  const Defined = class extends SdrError {
    static readonly code = code;
    static readonly retryable = retryable;
    static readonly arity = arity;
    constructor(...args: [...A, SdrErrorOptions?]) {
      const options = args.length > arity ? (args[arity] as SdrErrorOptions | undefined) : undefined;
      super(code, format(...(args.slice(0, arity) as A)), retryable, options);
    }
  };
  Object.defineProperty(Defined, 'name', { value: code });
  return Defined;
}

/** Every error code the product can raise, by code. */
export const Codes = {
  // Configuration and start-up
  SDR_ERR_CONFIG_INVALID: define('SDR_ERR_CONFIG_INVALID', false, (lines: string) => lines),
  SDR_ERR_CONNECTIONS_INVALID: define(
    'SDR_ERR_CONNECTIONS_INVALID',
    false,
    (file: string, problem: string) => `connections file ${file}: ${problem}`,
  ),

  // Tunnel and protocol
  SDR_ERR_FRAME_MALFORMED: define(
    'SDR_ERR_FRAME_MALFORMED',
    false,
    (problem: string) => `malformed frame: ${problem}`,
  ),
  SDR_ERR_FRAME_UNKNOWN: define(
    'SDR_ERR_FRAME_UNKNOWN',
    false,
    (type: string) => `unknown frame type "${type}"; both sides must speak the same protocol version`,
  ),
  SDR_ERR_FRAME_UNEXPECTED: define(
    'SDR_ERR_FRAME_UNEXPECTED',
    false,
    (type: string, why: string) => `unexpected ${type} frame: ${why}; it is ignored`,
  ),
  SDR_ERR_FRAME_TOO_LARGE: define(
    'SDR_ERR_FRAME_TOO_LARGE',
    false,
    (bytes: number, limit: number) =>
      `frame of ${bytes} bytes exceeds the ${limit}-byte limit; raise SDR_MAX_FRAME_BYTES on both sides or lower SDR_BATCH_MAX_BYTES`,
  ),
  SDR_ERR_PROTOCOL_VERSION: define(
    'SDR_ERR_PROTOCOL_VERSION',
    false,
    (ours: number, theirs: number) =>
      `protocol version mismatch: runtime speaks ${ours}, cloud speaks ${theirs}; upgrade the runtime image`,
  ),
  SDR_ERR_TUNNEL_AUTH: define(
    'SDR_ERR_TUNNEL_AUTH',
    false,
    (url: string, status: number) =>
      `cloud at ${url} refused the agent token (HTTP ${status}); check SDR_AGENT_TOKEN`,
  ),
  SDR_ERR_TUNNEL_TLS: define(
    'SDR_ERR_TUNNEL_TLS',
    true,
    (url: string, detail: string) =>
      `TLS to the cloud at ${url} failed (${detail}); if a TLS-inspecting proxy or a private CA signs the cloud's certificate, point NODE_EXTRA_CA_CERTS at that CA's PEM bundle`,
  ),
  SDR_ERR_TUNNEL_NOT_TLS: define(
    'SDR_ERR_TUNNEL_NOT_TLS',
    false,
    (url: string) =>
      `${url} is wss:// but the server answered plain HTTP, not TLS; check the port in SDR_CLOUD_URL (or, for a local cloud without TLS, use ws:// with SDR_ALLOW_INSECURE_TUNNEL=true)`,
  ),
  SDR_ERR_TUNNEL_ENDPOINT: define(
    'SDR_ERR_TUNNEL_ENDPOINT',
    true,
    (url: string, detail: string) => `no tunnel endpoint at ${url} (${detail}); check SDR_CLOUD_URL`,
  ),
  SDR_ERR_TUNNEL_DOWN: define(
    'SDR_ERR_TUNNEL_DOWN',
    true,
    (reason: string) => `tunnel to the cloud is down: ${reason}`,
  ),

  SDR_ERR_HEALTH_PORT_IN_USE: define(
    'SDR_ERR_HEALTH_PORT_IN_USE',
    false,
    (address: string) =>
      `the health server cannot listen on ${address}: the port is in use; set SDR_HEALTH_PORT to a free port (or SDR_HEALTH_ENABLED=false)`,
  ),

  // Job requests
  SDR_ERR_REQUEST_SIGNATURE: define(
    'SDR_ERR_REQUEST_SIGNATURE',
    false,
    (requestId: string) =>
      `job request ${requestId} has no valid signature from the configured cloud key (SDR_CLOUD_PUBLIC_KEY)`,
  ),
  SDR_ERR_REQUEST_EXPIRED: define(
    'SDR_ERR_REQUEST_EXPIRED',
    false,
    (requestId: string, expiresAt: string) =>
      `job request ${requestId} expired at ${expiresAt}; check that this host's clock is in sync`,
  ),
  SDR_ERR_REQUEST_WRONG_AGENT: define(
    'SDR_ERR_REQUEST_WRONG_AGENT',
    false,
    (requestId: string, agentId: string) =>
      `job request ${requestId} is addressed to agent ${agentId}, not to this one`,
  ),
  SDR_ERR_UNKNOWN_CONNECTION: define(
    'SDR_ERR_UNKNOWN_CONNECTION',
    false,
    (name: string) =>
      `no connection named "${name}" is defined in this runtime's connections file; add it there (the cloud cannot define connections)`,
  ),
  SDR_ERR_UNSUPPORTED_SOURCE: define(
    'SDR_ERR_UNSUPPORTED_SOURCE',
    false,
    (type: string, known: string) => `no adapter for source type "${type}"; this runtime has: ${known}`,
  ),
  SDR_ERR_UNSUPPORTED_DELIVERY: define(
    'SDR_ERR_UNSUPPORTED_DELIVERY',
    false,
    (mode: string, detail: string) => `delivery mode "${mode}" is not allowed: ${detail}`,
  ),
  SDR_ERR_INVALID_OPTIONS: define(
    'SDR_ERR_INVALID_OPTIONS',
    false,
    (connection: string, problem: string) => `extraction options for "${connection}" are invalid: ${problem}`,
  ),
  SDR_ERR_QUEUE_UNAVAILABLE: define(
    'SDR_ERR_QUEUE_UNAVAILABLE',
    true,
    (url: string) => `Redis at ${url} is unreachable; check SDR_REDIS_URL and that Redis is running`,
  ),

  SDR_ERR_REQUEST_WINDOW: define(
    'SDR_ERR_REQUEST_WINDOW',
    false,
    (requestId: string, problem: string) =>
      `job request ${requestId} is outside the window this runtime accepts: ${problem}; check that the cloud's and this host's clocks are in sync`,
  ),
  SDR_ERR_QUEUE_FULL: define(
    'SDR_ERR_QUEUE_FULL',
    true,
    (queued: number, limit: number) =>
      `this runtime already holds ${queued} queued jobs, its limit (SDR_MAX_QUEUED_JOBS=${limit}); retry once jobs finish, or raise the limit`,
  ),

  // Job execution
  SDR_ERR_JOB_UNVERIFIED: define(
    'SDR_ERR_JOB_UNVERIFIED',
    false,
    (requestId: string, problem: string) =>
      `queued job ${requestId} was not run: ${problem}; a job must carry a request signed by the cloud key for this agent (was it written to Redis by something other than this runtime?)`,
  ),
  SDR_ERR_ACK_TIMEOUT: define(
    'SDR_ERR_ACK_TIMEOUT',
    true,
    (requestId: string, waitedMs: number) =>
      `the cloud acknowledged no batch of job ${requestId} for ${waitedMs} ms (SDR_ACK_TIMEOUT_MS), even after a re-send; the attempt is given up and retried`,
  ),
  SDR_ERR_AGENT_MISMATCH: define(
    'SDR_ERR_AGENT_MISMATCH',
    false,
    (offered: string, own: string, source: string) =>
      `the cloud's welcome names agent "${offered}" but this runtime is agent "${own}" (${source}); the link is closed. Check SDR_AGENT_TOKEN and SDR_AGENT_ID`,
  ),
  SDR_ERR_REDIS_EVICTION: define(
    'SDR_ERR_REDIS_EVICTION',
    false,
    (where: string, policy: string) =>
      `Redis at ${where} has maxmemory-policy ${policy}: it may evict queued jobs and lose them silently; BullMQ needs noeviction. Run CONFIG SET maxmemory-policy noeviction and keep it in redis.conf (managed Redis: set it in the parameter group)`,
  ),

  // Job execution
  SDR_ERR_JOB_STALLED_LIMIT: define(
    'SDR_ERR_JOB_STALLED_LIMIT',
    false,
    (requestId: string, reason: string) =>
      `job ${requestId} was failed by the queue's stalled-job limit (${reason}): the runtimes running it kept dying mid-job (out of memory, kill -9, node loss); check their memory limits and logs`,
  ),
  SDR_ERR_JOB_RERUN_LIMIT: define(
    'SDR_ERR_JOB_RERUN_LIMIT',
    false,
    (requestId: string, reruns: number, last: string) =>
      `job ${requestId} was re-run ${reruns} times because the other side ended its attempts (last: ${last}); check the link to the cloud, or raise SDR_JOB_MAX_RERUNS`,
  ),
  SDR_ERR_RESULT_LOST: define(
    'SDR_ERR_RESULT_LOST',
    false,
    (requestId: string) =>
      `the runtime reports job ${requestId} completed but the cloud holds no result for it; submit the job again`,
  ),
  SDR_ERR_JOB_NOT_FOUND: define(
    'SDR_ERR_JOB_NOT_FOUND',
    false,
    (requestId: string) => `job ${requestId} is neither queued nor running on this runtime`,
  ),
  SDR_ERR_JOB_CANCELLED: define(
    'SDR_ERR_JOB_CANCELLED',
    false,
    (requestId: string) => `job ${requestId} was cancelled`,
  ),
  SDR_ERR_RECORD_TOO_LARGE: define(
    'SDR_ERR_RECORD_TOO_LARGE',
    false,
    (key: string, bytes: number, limit: number) =>
      `record ${key} is ${bytes} bytes, over the ${limit}-byte batch limit; raise SDR_BATCH_MAX_BYTES`,
  ),
  SDR_ERR_ATTEMPT_REFUSED: define(
    'SDR_ERR_ATTEMPT_REFUSED',
    true,
    (requestId: string, attempt: number, reason: string) =>
      `cloud refused attempt ${attempt} of job ${requestId}: ${reason}`,
  ),
  SDR_ERR_JOB_OUT_OF_MEMORY: define(
    'SDR_ERR_JOB_OUT_OF_MEMORY',
    false,
    (connection: string, limitMb: number) =>
      `the extraction of "${connection}" ran out of its ${limitMb} MB heap and was stopped; the daemon and its other jobs carry on; raise SDR_JOB_MAX_OLD_SPACE_MB or narrow the job's options`,
  ),
  SDR_ERR_ADAPTER_CRASHED: define(
    'SDR_ERR_ADAPTER_CRASHED',
    true,
    (connection: string, detail: string) =>
      `source "${connection}": its extraction crashed outside the adapter's own error handling (${detail}); only this attempt was lost and the runtime kept running. A bug in the adapter or its client library: report it with the runtime log if it recurs`,
  ),
  // Result delivery (docs/delivery.md)
  SDR_ERR_DELIVERY_DENIED: define(
    'SDR_ERR_DELIVERY_DENIED',
    false,
    (target: string, permission: string, detail: string) =>
      `the storage credentials cannot write ${target}: grant ${permission} (storage said: ${detail}); see docs/delivery.md for the minimal permissions`,
  ),
  SDR_ERR_DELIVERY_FAILED: define(
    'SDR_ERR_DELIVERY_FAILED',
    true,
    (target: string, tries: number, detail: string) =>
      `uploading ${target} failed after ${tries} tries: ${detail}; check the storage endpoint and the network path (HTTPS_PROXY)`,
  ),
  SDR_ERR_UPLOAD_ORIGIN: define(
    'SDR_ERR_UPLOAD_ORIGIN',
    false,
    (origin: string, allowed: string) =>
      `the cloud granted an upload URL on ${origin}, which is not in SDR_UPLOAD_ORIGINS (${allowed}); nothing was uploaded there`,
  ),
  SDR_ERR_UPLOAD_GRANT_TIMEOUT: define(
    'SDR_ERR_UPLOAD_GRANT_TIMEOUT',
    true,
    (names: string, waitedMs: number) =>
      `the cloud granted no upload URL for ${names} within ${waitedMs} ms; the attempt is retried`,
  ),
  SDR_ERR_SOURCE_STALLED: define(
    'SDR_ERR_SOURCE_STALLED',
    true,
    (connection: string, waitedMs: number) =>
      `the extraction of "${connection}" produced nothing for ${waitedMs} ms: the source or its adapter hangs; the attempt was stopped and is retried (raise SDR_JOB_STALL_TIMEOUT_MS if one catalog call legitimately takes longer)`,
  ),
  SDR_ERR_SOURCE_FAILED: define(
    'SDR_ERR_SOURCE_FAILED',
    true,
    (connection: string, reason: string) => `source "${connection}" failed: ${reason}`,
  ),

  // Secrets
  SDR_ERR_SECRET_REF_INVALID: define(
    'SDR_ERR_SECRET_REF_INVALID',
    false,
    (ref: string, problem: string) => `secret reference "${ref}" is invalid: ${problem}`,
  ),
  SDR_ERR_SECRET_PROVIDER_UNKNOWN: define(
    'SDR_ERR_SECRET_PROVIDER_UNKNOWN',
    false,
    (ref: string, known: string) =>
      `secret reference "${ref}" names no known provider; known schemes: ${known}`,
  ),
  SDR_ERR_SECRET_PROVIDER_NOT_CONFIGURED: define(
    'SDR_ERR_SECRET_PROVIDER_NOT_CONFIGURED',
    false,
    (ref: string, setting: string) =>
      `secret reference "${ref}" needs a secret store this runtime has not configured; set ${setting} (docs/secrets.md)`,
  ),
  SDR_ERR_SECRET_NOT_FOUND: define(
    'SDR_ERR_SECRET_NOT_FOUND',
    false,
    (ref: string, reason: string) => `secret ${ref} not found: ${reason}`,
  ),
  SDR_ERR_SECRET_DENIED: define(
    'SDR_ERR_SECRET_DENIED',
    false,
    (ref: string, reason: string) => `secret ${ref}: permission denied: ${reason}`,
  ),
  SDR_ERR_SECRET_UNAVAILABLE: define(
    'SDR_ERR_SECRET_UNAVAILABLE',
    true,
    (ref: string, reason: string) => `secret ${ref} could not be read: ${reason}`,
  ),

  // PostgreSQL
  SDR_ERR_PG_AUTH: define(
    'SDR_ERR_PG_AUTH',
    false,
    (detail: string) => `${detail}; check the user and password the connection's secrets point to`,
  ),
  SDR_ERR_PG_UNREACHABLE: define(
    'SDR_ERR_PG_UNREACHABLE',
    true,
    (detail: string) => `${detail}; check host, port and firewall rules between the runtime and the database`,
  ),
  SDR_ERR_PG_TLS: define(
    'SDR_ERR_PG_TLS',
    false,
    (detail: string) => `TLS to PostgreSQL failed: ${detail}; check sslmode and the CA the connection names`,
  ),
  SDR_ERR_PG_PRIVILEGE: define(
    'SDR_ERR_PG_PRIVILEGE',
    false,
    (detail: string) =>
      `${detail}; grant the crawler's role CONNECT on the database and USAGE on its schemas`,
  ),
  SDR_ERR_PG_QUERY: define('SDR_ERR_PG_QUERY', true, (detail: string) => `catalog query failed: ${detail}`),

  // Reference cloud (HTTP API and tunnel endpoint)
  SDR_ERR_CLOUD_UNAUTHORIZED: define(
    'SDR_ERR_CLOUD_UNAUTHORIZED',
    false,
    (what: string) => `${what}; send "Authorization: Bearer <token>"`,
  ),
  SDR_ERR_CLOUD_BAD_REQUEST: define(
    'SDR_ERR_CLOUD_BAD_REQUEST',
    false,
    (problem: string) => `bad request: ${problem}`,
  ),
  SDR_ERR_CLOUD_NOT_FOUND: define(
    'SDR_ERR_CLOUD_NOT_FOUND',
    false,
    (what: string, id: string) => `no ${what} "${id}"`,
  ),
  SDR_ERR_CLOUD_NOT_COMMITTED: define(
    'SDR_ERR_CLOUD_NOT_COMMITTED',
    true,
    (jobId: string, state: string) =>
      `job ${jobId} has no committed result (state ${state}); partial attempts are never served`,
  ),
  SDR_ERR_CLOUD_JOB_FINISHED: define(
    'SDR_ERR_CLOUD_JOB_FINISHED',
    false,
    (jobId: string, state: string) => `job ${jobId} is already ${state} and cannot be cancelled`,
  ),
  SDR_ERR_CLOUD_HELLO_REQUIRED: define(
    'SDR_ERR_CLOUD_HELLO_REQUIRED',
    false,
    (type: string) => `the first frame on a tunnel must be "hello", got "${type}"`,
  ),
  SDR_ERR_CLOUD_INTERNAL: define(
    'SDR_ERR_CLOUD_INTERNAL',
    true,
    () => 'the cloud failed to handle the request; see its log',
  ),
  SDR_ERR_CLOUD_UNKNOWN_JOB: define(
    'SDR_ERR_CLOUD_UNKNOWN_JOB',
    false,
    (requestId: string) => `the cloud has no job ${requestId} for this agent; the frame was ignored`,
  ),
  SDR_ERR_CLOUD_UPLOAD_REFUSED: define(
    'SDR_ERR_CLOUD_UPLOAD_REFUSED',
    false,
    (reason: string) => `upload refused: ${reason}; ask for a fresh URL with upload.request`,
  ),
  SDR_ERR_PG_CONFIG: define(
    'SDR_ERR_PG_CONFIG',
    false,
    (connection: string, problem: string) =>
      `postgres connection "${connection}" is misconfigured: ${problem}`,
  ),
  SDR_ERR_PG_CLOUDSQL: define('SDR_ERR_PG_CLOUDSQL', false, (detail: string) => detail),
  SDR_ERR_PG_NO_DATABASE: define(
    'SDR_ERR_PG_NO_DATABASE',
    false,
    (database: string, server: string) =>
      `database "${database}" does not exist on ${server}; check the connection's database or the job's database list`,
  ),

  // Amazon SageMaker
  SDR_ERR_SAGEMAKER_CONFIG: define(
    'SDR_ERR_SAGEMAKER_CONFIG',
    false,
    (connection: string, problem: string) =>
      `sagemaker connection "${connection}" is misconfigured: ${problem}; fix it in the connections file`,
  ),
  SDR_ERR_SAGEMAKER_AUTH: define(
    'SDR_ERR_SAGEMAKER_AUTH',
    false,
    (connection: string, detail: string) =>
      `AWS rejected the identity of "${connection}" (${detail}); check the access key its secrets point to, the default credential chain (env, profile, web identity, instance role) and, with roleArn, the role's trust policy and externalId`,
  ),
  SDR_ERR_SAGEMAKER_DENIED: define(
    'SDR_ERR_SAGEMAKER_DENIED',
    false,
    (connection: string, action: string) =>
      `"${connection}" may not call ${action}; grant it to the crawler's IAM identity (docs/adapters/sagemaker.md has the minimal policy)`,
  ),
  SDR_ERR_SAGEMAKER_THROTTLED: define(
    'SDR_ERR_SAGEMAKER_THROTTLED',
    true,
    (connection: string, action: string) =>
      `SageMaker kept throttling ${action} for "${connection}" after every retry; lower maxRequestsPerSecond or describeConcurrency, or run when the account is quieter`,
  ),
  SDR_ERR_SAGEMAKER_UNREACHABLE: define(
    'SDR_ERR_SAGEMAKER_UNREACHABLE',
    true,
    (connection: string, detail: string) =>
      `the SageMaker API of "${connection}" could not be reached (${detail}); check region, endpoint, proxy and firewall rules`,
  ),
  SDR_ERR_SAGEMAKER_API: define(
    'SDR_ERR_SAGEMAKER_API',
    true,
    (connection: string, action: string, detail: string) => `${action} failed for "${connection}": ${detail}`,
  ),
  // Kafka and Schema Registry
  SDR_ERR_KAFKA_CONNECTION_INVALID: define(
    'SDR_ERR_KAFKA_CONNECTION_INVALID',
    false,
    (connection: string, problem: string) => `kafka connection "${connection}": ${problem}`,
  ),
  SDR_ERR_KAFKA_AUTH: define(
    'SDR_ERR_KAFKA_AUTH',
    false,
    (servers: string, mechanism: string) =>
      `Kafka at ${servers} refused SASL ${mechanism} authentication; check the username and password (or API key and secret) the connection's secrets point to`,
  ),
  SDR_ERR_KAFKA_UNREACHABLE: define(
    'SDR_ERR_KAFKA_UNREACHABLE',
    true,
    (servers: string, detail: string) =>
      `no Kafka bootstrap server answered (${servers}): ${detail}; check bootstrapServers, the port of the listener and firewall rules`,
  ),
  SDR_ERR_KAFKA_TLS: define(
    'SDR_ERR_KAFKA_TLS',
    false,
    (servers: string, detail: string) =>
      `TLS to Kafka at ${servers} failed: ${detail}; check securityProtocol, the CA (tlsCa) and client certificate the connection names`,
  ),
  SDR_ERR_KAFKA_DENIED: define(
    'SDR_ERR_KAFKA_DENIED',
    false,
    (operation: string, acl: string) =>
      `Kafka denied ${operation}; grant the crawler's principal the ${acl} ACL`,
  ),
  SDR_ERR_KAFKA_REQUEST: define(
    'SDR_ERR_KAFKA_REQUEST',
    true,
    (operation: string, detail: string) => `Kafka ${operation} request failed: ${detail}`,
  ),
  SDR_ERR_SCHEMA_REGISTRY_AUTH: define(
    'SDR_ERR_SCHEMA_REGISTRY_AUTH',
    false,
    (url: string, status: number) =>
      `Schema Registry at ${url} refused the credentials (HTTP ${status}); check schemaRegistryKey and schemaRegistrySecret`,
  ),
  SDR_ERR_SCHEMA_REGISTRY_NOT_FOUND: define(
    'SDR_ERR_SCHEMA_REGISTRY_NOT_FOUND',
    false,
    (url: string) =>
      `no Schema Registry API at ${url} (HTTP 404); check schemaRegistry.url, including any path prefix`,
  ),
  SDR_ERR_SCHEMA_REGISTRY_UNREACHABLE: define(
    'SDR_ERR_SCHEMA_REGISTRY_UNREACHABLE',
    true,
    (url: string, detail: string) => `Schema Registry at ${url} could not be reached: ${detail}`,
  ),
  SDR_ERR_SCHEMA_REGISTRY_FAILED: define(
    'SDR_ERR_SCHEMA_REGISTRY_FAILED',
    true,
    (url: string, detail: string) => `Schema Registry at ${url} answered an error: ${detail}`,
  ),
} as const;

/** A code of the catalogue. */
export type ErrorCode = keyof typeof Codes;

/** Reads a code and message from anything thrown; unknown errors become `fallback`. */
export function describeError(
  error: unknown,
  fallback: ErrorCode = 'SDR_ERR_SOURCE_FAILED',
): {
  code: string;
  message: string;
  retryable: boolean;
} {
  if (error instanceof SdrError)
    return { code: error.code, message: error.message, retryable: error.retryable };
  const message = error instanceof Error ? error.message : String(error);
  return { code: fallback, message, retryable: Codes[fallback].retryable };
}
