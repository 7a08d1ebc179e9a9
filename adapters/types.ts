import type { MetadataRecord } from '../protocol/index.js';

export type { MetadataRecord } from '../protocol/index.js';

/** The slice of a pino logger an adapter may use; fields first, message second. */
export interface AdapterLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * A connection as the customer defined it in the runtime's connections file, with its secret
 * references already resolved. `credentials` lives only for one job and must never be logged or emitted.
 */
export interface SourceConnection {
  readonly name: string;
  readonly type: string;
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
  /** Non-secret, adapter-specific settings from the connections file. */
  readonly options: Readonly<Record<string, unknown>>;
  /** The connection's ceilings on what a request may read (`limits:` in the connections file); see `ConnectionScope`. */
  readonly limits?: Readonly<Record<string, unknown>>;
  /** Resolved secret values by the names the connections file gave them (`user`, `password`, ...). */
  readonly credentials: Readonly<Record<string, string>>;
}

/**
 * What a request's options are checked against: the connection's name, database and `limits` block, in
 * which the customer sets the ceiling for every option that widens what is read. A request can only narrow.
 */
export interface ConnectionScope {
  readonly name: string;
  readonly database?: string;
  readonly limits: Readonly<Record<string, unknown>>;
}

/** What the runtime hands an adapter for one call. */
export interface AdapterContext {
  /** Aborted when the job is cancelled or the runtime drains; stop promptly and release connections. */
  readonly signal: AbortSignal;
  readonly log: AdapterLogger;
  /** A non-fatal problem the user should see in the job result (a denied permission on one object, ...). */
  warn(message: string): void;
}

/**
 * A read-only metadata source. It owns its clients: it opens them inside `check`/`extract` and closes
 * them before returning, and nothing outside sees a client type. Failures throw catalogued `SdrError`s.
 */
export interface SourceAdapter<Options = Record<string, unknown>> {
  /** The `type` a connection names to use this adapter, e.g. `postgres`. */
  readonly type: string;
  /** Validates extraction options sent by the cloud; throws `SDR_ERR_INVALID_OPTIONS`. */
  parseOptions(raw: Record<string, unknown>, connection: string): Options;
  /**
   * Checks parsed options against the connection's limits, at admission and again at job start; throws
   * `SDR_ERR_INVALID_OPTIONS` naming the limit. With `options` undefined it only validates the limits block
   * (at start-up) and throws `SDR_ERR_CONNECTIONS_INVALID`. An adapter without it accepts no `limits`.
   */
  checkLimits?(options: Options | undefined, scope: ConnectionScope): void;
  /** Proves the source is reachable with these credentials and readable; returns facts for the user. */
  check(connection: SourceConnection, context: AdapterContext): Promise<Record<string, unknown>>;
  /** Streams structural metadata; the consumer's pace is the adapter's pace (no read-ahead beyond a page). */
  extract(
    connection: SourceConnection,
    options: Options,
    context: AdapterContext,
  ): AsyncIterable<MetadataRecord>;
}
