import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AttemptStream, type FrameLink } from '../../runtime/attempt-stream.js';
import { PROPERTY_RUNS } from '../support/property-runs.js';

class FakeLink implements FrameLink {
  isUp = true;
  window = 4;
  sent: { type: string; seq?: number }[] = [];
  creditWindow() {
    return this.window;
  }
  sendText(text: string) {
    this.sent.push(JSON.parse(text));
    return true;
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the ack deadline (finding 7)', () => {
  it('re-sends once, then fails the attempt retryably and asks for the link to be recycled', async () => {
    vi.useFakeTimers();
    const link = new FakeLink();
    const expired: string[] = [];
    const stream = new AttemptStream(link, 'r1', 1, new AbortController().signal, {
      timeoutMs: 1_000,
      onExpired: (id) => expired.push(id),
    });
    await stream.sendBatch(['{"kind":"k","key":"a"}']);
    const ending = stream.end({ records: 1, sha256: '0'.repeat(64), warnings: [] });
    const outcome = ending.then(
      () => undefined,
      (error: unknown) => error,
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(link.sent.filter((frame) => frame.type === 'job.batch')).toHaveLength(2);
    expect(expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await outcome).toMatchObject({ code: 'SDR_ERR_ACK_TIMEOUT', retryable: true });
    expect(expired).toEqual(['r1']);
  });

  it('starts over whenever the cloud acknowledges, and stops once committed', async () => {
    vi.useFakeTimers();
    const link = new FakeLink();
    const expired: string[] = [];
    const stream = new AttemptStream(link, 'r1', 1, new AbortController().signal, {
      timeoutMs: 1_000,
      onExpired: (id) => expired.push(id),
    });
    for (let seq = 0; seq < 5; seq += 1) {
      await stream.sendBatch([`{"kind":"k","key":"${seq}"}`]);
      await vi.advanceTimersByTimeAsync(900);
      stream.acknowledge(seq);
    }
    const ending = stream.end({ records: 5, sha256: '0'.repeat(64), warnings: [] });
    await vi.advanceTimersByTimeAsync(900);
    stream.committed({ type: 'job.committed', requestId: 'r1', attempt: 1, records: 5 });
    await expect(ending).resolves.toMatchObject({ records: 5 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(expired).toEqual([]);
    stream.dispose();
  });
});

describe('AttemptStream frame handlers (property)', () => {
  it('never throw and never grow the unacknowledged set, whatever acks, commits and nacks arrive', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('ack' as const), seq: fc.integer({ min: -5, max: 2 ** 31 }) }),
            fc.record({ kind: fc.constant('commit' as const), records: fc.nat() }),
            fc.record({ kind: fc.constant('nack' as const), message: fc.string({ maxLength: 3_000 }) }),
            fc.record({ kind: fc.constant('resend' as const) }),
          ),
          { maxLength: 12 },
        ),
        async (events) => {
          const link = new FakeLink();
          const stream = new AttemptStream(link, 'r', 1, new AbortController().signal);
          await stream.sendBatch(['{"kind":"k","key":"a"}']);
          await stream.sendBatch(['{"kind":"k","key":"b"}']);
          for (const event of events) {
            if (event.kind === 'ack') stream.acknowledge(event.seq);
            else if (event.kind === 'commit')
              stream.committed({ type: 'job.committed', requestId: 'r', attempt: 1, records: event.records });
            else if (event.kind === 'nack')
              stream.refused({
                type: 'job.nack',
                requestId: 'r',
                attempt: 1,
                code: 'X',
                message: event.message,
              });
            else stream.resend();
          }
          // At most the two batches are ever re-sent per resend; nothing else appears.
          return link.sent.every(
            (frame) => frame.type === 'job.batch' && (frame.seq === 0 || frame.seq === 1),
          );
        },
      ),
      { numRuns: PROPERTY_RUNS },
    );
  });
});
