import { z } from 'zod';

/**
 * Most patterns one include or exclude list may hold. Checked when a request is admitted, so an
 * oversized list is refused before it reaches Redis (a list is kept with its job for the retention period).
 */
export const MAX_PATTERNS_PER_LIST = 100;

/** Longest pattern, in characters. Matching costs at most pattern length × name length steps. */
export const MAX_PATTERN_LENGTH = 256;

/**
 * How a source compares names. Each adapter states its source's own rule: Kafka topics, groups and
 * subjects and PostgreSQL identifiers are case-sensitive; SageMaker resource names are case-insensitive.
 */
export type NameCase = 'sensitive' | 'insensitive';

/** One glob: `*` any run of characters (also none), `?` exactly one, every other character literal. */
export const globPatternSchema = z.string().min(1).max(MAX_PATTERN_LENGTH);

/** A bounded list of globs, as every adapter's options schema takes it. */
export const globListSchema = z.array(globPatternSchema).max(MAX_PATTERNS_PER_LIST);

/**
 * Compiles one glob into a predicate that runs in O(pattern × name) steps whatever the input: the
 * classic two-pointer walk that, on a mismatch, only ever moves back to just after the last `*`. No
 * regular expression is built, so no pattern can make the matcher backtrack exponentially.
 */
export function compileGlob(glob: string, nameCase: NameCase = 'sensitive'): (name: string) => boolean {
  const fold = nameCase === 'insensitive' ? (text: string) => text.toLowerCase() : (text: string) => text;
  // Runs of `*` mean the same as one; collapsing them keeps the walk short for `***…`.
  const pattern = Array.from(fold(glob).replace(/\*+/g, '*'));
  if (pattern.length === 1 && pattern[0] === '*') return () => true;
  return (name) => globMatches(pattern, Array.from(fold(name)));
}

function globMatches(pattern: readonly string[], name: readonly string[]): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let resumeAt = 0;
  while (n < name.length) {
    const token = pattern[p];
    if (token === '*') {
      star = p++;
      resumeAt = n;
    } else if (token !== undefined && (token === '?' || token === name[n])) {
      p += 1;
      n += 1;
    } else if (star >= 0) {
      // Let the last star swallow one more character and retry from there; earlier stars never move again.
      p = star + 1;
      n = ++resumeAt;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p += 1;
  return p === pattern.length;
}

/** Include/exclude lists; an empty include list means "every name". Exclude wins over include. */
export interface NameFilterLists {
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
}

/**
 * The one name filter every adapter uses: a name passes when it matches an include glob and no exclude
 * glob. An empty include list means every name (`emptyInclude: 'all'`, the default) or none (`'none'`,
 * for adapters whose include list defaults to `['*']`, so `[]` is how a request selects nothing).
 */
export function createNameFilter(
  lists: NameFilterLists,
  nameCase: NameCase,
  emptyInclude: 'all' | 'none' = 'all',
): (name: string) => boolean {
  const include = (lists.include ?? []).map((glob) => compileGlob(glob, nameCase));
  const exclude = (lists.exclude ?? []).map((glob) => compileGlob(glob, nameCase));
  const noIncludes = emptyInclude === 'all';
  return (name) =>
    (include.length === 0 ? noIncludes : include.some((matches) => matches(name))) &&
    !exclude.some((matches) => matches(name));
}

/**
 * The anchored regular-expression source of one glob, for sources that filter server-side (PostgreSQL
 * pushes names into its catalog queries). Only `.` and `.*` are produced, which every engine matches
 * without exponential backtracking.
 */
export function globToRegexSource(glob: string): string {
  let out = '^';
  for (const char of glob.replace(/\*+/g, '*')) {
    if (char === '*') out += '.*';
    else if (char === '?') out += '.';
    else if (/[\\^$.|+()[\]{}*?]/.test(char)) out += `\\${char}`;
    else out += char;
  }
  return `${out}$`;
}
