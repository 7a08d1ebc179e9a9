import { Writable } from 'node:stream';
import type { FrameOf, LogEntry } from '../protocol/index.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const MAX_ENTRIES_PER_FRAME = 200;
const MAX_TEXT_CHARS = 2_000;

/** Where forwarded logs go: the tunnel, while it is up. */
export interface LogSink {
  readonly isUp: boolean;
  send(frame: FrameOf<'log'>): boolean;
}

/**
 * A pino destination that keeps the runtime's own log lines (already redacted) in a bounded buffer and
 * ships them to the cloud in `log` frames while the tunnel is up. When the buffer is full the oldest
 * lines are dropped and the next frame says how many.
 */
export class LogForwarder extends Writable {
  private buffer: LogEntry[] = [];
  private dropped = 0;
  private sink: LogSink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly minLevel: number;

  constructor(
    minLevel: string,
    private readonly capacity = 1_000,
    private readonly flushIntervalMs = 1_000,
  ) {
    super();
    const index = LEVELS.indexOf(minLevel as (typeof LEVELS)[number]);
    this.minLevel = index < 0 ? Number.POSITIVE_INFINITY : index;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line) this.take(line);
    done();
  }

  /** Starts shipping to `sink`. */
  attach(sink: LogSink): void {
    this.sink = sink;
    this.timer = setInterval(() => this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  /** Ships what it can one last time and stops. */
  detach(): void {
    clearInterval(this.timer);
    this.flush();
    this.sink = undefined;
  }

  /** Sends buffered lines while the sink is up. */
  flush(): void {
    while (this.sink?.isUp && this.buffer.length > 0) {
      const entries = this.buffer.slice(0, MAX_ENTRIES_PER_FRAME);
      if (!this.sink.send({ type: 'log', entries, dropped: this.dropped })) return;
      this.buffer = this.buffer.slice(entries.length);
      this.dropped = 0;
    }
  }

  private take(line: string): void {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { time, level, msg, service: _service, ...fields } = parsed;
    const levelIndex = LEVELS.indexOf(level as (typeof LEVELS)[number]);
    if (levelIndex < this.minLevel) return;
    const fieldsText = JSON.stringify(fields);
    const entry: LogEntry = {
      time: typeof time === 'string' ? time : new Date().toISOString(),
      level: LEVELS[levelIndex] ?? 'info',
      message: (typeof msg === 'string' ? msg : '').slice(0, MAX_TEXT_CHARS),
      fields:
        fieldsText.length > MAX_TEXT_CHARS ? { truncated: fieldsText.slice(0, MAX_TEXT_CHARS) } : fields,
    };
    this.buffer.push(entry);
    if (this.buffer.length > this.capacity) {
      this.buffer.shift();
      this.dropped += 1;
    }
  }
}
