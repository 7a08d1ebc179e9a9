import { z } from 'zod';
import { Codes } from '../../protocol/index.js';
import { globListSchema, parseLimits } from '../shared/index.js';
import type { ConnectionScope } from '../types.js';
import type { KafkaExtractOptions } from './options.js';

const limitsSchema = z
  .object({
    /** Topics (globs, case-sensitive) a request may catalog; a request's topic filter is narrowed to these. */
    topics: globListSchema.default(['*']),
    /** Consumer groups a request may catalog. */
    groups: globListSchema.default(['*']),
    /** Schema Registry subjects a request may catalog. */
    subjects: globListSchema.default(['*']),
    /** Whether a request may ask for internal topics (`includeInternalTopics`). */
    internalTopics: z.boolean().default(true),
    /** Whether a request may crawl the connection's Schema Registry (schema texts). */
    schemaRegistry: z.boolean().default(true),
  })
  .strict();

/** A kafka connection's ceilings, from `limits:` in the connections file. */
export type KafkaLimits = z.infer<typeof limitsSchema>;

function parse(scope: ConnectionScope): KafkaLimits {
  return parseLimits(limitsSchema, scope.limits, scope.name);
}

/** Refuses options asking for what the connection's limits do not allow (at admission and job start). */
export function checkKafkaLimits(options: KafkaExtractOptions | undefined, scope: ConnectionScope): void {
  const limits = parse(scope);
  if (options === undefined) return;
  if (options.includeInternalTopics && !limits.internalTopics) {
    throw new Codes.SDR_ERR_INVALID_OPTIONS(
      scope.name,
      'includeInternalTopics: this connection does not allow internal topics (limits.internalTopics)',
    );
  }
}

/** The options narrowed to the connection's limits: name filters get the ceiling, denied parts switch off. */
export function narrowToLimits(options: KafkaExtractOptions, scope: ConnectionScope): KafkaExtractOptions {
  const limits = parse(scope);
  return {
    ...options,
    topics: { ...options.topics, within: limits.topics },
    groups: { ...options.groups, within: limits.groups },
    subjects: { ...options.subjects, within: limits.subjects },
    includeInternalTopics: options.includeInternalTopics && limits.internalTopics,
    schemaRegistry: options.schemaRegistry && limits.schemaRegistry,
  };
}
