import type { z } from 'zod';
import { Codes } from '../../protocol/index.js';

/** Longest problem description an options error carries; the cloud sees it in a rejection frame. */
export const MAX_PROBLEM_CHARS = 2_000;

/** Longest value quoted back from a bad option, so a megabyte-sized input is not echoed. */
const MAX_QUOTED_CHARS = 80;

/** Shortens text for a message, saying how much was cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/**
 * One line naming every zod issue (`path: message; …`), bounded in length: messages built from a
 * hostile request must stay small enough to send back in one frame.
 */
export function describeIssues(error: z.ZodError, root = '(options)'): string {
  const text = error.issues
    .slice(0, 20)
    .map(
      (issue) =>
        `${issue.path.length > 0 ? issue.path.join('.') : root}: ${truncate(issue.message, MAX_QUOTED_CHARS * 2)}`,
    )
    .join('; ');
  const more = error.issues.length > 20 ? `; and ${error.issues.length - 20} more problems` : '';
  return truncate(text + more, MAX_PROBLEM_CHARS);
}

/** A value quoted in an error message, cut short. */
export function quote(value: string): string {
  return JSON.stringify(truncate(value, MAX_QUOTED_CHARS));
}

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
