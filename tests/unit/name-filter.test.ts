import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nameFilter as kafkaNameFilter, parseKafkaExtractOptions } from '../../adapters/kafka/options.js';
import { parseExtractOptions as parsePostgresOptions } from '../../adapters/postgres/options.js';
import {
  nameFilter as sagemakerNameFilter,
  parseExtractOptions as parseSagemakerOptions,
} from '../../adapters/sagemaker/options.js';
import {
  compileGlob,
  createNameFilter,
  globToRegexSource,
  MAX_PATTERN_LENGTH,
  MAX_PATTERNS_PER_LIST,
} from '../../adapters/shared/index.js';
import { PROPERTY_RUNS } from '../support/property-runs.js';

const code = (run: () => unknown): string | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
};

/** The obvious regex translation, fine as a reference on tiny inputs (exponential only on large ones). */
function referenceMatch(glob: string, name: string): boolean {
  const source = Array.from(glob)
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 'su').test(name);
}

describe('shared name filter', () => {
  it('matches like a glob: * any run, ? one character, the rest literal', () => {
    const match = createNameFilter({ include: ['orders.*', 'pay?'], exclude: ['*.dlq'] }, 'sensitive');
    expect(['orders.eu', 'pay1', 'orders.eu.dlq', 'payments', 'ordersX', 'Orders.eu'].filter(match)).toEqual([
      'orders.eu',
      'pay1',
    ]);
    expect(compileGlob('a(b)+[c]')('a(b)+[c]')).toBe(true);
    expect(compileGlob('CHURN-*', 'insensitive')('churn-model')).toBe(true);
    expect(compileGlob('CHURN-*', 'sensitive')('churn-model')).toBe(false);
  });

  it('says what an empty include list means per adapter', () => {
    expect(createNameFilter({}, 'sensitive')('x')).toBe(true);
    expect(createNameFilter({ include: [] }, 'sensitive', 'none')('x')).toBe(false);
  });

  it('agrees with the regex translation on every small input', () => {
    const alphabet = fc.constantFrom('a', 'b', '*', '?', '.', 'é');
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 8 }).map((chars) => chars.join('')),
        fc.array(fc.constantFrom('a', 'b', '.', '*', 'é'), { maxLength: 10 }).map((chars) => chars.join('')),
        (glob, name) => compileGlob(glob)(name) === referenceMatch(glob, name),
      ),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it('answers the patterns that froze the daemon (finding 1) at once', () => {
    // `*`×40 + `!` against long names: a backtracking regex never returns; the linear walk does
    // pattern × name steps. (Before the fix this test hit the test timeout inside the first call.)
    const hostile = `${'*'.repeat(40)}!`;
    const tenStars = `${'a*'.repeat(10)}!`;
    const names = [
      'a'.repeat(30),
      'a'.repeat(10_000),
      `${'*a'.repeat(5_000)}`,
      'x'.repeat(MAX_PATTERN_LENGTH * 40),
    ];
    for (const name of names) {
      expect(kafkaNameFilter({ include: [hostile], exclude: [] })(name)).toBe(false);
      expect(sagemakerNameFilter([tenStars], [])(name)).toBe(false);
      expect(createNameFilter({ include: [`${'*?'.repeat(128)}`] }, 'sensitive')(name)).toBe(
        name.length >= 128,
      );
    }
  });

  it('compiles globs for PostgreSQL with . and .* only', () => {
    expect(globToRegexSource('sales_**')).toBe('^sales_.*$');
    expect(globToRegexSource('a.b?')).toBe('^a\\.b.$');
  });

  it.each([
    ['kafka', (options: Record<string, unknown>) => parseKafkaExtractOptions({ topics: options }, 'k')],
    ['sagemaker', (options: Record<string, unknown>) => parseSagemakerOptions(options, 's')],
    ['postgres', (options: Record<string, unknown>) => parsePostgresOptions({ schemas: options }, 'p')],
  ])('%s caps pattern count and length at admission', (_adapter, parse) => {
    const many = Array.from({ length: MAX_PATTERNS_PER_LIST + 1 }, (_, i) => `t${i}`);
    expect(code(() => parse({ include: many }))).toBe('SDR_ERR_INVALID_OPTIONS');
    expect(code(() => parse({ include: ['x'.repeat(MAX_PATTERN_LENGTH + 1)] }))).toBe(
      'SDR_ERR_INVALID_OPTIONS',
    );
    expect(code(() => parse({ include: many.slice(0, MAX_PATTERNS_PER_LIST) }))).toBeUndefined();
  });

  it('keeps an invalid-options message small however large the input', () => {
    const huge = `/${'('.repeat(1_300_000)}/`;
    let message = '';
    try {
      parsePostgresOptions({ schemas: { include: [huge, huge, huge] } }, 'p');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/invalid/);
    expect(message.length).toBeLessThan(3_000);
  });
});
