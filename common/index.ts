/**
 * Helpers shared by adapters, secret providers, storage clients and the runtime: one abort helper, one
 * secret scrubber, one zod-issue formatter. Imports nothing of ours but protocol/ (lint-enforced), so
 * every layer may import it.
 */
export {
  abortReason,
  delay,
  isDeadline,
  raceAbort,
  raceInterrupt,
  throwIfAborted,
  withDeadline,
} from './abort.js';
export { describeIssues, MAX_PROBLEM_CHARS, quote, truncate } from './issues.js';
export { MIN_SCRUBBED_LENGTH, scrubSecrets } from './scrub.js';
