import { describe, expect, it } from 'vitest';
import { AlreadyCommitted, AttemptStream, type FrameLink } from '../../runtime/attempt-stream.js';

class FakeLink implements FrameLink {
  isUp = true;
  window = 2;
  sent: { type: string; seq?: number }[] = [];
  creditWindow() {
    return this.window;
  }
  sendText(text: string) {
    if (!this.isUp) return false;
    this.sent.push(JSON.parse(text));
    return true;
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('AttemptStream', () => {
  it('never has more unacknowledged batches in flight than the credit window', async () => {
    const link = new FakeLink();
    const stream = new AttemptStream(link, 'r1', 1, new AbortController().signal);
    let sentCount = 0;
    const producer = (async () => {
      for (let i = 0; i < 5; i++) {
        await stream.sendBatch([JSON.stringify({ kind: 'k', key: String(i) })]);
        sentCount++;
      }
    })();
    await tick();
    expect(sentCount).toBe(2);
    stream.acknowledge(0);
    await tick();
    expect(sentCount).toBe(3);
    stream.acknowledge(2);
    await producer;
    expect(link.sent.map((frame) => frame.seq)).toEqual([0, 1, 2, 3, 4]);
  });

  it('pauses while the link is down and resends unacknowledged batches in order when it returns', async () => {
    const link = new FakeLink();
    link.window = 10;
    const stream = new AttemptStream(link, 'r1', 1, new AbortController().signal);
    await stream.sendBatch(['{"kind":"k","key":"a"}']);
    await stream.sendBatch(['{"kind":"k","key":"b"}']);
    stream.acknowledge(0);
    link.isUp = false;
    let third = false;
    const pending = stream.sendBatch(['{"kind":"k","key":"c"}']).then(() => (third = true));
    await tick();
    expect(third).toBe(false);
    link.isUp = true;
    link.sent = [];
    stream.resend();
    await pending;
    expect(link.sent.map((frame) => frame.seq)).toEqual([1, 2]);
  });

  it('sends job.end only after every batch is acknowledged and resolves on commit', async () => {
    const link = new FakeLink();
    const stream = new AttemptStream(link, 'r1', 3, new AbortController().signal);
    await stream.sendBatch(['{"kind":"k","key":"a"}']);
    const ended = stream.end({ records: 1, sha256: 'f'.repeat(64), warnings: [] });
    await tick();
    expect(link.sent.some((frame) => frame.type === 'job.end')).toBe(false);
    stream.acknowledge(0);
    await tick();
    expect(link.sent.at(-1)).toMatchObject({ type: 'job.end', attempt: 3, batches: 1, records: 1 });
    stream.committed({ type: 'job.committed', requestId: 'r1', attempt: 3, records: 1 });
    await expect(ended).resolves.toMatchObject({ records: 1 });
  });

  it('stops the producer when the cloud says the job is already committed', async () => {
    const link = new FakeLink();
    link.window = 1;
    const stream = new AttemptStream(link, 'r1', 2, new AbortController().signal);
    await stream.sendBatch(['{"kind":"k","key":"a"}']);
    const blocked = stream.sendBatch(['{"kind":"k","key":"b"}']);
    stream.committed({ type: 'job.committed', requestId: 'r1', attempt: 1, records: 7 });
    await expect(blocked).rejects.toBeInstanceOf(AlreadyCommitted);
  });

  it('fails the attempt with a retryable coded error when the cloud refuses it', async () => {
    const link = new FakeLink();
    const stream = new AttemptStream(link, 'r1', 1, new AbortController().signal);
    const ended = stream.end({ records: 0, sha256: '0'.repeat(64), warnings: [] });
    await tick();
    stream.refused({
      type: 'job.nack',
      requestId: 'r1',
      attempt: 1,
      code: 'CHECKSUM_MISMATCH',
      message: 'sha256 differs',
    });
    await expect(ended).rejects.toMatchObject({ code: 'SDR_ERR_ATTEMPT_REFUSED', retryable: true });
  });

  it('rejects a waiting send promptly when the job is aborted', async () => {
    const link = new FakeLink();
    link.isUp = false;
    const controller = new AbortController();
    const stream = new AttemptStream(link, 'r1', 1, controller.signal);
    const waiting = stream.sendBatch(['{"kind":"k","key":"a"}']);
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
  });
});
