import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cloud, createCloud } from '../../cloud/index.js';
import { type CloudJob, cloudApi, isFinal } from '../../scripts/local-stack.js';
import { RuntimeProcess } from '../../scripts/runtime-process.js';
import { scaled } from '../../scripts/time-scale.js';
import type { CloudProcess } from './cloud-process.js';

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
  /** Every process this fleet started, killed ones included, for the logs `close` leaves behind. */
  private readonly started: RuntimeProcess[] = [];

  private constructor(
    /** The cloud when it runs in this process (undefined when it is a `CloudProcess`). */
    private readonly inProcess: Cloud | undefined,
    /** What the admin API needs: the cloud's URL and admin token. */
    private readonly api: Cloud,
    readonly agentId: string,
    readonly env: Record<string, string>,
    /** Where the connections file, the in-process cloud's store and, after `close`, each runtime's log are. */
    readonly workDir: string,
  ) {}

  /** The in-process cloud, for tests that drop its connections or read its frames. */
  get cloud(): Cloud {
    if (!this.inProcess) throw new Error('this fleet talks to a cloud process; it has no in-process cloud');
    return this.inProcess;
  }

  /**
   * A fleet around a new in-process cloud, or around `cloudProcess` (which the test may kill and restart).
   * Instances started later read `env`, so a test may point SDR_CLOUD_URL at a fault proxy first.
   */
  static async start(options: {
    connectionsYaml: string;
    redisUrl: string;
    env?: Record<string, string>;
    cloud?: Partial<Parameters<typeof createCloud>[0]>;
    cloudProcess?: CloudProcess;
  }): Promise<Fleet> {
    const workDir = mkdtempSync(join(tmpdir(), 'sdr-fleet-'));
    const inProcess = options.cloudProcess
      ? undefined
      : await createCloud({ dataDir: join(workDir, 'cloud'), logger: false, ...options.cloud });
    // cloudApi reads only the URL and the admin token.
    const api = inProcess ?? (options.cloudProcess as unknown as Cloud);
    const { agentId, token } = await cloudApi<{ agentId: string; token: string }>(api, 'POST', '/v1/agents', {
      name: 'fleet',
    });
    const connectionsFile = join(workDir, 'connections.yaml');
    writeFileSync(connectionsFile, options.connectionsYaml);
    const tunnelUrl = inProcess?.tunnelUrl ?? options.cloudProcess!.tunnelUrl;
    const env = { ...options.env };
    // A job lock is a deadline like any other: on a loaded machine a runtime starved of CPU for longer
    // than its lock would see its own running jobs "stalled" (and counted towards the stalled limit).
    if (env.SDR_JOB_LOCK_MS) env.SDR_JOB_LOCK_MS = String(scaled(Number(env.SDR_JOB_LOCK_MS)));
    return new Fleet(
      inProcess,
      api,
      agentId,
      {
        SDR_CLOUD_URL: tunnelUrl,
        SDR_AGENT_TOKEN: token,
        SDR_CLOUD_PUBLIC_KEY: inProcess?.publicKeyPem ?? options.cloudProcess!.publicKeyPem,
        SDR_CONNECTIONS_FILE: connectionsFile,
        SDR_REDIS_URL: options.redisUrl,
        SDR_QUEUE_NAME: `sdr-fleet-${randomBytes(4).toString('hex')}`,
        SDR_HEALTH_PORT: '0',
        SDR_ALLOW_INSECURE_TUNNEL: 'true',
        SDR_RECONNECT_BASE_MS: '50',
        SDR_RECONNECT_MAX_MS: '1000',
        ...env,
      },
      workDir,
    );
  }

  /** Starts one more runtime process (instance). */
  startInstance(
    extraEnv: Record<string, string> = {},
    launch?: ConstructorParameters<typeof RuntimeProcess>[1],
  ): RuntimeProcess {
    const runtime = new RuntimeProcess({ ...this.env, ...extraEnv }, launch).start();
    this.processes.push(runtime);
    this.started.push(runtime);
    return runtime;
  }

  /** The agent's connected instances as the cloud lists them. */
  async instances(): Promise<InstanceView[]> {
    const agent = await cloudApi<{ instances: InstanceView[] }>(
      this.api,
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
    const { jobId } = await cloudApi<{ jobId: string }>(this.api, 'POST', `/v1/agents/${this.agentId}/jobs`, {
      connection,
    });
    return jobId;
  }

  async jobs(): Promise<CloudJob[]> {
    return await cloudApi<CloudJob[]>(this.api, 'GET', `/v1/jobs?agentId=${this.agentId}`);
  }

  /** Waits until every job of the agent is final; returns them. */
  async waitAllFinal(timeoutMs: number): Promise<CloudJob[]> {
    return await eventually(
      async () => {
        const jobs = await this.jobs();
        return jobs.every(isFinal) ? jobs : undefined;
      },
      timeoutMs,
      'every job final',
      async () => {
        const jobs = await this.jobs();
        return jobs
          .filter((job) => !isFinal(job))
          .map((job) => `${job.jobId} ${job.state}`)
          .join(', ');
      },
    );
  }

  async close(): Promise<void> {
    await Promise.all(
      this.processes.map((process) => process.stop('SIGTERM', 20_000).catch(() => process.stop('SIGKILL'))),
    );
    // Left for a failed test's post-mortem: runtime-1.log is the first instance started.
    this.started.forEach((process, index) =>
      writeFileSync(join(this.workDir, `runtime-${index + 1}.log`), process.rawOutput.join('')),
    );
    await this.inProcess?.close();
  }
}

/** Polls `probe` until it returns a value; throws after `timeoutMs` (scaled by the time scale) naming `what`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  unscaledTimeoutMs: number,
  what: string,
  detail?: () => Promise<string>,
): Promise<T> {
  const timeoutMs = scaled(unscaledTimeoutMs);
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

/** A pseudo-random generator from a seed (mulberry32), so a failing fault schedule can be replayed. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The seed of this run's fault schedule: SDR_FAULT_SEED, or a fresh one (printed by the caller). */
export function faultSeed(): number {
  const set = Number(process.env.SDR_FAULT_SEED);
  return Number.isInteger(set) ? set : Math.floor(Math.random() * 2 ** 31);
}
