import { Codes, SdrError } from '../protocol/index.js';
import { noAnswerReason } from './http-agents.js';

/** What a store was doing, for the permission an error names. */
export type StoreAction = 'put' | 'get' | 'list' | 'remove';

/** Turns a storage client's failure into a catalogued error: denied (names `permission`) or failed. */
export function storageError(
  error: unknown,
  options: {
    target: string;
    permission: string;
    status?: number | undefined;
    code?: string | undefined;
    tries: number;
    /** The endpoint and per-try deadline: a try that timed out is reported naming the proxy and the fix. */
    deadline?: { endpoint: string; timeoutMs: number };
  },
): SdrError {
  if (error instanceof SdrError) return error;
  if (options.deadline && timedOut(error)) {
    const { endpoint, timeoutMs } = options.deadline;
    return new Codes.SDR_ERR_DELIVERY_FAILED(
      options.target,
      options.tries,
      noAnswerReason(endpoint, timeoutMs),
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  const detail = [options.status, options.code, message.split('\n')[0]?.slice(0, 300)]
    .filter((part) => part !== undefined && part !== '')
    .join(' ');
  const denied =
    options.status === 401 ||
    options.status === 403 ||
    options.status === 404 ||
    /^(AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|AllAccessDisabled|NoSuchBucket|AuthorizationPermissionMismatch|AuthorizationFailure|AuthenticationFailed|ContainerNotFound|InvalidAuthenticationInfo|CredentialsProviderError)$/.test(
      options.code ?? '',
    ) ||
    (error as Error)?.name === 'CredentialsProviderError';
  return denied
    ? new Codes.SDR_ERR_DELIVERY_DENIED(options.target, options.permission, detail)
    : new Codes.SDR_ERR_DELIVERY_FAILED(options.target, options.tries, detail);
}

/** The client's own deadline passed (each SDK says so differently). */
function timedOut(error: unknown): boolean {
  const { name, code, message } = (error ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
  return (
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    code === 'ETIMEDOUT' ||
    (typeof message === 'string' && /no answer from|timed? ?out/i.test(message))
  );
}
