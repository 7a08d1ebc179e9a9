import { z } from 'zod';

/** Bumped on any change a peer of the previous version could misread. */
export const PROTOCOL_VERSION = 2;

/** Default largest frame either side accepts, in bytes of UTF-8 JSON. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Default heartbeat interval, used until the cloud's `welcome` says otherwise. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 15_000;

/** Heartbeat intervals without any frame after which a side declares the link dead. */
export const MISSED_HEARTBEATS_BEFORE_DEAD = 3;

/** Default number of unacknowledged batches a job may have in flight. */
export const DEFAULT_CREDIT_WINDOW = 8;

/**
 * Ranges the runtime clamps the cloud's `welcome` numbers into: a value outside is replaced by the nearest
 * bound (and logged), never trusted as sent. Both sides import them, so the reference cloud refuses to
 * announce what a runtime would clamp. `setTimeout` treats anything past 2^31-1 ms as 1 ms, hence a ceiling.
 */
export const WELCOME_BOUNDS = {
  heartbeatIntervalMs: { min: 100, max: 300_000 },
  creditWindow: { min: 1, max: 64 },
  maxFrameBytes: { min: 1_024, max: 64 * 1024 * 1024 },
} as const;

/** The numbers of a `welcome`, each clamped into `WELCOME_BOUNDS`; `clamped` names those that were out of range. */
export function clampWelcome(welcome: {
  heartbeatIntervalMs: number;
  creditWindow: number;
  maxFrameBytes: number;
}): { heartbeatIntervalMs: number; creditWindow: number; maxFrameBytes: number; clamped: string[] } {
  const clamped: string[] = [];
  const clamp = (name: keyof typeof WELCOME_BOUNDS, value: number): number => {
    const { min, max } = WELCOME_BOUNDS[name];
    const safe = Number.isFinite(value) ? Math.min(max, Math.max(min, Math.trunc(value))) : min;
    if (safe !== value) clamped.push(`${name} ${value} → ${safe}`);
    return safe;
  };
  return {
    heartbeatIntervalMs: clamp('heartbeatIntervalMs', welcome.heartbeatIntervalMs),
    creditWindow: clamp('creditWindow', welcome.creditWindow),
    maxFrameBytes: clamp('maxFrameBytes', welcome.maxFrameBytes),
    clamped,
  };
}

/** Most warnings one `job.end` carries, and the longest each may be; the rest are summarised. */
export const MAX_END_WARNINGS = 100;
export const MAX_WARNING_CHARS = 1_000;

/** Longest `message` of an `error`, `job.rejected` or `job.failed` frame; longer text is cut. */
export const MAX_MESSAGE_CHARS = 4_000;
/** Default time between two reconciliations (`sync.request`) of one agent. */
export const DEFAULT_RECONCILE_INTERVAL_MS = 60_000;

/** Most parallel connections one instance may open (`SDR_TUNNEL_CONNECTIONS`). */
export const MAX_CONNECTIONS_PER_INSTANCE = 4;

/** Most job ids in one `sync.request` or `sync.report` list; longer lists are paged (`more`). */
export const SYNC_PAGE_SIZE = 1_000;

/** One metadata object as it crosses the wire: a kind, a unique key, an optional parent key, and fields. */
export const metadataRecordSchema = z
  .object({
    kind: z.string().min(1),
    key: z.string().min(1),
    parent: z.string().optional(),
  })
  .catchall(z.unknown());
export type MetadataRecord = z.infer<typeof metadataRecordSchema>;

// The queue (BullMQ) keys jobs by request id and refuses ids that are plain integers or contain ':'; a
// request id must be refused as malformed here rather than fail later as a queue error.
const requestId = z
  .string()
  .min(1)
  .max(200)
  .refine((id) => `${parseInt(id, 10)}` !== id && !id.includes(':'), {
    error: 'a request id must not be a plain integer nor contain ":"',
  });
const attempt = z.number().int().positive();

/** Ways a result reaches the cloud (docs/delivery.md). */
export const DELIVERY_MODES = ['tunnel', 'bucket', 'presigned'] as const;
export type DeliveryMode = (typeof DELIVERY_MODES)[number];

/**
 * How the cloud asks results to travel back; `default` takes the connection's default mode. Any mode name
 * parses, so a runtime can answer an unknown one with `SDR_ERR_UNSUPPORTED_DELIVERY` naming the request,
 * not with a malformed frame.
 */
export const deliverySchema = z.object({ mode: z.string().min(1).max(64) }).catchall(z.unknown());
export type Delivery = z.infer<typeof deliverySchema>;

/** One short-lived PUT URL for one object of an attempt (presigned delivery). */
export const uploadUrlSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/),
  url: z.url(),
  expiresAt: z.iso.datetime(),
});
export type UploadUrl = z.infer<typeof uploadUrlSchema>;

