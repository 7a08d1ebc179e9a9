import type { KeyObject } from 'node:crypto';
import type { SourceAdapter } from '../adapters/index.js';
import {
  Codes,
  type RejectCode,
  type SdrError,
  type SignedJobRequest,
  verifyJobRequest,
} from '../protocol/index.js';
import type { ConnectionDefinition } from './connections.js';
import { resolveMode } from './delivery/settings.js';

/** Everything a request is checked against before it may enter the queue. */
export interface GateContext {
  cloudPublicKey: KeyObject;
  agentId: string;
  clockSkewMs: number;
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

/**
 * Decides whether a signed request may run here: authentic, fresh, for this agent, for a connection the
 * customer defined, with options its adapter accepts. The cloud can name a connection; it can never
 * point the runtime at a host the customer did not configure.
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
  if (request.agentId !== context.agentId) {
    return refuse(new Codes.SDR_ERR_REQUEST_WRONG_AGENT(request.requestId, request.agentId));
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
  try {
    adapter.parseOptions(request.options, connection.name);
  } catch (error) {
    const cause = error as SdrError;
    return refuse(
      cause.code === 'SDR_ERR_INVALID_OPTIONS'
        ? cause
        : new Codes.SDR_ERR_INVALID_OPTIONS(connection.name, cause.message ?? String(error), { cause }),
    );
  }
  return undefined;
}
