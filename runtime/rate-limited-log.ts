import type { Logger } from 'pino';

/**
 * Writes at most `perWindow` lines per `windowMs`; past that it only counts, and the first line of the
 * next window says how many were suppressed. A peer sending bad input at line rate must not turn into
 * gigabytes of logs (and the memory to buffer them).
 */
export class RateLimitedLog {
  private windowStartedAt = 0;
  private written = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly what: string,
    private readonly perWindow = 20,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs a warning unless this window's budget is spent. */
  warn(fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    if (now - this.windowStartedAt >= this.windowMs) {
      if (this.suppressed > 0) {
        this.log.warn(
          { suppressed: this.suppressed },
          `suppressed ${this.suppressed} more ${this.what} log lines in the last ${Math.round(this.windowMs / 1000)} s`,
        );
      }
      this.windowStartedAt = now;
      this.written = 0;
      this.suppressed = 0;
    }
    if (this.written >= this.perWindow) {
      this.suppressed += 1;
      return;
    }
    this.written += 1;
    this.log.warn(fields, message);
  }
}
