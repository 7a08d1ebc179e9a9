/** Secret providers, registered in one place. Providers never import the runtime. */
import { createEnvSecretProvider } from './env/index.js';
import { createFileSecretProvider } from './file/index.js';
import type { SecretProvider } from './types.js';

export { parseSecretReference, selectKey } from './reference.js';
export { SecretResolver } from './resolver.js';
export type { SecretProvider, SecretReference } from './types.js';

/** The providers this build ships. */
export function builtInSecretProviders(): SecretProvider[] {
  return [createEnvSecretProvider(), createFileSecretProvider()];
}
