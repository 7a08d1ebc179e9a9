import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portOpen } from '../../scripts/local-stack.js';
import { freePort } from './cloud-process.js';

/**
 * A private redis-server (Debian's, installed by tests/peers/redis.sh) on its own port, for tests that
 * must kill, restart or misconfigure Redis without touching the shared peer on 6379. The port is a free
 * one picked at the first start and kept for restarts, so two runs on one machine never collide.
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'sdr-redis-'));

  port = 0;

  constructor(private readonly args: readonly string[] = []) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (this.port === 0) this.port = await freePort();
    else if (await portOpen(this.port))
      throw new Error(`port ${this.port} is taken; the test needs it for its own Redis`);
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        ...this.args,
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 20_000;
    while (!(await portOpen(this.port))) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return this;
  }

  /** Kills the server (SIGKILL: no save, as a crash) and waits for it to be gone. */
  async kill(): Promise<void> {
    const child = this.child;
    // A child killed by a signal keeps exitCode null: without signalCode a second kill waited forever.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}
