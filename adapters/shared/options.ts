import type { z } from 'zod';
import { describeIssues } from '../../common/index.js';
import { Codes } from '../../protocol/index.js';

/**
 * Parses a connection's `limits` block with an adapter's schema; throws `SDR_ERR_CONNECTIONS_INVALID`
 * naming the connection (the file is the customer's to fix, not the request).
 */
export function parseLimits<T>(
  schema: z.ZodType<T>,
  raw: Readonly<Record<string, unknown>>,
  connection: string,
): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new Codes.SDR_ERR_CONNECTIONS_INVALID(
      `connection "${connection}" → limits`,
      describeIssues(parsed.error, 'limits'),
    );
  return parsed.data;
}
