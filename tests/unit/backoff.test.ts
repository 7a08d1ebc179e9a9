import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from '../../runtime/backoff.js';

describe('fullJitterDelay', () => {
  it('grows exponentially up to the cap and spans zero to the ceiling', () => {
    expect(fullJitterDelay(0, 500, 60_000, () => 0.999)).toBe(499);
    expect(fullJitterDelay(3, 500, 60_000, () => 0.999)).toBe(3_996);
    expect(fullJitterDelay(40, 500, 60_000, () => 0.999)).toBe(59_940);
    expect(fullJitterDelay(40, 500, 60_000, () => 0)).toBe(0);
  });
});
