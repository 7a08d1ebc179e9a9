/**
 * Object-store clients for result delivery (runtime: write) and reading (reference cloud), one per cloud.
 * Each SDK is imported only when a store of its kind is opened.
 */
import type { ObjectStore, StoreOptions } from './types.js';

export * from './types.js';
export type { StoreAction } from './errors.js';
export { proxyUrlFor } from './http-agents.js';
export { dispatcherFor } from './dispatchers.js';

/** Opens a store; loads that provider's SDK on first use. */
export async function openStore(options: StoreOptions): Promise<ObjectStore> {
  switch (options.provider) {
    case 's3':
      return (await import('./s3.js')).createS3Store(options);
    case 'azure':
      return (await import('./azure.js')).createAzureStore(options);
    case 'gcs':
      return (await import('./gcs.js')).createGcsStore(options);
  }
}
