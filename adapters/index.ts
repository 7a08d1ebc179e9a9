/** Source adapters, registered in one place. Adapters never import the runtime. */
import { createKafkaAdapter } from './kafka/index.js';
import { createPostgresAdapter } from './postgres/index.js';
import { createSagemakerAdapter } from './sagemaker/index.js';
import type { SourceAdapter } from './types.js';

export type {
  AdapterContext,
  AdapterLogger,
  ConnectionScope,
  SourceAdapter,
  SourceConnection,
} from './types.js';

/** The adapters this build ships, by connection type. */
export function builtInAdapters(): SourceAdapter<unknown>[] {
  return [createPostgresAdapter(), createKafkaAdapter(), createSagemakerAdapter()];
}