/** What the cloud asks for, before signing. It names a connection; it can never define one. */
export const jobRequestBodySchema = z.object({
  requestId,
  agentId: z.string().min(1),
  connection: z.string().min(1).max(200),
  options: z.record(z.string(), z.unknown()).default({}),
  delivery: deliverySchema.default({ mode: 'tunnel' }),
  issuedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
});
export type JobRequestBody = z.infer<typeof jobRequestBodySchema>;

/** A job request with the cloud's Ed25519 signature (base64) over its canonical JSON. */
export const signedJobRequestSchema = jobRequestBodySchema.extend({ signature: z.string().min(1) });
export type SignedJobRequest = z.infer<typeof signedJobRequestSchema>;

/** Why a runtime refused a request; stable strings, part of the wire contract. */
export const rejectCodeSchema = z.enum([
  'SDR_ERR_REQUEST_SIGNATURE',
  'SDR_ERR_REQUEST_EXPIRED',
  'SDR_ERR_REQUEST_WRONG_AGENT',
  'SDR_ERR_UNKNOWN_CONNECTION',
  'SDR_ERR_UNSUPPORTED_SOURCE',
  'SDR_ERR_UNSUPPORTED_DELIVERY',
  'SDR_ERR_INVALID_OPTIONS',
  'SDR_ERR_QUEUE_UNAVAILABLE',
  'SDR_ERR_REQUEST_WINDOW',
  'SDR_ERR_QUEUE_FULL',
]);
export type RejectCode = z.infer<typeof rejectCodeSchema>;

const capabilities = z.object({
  adapters: z.array(z.string()),
  delivery: z.array(z.string()),
  maxFrameBytes: z.number().int().positive(),
});

/** One runtime log line forwarded to the cloud; already redacted by the runtime's logger. */
export const logEntrySchema = z.object({
  time: z.string(),
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']),
  message: z.string(),
  fields: z.record(z.string(), z.unknown()).default({}),
});
export type LogEntry = z.infer<typeof logEntrySchema>;

/** Where a job's state stands in the shared queue, as reported in `sync.report`. */
export const syncJobStateSchema = z.enum(['queued', 'active', 'completed', 'failed', 'unknown']);
export type SyncJobState = z.infer<typeof syncJobStateSchema>;

const jobStatus = z.object({
  active: z.number().int().nonnegative(),
  queued: z.number().int().nonnegative(),
});

