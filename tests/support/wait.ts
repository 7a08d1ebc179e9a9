import { setTimeout as sleep } from 'node:timers/promises';
import { scaled, timeScale } from '../../scripts/time-scale.js';

export { scaled, timeScale };

export interface WaitOptions {
  /** Deadline before scaling; default 10 s. */
  timeoutMs?: number;
  /** Pause between probes; default 50 ms. */
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than undefined/false, and returns that. On the
 * deadline it throws naming what it waited for and what it saw last (the probe's last value, as given
 * by `seen`, or its last error).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions & { seen?: () => unknown } = {},
): Promise<T> {
  const timeoutMs = scaled(options.timeoutMs ?? 10_000);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = options.seen ? options.seen() : value;
    } catch (error) {
      last = `error: ${(error as Error).message}`;
    }
    if (Date.now() >= deadline) {
      const shown = typeof last === 'string' ? last : (JSON.stringify(last) ?? String(last));
      throw new Error(
        `timed out after ${timeoutMs} ms (time scale ${timeScale()}) waiting for ${what}; last seen: ${shown}`,
      );
    }
    await sleep(options.intervalMs ?? 50);
  }
}
