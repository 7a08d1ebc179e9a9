/**
 * Helpers every adapter shares (one of each, not a copy per adapter): name filter, bounded concurrency,
 * abort, error formatting, secret scrubbing. Adapters may import this module and nothing of another
 * adapter (lint-enforced); what secret providers and the runtime also need lives in common/ and is
 * re-exported here.
 */
export {
  abortReason,
  delay,
  describeIssues,
  isDeadline,
  MAX_PROBLEM_CHARS,
  quote,
  raceAbort,
  raceInterrupt,
  scrubSecrets,
  throwIfAborted,
  truncate,
  withDeadline,
} from '../../common/index.js';
export { Limiter, mapOrdered } from './concurrency.js';
export {
  compileGlob,
  createNameFilter,
  globListSchema,
  globPatternSchema,
  globToRegexSource,
  MAX_PATTERN_LENGTH,
  MAX_PATTERNS_PER_LIST,
  type NameCase,
  type NameFilterLists,
} from './name-filter.js';
export { parseLimits } from './options.js';
