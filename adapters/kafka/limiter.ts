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
