/** Amazon SageMaker: models, jobs, endpoints, feature groups, pipelines and their lineage, read-only. */
import { ListModelsCommand } from '@aws-sdk/client-sagemaker';
import type { AdapterContext, MetadataRecord, SourceAdapter, SourceConnection } from '../types.js';
import { throwIfAborted } from '../shared/index.js';
import { openSession, toSdrError } from './client.js';
import { Extraction } from './extraction.js';
import {
  checkSagemakerLimits,
  narrowToLimits,
  parseExtractOptions,
  parseSettings,
  type SagemakerExtractOptions,
} from './options.js';

export { Kinds as SagemakerKinds } from './records.js';
export { RESOURCE_TYPES as SAGEMAKER_RESOURCE_TYPES, type SagemakerExtractOptions } from './options.js';

/** Creates the `sagemaker` adapter; one instance serves any number of connections and jobs. */
export function createSagemakerAdapter(): SourceAdapter<SagemakerExtractOptions> {
  return {
    type: 'sagemaker',

    parseOptions: parseExtractOptions,
    checkLimits: checkSagemakerLimits,

    async check(connection: SourceConnection, context: AdapterContext): Promise<Record<string, unknown>> {
      const settings = parseSettings(connection);
      const session = openSession(settings, context.signal);
      try {
        const out = await session.client
          .send(new ListModelsCommand({ MaxResults: 1 }), { abortSignal: context.signal })
          .catch((error: unknown) => {
            throwIfAborted(context.signal);
            throw toSdrError(error, connection.name, 'sagemaker:ListModels');
          });
        const arn = out.Models?.[0]?.ModelArn;
        return {
          region: await session.client.config.region(),
          endpoint: settings.endpoint ?? null,
          credentials: settings.roleArn ? `${session.identitySource} + assume-role` : session.identitySource,
          roleArn: settings.roleArn ?? null,
          account: arn?.split(':')[4] ?? null,
          modelsVisible: (out.Models?.length ?? 0) > 0,
        };
      } finally {
        session.destroy();
      }
    },

    async *extract(
      connection: SourceConnection,
      options: SagemakerExtractOptions,
      context: AdapterContext,
    ): AsyncGenerator<MetadataRecord> {
      const settings = parseSettings(connection);
      const narrowed = narrowToLimits(options, { name: connection.name, limits: connection.limits ?? {} });
      const session = openSession(settings, context.signal);
      try {
        yield* new Extraction(
          session,
          connection.name,
          narrowed,
          settings.describeConcurrency,
          context,
        ).run();
      } finally {
        session.destroy();
      }
    },
  };
}
