import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Codes, SdrError } from '../../protocol/index.js';

const documented = new Map(
  [
    ...readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8').matchAll(
      /^\| (SDR_ERR_\w+) \| (yes|no) \|/gm,
    ),
  ].map((m) => [m[1], m[2] === 'yes'] as const),
);

describe('error catalogue', () => {
  it.each(Object.entries(Codes))(
    '%s is documented with its retryability and named after its code',
    (code, ErrorClass) => {
      expect(ErrorClass.code).toBe(code);
      expect(documented.get(code)).toBe(ErrorClass.retryable);
      const args = Array.from({ length: ErrorClass.arity }, (_, i) => `arg${i}`);
      const error = new (ErrorClass as new (...args: unknown[]) => SdrError)(...args, {
        cause: new Error('root'),
      });
      expect(error).toBeInstanceOf(SdrError);
      expect(error.name).toBe(code);
      expect(error.code).toBe(code);
      expect((error.cause as Error).message).toBe('root');
    },
  );

  it('documents no code the catalogue lacks', () => {
    expect([...documented.keys()].filter((code) => code !== undefined && !(code in Codes))).toEqual([]);
  });
});
