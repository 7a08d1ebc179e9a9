/**
 * The error a cancelled operation rejects with: the signal's reason when it is an Error (a job's stop
 * reason, a deadline's TimeoutError), otherwise a standard AbortError.
 */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new DOMException('This operation was aborted', 'AbortError');
}

/** Throws `abortReason(signal)` when the signal has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * Settles with `promise`, or rejects as soon as `interrupt` fails it first. `interrupt` subscribes to
 * whatever ends the wait (an abort, a dropped connection) and returns its unsubscribe; the abandoned
 * promise's outcome is ignored.
 */
export function raceInterrupt<T>(
  promise: Promise<T>,
  interrupt: (fail: (error: Error) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let unsubscribe: (() => void) | undefined;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      unsubscribe?.();
      return true;
    };
    const off = interrupt((error) => {
      if (settle()) reject(error);
    });
    // Fired while subscribing, before `off` existed.
    if (settled) off();
    else unsubscribe = off;
    promise.then(
      (value) => {
        if (settle()) resolve(value);
      },
      (error: unknown) => {
        if (settle()) reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * Settles with `promise`, or rejects with the signal's reason as soon as `signal` aborts (for clients
 * that take no signal of their own; the abandoned promise's outcome is ignored).
 */
export function raceAbort<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return raceInterrupt(promise, (fail) => {
    const onAbort = (): void => fail(abortReason(signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  });
}

/** Waits `ms`; rejects with the signal's reason as soon as `signal` aborts (and frees the timer). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  // The global timer, not node:timers/promises: tests drive it with fake timers.
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal that aborts when `signal` does or after `ms`, whichever comes first; the deadline's reason
 * is a `TimeoutError` DOMException (`isDeadline` tells it apart from a cancellation).
 */
export function withDeadline(ms: number, signal?: AbortSignal): AbortSignal {
  const deadline = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, deadline]) : deadline;
}

/** True when `error` is the reason a `withDeadline` signal gave up with. */
export function isDeadline(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'TimeoutError';
}
