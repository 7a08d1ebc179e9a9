import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Cloud, createCloud } from '../cloud/index.js';
import { FINAL_STATES } from '../cloud/store.js';
import { RuntimeProcess } from './runtime-process.js';
import { scaled, timeScale } from './time-scale.js';

/** The repository root. */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** True when something accepts TCP connections on 127.0.0.1:port. */
export async function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Makes sure a peer answers, starting it with `tests/peers/<name>.sh` (which installs it if missing).
 * Returns a one-line note of what it did, or throws with the script's one-line reason.
 */
export async function ensurePeer(name: string, port: number): Promise<string | undefined> {
  if (await portOpen(port)) return undefined;
  try {
    execFileSync('bash', [join(repoRoot, 'tests/peers', `${name}.sh`)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
    throw new Error(stderr.split('\n').at(-1) || `tests/peers/${name}.sh failed`, { cause: error });
  }
  return `started ${name} on 127.0.0.1:${port} (tests/peers/${name}.sh)`;
}

/** A self-signed CA and a server certificate for 127.0.0.1, made with openssl, for a real wss:// tunnel. */
export function makeLocalTls(dir: string): { caFile: string; cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=sdr local CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  run(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  );
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
    '-out',
    'server.pem',
  );
  return {
    caFile: join(dir, 'ca.pem'),
    cert: readFileSync(join(dir, 'server.pem'), 'utf8'),
    key: readFileSync(join(dir, 'server.key'), 'utf8'),
  };
}

/** CAs of clouds started with local TLS, so API calls to them verify the certificate. */
const localCas = new WeakMap<Cloud, string>();

/** Calls the cloud's admin API; throws with the cloud's error message on a non-2xx answer. */
export async function cloudApi<T>(cloud: Cloud, method: string, path: string, body?: unknown): Promise<T> {
  const url = new URL(path, cloud.url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const { status, contentType, text } = await new Promise<{
    status: number;
    contentType: string;
    text: string;
  }>((resolve, reject) => {
    const request = send(
      url,
      {
        method,
        headers: {
          authorization: `Bearer ${cloud.adminToken}`,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(localCas.has(cloud) ? { ca: localCas.get(cloud) } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            contentType: String(response.headers['content-type'] ?? ''),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
  if (status < 200 || status >= 300) throw new Error(`cloud ${method} ${path} answered ${status}: ${text}`);
  return (contentType.startsWith('application/json') ? JSON.parse(text) : text) as T;
}

/** The cloud's view of a job. */
export interface CloudJob {
  jobId: string;
  state: string;
  attempt?: number;
  progress?: { records: number; batches: number; bytes: number };
  result?: { records: number; sha256: string; bytes: number; path: string };
  error?: { code: string; message: string };
  warnings?: string[];
}

/** Whether the cloud is done with a job (committed, failed, rejected or cancelled). */
export function isFinal(job: { state: string }): boolean {
  return (FINAL_STATES as ReadonlySet<string>).has(job.state);
}

/** Polls a job until it reaches one of `states`; throws after `timeoutMs`. */
export async function waitForJob(
  cloud: Cloud,
  jobId: string,
  states: readonly string[] = [...FINAL_STATES],
  timeoutMs = 120_000,
): Promise<CloudJob> {
  const waitMs = scaled(timeoutMs);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const job = await cloudApi<CloudJob>(cloud, 'GET', `/v1/jobs/${jobId}`);
    if (states.includes(job.state)) return job;
    if (Date.now() > deadline) {
      throw new Error(
        `job ${jobId} still ${job.state} after ${waitMs} ms (time scale ${timeScale()}), waiting for ${states.join('/')}; last: ${JSON.stringify(job)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the cloud sees the agent connected. */
export async function waitForAgent(cloud: Cloud, agentId: string, timeoutMs = 60_000): Promise<void> {
  const waitMs = scaled(timeoutMs);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const agents = await cloudApi<{ agentId: string; connected: boolean }[]>(cloud, 'GET', '/v1/agents');
    if (agents.some((agent) => agent.agentId === agentId && agent.connected)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `agent ${agentId} did not connect within ${waitMs} ms (time scale ${timeScale()}); agents seen: ${JSON.stringify(agents)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Options for a local cloud + runtime pair. */
export interface StackOptions {
  workDir: string;
  connectionsYaml: string;
  /** Extra environment for the runtime process (secret values for env:// references, tuning). */
  runtimeEnv?: Record<string, string>;
  cloud?: Partial<Parameters<typeof createCloud>[0]>;
  tls?: boolean;
  redisUrl?: string;
  /** How to launch the runtime: from sources (default) or a compiled build, with extra node flags. */
  runtimeLaunch?: ConstructorParameters<typeof RuntimeProcess>[1];
  /** How long the first runtime may take to connect; default 30000 (a loaded machine needs more). */
  connectTimeoutMs?: number;
}

/** A running reference cloud (in this process) and runtime (a child process) wired to each other. */
export interface LocalStack {
  cloud: Cloud;
  agentId: string;
  agentToken: string;
  runtimeEnv: Record<string, string>;
  runtime: RuntimeProcess;
  /** Starts another runtime process with the same settings (after a kill, say). */
  startRuntime(extraEnv?: Record<string, string>): RuntimeProcess;
  close(): Promise<void>;
}

/** Starts the reference cloud in-process and one runtime process connected to it over the tunnel. */
export async function startLocalStack(options: StackOptions): Promise<LocalStack> {
  mkdirSync(options.workDir, { recursive: true });
  const tls = options.tls ? makeLocalTls(join(options.workDir, 'tls')) : undefined;
  const cloud = await createCloud({
    dataDir: join(options.workDir, 'cloud'),
    logger: false,
    ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
    ...options.cloud,
  });
  if (tls) localCas.set(cloud, readFileSync(tls.caFile, 'utf8'));
  const { agentId, token } = await cloudApi<{ agentId: string; token: string }>(cloud, 'POST', '/v1/agents', {
    name: 'local',
  });
  const connectionsFile = join(options.workDir, 'connections.yaml');
  writeFileSync(connectionsFile, options.connectionsYaml);
  const runtimeEnv: Record<string, string> = {
    SDR_CLOUD_URL: cloud.tunnelUrl,
    SDR_AGENT_TOKEN: token,
    SDR_CLOUD_PUBLIC_KEY: cloud.publicKeyPem,
    SDR_CONNECTIONS_FILE: connectionsFile,
    SDR_REDIS_URL: options.redisUrl ?? 'redis://127.0.0.1:6379',
    SDR_QUEUE_NAME: `sdr-${randomBytes(4).toString('hex')}`,
    SDR_HEALTH_PORT: '0',
    SDR_LOG_LEVEL: 'info',
    ...(tls ? { NODE_EXTRA_CA_CERTS: tls.caFile } : { SDR_ALLOW_INSECURE_TUNNEL: 'true' }),
    ...options.runtimeEnv,
  };
  const processes: RuntimeProcess[] = [];
  const startRuntime = (extraEnv: Record<string, string> = {}) => {
    const runtime = new RuntimeProcess({ ...runtimeEnv, ...extraEnv }, options.runtimeLaunch).start();
    processes.push(runtime);
    return runtime;
  };
  const runtime = startRuntime();
  try {
    await waitForAgent(cloud, agentId, options.connectTimeoutMs);
  } catch (error) {
    await runtime.stop('SIGKILL');
    await cloud.close();
    throw new Error(`${(error as Error).message}; runtime said:\n${runtime.tail()}`, { cause: error });
  }
  return {
    cloud,
    agentId,
    agentToken: token,
    runtimeEnv,
    runtime,
    startRuntime,
    async close() {
      for (const process of processes.reverse())
        await process.stop('SIGTERM').catch(() => process.stop('SIGKILL'));
      await cloud.close();
    },
  };
}
