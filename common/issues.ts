import type { z } from 'zod';

/** Longest problem description an options error carries; the cloud sees it in a rejection frame. */
export const MAX_PROBLEM_CHARS = 2_000;

/** Longest value quoted back from a bad option, so a megabyte-sized input is not echoed. */
const MAX_QUOTED_CHARS = 80;

/** Issues named one by one before the rest are only counted. */
const MAX_ISSUES = 20;

/** Shortens text for a message, saying how much was cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** A value quoted in an error message, cut short. */
export function quote(value: string): string {
  return JSON.stringify(truncate(value, MAX_QUOTED_CHARS));
}

/**
 * One line naming every zod issue (`path: message; …`; `root` for an issue about the whole value),
 * bounded in length: messages built from a hostile request must stay small enough to send back in
 * one frame. The one zod-issue formatter of adapters, secret providers and storage.
 */
export function describeIssues(error: z.ZodError, root = '(options)'): string {
  const text = error.issues
    .slice(0, MAX_ISSUES)
    .map(
      (issue) =>
        `${issue.path.length > 0 ? issue.path.join('.') : root}: ${truncate(issue.message, MAX_QUOTED_CHARS * 2)}`,
    )
    .join('; ');
  const more =
    error.issues.length > MAX_ISSUES ? `; and ${error.issues.length - MAX_ISSUES} more problems` : '';
  return truncate(text + more, MAX_PROBLEM_CHARS);
}
