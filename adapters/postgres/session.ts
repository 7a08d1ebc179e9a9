import type { Duplex } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { abortReason, raceInterrupt } from '../shared/index.js';
import type { ErrorTarget } from './errors.js';
import { mapPgError } from './errors.js';
import type { PostgresSettings, TlsSettings } from './options.js';

/** Longest wait for a session's goodbye before its socket is destroyed. */
const END_TIMEOUT_MS = 2_000;

/** What DBAs see in `pg_stat_activity.application_name` for every crawler session. */
export const APPLICATION_NAME = 'sdr-metadata-crawler';

/** A plain row from a catalog query. */
export type Row = Record<string, unknown>;

/**
 * One connection inside one READ ONLY, REPEATABLE READ transaction: every query of a crawl sees the
 * same catalog snapshot and the server refuses any write. Closing ends the transaction and the client.
 */
export interface ReadOnlySession {
  /** The database this session is connected to. */
  readonly database: string;
  /** Runs one catalog query and returns all its rows (only for queries whose size does not grow with the catalog). */
  query(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Streams a catalog query through a cursor, `fetchSize` rows per round trip; the caller's pace is the pace. */
  stream(sql: string, params?: readonly unknown[]): AsyncGenerator<Row, void, undefined>;
  /** Ends the transaction (rolled back: it changed nothing) and the connection; safe to call twice. */
  close(): Promise<void>;
}

/** How to reach the server when it is not plain TCP (Cloud SQL connector), plus an extra secret to scrub. */
export interface SessionTransport {
  /** Returns a fresh socket already connected (and, for Cloud SQL, TLS-wrapped) to the server. */
  readonly stream?: () => Duplex;
  /** Overrides the password (IAM database authentication supplies a token instead). */
  readonly password?: () => Promise<string>;
}

function tlsOptions(tls: TlsSettings, host: string): false | ConnectionOptions {
  if (tls.mode === 'disable') return false;
  const material: ConnectionOptions = {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
  };
  // libpq: with `require`, a configured root certificate makes the server's chain verified (as verify-ca).
  const verifyChain = tls.mode !== 'require' || tls.ca !== undefined;
  return {
    ...material,
    rejectUnauthorized: verifyChain,
    ...(tls.mode === 'verify-full'
      ? { servername: /^[\d.:[\]]+$/.test(host) ? undefined : host }
      : { checkServerIdentity: () => undefined }),
  };
}

/** The fields of a settings object error messages may use (everything but secrets, which it scrubs). */
export function errorTarget(settings: PostgresSettings, database = settings.database): ErrorTarget {
  return {
    host: settings.host,
    port: settings.port,
    database,
    user: settings.user,
    connectTimeoutMs: settings.connectTimeoutMs,
    statementTimeoutMs: settings.statementTimeoutMs,
    lockTimeoutMs: settings.lockTimeoutMs,
    // A password equal to the user or database name is no secret from the messages that must name them.
    secrets: [settings.password, settings.tls.key].filter(
      (s): s is string => s !== undefined && s.length > 0 && s !== settings.user && s !== database,
    ),
  };
}

/**
 * Opens a read-only session: connects with `application_name`, pins timeouts and `search_path`,
 * makes every transaction read-only, and begins the crawl's snapshot transaction (or imports `snapshot`,
 * exported by another session with `pg_export_snapshot()`). Aborting `signal`
 * ends the client at once, so a pending connect or fetch rejects with the signal's reason.
 */
export async function openReadOnlySession(
  settings: PostgresSettings,
  signal: AbortSignal,
  options: { database?: string; transport?: SessionTransport; snapshot?: string } = {},
): Promise<ReadOnlySession> {
  const database = options.database ?? settings.database;
  const target = errorTarget(settings, database);
  signal.throwIfAborted();
  const password = options.transport?.password ? await options.transport.password() : settings.password;
  const client = new pg.Client({
    host: settings.host,
    port: settings.port,
    database,
    user: settings.user,
    ...(password !== undefined ? { password } : {}),
    ssl: options.transport?.stream ? false : tlsOptions(settings.tls, settings.host),
    ...(options.transport?.stream ? { stream: options.transport.stream } : {}),
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: settings.connectTimeoutMs,
  });
  // An idle client's socket error is emitted, not thrown; without a listener it would crash the process.
  let lastError: unknown;
  client.on('error', (error) => {
    lastError = error;
  });
  // pg-cursor marks its portal closed on CommandComplete and ignores errors after that, so a connection
  // lost before the ReadyForQuery that follows (a server restart as a query finishes) never settles the
  // read or close waiting for it. Every cursor operation is therefore also settled by the client's end.
  // A listener per operation, not a race against one session-long promise: each race would keep its page
  // of rows reachable until the session ends.
  let clientEnded = false;
  client.once('end', () => {
    clientEnded = true;
  });
  const endedError = (): Error =>
    lastError instanceof Error ? lastError : new Error('Connection terminated unexpectedly');
  const untilEnded = <T>(operation: Promise<T>): Promise<T> =>
    raceInterrupt(operation, (fail) => {
      const onEnd = (): void => fail(endedError());
      if (clientEnded) onEnd();
      else client.once('end', onEnd);
      return () => client.off('end', onEnd);
    });
  let ended = false;
  const end = async (): Promise<void> => {
    if (ended) return;
    ended = true;
    signal.removeEventListener('abort', onAbort);
    // Bounded: pg's end() resolves on the socket's 'end' event, which a connection the server already
    // dropped (a restart mid-crawl) may never emit again, and a job must not wait on it forever.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      client.end().then(
        () => false,
        () => false,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), END_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (gaveUp)
      (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  };
  const onAbort = (): void => {
    cancelRunningQuery();
    void end();
  };
  // Ending the client alone does not stop a query the server is executing: the backend only notices the
  // closed socket when it next writes, so a cancelled job's query would run on until statement_timeout.
  // A CancelRequest (what pg_cancel_backend does, sent on a separate connection) stops it at once.
  const cancelRunningQuery = (): void => {
    const internals = client as unknown as { activeQuery?: unknown; processID?: number };
    if (!internals.activeQuery || !internals.processID) return;
    try {
      const canceller = new pg.Client({
        host: settings.host,
        port: settings.port,
        ...(options.transport?.stream ? { stream: options.transport.stream } : {}),
      });
      const connection = (canceller as unknown as { connection: NodeJS.EventEmitter }).connection;
      connection.on('error', () => undefined);
      (canceller as unknown as { cancel(client: pg.Client, query: unknown): void }).cancel(
        client,
        internals.activeQuery,
      );
    } catch {
      // Best effort: the client is ended right after, and statement_timeout still bounds the query.
    }
  };
  signal.addEventListener('abort', onAbort, { once: true });

  const fail = (error: unknown, phase: 'connect' | 'query'): unknown =>
    signal.aborted ? abortReason(signal) : mapPgError(lastError ?? error, target, phase);

  try {
    await client.connect();
    // Set after connecting rather than as startup parameters: poolers (PgBouncer) reject unknown ones.
    // search_path and the output styles are pinned so format_type() and pg_get_expr() output does not
    // depend on the role's settings.
    await client.query(
      [
        'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY',
        'SET default_transaction_read_only = on',
        `SET statement_timeout = ${Math.trunc(settings.statementTimeoutMs)}`,
        `SET lock_timeout = ${Math.trunc(settings.lockTimeoutMs)}`,
        "SET search_path = 'pg_catalog', 'public'",
        // Deparsed defaults and partition bounds embed timestamps, intervals, floats and bytea literals
        // whose text follows these settings; a role's own (ALTER ROLE ... SET TimeZone) must not change it.
        "SET TimeZone = 'UTC'",
        "SET DateStyle = 'ISO, MDY'",
        "SET IntervalStyle = 'postgres'",
        'SET extra_float_digits = 3',
        "SET bytea_output = 'hex'",
        "SET lc_monetary = 'C'",
        // Catalog queries are short; the recursive scope CTE's row estimate is wildly high and would
        // make the planner JIT-compile every query, which costs seconds and saves nothing.
        'SET jit = off',
        'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
      ].join('; '),
    );
    // A helper session sees exactly the main session's catalog snapshot (pg_export_snapshot there).
    if (options.snapshot !== undefined)
      await client.query(`SET TRANSACTION SNAPSHOT ${client.escapeLiteral(options.snapshot)}`);
  } catch (error) {
    const mapped = fail(error, 'connect');
    await end();
    throw mapped;
  }

  return {
    database,
    async query(sql, params = []) {
      try {
        const result = await client.query<Row>(sql, params as unknown[]);
        return result.rows;
      } catch (error) {
        throw fail(error, 'query');
      }
    },
    async *stream(sql, params = []) {
      const cursor = client.query(new Cursor<Row>(sql, params as unknown[]));
      let open = true;
      const read = (): Promise<Row[]> =>
        untilEnded(cursor.read(settings.fetchSize)).catch((error: unknown) => {
          open = false;
          throw fail(error, 'query');
        });
      // One page of read-ahead: the server produces the next page while the consumer handles this one.
      let next = read();
      try {
        for (;;) {
          const rows = await next;
          if (rows.length === 0) break;
          next = rows.length < settings.fetchSize ? Promise.resolve([]) : read();
          // A read-ahead that fails while this page is consumed is reported when awaited, not before.
          next.catch(() => undefined);
          for (const row of rows) {
            if (signal.aborted) throw abortReason(signal);
            yield row;
          }
        }
      } finally {
        // Let an in-flight read settle before closing the portal so the next query finds the client idle.
        await next.catch(() => undefined);
        // Closing the portal lets the next query of this session run; after an abort the client is gone.
        if (open && !ended) await untilEnded(cursor.close()).catch(() => undefined);
      }
    },
    close: end,
  };
}