/** Every frame of the protocol, by `type`. */
export const frameSchemas = {
  hello: z.object({
    type: z.literal('hello'),
    protocolVersion: z.number().int(),
    runtimeVersion: z.string(),
    /** Random per runtime process, kept for its life. */
    instanceId: z.string().min(1).max(200),
    /** 0 … connections − 1: which of the instance's parallel connections this is. */
    connectionIndex: z
      .number()
      .int()
      .min(0)
      .max(MAX_CONNECTIONS_PER_INSTANCE - 1),
    connections: z.number().int().min(1).max(MAX_CONNECTIONS_PER_INSTANCE),
    /** The customer's agent id (`SDR_AGENT_ID`) when configured. */
    agentId: z.string().min(1).max(200).optional(),
    capabilities,
  }),
  welcome: z.object({
    type: z.literal('welcome'),
    protocolVersion: z.number().int(),
    agentId: z.string().min(1),
    connectionId: z.string().min(1).max(200),
    heartbeatIntervalMs: z.number().int().min(100).default(DEFAULT_HEARTBEAT_INTERVAL_MS),
    creditWindow: z.number().int().min(1).default(DEFAULT_CREDIT_WINDOW),
    maxFrameBytes: z.number().int().positive().default(DEFAULT_MAX_FRAME_BYTES),
    reconcileIntervalMs: z.number().int().positive().default(DEFAULT_RECONCILE_INTERVAL_MS),
  }),
  heartbeat: z.object({ type: z.literal('heartbeat'), sentAt: z.number(), jobs: jobStatus.optional() }),
  error: z.object({
    type: z.literal('error'),
    code: z.string(),
    message: z.string(),
    inReplyTo: z.string().optional(),
    /** The job the error is about, when it is about one. */
    requestId: z.string().optional(),
  }),
  'job.request': z.object({
    type: z.literal('job.request'),
    request: signedJobRequestSchema,
    /** Outside the signature: URLs are short-lived and re-issued (`upload.grant`). */
    uploads: z.object({ urls: z.array(uploadUrlSchema).max(1_000) }).optional(),
  }),
  'job.accepted': z.object({ type: z.literal('job.accepted'), requestId, duplicate: z.boolean() }),
  'job.rejected': z.object({
    type: z.literal('job.rejected'),
    requestId,
    code: rejectCodeSchema,
    message: z.string(),
  }),
  'job.progress': z.object({
    type: z.literal('job.progress'),
    requestId,
    attempt,
    phase: z.enum(['started', 'extracting', 'finishing', 'waiting-for-tunnel', 'uploading']),
    records: z.number().int().nonnegative(),
    batches: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
  }),
  'job.batch': z.object({
    type: z.literal('job.batch'),
    requestId,
    attempt,
    seq: z.number().int().nonnegative(),
    records: z.array(metadataRecordSchema),
  }),
  'job.ack': z.object({
    type: z.literal('job.ack'),
    requestId,
    attempt,
    seq: z.number().int().nonnegative(),
  }),
  'job.end': z.object({
    type: z.literal('job.end'),
    requestId,
    attempt,
    batches: z.number().int().nonnegative(),
    records: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    warnings: z
      .array(z.string().max(MAX_WARNING_CHARS + 100))
      .max(MAX_END_WARNINGS + 1)
      .default([]),
    /** Absent for tunnel delivery; otherwise where the manifest is (bucket URL, or presigned object name). */
    delivery: z
      .object({ mode: z.enum(['bucket', 'presigned']), manifest: z.string().min(1).max(2_000) })
      .optional(),
  }),
  'upload.request': z.object({
    type: z.literal('upload.request'),
    requestId,
    attempt,
    names: z.array(uploadUrlSchema.shape.name).min(1).max(1_000),
  }),
  'upload.grant': z.object({
    type: z.literal('upload.grant'),
    requestId,
    attempt,
    urls: z.array(uploadUrlSchema).max(1_000),
  }),
  'job.committed': z.object({
    type: z.literal('job.committed'),
    requestId,
    attempt,
    records: z.number().int().nonnegative(),
  }),
  'job.nack': z.object({
    type: z.literal('job.nack'),
    requestId,
    attempt,
    code: z.string(),
    message: z.string(),
  }),
  'job.failed': z.object({
    type: z.literal('job.failed'),
    requestId,
    attempt,
    code: z.string(),
    message: z.string(),
    willRetry: z.boolean(),
  }),
  'job.cancel': z.object({ type: z.literal('job.cancel'), requestId, reason: z.string().optional() }),
  'job.cancelled': z.object({ type: z.literal('job.cancelled'), requestId, wasRunning: z.boolean() }),
  'sync.request': z.object({
    type: z.literal('sync.request'),
    syncId: z.string().min(1).max(200),
    /** Jobs the cloud holds as sent, accepted or running for this agent. */
    expected: z.array(requestId).max(SYNC_PAGE_SIZE),
    more: z.boolean().default(false),
  }),
  'sync.report': z.object({
    type: z.literal('sync.report'),
    syncId: z.string().min(1).max(200),
    jobs: z
      .array(
        z.object({
          requestId,
          state: syncJobStateSchema,
          attempt: z.number().int().nonnegative().optional(),
          code: z.string().optional(),
          message: z.string().max(4_000).optional(),
        }),
      )
      .max(SYNC_PAGE_SIZE),
    /** Queued and active jobs the queue holds that the cloud did not name. */
    unexpected: z
      .array(z.object({ requestId, state: z.enum(['queued', 'active']) }))
      .max(SYNC_PAGE_SIZE)
      .default([]),
    more: z.boolean().default(false),
  }),
  log: z.object({
    type: z.literal('log'),
    entries: z.array(logEntrySchema).max(500),
    dropped: z.number().int().nonnegative().default(0),
  }),
} as const;

/** Frame type names. */
export type FrameType = keyof typeof frameSchemas;

/** A decoded frame of a given type. */
export type FrameOf<T extends FrameType> = z.infer<(typeof frameSchemas)[T]>;

/** Any decoded frame. */
export type Frame = { [T in FrameType]: FrameOf<T> }[FrameType];

/** Frames the cloud sends and the runtime must accept. */
export const CLOUD_TO_RUNTIME: ReadonlySet<FrameType> = new Set<FrameType>([
  'welcome',
  'heartbeat',
  'error',
  'job.request',
  'job.ack',
  'job.committed',
  'job.nack',
  'job.cancel',
  'upload.grant',
  'sync.request',
]);

/** Frames the runtime sends and the cloud must accept. */
export const RUNTIME_TO_CLOUD: ReadonlySet<FrameType> = new Set<FrameType>([
  'hello',
  'heartbeat',
  'error',
  'job.accepted',
  'job.rejected',
  'job.progress',
  'job.batch',
  'job.end',
  'job.failed',
  'job.cancelled',
  'upload.request',
  'sync.report',
  'log',
]);
