/**
 * Secret providers, registered in one place. Providers never import the runtime and never read
 * `process.env` for their own settings: `runtime/config.ts` compiles `SecretProvidersOptions` from the
 * environment (see docs/secrets.md). The cloud SDKs still read their own standard variables for their
 * default credential chains (AWS_*, AZURE_*, GOOGLE_APPLICATION_CREDENTIALS), as they should.
 *
 * Each cloud store's module (and so its SDK) is imported only when its settings are present: a runtime
 * that reads secrets from files never pays the ~70 MB and seconds of start-up the SDKs cost.
 */
import type { AwsSecretsManagerOptions } from './aws-sm/index.js';
import type { AzureKeyVaultOptions } from './azure-kv/index.js';
import { createEnvSecretProvider } from './env/index.js';
import { createFileSecretProvider } from './file/index.js';
import type { GcpSecretManagerOptions } from './gcp-sm/index.js';
import { Codes } from '../protocol/index.js';
import { parseSecretReference } from './reference.js';
import type { ReferenceResolver, SecretProvider, SecretProviderLogger } from './types.js';
import type { VaultOptions } from './vault/index.js';

export { parseSecretReference, selectKey } from './reference.js';
export { SecretResolver, DEFAULT_SECRET_CACHE_TTL_MS, assertReferenceResolvable } from './resolver.js';
export { SECRET_STORE_SETTINGS } from './store-settings.js';
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

/** The schemes `builtInSecretProviders` registers for these settings, without loading any store's module. */
export function configuredSecretSchemes(options: SecretProvidersOptions = {}): string[] {
  return [
    'env',
    'file',
    ...(options.vault ? ['vault'] : []),
    ...(options.aws ? ['aws-sm'] : []),
    ...(options.azure ? ['azure-kv'] : []),
    ...(options.gcp ? ['gcp-sm'] : []),
  ];
}

/**
 * The providers this build ships: `env` and `file` always, each cloud store only when configured — and
 * only then is its module (and SDK) imported.
 */
export async function builtInSecretProviders(
  options: SecretProvidersOptions = {},
): Promise<SecretProvider[]> {
  const providers: SecretProvider[] = [
    createEnvSecretProvider(options.environment),
    createFileSecretProvider(),
  ];
  const logger = options.logger;
  if (options.vault) {
    const { createVaultSecretProvider } = await import('./vault/index.js');
    providers.push(createVaultSecretProvider({ logger, ...options.vault }));
  }
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
  if (options.aws) {
    const { createAwsSecretsManagerProvider } = await import('./aws-sm/index.js');
    providers.push(createAwsSecretsManagerProvider({ resolveReference, ...options.aws }));
  }
  if (options.azure) {
    const { createAzureKeyVaultProvider } = await import('./azure-kv/index.js');
    providers.push(createAzureKeyVaultProvider({ resolveReference, ...options.azure }));
  }
  if (options.gcp) {
    const { createGcpSecretManagerProvider } = await import('./gcp-sm/index.js');
    providers.push(createGcpSecretManagerProvider(options.gcp));
  }
  return providers;
}
