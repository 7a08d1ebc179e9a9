import {
  GetSecretValueCommand,
  SecretsManagerClient,
  type GetSecretValueCommandInput,
} from '@aws-sdk/client-secrets-manager';
import { Codes, SdrError } from '../../protocol/index.js';
import { selectKey } from '../reference.js';
import type { ReferenceResolver, SecretProvider, SecretReference } from '../types.js';
import { awsRequestHandlerFor, awsTarget, noAnswerReason } from '../../storage/http-agents.js';

/** Settings of the `aws-sm://` provider; without static keys the SDK's default credential chain is used. */
export interface AwsSecretsManagerOptions {
  /** Default region; otherwise the SDK's own (AWS_REGION, profile). An ARN's region always wins. */
  region?: string;
  /** Endpoint override (VPC endpoint, FIPS, or a local emulator). */
  endpoint?: string;
  /**
   * Static keys, each given as a reference to another provider (`file:///run/secrets/aws-key-id`), never
   * inline. Absent: env, profile, web identity (IRSA), container and instance metadata, in that order.
   */
  staticCredentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Resolves `staticCredentials` references; `builtInSecretProviders` supplies it. */
  resolveReference?: ReferenceResolver;
  /** Per-attempt timeout; default 10 s. */
  timeoutMs?: number;
}

const VERSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ARN_REGION = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/;

/**
 * `aws-sm://<name or ARN>[?version=<stage or id>][#key]`: a Secrets Manager secret. `version` is a version
 * id (a UUID) or a staging label (`AWSCURRENT`, `AWSPREVIOUS`, custom); SecretBinary comes back base64.
 */
export function createAwsSecretsManagerProvider(options: AwsSecretsManagerOptions = {}): SecretProvider {
  const clients = new Map<string, SecretsManagerClient>();
  const credentials = staticCredentials(options);
  const timeoutMs = options.timeoutMs ?? 10_000;

  function clientFor(region: string | undefined): SecretsManagerClient {
    const key = region ?? '';
    let client = clients.get(key);
    if (!client) {
      client = new SecretsManagerClient({
        ...(region ? { region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(credentials ? { credentials } : {}),
        maxAttempts: 3,
        requestHandler: awsRequestHandlerFor(awsTarget('secretsmanager', options.endpoint, region), {
          connectionTimeout: timeoutMs,
          requestTimeout: timeoutMs,
        }),
      });
      clients.set(key, client);
    }
    return client;
  }

  return {
    scheme: 'aws-sm',
    async resolve(reference: SecretReference, signal?: AbortSignal): Promise<string> {
      const secretId = reference.path;
      const input: GetSecretValueCommandInput = { SecretId: secretId };
      if (reference.version !== undefined) {
        if (VERSION_ID.test(reference.version)) input.VersionId = reference.version;
        else input.VersionStage = reference.version;
      }
      const region = ARN_REGION.exec(secretId)?.[1] ?? options.region;
      let output;
      try {
        output = await clientFor(region).send(
          new GetSecretValueCommand(input),
          signal ? { abortSignal: signal } : {},
        );
      } catch (error) {
        if (isTimeout(error)) {
          const target = awsTarget('secretsmanager', options.endpoint, region);
          throw new Codes.SDR_ERR_SECRET_UNAVAILABLE(
            reference.raw,
            `aws-sm: 3 attempts to read ${secretId}: ${noAnswerReason(target, timeoutMs)}`,
          );
        }
        throw awsError(reference, error);
      }
      if (output.SecretString !== undefined) return selectKey(reference, output.SecretString);
      if (output.SecretBinary !== undefined) {
        const bytes = Buffer.from(output.SecretBinary);
        return reference.key === undefined
          ? bytes.toString('base64')
          : selectKey(reference, bytes.toString('utf8'));
      }
      throw new Codes.SDR_ERR_SECRET_NOT_FOUND(reference.raw, `aws-sm: ${secretId} has no value`);
    },
    async close(): Promise<void> {
      for (const client of clients.values()) client.destroy();
      clients.clear();
    },
  };
}

function staticCredentials(
  options: AwsSecretsManagerOptions,
): (() => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>) | undefined {
  const refs = options.staticCredentials;
  if (!refs) return undefined;
  const resolve = options.resolveReference;
  if (!resolve) {
    throw new Codes.SDR_ERR_CONFIG_INVALID('aws-sm static credentials need a reference resolver');
  }
  return async () => {
    const [accessKeyId, secretAccessKey, sessionToken] = await Promise.all([
      resolve(refs.accessKeyId),
      resolve(refs.secretAccessKey),
      refs.sessionToken === undefined ? Promise.resolve(undefined) : resolve(refs.sessionToken),
    ]);
    return { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) };
  };
}

const DENIED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignature',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'DecryptionFailure',
  'CredentialsProviderError',
]);

/** The SDK's connection or request deadline passed (its handler rejects with a TimeoutError). */
function isTimeout(error: unknown): boolean {
  const { name, code } = error as { name?: string; code?: string };
  return name === 'TimeoutError' || code === 'ETIMEDOUT';
}

/** Maps an SDK error to a coded one. The SDK error is not kept as a cause: it carries request metadata only,
 * but a catalogue error with a short reason is what operators need. */
function awsError(reference: SecretReference, error: unknown): SdrError {
  if (error instanceof SdrError) return error;
  const name = (error as { name?: string }).name ?? 'Error';
  const message = ((error as { message?: string }).message ?? '').split('\n')[0] ?? '';
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const ref = reference.raw;
  const id = reference.path;
  if (name === 'AbortError') return new Codes.SDR_ERR_SECRET_UNAVAILABLE(ref, 'aws-sm: lookup aborted');
  if (name === 'ResourceNotFoundException') {
    const what = reference.version === undefined ? id : `version ${reference.version} of ${id}`;
    return new Codes.SDR_ERR_SECRET_NOT_FOUND(ref, `aws-sm: no ${what} (${name})`);
  }
  if (DENIED.has(name) || status === 403) {
    return new Codes.SDR_ERR_SECRET_DENIED(ref, `aws-sm: ${name} on ${id}: ${message}`);
  }
  if (name === 'InvalidRequestException' || name === 'InvalidParameterException') {
    return new Codes.SDR_ERR_SECRET_NOT_FOUND(ref, `aws-sm: ${name} on ${id}: ${message}`);
  }
  const code = (error as { code?: string }).code;
  return new Codes.SDR_ERR_SECRET_UNAVAILABLE(
    ref,
    `aws-sm: ${code ?? name}${status ? ` (HTTP ${status})` : ''} reading ${id}`,
  );
}
