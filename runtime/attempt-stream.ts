import { Codes, type FrameOf, type SdrError } from '../protocol/index.js';

/** The part of the tunnel an attempt needs: send encoded text when up, and the current credit window. */
export interface FrameLink {
  readonly isUp: boolean;
  sendText(text: string): boolean;
  creditWindow(): number;
}

/** Thrown out of a send when the cloud says the job is already committed: stop extracting, all is well. */
export class AlreadyCommitted extends Error {
  constructor(readonly records: number) {
    super('the cloud already committed this job');
    this.name = 'AlreadyCommitted';
  }
}

/** The deadline for the cloud's acknowledgements, and what to do when it passes. */
export interface AckDeadline {
  /** How long the stream waits for an ack (or the commit) before re-sending once, then giving up. */
  timeoutMs: number;
  /** Called once when the stream gives up, so the owner can recycle a link that stopped answering. */
  onExpired(requestId: string): void;
}

/**
 * Streams one attempt of one job over the tunnel with credit-based flow control. At most `creditWindow`
 * batches are unacknowledged; a send waits while the window is full or the link is down, which is what
 * pauses the adapter. Unacknowledged batches are kept (already encoded) and resent in order after a
 * reconnect; the cloud drops duplicates by sequence number.
 */
export class AttemptStream {
  private readonly unacked: { seq: number; text: string }[] = [];
  private nextSeq = 0;
  private endText: string | undefined;
  private outcome: { committed: FrameOf<'job.committed'> } | { refused: SdrError } | undefined;
  private wake: (() => void) | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private resentForDeadline = false;

  constructor(
    private readonly link: FrameLink,
    readonly requestId: string,
    readonly attempt: number,
    private readonly signal: AbortSignal,
    private readonly deadline?: AckDeadline,
  ) {
    signal.addEventListener(
      'abort',
      () => {
        this.stopAckTimer();
        this.notify();
      },
      { once: true },
    );
  }

  /**
   * Starts (or restarts) the ack deadline while something awaits the cloud: unacknowledged batches or the
   * commit after `job.end`. On expiry it re-sends once; on the second expiry the attempt fails retryably,
   * which ends the adapter's iteration and with it the source transaction.
   */
  private armAckTimer(): void {
    if (!this.deadline || this.outcome) return;
    this.stopAckTimer();
    const { timeoutMs } = this.deadline;
    this.ackTimer = setTimeout(() => this.ackDeadlinePassed(), timeoutMs);
    this.ackTimer.unref();
  }

  private stopAckTimer(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private get awaitingCloud(): boolean {
    return this.unacked.length > 0 || (this.endText !== undefined && this.outcome === undefined);
  }

  private ackDeadlinePassed(): void {
    this.ackTimer = undefined;
    if (!this.deadline || this.outcome || !this.awaitingCloud) return;
    if (!this.resentForDeadline) {
      this.resentForDeadline = true;
      for (const { text } of this.unacked) this.link.sendText(text);
      if (this.endText && this.unacked.length === 0) this.link.sendText(this.endText);
      this.armAckTimer();
      return;
    }
    this.outcome = {
      refused: new Codes.SDR_ERR_ACK_TIMEOUT(this.requestId, this.deadline.timeoutMs * 2),
    };
    this.deadline.onExpired(this.requestId);
    this.notify();
  }

  /** Stops the deadline timer; call when the attempt is over, however it ended. */
  dispose(): void {
    this.stopAckTimer();
  }

  /** Sends one batch of already-serialised records, waiting for credit and for the link. */
  async sendBatch(recordJson: readonly string[]): Promise<void> {
    await this.until(() => this.link.isUp && this.unacked.length < this.link.creditWindow());
    const seq = this.nextSeq++;
    // Records are spliced in pre-serialised so each is stringified once, for both the frame and the digest.
    const text = `{"type":"job.batch","requestId":${JSON.stringify(this.requestId)},"attempt":${this.attempt},"seq":${seq},"records":[${recordJson.join(',')}]}`;
    this.unacked.push({ seq, text });
    this.link.sendText(text);
    if (this.ackTimer === undefined) this.armAckTimer();
  }

  /** Waits for every batch to be acknowledged, sends `job.end`, and waits for the commit. */
  async end(summary: {
    records: number;
    sha256: string;
    warnings: string[];
    /** Bucket and presigned delivery: parts stored and where the manifest is (no batches were sent). */
    objects?: { parts: number; delivery: NonNullable<FrameOf<'job.end'>['delivery']> };
  }): Promise<FrameOf<'job.committed'>> {
    await this.until(() => this.unacked.length === 0);
    this.endText = JSON.stringify({
      type: 'job.end',
      requestId: this.requestId,
      attempt: this.attempt,
      batches: summary.objects?.parts ?? this.nextSeq,
      records: summary.records,
      sha256: summary.sha256,
      warnings: summary.warnings,
      ...(summary.objects && { delivery: summary.objects.delivery }),
    });
    this.link.sendText(this.endText);
    this.armAckTimer();
    let committed: FrameOf<'job.committed'> | undefined;
    await this.until(() => {
      if (this.outcome && 'committed' in this.outcome) committed = this.outcome.committed;
      return committed !== undefined;
    }, false);
    return committed as FrameOf<'job.committed'>;
  }

  /** The cloud stored every batch up to and including `seq`. */
  acknowledge(seq: number): void {
    const before = this.unacked.length;
    while (this.unacked.length > 0 && (this.unacked[0] as { seq: number }).seq <= seq) this.unacked.shift();
    if (this.unacked.length < before) {
      // Progress: the deadline starts over (and may re-send once more) for what is still outstanding.
      this.resentForDeadline = false;
      if (this.awaitingCloud) this.armAckTimer();
      else this.stopAckTimer();
    }
    this.notify();
  }

  /** The cloud committed the job (this attempt, or an earlier one). */
  committed(frame: FrameOf<'job.committed'>): void {
    this.outcome = { committed: frame };
    this.stopAckTimer();
    this.notify();
  }

  /** The cloud refused this attempt; the job fails as retryable and comes back as a new attempt. */
  refused(frame: FrameOf<'job.nack'>): void {
    this.outcome = {
      refused: new Codes.SDR_ERR_ATTEMPT_REFUSED(
        this.requestId,
        this.attempt,
        `${frame.code}: ${frame.message}`.slice(0, 1_000),
      ),
    };
    this.stopAckTimer();
    this.notify();
  }

  /** The link came back: resend what the cloud may not have stored, in order. */
  resend(): void {
    for (const { text } of this.unacked) this.link.sendText(text);
    if (this.endText && this.unacked.length === 0) this.link.sendText(this.endText);
    this.notify();
  }

  /** Re-checks waiting conditions (link state or credit window changed). */
  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async until(ready: () => boolean, stopOnCommit = true): Promise<void> {
    for (;;) {
      if (this.signal.aborted) throw this.signal.reason;
      if (this.outcome && 'refused' in this.outcome) throw this.outcome.refused;
      if (stopOnCommit && this.outcome && 'committed' in this.outcome) {
        throw new AlreadyCommitted(this.outcome.committed.records);
      }
      if (ready()) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}
