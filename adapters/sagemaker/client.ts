import { SageMakerClient, type SageMakerClientConfig } from '@aws-sdk/client-sagemaker';
import { fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { Codes, SdrError } from '../../protocol/index.js';
import { awsRequestHandlerFor, awsTarget, noAnswerReason } from '../../storage/http-agents.js';
import { delay } from '../shared/index.js';
import type { SagemakerSettings } from './options.js';

/** Requests sent per SageMaker operation (every HTTP attempt, retries included) and throttled attempts. */
export interface RequestStats {
  readonly byOperation: Map<string, number>;
  throttled: number;
  total: number;
}

/**
 * Spaces requests evenly at no more than `perSecond` (0 = unlimited). The SDK's adaptive retry
 * slows further on throttling; this cap keeps a crawl polite before AWS has to say so.
 */
export class RequestRateLimiter {
  private readonly interval: number;
  private next = 0;

  constructor(perSecond: number) {
    this.interval = perSecond > 0 ? 1000 / perSecond : 0;
  }

  /** Resolves when the caller may send; rejects when `signal` aborts first. */
  async acquire(signal: AbortSignal): Promise<void> {
    if (this.interval === 0) return;
    const now = performance.now();
    const at = Math.max(now, this.next);
    this.next = at + this.interval;
    if (at > now) await delay(at - now, signal);
  }
}

/** A client with its request cap and counters; `destroy()` closes its sockets. */
export interface SagemakerSession {
  readonly client: SageMakerClient;
  readonly stats: RequestStats;
  /** How the credentials were obtained, for `check` (never the credentials themselves). */
  readonly identitySource: 'static' | 'default-chain';
  destroy(): void;
}

type Credentials = NonNullable<SageMakerClientConfig['credentials']>;

function credentialsFor(settings: SagemakerSettings): Credentials {
  const base: Credentials = settings.credentials ?? fromNodeProviderChain();
  if (settings.roleArn === undefined) return base;
  return fromTemporaryCredentials({
    masterCredentials: base,
    params: {
      RoleArn: settings.roleArn,
      RoleSessionName: settings.roleSessionName,
      ...(settings.externalId === undefined ? {} : { ExternalId: settings.externalId }),
    },
    clientConfig: {
      ...(settings.region === undefined ? {} : { region: settings.region }),
      ...(settings.stsEndpoint === undefined ? {} : { endpoint: settings.stsEndpoint }),
      requestHandler: awsRequestHandlerFor(awsTarget('sts', settings.stsEndpoint, settings.region)),
    },
  });
}

/** Until a socket to SageMaker is usable, proxy CONNECT included, per attempt. */
const CONNECTION_TIMEOUT_MS = 10_000;

/** Opens a SageMaker client honouring the connection's credentials, region, endpoint and request cap. */
export function openSession(settings: SagemakerSettings, signal: AbortSignal): SagemakerSession {
  const target = awsTarget('api.sagemaker', settings.endpoint, settings.region);
  const client = new SageMakerClient({
    ...(settings.region === undefined ? {} : { region: settings.region }),
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    credentials: credentialsFor(settings),
    retryMode: 'adaptive',
    maxAttempts: settings.maxAttempts,
    requestHandler: awsRequestHandlerFor(target, {
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      requestTimeout: 60_000,
      // One socket per concurrent Describe plus the List call that feeds them.
      maxSockets: settings.describeConcurrency + 1,
    }),
  });
  const stats: RequestStats = { byOperation: new Map(), throttled: 0, total: 0 };
  const limiter = new RequestRateLimiter(settings.maxRequestsPerSecond);
  // Low priority in finalizeRequest puts this inside the retry middleware: every attempt waits its turn.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      await limiter.acquire(signal);
      const operation = context.commandName?.replace(/Command$/, '') ?? 'unknown';
      stats.byOperation.set(operation, (stats.byOperation.get(operation) ?? 0) + 1);
      stats.total += 1;
      try {
        return await next(args);
      } catch (error) {
        if (isThrottling(error)) stats.throttled += 1;
        // The SDK's connection timeout says only "Socket timed out"; a proxy that never answers the
        // CONNECT is the usual cause, so the message names the proxy (if any) and the fix.
        if (shape(error).name === 'TimeoutError' && error instanceof Error)
          error.message = noAnswerReason(target, CONNECTION_TIMEOUT_MS);
        throw error;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'sdrRequestCap' },
  );
  return {
    client,
    stats,
    identitySource: settings.credentials === undefined ? 'default-chain' : 'static',
    destroy: () => client.destroy(),
  };
}

interface AwsErrorShape {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

function shape(error: unknown): AwsErrorShape {
  return typeof error === 'object' && error !== null ? error : {};
}

const DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'UnauthorizedOperation']);
const AUTH = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'ExpiredToken',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'CredentialsProviderError',
  'MissingAuthenticationToken',
]);
const NETWORK = new Set([
  'TimeoutError',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

/** True for an IAM denial of one action (the identity is valid, the permission is missing). */
export function isAccessDenied(error: unknown): boolean {
  const { name, $metadata } = shape(error);
  return DENIED.has(name ?? '') || ($metadata?.httpStatusCode === 403 && !AUTH.has(name ?? ''));
}

/** True for SageMaker throttling, by error code or HTTP 429. */
export function isThrottling(error: unknown): boolean {
  const { name, $metadata } = shape(error);
  return name === 'ThrottlingException' || name === 'Throttling' || $metadata?.httpStatusCode === 429;
}

/** True when the object vanished between its List and its Describe (deleted meanwhile). */
export function isNotFound(error: unknown): boolean {
  const { name, message } = shape(error);
  return (
    name === 'ResourceNotFound' ||
    name === 'ResourceNotFoundException' ||
    (name === 'ValidationException' && /could not find|does not exist|not found/i.test(message ?? ''))
  );
}

/** Turns an SDK failure into a catalogued error; `action` is the IAM action, e.g. `sagemaker:ListModels`. */
export function toSdrError(error: unknown, connection: string, action: string): Error {
  if (error instanceof SdrError) return error;
  const { name, message, code } = shape(error);
  // Cancellation passes through untouched so the runtime sees its own reason.
  if (name === 'AbortError') return error as Error;
  const detail = `${name ?? 'Error'}: ${message ?? String(error)}`;
  if (AUTH.has(name ?? '') || /assume ?role/i.test(message ?? ''))
    return new Codes.SDR_ERR_SAGEMAKER_AUTH(connection, detail, { cause: error });
  if (isAccessDenied(error)) return new Codes.SDR_ERR_SAGEMAKER_DENIED(connection, action, { cause: error });
  if (isThrottling(error)) return new Codes.SDR_ERR_SAGEMAKER_THROTTLED(connection, action, { cause: error });
  if (NETWORK.has(code ?? '') || NETWORK.has(name ?? ''))
    return new Codes.SDR_ERR_SAGEMAKER_UNREACHABLE(connection, detail, { cause: error });
  return new Codes.SDR_ERR_SAGEMAKER_API(connection, action, detail, { cause: error });
}
