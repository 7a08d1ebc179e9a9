/**
 * Source adapters, registered in one place. Adapters never import the runtime. Each adapter's module (and
 * its driver or SDK) is imported only when a connection uses it. A job's worker thread loads its adapter
 * through `loadAdapters` too: every adapter import is a literal here, so a bundler follows them all.
 */
import type { SourceAdapter } from './types.js';

export type {
  AdapterContext,
  AdapterLogger,
  ConnectionScope,
  MetadataRecord,
  SourceAdapter,
  SourceConnection,
} from './types.js';

const factories: Readonly<Record<string, () => Promise<SourceAdapter<unknown>>>> = {
  postgres: async () => (await import('./postgres/index.js')).createPostgresAdapter(),
  kafka: async () => (await import('./kafka/index.js')).createKafkaAdapter(),
  sagemaker: async () => (await import('./sagemaker/index.js')).createSagemakerAdapter(),
};

/** The connection types this build has an adapter for, known without loading any adapter. */
export const ADAPTER_TYPES: readonly string[] = Object.freeze(Object.keys(factories));

/** Imports and creates the adapters of these types (unknown types are ignored; the connections check names them). */
export async function loadAdapters(types: Iterable<string>): Promise<SourceAdapter<unknown>[]> {
  const wanted = [...new Set(types)].filter((type) => type in factories);
  return await Promise.all(
    wanted.map((type) => (factories[type] as () => Promise<SourceAdapter<unknown>>)()),
  );
}
