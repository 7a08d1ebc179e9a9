/**
 * Secret providers, registered in one place. Providers never import the runtime and never read
 * `process.env` for their own settings: `runtime/config.ts` compiles `SecretProvidersOptions` from the
 * environment (see docs/secrets.md). The cloud SDKs still read their own standard variables for their
 * default credential chains (AWS_*, AZURE_*, GOOGLE_APPLICATION_CREDENTIALS), as they should.
 */
import { createAwsSecretsManagerProvider, type AwsSecretsManagerOptions } from './aws-sm/index.js';
import { createAzureKeyVaultProvider, type AzureKeyVaultOptions } from './azure-kv/index.js';
import { createEnvSecretProvider } from './env/index.js';
import { createFileSecretProvider } from './file/index.js';
import { createGcpSecretManagerProvider, type GcpSecretManagerOptions } from './gcp-sm/index.js';
import { Codes } from '../protocol/index.js';
import { parseSecretReference } from './reference.js';
import type { ReferenceResolver, SecretProvider, SecretProviderLogger } from './types.js';
import { createVaultSecretProvider, type VaultOptions } from './vault/index.js';

export { parseSecretReference, selectKey } from './reference.js';
export { SecretResolver, DEFAULT_SECRET_CACHE_TTL_MS } from './resolver.js';
export type { ReferenceResolver, SecretProvider, SecretProviderLogger, SecretReference } from './types.js';
export type { AwsSecretsManagerOptions } from './aws-sm/index.js';
export type { AzureCredentialOptions, AzureKeyVaultOptions } from './azure-kv/index.js';
export type { GcpSecretManagerOptions } from './gcp-sm/index.js';
export type { VaultAuth, VaultOptions } from './vault/index.js';

/** Settings of every secret store; a store whose section is absent is not registered. */
export interface SecretProvidersOptions {
  vault?: VaultOptions;
  aws?: AwsSecretsManagerOptions;
  azure?: AzureKeyVaultOptions;
  gcp?: GcpSecretManagerOptions;
  /** Where providers report token renewals and re-logins; never given a secret value. */
  logger?: SecretProviderLogger;
  /** The environment `env://` reads; defaults to `process.env`. */
  environment?: NodeJS.ProcessEnv;
}

/** The providers this build ships: `env` and `file` always, each cloud store only when configured. */
export function builtInSecretProviders(options: SecretProvidersOptions = {}): SecretProvider[] {
  const providers: SecretProvider[] = [
    createEnvSecretProvider(options.environment),
    createFileSecretProvider(),
  ];
  const logger = options.logger;
  if (options.vault) providers.push(createVaultSecretProvider({ logger, ...options.vault }));
  // Credentials of one cloud store may live in env, a file or Vault, never in the store they unlock.
  const bootstrap = [...providers];
  const resolveReference: ReferenceResolver = async (raw, signal) => {
    const reference = parseSecretReference(raw);
    const provider = bootstrap.find((candidate) => candidate.scheme === reference.scheme);
    if (!provider) {
      throw new Codes.SDR_ERR_SECRET_PROVIDER_UNKNOWN(raw, bootstrap.map((p) => p.scheme).join(', '));
    }
    return provider.resolve(reference, signal);
  };
  if (options.aws) providers.push(createAwsSecretsManagerProvider({ resolveReference, ...options.aws }));
  if (options.azure) providers.push(createAzureKeyVaultProvider({ resolveReference, ...options.azure }));
  if (options.gcp) providers.push(createGcpSecretManagerProvider(options.gcp));
  return providers;
}

export { SECRET_SETTING_NAMES, secretSettingsFrom, type SecretSettings } from './settings.js';
