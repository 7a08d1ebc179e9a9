import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** A docker CLI that can build with BuildKit (the Dockerfile mounts a build secret), and its env. */
export interface DockerCli {
  command: string;
  env: NodeJS.ProcessEnv;
}

function quiet(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    return execFileSync(command, args, { env, stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

/** Why no Docker engine can be used here, or undefined when one answers. */
export function dockerUnavailable(): string | undefined {
  return quiet('docker', ['info', '--format', '{{.ServerVersion}}']) === undefined
    ? 'no Docker engine answers (tests/peers/docker.sh starts one)'
    : undefined;
}

/**
 * Docker 23+ builds with BuildKit through the buildx plugin; Debian's docker.io 20.10 client has BuildKit
 * built in behind DOCKER_BUILDKIT=1. A newer client without buildx (as on some images) cannot, so fall
 * back to Debian's client next to it.
 */
export function buildKitCli(): DockerCli {
  for (const command of [process.env.SDR_DOCKER_CLI ?? 'docker', '/usr/bin/docker']) {
    if (quiet(command, ['buildx', 'version']) !== undefined) return { command, env: process.env };
    const version = quiet(command, ['version', '--format', '{{.Client.Version}}']);
    if (version !== undefined && Number(version.split('.')[0]) < 23)
      return { command, env: { ...process.env, DOCKER_BUILDKIT: '1' } };
  }
  throw new Error('no docker CLI here builds with BuildKit: install the buildx plugin or Debian docker.io');
}

/** `docker compose` (v2) when present, else Debian's docker-compose 1.29. */
export function composeCommand(): string[] {
  if (quiet('docker', ['compose', 'version']) !== undefined) return ['docker', 'compose'];
  if (quiet('docker-compose', ['version']) !== undefined) return ['docker-compose'];
  throw new Error(
    'neither `docker compose` nor docker-compose is installed (tests/peers/docker.sh installs it)',
  );
}

/** Runs a command; resolves with stdout, rejects with the command line and its stderr. */
export async function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd ?? repoRoot,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
        else resolve(stdout);
      },
    );
  });
}

/**
 * The repository's compose.yaml run as its own project (own network and volumes) from a scratch
 * directory holding the files it mounts, plus an override file for test timing.
 */
export class ComposeProject {
  readonly name = `sdrct${randomBytes(4).toString('hex')}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'sdr-compose-'));
  readonly runtimeImage = `sdr-runtime:${this.name}`;
  readonly demoToolsImage = `sdr-demo-tools:${this.name}`;
  private readonly compose = composeCommand();

  constructor(override: string) {
    for (const file of ['compose.yaml', 'compose/demo/postgres-init.sh', 'scripts/demo-schema.sql']) {
      mkdirSync(dirname(join(this.dir, file)), { recursive: true });
      copyFileSync(join(repoRoot, file), join(this.dir, file));
    }
    // The runtime service (not started here) reads .env and the Docker secrets; compose wants them present.
    // The images get this project's own tags, so two runs on one Docker engine never run each other's build.
    writeFileSync(
      join(this.dir, '.env'),
      `SDR_COMPOSE_RUNTIME_IMAGE=${this.runtimeImage}\nSDR_COMPOSE_DEMO_TOOLS_IMAGE=${this.demoToolsImage}\n`,
    );
    mkdirSync(join(this.dir, 'docker-secrets'));
    for (const secret of ['agent-token', 'cloud-public-key.pem', 'pg-password'])
      writeFileSync(join(this.dir, 'docker-secrets', secret), 'unused\n');
    writeFileSync(join(this.dir, 'compose.override.yaml'), override);
  }

  get version(): string {
    return this.compose.join(' ');
  }

  async run(args: string[], timeoutMs = 180_000): Promise<string> {
    const [command = 'docker-compose', ...prefix] = this.compose;
    return await run(
      command,
      [
        ...prefix,
        '-p',
        this.name,
        '-f',
        'compose.yaml',
        '-f',
        'compose.override.yaml',
        '--profile',
        'demo',
        ...args,
      ],
      { cwd: this.dir, timeoutMs },
    );
  }

  /**
   * This project's container ids, stopped ones included, narrowed by compose's labels (a service, a
   * replica). The docker CLI reads them in milliseconds; docker-compose 1.29 is a Python program whose
   * `ps` costs about a second of CPU.
   */
  async containerIds(labels: Record<string, string> = {}): Promise<string[]> {
    const filters = Object.entries({ 'com.docker.compose.project': this.name, ...labels }).flatMap(
      ([key, value]) => ['--filter', `label=${key}=${value}`],
    );
    return (await run('docker', ['ps', '-a', '-q', ...filters])).trim().split('\n').filter(Boolean);
  }

  /** The container id of a service's first replica. */
  async container(service: string): Promise<string> {
    const [id] = await this.containerIds({
      'com.docker.compose.service': service,
      'com.docker.compose.container-number': '1',
    });
    if (!id) throw new Error(`service ${service} has no container`);
    return id;
  }

  async exec(service: string, args: string[]): Promise<string> {
    return await run('docker', ['exec', await this.container(service), ...args], { timeoutMs: 30_000 });
  }

  async health(service: string): Promise<string> {
    return (
      await run('docker', ['inspect', '--format', '{{.State.Health.Status}}', await this.container(service)])
    ).trim();
  }

  async waitHealth(service: string, status: 'healthy' | 'unhealthy', timeoutMs = 120_000): Promise<void> {
    let seen = '';
    await waitFor(`${service} ${status}`, async () => (seen = await this.health(service)) === status, {
      timeoutMs,
      intervalMs: 500,
      seen: () => seen,
    });
  }

  async down(): Promise<void> {
    try {
      await this.run(['down', '--volumes', '--remove-orphans', '--timeout', '5'], 120_000);
      // Only this run's tags go; the layers stay cached for the next build.
      await run('docker', ['rmi', this.runtimeImage, this.demoToolsImage], { timeoutMs: 60_000 }).catch(
        () => undefined,
      );
    } finally {
      if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
