import { z } from 'zod';
import { Codes } from '../../protocol/index.js';

const patternList = z.array(z.string().min(1).max(500)).max(1000);
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

/** Validated extraction options of the Kafka adapter. */
export type KafkaExtractOptions = z.infer<typeof extractOptionsSchema>;

/** Validates options sent by the cloud; throws `SDR_ERR_INVALID_OPTIONS` naming each bad field. */
export function parseKafkaExtractOptions(
  raw: Record<string, unknown>,
  connection: string,
): KafkaExtractOptions {
  const parsed = extractOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Codes.SDR_ERR_INVALID_OPTIONS(
      connection,
      parsed.error.issues.map((issue) => `${issue.path.join('.') || 'options'}: ${issue.message}`).join('; '),
    );
  }
  return parsed.data;
}

/** Compiles include/exclude glob lists into one predicate; `*` matches any run, `?` one character. */
export function nameFilter(filter: { include: string[]; exclude: string[] }): (name: string) => boolean {
  const compile = (patterns: string[]) =>
    patterns.map(
      (pattern) =>
        new RegExp(
          `^${pattern
            .split('')
            .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
            .join('')}$`,
          's',
        ),
    );
  const include = compile(filter.include);
  const exclude = compile(filter.exclude);
  return (name) => include.some((re) => re.test(name)) && !exclude.some((re) => re.test(name));
}
