import type { Logger } from 'pino';
import { Codes, type SdrError } from '../protocol/index.js';

/** Where a bound agent id is kept: Redis, next to the queue, shared by every runtime of that queue. */
export interface AgentIdStore {
  /** The bound id, or undefined when none is bound yet. */
  read(): Promise<string | undefined>;
  /** Binds `agentId` unless an id is bound already; returns whichever id is bound afterwards. */
  bindOnce(agentId: string): Promise<string>;
}

/**
 * Who this runtime is, decided on the customer's side: `SDR_AGENT_ID` when configured, otherwise the id of
 * the first `welcome` ever accepted, stored in Redis and never changed afterwards. A `welcome` only
 * confirms the identity; it cannot change it, and requests are checked against this, never against a frame.
 */
export class AgentIdentity {
  private bound: string | undefined;

  constructor(
    private readonly configured: string | undefined,
    private readonly store: AgentIdStore,
    private readonly log: Logger,
    /** Called when Redis turns out to hold another id than the one just bound in memory. */
    private readonly onConflict: () => void,
  ) {}

  /** The agent id requests must be addressed to; undefined until configured or bound. */
  get agentId(): string | undefined {
    return this.configured ?? this.bound;
  }

  /** Reads an earlier binding from Redis; gives up after `timeoutMs` (the first welcome then re-checks it). */
  async load(timeoutMs = 2_000): Promise<void> {
    if (this.configured !== undefined) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      const stored = await Promise.race([
        this.store.read(),
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), timeoutMs);
        }),
      ]);
      if (stored !== undefined) this.bound = stored;
    } catch (error) {
      this.log.warn({ err: { message: (error as Error).message } }, 'could not read the bound agent id');
    } finally {
      clearTimeout(timer);
    }
  }

  /** Accepts the agent id a `welcome` names, or returns the error to close the link with. */
  check(offered: string): SdrError | undefined {
    if (this.configured !== undefined) {
      return offered === this.configured
        ? undefined
        : new Codes.SDR_ERR_AGENT_MISMATCH(offered, this.configured, 'configured by SDR_AGENT_ID');
    }
    if (this.bound !== undefined) {
      return offered === this.bound
        ? undefined
        : new Codes.SDR_ERR_AGENT_MISMATCH(offered, this.bound, 'bound at the first welcome, kept in Redis');
    }
    this.bound = offered;
    this.log.info({ agentId: offered }, 'bound this runtime to the agent id of its first welcome');
    void this.persist(offered);
    return undefined;
  }

  private async persist(offered: string): Promise<void> {
    try {
      const winner = await this.store.bindOnce(offered);
      if (winner === offered) return;
      // Another runtime of this queue (or an earlier run we could not read) bound first; its id stands.
      this.bound = winner;
      const error = new Codes.SDR_ERR_AGENT_MISMATCH(offered, winner, 'bound earlier, kept in Redis');
      this.log.error({ code: error.code }, error.message);
      this.onConflict();
    } catch (error) {
      this.log.error(
        { err: { message: (error as Error).message } },
        'could not store the bound agent id in Redis; it holds for this process only',
      );
    }
  }
}
