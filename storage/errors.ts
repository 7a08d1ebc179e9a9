import { Codes, SdrError } from '../protocol/index.js';

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
  },
): SdrError {
  if (error instanceof SdrError) return error;
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
