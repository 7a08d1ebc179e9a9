/**
 * Helpers every adapter shares (one of each, not a copy per adapter). Adapters may import this module
 * and nothing of another adapter (lint-enforced).
 */
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
export { describeIssues, MAX_PROBLEM_CHARS, parseLimits, quote, truncate } from './options.js';
