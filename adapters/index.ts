/** Source adapters, registered in one place. Adapters never import the runtime. */
import { createKafkaAdapter } from './kafka/index.js';
import { createPostgresAdapter } from './postgres/index.js';
import { createSagemakerAdapter } from './sagemaker/index.js';
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

/** The adapters this build ships, by connection type. */
export function builtInAdapters(): SourceAdapter<unknown>[] {
  return [createPostgresAdapter(), createKafkaAdapter(), createSagemakerAdapter()];
}
