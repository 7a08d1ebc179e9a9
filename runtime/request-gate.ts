import type { KeyObject } from 'node:crypto';
import type { SourceAdapter } from '../adapters/index.js';
import {
  Codes,
  type RejectCode,
  SdrError,
  type SignedJobRequest,
  signedJobRequestSchema,
  verifyJobRequest,
} from '../protocol/index.js';
import type { ConnectionDefinition } from './connections.js';
import { resolveMode } from './delivery/settings.js';

/** Largest options object a request may carry, in bytes of JSON; it is kept in Redis with the job. */
export const MAX_OPTIONS_BYTES = 64 * 1024;

/** Everything a request is checked against before it may enter the queue. */
export interface GateContext {
  cloudPublicKey: KeyObject;
  /** This runtime's agent id (configured or bound); undefined refuses every request. */
  agentId: string | undefined;
  clockSkewMs: number;
  /** Furthest ahead of now a request's `expiresAt` may lie; default one day. */
  maxLifetimeMs?: number;
  connections: ReadonlyMap<string, ConnectionDefinition>;
  adapters: ReadonlyMap<string, SourceAdapter<unknown>>;
  deliveryModes: readonly string[];
  now?: () => number;
}

/** A request refused, with the wire reason code and the error that explains it. */
export interface Refusal {
  code: RejectCode;
  error: SdrError;
}

const DEFAULT_MAX_LIFETIME_MS = 86_400_000;

/**
 * Decides whether a signed request may run here: authentic, fresh, for this agent, for a connection the
 * customer defined, with options its adapter accepts within the connection's limits. The cloud can name a
 * connection; it can never point the runtime at a host the customer did not configure.
 */
export function admitRequest(request: SignedJobRequest, context: GateContext): Refusal | undefined {
  const refuse = (error: SdrError): Refusal => ({ code: error.code as RejectCode, error });
  if (!verifyJobRequest(request, context.cloudPublicKey)) {
    return refuse(new Codes.SDR_ERR_REQUEST_SIGNATURE(request.requestId));
  }
  const now = (context.now ?? Date.now)();
  const expiresAt = Date.parse(request.expiresAt);
  if (!(expiresAt + context.clockSkewMs > now)) {
    return refuse(new Codes.SDR_ERR_REQUEST_EXPIRED(request.requestId, request.expiresAt));
  }
  const issuedAt = Date.parse(request.issuedAt);
  if (!(issuedAt - context.clockSkewMs <= now)) {
    return refuse(
      new Codes.SDR_ERR_REQUEST_WINDOW(request.requestId, `issuedAt ${request.issuedAt} lies in the future`),
    );
  }
  const maxLifetimeMs = context.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS;
  if (expiresAt - now > maxLifetimeMs + context.clockSkewMs) {
    return refuse(
      new Codes.SDR_ERR_REQUEST_WINDOW(
        request.requestId,
        `expiresAt ${request.expiresAt} is more than ${maxLifetimeMs} ms ahead (SDR_REQUEST_MAX_LIFETIME_MS)`,
      ),
    );
  }
  return checkScope(request, context, refuse);
}

/**
 * Re-checks a queued job's signed request when the job starts: signature, agent, connection, options and
 * the connection's limits as they are now. Expiry is not checked: a job admitted in time may wait in the
 * queue (behind others, or across a restart) past its `expiresAt`. Returns the problem, or undefined.
 */
export function verifyQueuedRequest(
  requestId: string,
  stored: unknown,
  context: GateContext,
): SdrError | undefined {
  if (stored === undefined || stored === null) {
    return new Codes.SDR_ERR_JOB_UNVERIFIED(requestId, 'it carries no signed request');
  }
  const parsed = signedJobRequestSchema.safeParse(stored);
  if (!parsed.success) {
    return new Codes.SDR_ERR_JOB_UNVERIFIED(requestId, 'its signed request is malformed');
  }
  const request = parsed.data;
  if (request.requestId !== requestId) {
    return new Codes.SDR_ERR_JOB_UNVERIFIED(requestId, 'its signed request is for another job');
  }
  // verifyJobRequest never throws, but a job from Redis may hold any shape; a throw is a refusal too.
  let signed: boolean;
  try {
    signed = verifyJobRequest(request, context.cloudPublicKey);
  } catch {
    signed = false;
  }
  if (!signed) return new Codes.SDR_ERR_JOB_UNVERIFIED(requestId, 'its request signature is not valid');
  const refusal = checkScope(request, context, (error) => ({ code: error.code as RejectCode, error }));
  return refusal
    ? new Codes.SDR_ERR_JOB_UNVERIFIED(requestId, refusal.error.message, { cause: refusal.error })
    : undefined;
}

function checkScope(
  request: SignedJobRequest,
  context: GateContext,
  refuse: (error: SdrError) => Refusal,
): Refusal | undefined {
  if (context.agentId === undefined || request.agentId !== context.agentId) {
    return refuse(new Codes.SDR_ERR_REQUEST_WRONG_AGENT(request.requestId, request.agentId.slice(0, 200)));
  }
  const requested = request.delivery.mode;
  if (requested !== 'default' && !context.deliveryModes.includes(requested)) {
    return refuse(
      new Codes.SDR_ERR_UNSUPPORTED_DELIVERY(
        requested,
        `this runtime implements ${context.deliveryModes.join(', ')}`,
      ),
    );
  }
  const connection = context.connections.get(request.connection);
  if (!connection) return refuse(new Codes.SDR_ERR_UNKNOWN_CONNECTION(request.connection));
  if (resolveMode(requested, connection.delivery) === undefined) {
    return refuse(
      new Codes.SDR_ERR_UNSUPPORTED_DELIVERY(
        requested,
        `connection "${connection.name}" allows ${connection.delivery.allow.join(', ')} (delivery.allow in the connections file)`,
      ),
    );
  }
  const adapter = context.adapters.get(connection.type);
  if (!adapter) {
    return refuse(
      new Codes.SDR_ERR_UNSUPPORTED_SOURCE(connection.type, [...context.adapters.keys()].join(', ')),
    );
  }
  const optionsBytes = Buffer.byteLength(JSON.stringify(request.options));
  if (optionsBytes > MAX_OPTIONS_BYTES) {
    return refuse(
      new Codes.SDR_ERR_INVALID_OPTIONS(
        connection.name,
        `options are ${optionsBytes} bytes of JSON, over the ${MAX_OPTIONS_BYTES}-byte limit`,
      ),
    );
  }
  try {
    const options = adapter.parseOptions(request.options, connection.name);
    adapter.checkLimits?.(options, scopeOf(connection));
  } catch (error) {
    const cause = error as SdrError;
    return refuse(
      cause instanceof SdrError && cause.code === 'SDR_ERR_INVALID_OPTIONS'
        ? cause
        : new Codes.SDR_ERR_INVALID_OPTIONS(connection.name, String(cause?.message ?? error).slice(0, 500), {
            cause,
          }),
    );
  }
  return undefined;
}

/** A connection as its adapter's limit check sees it. */
export function scopeOf(connection: ConnectionDefinition) {
  return {
    name: connection.name,
    ...(connection.database === undefined ? {} : { database: connection.database }),
    limits: connection.limits ?? {},
  };
}
