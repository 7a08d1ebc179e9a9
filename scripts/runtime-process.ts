import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { scaled, timeScale } from './time-scale.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * What a test's child node process inherits besides its own settings: PATH, HOME and, when the suite set
 * one (tests/support/compiled-entries.setup.ts), the V8 code cache directory, so the dozens of runtime,
 * CLI and cloud starts compile the bundle once between them.
 */
export function childProcessEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    ...(process.env.NODE_COMPILE_CACHE ? { NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE } : {}),
  };
}

/** A log line the runtime wrote, parsed. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

/**
 * The runtime as a real child process (`node --import tsx runtime/main.ts`), so tests exercise the same
 * start-up, signals and kill -9 behaviour as production.
 */
/** Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on every mainstream architecture). */
const CLOCK_TICKS_PER_SECOND = 100;

export class RuntimeProcess {
  readonly lines: LogLine[] = [];
  readonly rawOutput: string[] = [];
  private child: ChildProcess | undefined;
  private exit: Promise<number | null> | undefined;
  private waiters: { predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];

  /**
   * `compiledEntry` runs a compiled build (`dist/runtime/main.js`, as the container image does) instead of
   * the TypeScript sources through tsx; `nodeOptions` are extra node flags such as a heap cap.
   */
  constructor(
    private readonly env: Record<string, string>,
    private readonly launch: { compiledEntry?: string; nodeOptions?: readonly string[] } = {},
  ) {}

  /** Starts the process; resolves once it has spawned. */
  start(): this {
    // SDR_TEST_RUNTIME_ENTRY: a compiled build chosen for a whole suite (the fault suite's global setup).
    const compiled = this.launch.compiledEntry ?? process.env.SDR_TEST_RUNTIME_ENTRY;
    const entry = compiled ? [compiled] : ['--import', 'tsx', 'runtime/main.ts'];
    const child = spawn(process.execPath, [...(this.launch.nodeOptions ?? []), ...entry], {
      cwd: root,
      env: { ...childProcessEnv(), ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    let buffered = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.rawOutput.push(text);
      buffered += text;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const raw = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        let line: LogLine;
        try {
          line = JSON.parse(raw) as LogLine;
        } catch {
          line = { msg: raw, level: 'raw' };
        }
        this.lines.push(line);
        this.waiters = this.waiters.filter((waiter) => {
          if (!waiter.predicate(line)) return true;
          waiter.resolve(line);
          return false;
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    return this;
  }

  /** The process id, while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Peak resident memory of the process so far (VmHWM from /proc), in bytes; Linux only. */
  peakRssBytes(): number | undefined {
    if (!this.child?.pid) return undefined;
    try {
      const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
      const kb = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
      return kb === undefined ? undefined : Number(kb) * 1024;
    } catch {
      return undefined;
    }
  }

  /**
   * CPU time the process has used so far, user + system, all its threads (a job's worker included), in
   * seconds; Linux only. Less sensitive than wall time to what else runs on the machine.
   */
  cpuSeconds(): number | undefined {
    if (!this.child?.pid) return undefined;
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    } catch {
      return undefined;
    }
  }

  /** Resolves with the first log line (past or future) matching; rejects after `timeoutMs`. */
  async waitForLine(predicate: (line: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    const seen = this.lines.find(predicate);
    if (seen) return seen;
    const waitMs = scaled(timeoutMs);
    return await new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `runtime did not log the expected line within ${waitMs} ms (time scale ${timeScale()}); last lines:\n${this.tail()}`,
          ),
        );
      }, waitMs);
      this.waiters.push({
        predicate,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  /** Waits for a log message containing `text`. */
  async waitForMessage(text: string, timeoutMs?: number): Promise<LogLine> {
    return await this.waitForLine(
      (line) => typeof line.msg === 'string' && line.msg.includes(text),
      timeoutMs,
    );
  }

  /** Sends a signal; resolves with the exit code once the process ends. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null)
      return this.child?.exitCode ?? null;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const waitMs = scaled(timeoutMs);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`runtime did not exit within ${waitMs} ms after ${signal}`)),
        waitMs,
      );
    });
    try {
      return await Promise.race([this.exit as Promise<number | null>, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for the process to exit by itself. */
  async exited(): Promise<number | null> {
    return await (this.exit as Promise<number | null>);
  }

  /** The last log lines, for failure messages. */
  tail(count = 20): string {
    return this.lines
      .slice(-count)
      .map((line) => JSON.stringify(line))
      .join('\n');
  }
}
