import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { JsonDocumentWriter, readJsonFile } from './atomic-file.js';

/** Lifecycle of a job as the cloud sees it; see docs/protocol-cloud-side.md for the transitions. */
export const jobStates = [
  'pending',
  'sent',
  'accepted',
  'rejected',
  'running',
  'committed',
  'failed',
  'cancelled',
] as const;
export type JobState = (typeof jobStates)[number];

/** States after which nothing the runtime sends changes the job any more. */
export const FINAL_STATES: ReadonlySet<JobState> = new Set(['committed', 'rejected', 'failed', 'cancelled']);

const codedError = z.object({ code: z.string(), message: z.string() });

const agentSchema = z.object({
  agentId: z.string().min(1),
  name: z.string(),
  // Only a digest of the token is kept: a stolen data directory must not let anyone impersonate an agent.
  tokenSha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
});
/** A registered agent as persisted. */
export type AgentRecord = z.infer<typeof agentSchema>;

const jobSchema = z.object({
  jobId: z.string().min(1),
  agentId: z.string().min(1),
  connection: z.string().min(1),
  options: z.record(z.string(), z.unknown()),
  /** Delivery mode asked for in the request; absent for jobs made before delivery modes existed. */
  delivery: z.enum(['tunnel', 'bucket', 'presigned', 'default']).optional(),
  ttlSeconds: z.number().positive(),
  state: z.enum(jobStates),
  /** Highest attempt number the runtime has reported; 0 before the first. */
  attempt: z.number().int().nonnegative(),
  progress: z.object({
    phase: z.string().nullable(),
    records: z.number().int().nonnegative(),
    batches: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
  }),
  result: z
    .object({
      attempt: z.number().int().positive(),
      records: z.number().int().nonnegative(),
      sha256: z.string(),
      bytes: z.number().int().nonnegative(),
      /** For bucket and presigned delivery: where the verified manifest was read. */
      manifest: z.string().optional(),
      /** Relative to the data directory, so the directory can be moved. */
      file: z.string(),
      committedAt: z.string(),
    })
    .optional(),
  error: codedError.optional(),
  /** Last retryable failure or rejection, kept while the job goes on. */
  lastError: codedError.optional(),
  warnings: z.array(z.string()),
  /** Set by POST /cancel while the runtime has the job; the cancel is re-sent on every reconnect. */
  cancelRequested: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
/** A job as persisted. */
export type JobRecord = z.infer<typeof jobSchema>;

/** sha256 hex of an agent token: the only form in which a token is stored or compared. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * The cloud's durable state: agents in `agents.json`, one `jobs/<jobId>.json` per job, both written
 * atomically. Everything lives in memory too; the files are the copy that survives a restart.
 */
export class CloudStore {
  readonly agents = new Map<string, AgentRecord>();
  readonly jobs = new Map<string, JobRecord>();
  private readonly agentsByTokenHash = new Map<string, AgentRecord>();

  private constructor(
    readonly dataDir: string,
    private readonly writer: JsonDocumentWriter,
  ) {}

  /** Opens (creating if needed) the store in `dataDir`; files that fail validation are reported and skipped. */
  static async open(
    dataDir: string,
    onProblem: (message: string, error?: unknown) => void,
  ): Promise<CloudStore> {
    for (const dir of ['jobs', 'results', 'attempts']) await mkdir(join(dataDir, dir), { recursive: true });
    const store = new CloudStore(
      dataDir,
      new JsonDocumentWriter((path, error) => onProblem(`could not write ${path}`, error)),
    );
    const agents = z.array(agentSchema).safeParse((await readJsonFile(store.agentsPath)) ?? []);
    if (agents.success) for (const agent of agents.data) store.indexAgent(agent);
    else onProblem(`${store.agentsPath} is invalid and was ignored`, agents.error);
    for (const name of await readdir(join(dataDir, 'jobs'))) {
      if (!name.endsWith('.json')) continue;
      const path = join(dataDir, 'jobs', name);
      try {
        const job = jobSchema.safeParse(await readJsonFile(path));
        if (job.success) store.jobs.set(job.data.jobId, job.data);
        else onProblem(`${path} is invalid and was ignored`, job.error);
      } catch (error) {
        onProblem(`${path} could not be read and was ignored`, error);
      }
    }
    return store;
  }

  private get agentsPath(): string {
    return join(this.dataDir, 'agents.json');
  }

  private indexAgent(agent: AgentRecord): void {
    this.agents.set(agent.agentId, agent);
    this.agentsByTokenHash.set(agent.tokenSha256, agent);
  }

  /** Registers an agent and returns its token; the token exists only in this return value. */
  async addAgent(name: string): Promise<{ agent: AgentRecord; token: string }> {
    const token = randomBytes(32).toString('base64url');
    const agent: AgentRecord = {
      agentId: randomUUID(),
      name,
      tokenSha256: hashToken(token),
      createdAt: new Date().toISOString(),
    };
    this.indexAgent(agent);
    await this.writer.save(this.agentsPath, [...this.agents.values()], 0o600);
    return { agent, token };
  }

  /** The agent a bearer token belongs to, if any. */
  agentByToken(token: string): AgentRecord | undefined {
    return this.agentsByTokenHash.get(hashToken(token));
  }

  /** Adds a job or records a change to one (bumping `updatedAt`); resolves when the change is durable. */
  saveJob(job: JobRecord): Promise<void> {
    job.updatedAt = new Date().toISOString();
    this.jobs.set(job.jobId, job);
    return this.writer.save(join(this.dataDir, 'jobs', `${job.jobId}.json`), job);
  }

  /** Resolves once every scheduled write is on disk. */
  flush(): Promise<void> {
    return this.writer.flush();
  }
}
