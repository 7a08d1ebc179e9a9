import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Limiter, mapOrdered } from '../../adapters/shared/index.js';
import {
  abortReason,
  delay,
  describeIssues,
  isDeadline,
  MAX_PROBLEM_CHARS,
  raceAbort,
  raceInterrupt,
  scrubSecrets,
  throwIfAborted,
  withDeadline,
} from '../../common/index.js';

/** A promise settled from outside, so a test decides the order operations finish in. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every queued promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Limiter', () => {
  it('never runs more than its bound, and starts waiters in arrival order', async () => {
    const limiter = new Limiter(2);
    const gates = Array.from({ length: 6 }, () => deferred<void>());
    const started: number[] = [];
    let running = 0;
    let peak = 0;
    const all = gates.map((gate, i) =>
      limiter.run(async () => {
        started.push(i);
        running += 1;
        peak = Math.max(peak, running);
        await gate.promise;
        running -= 1;
        return i;
      }),
    );
    await settle();
    expect(started).toEqual([0, 1]);
    // Finish out of order: the freed slot goes to the oldest waiter, not to whoever asked last.
    gates[1]!.resolve();
    await settle();
    expect(started).toEqual([0, 1, 2]);
    for (const gate of gates) gate.resolve();
    expect(await Promise.all(all)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(peak).toBe(2);
  });

  it('passes an error to its caller and frees the slot', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limiter.run(async () => 'next')).toBe('next');
  });
});

describe('mapOrdered', () => {
  it('yields in input order whatever order the calls finish in, with at most `limit` in flight', async () => {
    const gates = Array.from({ length: 5 }, () => deferred<void>());
    let running = 0;
    let peak = 0;
    const generator = mapOrdered([0, 1, 2, 3, 4], 3, async (i) => {
      running += 1;
      peak = Math.max(peak, running);
      await gates[i]!.promise;
      running -= 1;
      return i * 10;
    });
    const out: number[] = [];
    const consumed = (async () => {
      for await (const value of generator) out.push(value);
    })();
    // Later items finish first; nothing is yielded before item 0.
    gates[2]!.resolve();
    gates[1]!.resolve();
    await settle();
    expect(out).toEqual([]);
    for (const gate of gates) gate.resolve();
    await consumed;
    expect(out).toEqual([0, 10, 20, 30, 40]);
    expect(peak).toBe(3);
  });

  it('surfaces a failure when its turn comes and reports no unhandled rejection for the rest', async () => {
    const out: number[] = [];
    const run = async () => {
      for await (const value of mapOrdered([0, 1, 2, 3], 4, async (i) => {
        if (i >= 2) throw new Error(`item ${i} failed`);
        return i;
      }))
        out.push(value);
    };
    await expect(run()).rejects.toThrow('item 2 failed');
    expect(out).toEqual([0, 1]);
  });
});

describe('abort helpers', () => {
  it('raceAbort settles with the promise when nothing aborts, and passes its error on', async () => {
    const signal = new AbortController().signal;
    expect(await raceAbort(Promise.resolve(7), signal)).toBe(7);
    await expect(raceAbort(Promise.reject(new Error('source said no')), signal)).rejects.toThrow(
      'source said no',
    );
    expect(await raceAbort(Promise.resolve('no signal'))).toBe('no signal');
  });

  it('raceAbort rejects with the reason as soon as the signal aborts, though the promise never settles', async () => {
    const controller = new AbortController();
    const never = new Promise<never>(() => undefined);
    const raced = raceAbort(never, controller.signal);
    const reason = new Error('job stopped');
    controller.abort(reason);
    await expect(raced).rejects.toBe(reason);
    await expect(raceAbort(never, controller.signal)).rejects.toBe(reason);
  });

  it('raceInterrupt rejects when its event fires first, and leaves no listener behind either way', async () => {
    const events = new EventTarget();
    let listening = 0;
    const onDrop = (fail: (error: Error) => void) => {
      const listener = (): void => fail(new Error('connection dropped'));
      events.addEventListener('drop', listener);
      listening++;
      return () => {
        events.removeEventListener('drop', listener);
        listening--;
      };
    };
    const never = new Promise<never>(() => undefined);
    const raced = raceInterrupt(never, onDrop);
    events.dispatchEvent(new Event('drop'));
    await expect(raced).rejects.toThrow('connection dropped');

    const page = deferred<string>();
    const reading = raceInterrupt(page.promise, onDrop);
    page.resolve('rows');
    expect(await reading).toBe('rows');
    await settle();
    expect(listening).toBe(0);
  });

  it('delay rejects promptly with the reason when aborted, long before it would have elapsed', async () => {
    const controller = new AbortController();
    const waiting = delay(3_600_000, controller.signal);
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    await expect(delay(3_600_000, controller.signal)).rejects.toThrow('cancelled');
    await expect(delay(1)).resolves.toBeUndefined();
  });

  it('abortReason keeps an Error reason and makes an AbortError otherwise', () => {
    const controller = new AbortController();
    controller.abort('a string');
    expect(abortReason(controller.signal)).toMatchObject({ name: 'AbortError' });
    expect(() => throwIfAborted(controller.signal)).toThrow(/aborted/);
    expect(() => throwIfAborted(undefined)).not.toThrow();
  });

  it('withDeadline aborts with a TimeoutError at the deadline, and with the reason on cancellation', async () => {
    const deadline = withDeadline(10);
    await expect(delay(3_600_000, deadline)).rejects.toSatisfy(isDeadline);
    const controller = new AbortController();
    const combined = withDeadline(3_600_000, controller.signal);
    const reason = new Error('job stopped');
    controller.abort(reason);
    expect(combined.aborted).toBe(true);
    expect(abortReason(combined)).toBe(reason);
    expect(isDeadline(reason)).toBe(false);
  });
});

describe('scrubSecrets', () => {
  it('replaces every occurrence of each secret and leaves values too short to be credentials', () => {
    expect(scrubSecrets('pw=hunter22; again hunter22; key=k3y-material', ['hunter22', 'k3y-material'])).toBe(
      'pw=[redacted]; again [redacted]; key=[redacted]',
    );
    expect(scrubSecrets('a b c', ['a', ''])).toBe('a b c');
  });
});

describe('describeIssues', () => {
  it('names each issue by path on one line and stays bounded for hostile input', () => {
    const schema = z.object({ port: z.number(), hosts: z.array(z.string()) });
    const one = schema.safeParse({ port: 'x', hosts: ['a'] });
    expect(one.success).toBe(false);
    expect(describeIssues(one.error!)).toMatch(/^port: /);
    const many = z.array(z.number()).safeParse(Array.from({ length: 5_000 }, () => 'x'.repeat(10_000)));
    const text = describeIssues(many.error!, 'list');
    expect(text).toContain('and 4980 more problems');
    expect(text).not.toContain('\n');
    expect(text.length).toBeLessThanOrEqual(MAX_PROBLEM_CHARS + 40);
  });
});
