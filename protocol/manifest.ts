import { z } from 'zod';

/** Version of the manifest layout below; bumped on any change a reader could misread. */
export const MANIFEST_SCHEMA_VERSION = 1;

/** Name of the object written last in an attempt's prefix; a prefix without it is an unfinished attempt. */
export const MANIFEST_NAME = 'manifest.json';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().nonnegative();

/** One compressed JSONL part; `sha256` and `bytes` are over its uncompressed lines. */
export const manifestPartSchema = z.object({
  name: z.string().regex(/^part-\d{5}\.jsonl\.(gz|zst)$/),
  records: count,
  bytes: count,
  sha256,
  compressedBytes: count,
});
export type ManifestPart = z.infer<typeof manifestPartSchema>;

/**
 * The manifest of one attempt (bucket and presigned delivery, docs/delivery.md). `sha256` and `bytes` are
 * over the whole uncompressed JSONL: the same digest tunnel delivery reports in `job.end`.
 */
export const manifestSchema = z.object({
  schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
  requestId: z.string().min(1),
  attempt: z.number().int().positive(),
  agentId: z.string(),
  connection: z.string().min(1),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  compression: z.enum(['gzip', 'zstd']),
  records: count,
  bytes: count,
  sha256,
  parts: z.array(manifestPartSchema),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** File name of part `index` for a compression. */
export function partName(index: number, compression: Manifest['compression']): string {
  return `part-${String(index).padStart(5, '0')}.jsonl.${compression === 'gzip' ? 'gz' : 'zst'}`;
}
