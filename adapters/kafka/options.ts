import { z } from 'zod';
import { Codes } from '../../protocol/index.js';
import { createNameFilter, describeIssues, globListSchema } from '../shared/index.js';

const patternList = globListSchema;
const filterSchema = z
  .object({ include: patternList.default(['*']), exclude: patternList.default([]) })
  .strict()
  .default({ include: ['*'], exclude: [] });

const extractOptionsSchema = z
  .object({
    /** Glob patterns (`*`, `?`) on topic names; exclude wins over include. */
    topics: filterSchema,
    /** Glob patterns on consumer group ids. */
    groups: filterSchema,
    /** Glob patterns on Schema Registry subjects. */
    subjects: filterSchema,
    /** Internal topics (`__consumer_offsets`, ...) are skipped unless this is true. */
    includeInternalTopics: z.boolean().default(false),
    /** Groups in state EMPTY are cataloged (with their committed offsets) unless this is false. */
    includeEmptyGroups: z.boolean().default(true),
    /** Sizes from DescribeLogDirs; off saves one request per batch on clusters that deny it. */
    logDirSizes: z.boolean().default(true),
    /** Crawl the connection's Schema Registry, when it has one. */
    schemaRegistry: z.boolean().default(true),
    /** Topics (or groups) per DescribeConfigs / ListOffsets / DescribeGroups request. */
    batchSize: z.number().int().min(1).max(2000).default(250),
    /** Overrides the connection's maxInFlight for this job. */
    maxInFlight: z.number().int().min(1).max(64).optional(),
  })
  .strict();

/** One include/exclude filter; `within` is the connection's ceiling, set from its limits, never by a request. */
export type KafkaNameFilter = { include: string[]; exclude: string[]; within?: readonly string[] };

/** Validated extraction options of the Kafka adapter. */
export type KafkaExtractOptions = Omit<
  z.infer<typeof extractOptionsSchema>,
  'topics' | 'groups' | 'subjects'
> & {
  topics: KafkaNameFilter;
  groups: KafkaNameFilter;
  subjects: KafkaNameFilter;
};

/** Validates options sent by the cloud; throws `SDR_ERR_INVALID_OPTIONS` naming each bad field. */
export function parseKafkaExtractOptions(
  raw: Record<string, unknown>,
  connection: string,
): KafkaExtractOptions {
  const parsed = extractOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Codes.SDR_ERR_INVALID_OPTIONS(connection, describeIssues(parsed.error));
  }
  return parsed.data;
}

/**
 * Compiles include/exclude glob lists into one predicate with the adapters' shared linear-time matcher;
 * `*` matches any run, `?` one character, case-sensitive (Kafka names are). `within` is the connection's
 * ceiling (limits), applied on top of the request's lists.
 */
export function nameFilter(filter: {
  include: readonly string[];
  exclude: readonly string[];
  within?: readonly string[];
}): (name: string) => boolean {
  const requested = createNameFilter(filter, 'sensitive', 'none');
  const ceiling = filter.within ? createNameFilter({ include: filter.within }, 'sensitive') : () => true;
  return (name) => ceiling(name) && requested(name);
}
