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
