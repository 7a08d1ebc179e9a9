import { availableParallelism, loadavg } from 'node:os';

/**
 * The one factor every deadline of the tests and the local stack is multiplied by. SDR_TEST_TIME_SCALE
 * sets it; otherwise it is the machine's load per core when asked (at least 1, at most 10), so a
 * deadline that holds on an idle machine still holds on one that other work keeps busy. vitest.config.ts
 * computes it once at the start of a run and exports it, so every file of a run uses the same value.
 */
export function timeScale(): number {
  const set = Number(process.env.SDR_TEST_TIME_SCALE);
  if (Number.isFinite(set) && set > 0) return set;
  const perCore = (loadavg()[0] ?? 0) / availableParallelism();
  return Math.min(10, Math.max(1, Math.round(perCore * 10) / 10));
}

/** `ms` stretched by the time scale. */
export function scaled(ms: number): number {
  return Math.round(ms * timeScale());
}
