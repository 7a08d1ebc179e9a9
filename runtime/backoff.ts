/**
 * Exponential backoff with full jitter: a random delay in [0, min(cap, base·2^attempt)], so a fleet of
 * runtimes reconnecting after a cloud outage spreads out instead of arriving together.
 */
export function fullJitterDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
