/**
 * Kafka + Schema Registry adapter: read-only cluster metadata (cluster, topics, consumer groups, schema
 * subjects) through one admin connection. It never produces, joins a group or commits an offset.
 */
import type { AdapterContext, MetadataRecord, SourceAdapter, SourceConnection } from '../types.js';
import { AdminSession } from './admin-session.js';
import { extractKafka } from './extract.js';
import type { KafkaExtractOptions } from './options.js';
import { parseKafkaExtractOptions } from './options.js';
import { checkKafkaLimits, narrowToLimits } from './limits.js';
import { SchemaRegistryClient } from './schema-registry.js';
import { compileKafkaSettings } from './settings.js';

export type { KafkaExtractOptions } from './options.js';
export { ALWAYS_REPORTED_BROKER_CONFIGS, ALWAYS_REPORTED_CONFIGS, recordKeys } from './extract.js';

/** The connection `type` this adapter answers to. */
export const KAFKA_SOURCE_TYPE = 'kafka';

/** Creates the Kafka adapter; it holds no state between jobs. */
export function createKafkaAdapter(): SourceAdapter<KafkaExtractOptions> {
  return {
    type: KAFKA_SOURCE_TYPE,

    parseOptions(raw: Record<string, unknown>, connection: string): KafkaExtractOptions {
      return parseKafkaExtractOptions(raw, connection);
    },

    checkLimits: checkKafkaLimits,

    async check(connection: SourceConnection, context: AdapterContext): Promise<Record<string, unknown>> {
      const settings = compileKafkaSettings(connection);
      const session = new AdminSession(settings, context.signal);
      const registry = settings.schemaRegistry
        ? new SchemaRegistryClient(settings.schemaRegistry, context.signal, settings.maxInFlight)
        : undefined;
      try {
        const cluster = await session.clusterMetadata();
        const topics = cluster.topics;
        const facts: Record<string, unknown> = {
          clusterId: cluster.clusterId,
          controllerId: cluster.controllerId,
          brokers: cluster.brokers.length,
          topics: topics.filter((t) => !t.internal).length,
          authType: settings.authType,
        };
        if (registry) {
          facts.schemaRegistryUrl = registry.url;
          facts.schemaRegistrySubjects = (await registry.subjects()).length;
        }
        return facts;
      } finally {
        await registry?.close();
        await session.close();
      }
    },

    extract(
      connection: SourceConnection,
      options: KafkaExtractOptions,
      context: AdapterContext,
    ): AsyncIterable<MetadataRecord> {
      const scope = { name: connection.name, limits: connection.limits ?? {} };
      return extractWithClients(connection, narrowToLimits(options, scope), context);
    },
  };
}

async function* extractWithClients(
  connection: SourceConnection,
  options: KafkaExtractOptions,
  context: AdapterContext,
): AsyncGenerator<MetadataRecord> {
  const settings = compileKafkaSettings(connection);
  const maxInFlight = options.maxInFlight ?? settings.maxInFlight;
  const session = new AdminSession(settings, context.signal, maxInFlight);
  const registry =
    settings.schemaRegistry && options.schemaRegistry
      ? new SchemaRegistryClient(settings.schemaRegistry, context.signal, maxInFlight)
      : undefined;
  try {
    yield* extractKafka(session, registry, settings, options, context);
  } finally {
    // Release in reverse order of acquisition.
    await registry?.close();
    await session.close();
  }
}
