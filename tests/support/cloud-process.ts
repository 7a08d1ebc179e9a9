import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/local-stack.js';
import { childProcessEnv } from '../../scripts/runtime-process.js';
import { scaled } from '../../scripts/time-scale.js';

/** A free TCP port on 127.0.0.1, for a server that must come back on the same port after a kill. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The reference cloud as a child process (`cloud/main.ts`) on a fixed port and data directory, so a test
 * can kill it with SIGKILL and start it again where it was: the same store, signing key and admin token.
 */
export class CloudProcess {
  readonly adminToken = randomBytes(16).toString('hex');
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly env: Record<string, string>,
  ) {}

  static async start(dataDir: string, env: Record<string, string> = {}): Promise<CloudProcess> {
    const cloud = new CloudProcess(await freePort(), dataDir, env);
    await cloud.start();
    return cloud;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get tunnelUrl(): string {
    return `ws://127.0.0.1:${this.port}/v1/tunnel`;
  }

  /** The key runtimes verify requests with; the cloud keeps it in its data directory across restarts. */
  get publicKeyPem(): string {
    return readFileSync(join(this.dataDir, 'signing-key.pub.pem'), 'utf8');
  }

  /** Starts the process and waits until it listens. */
  async start(): Promise<void> {
    this.output = '';
    const compiled = process.env.SDR_TEST_CLOUD_ENTRY;
    const child = spawn(process.execPath, compiled ? [compiled] : ['--import', 'tsx', 'cloud/main.ts'], {
      cwd: repoRoot,
      env: {
        ...childProcessEnv(),
        CLOUD_PORT: String(this.port),
        CLOUD_DATA_DIR: this.dataDir,
        CLOUD_ADMIN_TOKEN: this.adminToken,
        CLOUD_LOG_LEVEL: 'warn',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const listening = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the cloud did not listen within ${scaled(60_000)} ms: ${this.output}`)),
        scaled(60_000),
      );
      const onData = (chunk: Buffer) => {
        this.output = (this.output + chunk.toString('utf8')).slice(-4_000);
        if (this.output.includes('sdr cloud listening')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the cloud exited with ${code}: ${this.output}`));
      });
    });
    await listening;
  }

  /** Kills the process (SIGKILL, as a crash) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}
