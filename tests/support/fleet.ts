import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cloud, createCloud } from '../../cloud/index.js';
import { type CloudJob, cloudApi } from '../../scripts/local-stack.js';
import { RuntimeProcess } from '../../scripts/runtime-process.js';

/** One instance of GET /v1/agents/:id. */
export interface InstanceView {
  instanceId: string;
  connections: { up: number; of: number; indexes: number[] };
  runningJobs: number;
}

/**
 * A reference cloud in this process and any number of real runtime processes sharing one agent token
 * and one Redis queue: an agent deployed as several replicas.
 */
export class Fleet {
  readonly processes: RuntimeProcess[] = [];

  private constructor(
    readonly cloud: Cloud,
    readonly agentId: string,
    readonly env: Record<string, string>,
  ) {}

  static async start(options: {
    connectionsYaml: string;
    redisUrl: string;
    env?: Record<string, string>;
    cloud?: Partial<Parameters<typeof createCloud>[0]>;
  }): Promise<Fleet> {
    const workDir = mkdtempSync(join(tmpdir(), 'sdr-fleet-'));
    const cloud = await createCloud({ dataDir: join(workDir, 'cloud'), logger: false, ...options.cloud });
    const { agentId, token } = await cloudApi<{ agentId: string; token: string }>(
      cloud,
      'POST',
      '/v1/agents',
      {
        name: 'fleet',
      },
    );
    const connectionsFile = join(workDir, 'connections.yaml');
    writeFileSync(connectionsFile, options.connectionsYaml);
    return new Fleet(cloud, agentId, {
      SDR_CLOUD_URL: cloud.tunnelUrl,
      SDR_AGENT_TOKEN: token,
      SDR_CLOUD_PUBLIC_KEY: cloud.publicKeyPem,
      SDR_CONNECTIONS_FILE: connectionsFile,
      SDR_REDIS_URL: options.redisUrl,
      SDR_QUEUE_NAME: `sdr-fleet-${randomBytes(4).toString('hex')}`,
      SDR_HEALTH_PORT: '0',
      SDR_ALLOW_INSECURE_TUNNEL: 'true',
      SDR_RECONNECT_BASE_MS: '50',
      SDR_RECONNECT_MAX_MS: '1000',
      ...options.env,
    });
  }

  /** Starts one more runtime process (instance). */
  startInstance(extraEnv: Record<string, string> = {}): RuntimeProcess {
    const runtime = new RuntimeProcess({ ...this.env, ...extraEnv }).start();
    this.processes.push(runtime);
    return runtime;
  }

  /** The agent's connected instances as the cloud lists them. */
  async instances(): Promise<InstanceView[]> {
    const agent = await cloudApi<{ instances: InstanceView[] }>(
      this.cloud,
      'GET',
      `/v1/agents/${this.agentId}`,
    );
    return agent.instances;
  }

  /** Waits until the cloud lists `count` instances with every connection up. */
  async waitForInstances(count: number, timeoutMs = 300_000): Promise<InstanceView[]> {
    return await eventually(
      async () => {
        const instances = await this.instances();
        return instances.length === count && instances.every((i) => i.connections.up === i.connections.of)
          ? instances
          : undefined;
      },
      timeoutMs,
      `${count} instances connected`,
      async () =>
        `cloud lists ${JSON.stringify(await this.instances())}; last lines: ${this.processes.map((p) => p.tail(4)).join('\n')}`,
    );
  }

  async submit(connection: string): Promise<string> {
    const { jobId } = await cloudApi<{ jobId: string }>(
      this.cloud,
      'POST',
      `/v1/agents/${this.agentId}/jobs`,
      {
        connection,
      },
    );
    return jobId;
  }

  async jobs(): Promise<CloudJob[]> {
    return await cloudApi<CloudJob[]>(this.cloud, 'GET', `/v1/jobs?agentId=${this.agentId}`);
  }

  /** Waits until every job of the agent is final; returns them. */
  async waitAllFinal(timeoutMs: number): Promise<CloudJob[]> {
    const final = new Set(['committed', 'failed', 'rejected', 'cancelled']);
    return await eventually(
      async () => {
        const jobs = await this.jobs();
        return jobs.every((job) => final.has(job.state)) ? jobs : undefined;
      },
      timeoutMs,
      'every job final',
      async () => {
        const jobs = await this.jobs();
        return jobs
          .filter((job) => !final.has(job.state))
          .map((job) => `${job.jobId} ${job.state}`)
          .join(', ');
      },
    );
  }

  async close(): Promise<void> {
    await Promise.all(
      this.processes.map((process) => process.stop('SIGTERM', 20_000).catch(() => process.stop('SIGKILL'))),
    );
    await this.cloud.close();
  }
}

/** Polls `probe` until it returns a value; throws after `timeoutMs` naming `what`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  detail?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`not reached within ${timeoutMs} ms: ${what}${detail ? ` (${await detail()})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
