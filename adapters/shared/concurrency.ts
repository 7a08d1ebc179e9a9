/*
 * Bounded concurrency for adapters: `Limiter` caps the calls in flight to one source (a semaphore shared
 * by every caller of a session); `mapOrdered` walks a list with at most N calls in flight and yields in
 * list order (a page of Describes). Both are a few lines; p-limit would replace only the first and add a
 * dependency, so they stay ours.
 */

/** Runs at most `max` async operations at once, in arrival order; the rest wait in a FIFO. */
export class Limiter {
  readonly #max: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  /** Runs `operation` once a slot is free and releases the slot however it ends. */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#max) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    try {
      return await operation();
    } finally {
      // Hand the slot straight to the next waiter so the active count never exceeds the limit.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}

/**
 * Maps `items` through `fn` with at most `limit` calls in flight, yielding results in input order.
 * A failure surfaces when its turn comes; later failures of an abandoned run are swallowed.
 */
export async function* mapOrdered<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): AsyncGenerator<R> {
  const running: Promise<R>[] = [];
  let next = 0;
  const start = (): void => {
    const item = items[next++] as T;
    const pending = fn(item);
    // Awaited in order below; this only keeps an early rejection from being reported as unhandled.
    pending.catch(() => undefined);
    running.push(pending);
  };
  while (next < items.length && running.length < limit) start();
  while (running.length > 0) {
    const result = await (running.shift() as Promise<R>);
    if (next < items.length) start();
    yield result;
  }
}
