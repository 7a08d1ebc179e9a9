/**
 * Source adapters, registered in one place. Adapters never import the runtime. Each adapter's module (and
 * its driver or SDK) is imported only when a connection uses it.
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

/** Where an adapter's module lives, so a job's worker thread can load it on its own. */
export interface AdapterModule {
  readonly type: string;
  /** URL of the module, importable from any thread. */
  readonly url: string;
  /** Name of the exported factory that returns the adapter. */
  readonly factory: string;
}

const moduleOf = (type: string, path: string, factory: string): AdapterModule => ({
  type,
  url: new URL(path, import.meta.url).href,
  factory,
});

/** The modules of the adapters `builtInAdapters` returns, by connection type. */
export const builtInAdapterModules: readonly AdapterModule[] = [
  moduleOf('postgres', './postgres/index.js', 'createPostgresAdapter'),
  moduleOf('kafka', './kafka/index.js', 'createKafkaAdapter'),
  moduleOf('sagemaker', './sagemaker/index.js', 'createSagemakerAdapter'),
];

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
