import type { AdapterContext, MetadataRecord, SourceAdapter, SourceConnection } from '../types.js';
import { crawlDatabase } from './catalog.js';
import { openCloudSqlTransport } from './cloud-sql.js';
import { serverKey } from './keys.js';
import type { PostgresExtractOptions, PostgresSettings } from './options.js';
import {
  allowedDatabases,
  checkPostgresLimits,
  compileSettings,
  parseExtractOptions,
  parseLimitsOf,
} from './options.js';
import { DATABASES } from './queries.js';
import type { ReadOnlySession, SessionTransport } from './session.js';
import { openReadOnlySession } from './session.js';

export type { PostgresExtractOptions } from './options.js';

/** How a connection reaches its server: plain TCP/TLS, or a transport such as the Cloud SQL connector. */
export interface PostgresTransportFactory {
  /** Returns a transport for one call and a function releasing it, or undefined for plain TCP. */
  open(
    connection: SourceConnection,
    settings: PostgresSettings,
    signal: AbortSignal,
  ): Promise<{ transport?: SessionTransport; release(): Promise<void> }>;
}

/** Plain TCP (with the connection's TLS settings), or the Cloud SQL connector when `cloudSql` is set. */
const defaultTransports: PostgresTransportFactory = {
  open: async (_connection, settings, signal) =>
    settings.cloudSql
      ? openCloudSqlTransport(settings, settings.cloudSql, signal)
      : { release: async () => undefined },
};

/** Settings and transport for one call, released by `close`. */
async function prepare(
  connection: SourceConnection,
  transports: PostgresTransportFactory,
  signal: AbortSignal,
): Promise<{ settings: PostgresSettings; transport?: SessionTransport; close(): Promise<void> }> {
  const settings = compileSettings(connection);
  const opened = await transports.open(connection, settings, signal);
  return {
    settings,
    ...(opened.transport ? { transport: opened.transport } : {}),
    close: () => opened.release(),
  };
}

async function withSession<T>(
  settings: PostgresSettings,
  transport: SessionTransport | undefined,
  signal: AbortSignal,
  database: string | undefined,
  use: (session: ReadOnlySession) => Promise<T>,
): Promise<T> {
  const session = await openReadOnlySession(settings, signal, {
    ...(database !== undefined ? { database } : {}),
    ...(transport ? { transport } : {}),
  });
  try {
    return await use(session);
  } finally {
    await session.close();
  }
}

/**
 * The PostgreSQL adapter (connection type `postgres`): reads pg_catalog through read-only sessions
 * and streams databases, schemas, relations, columns, constraints, indexes, types, functions,
 * triggers, policies and view lineage. `transports` lets Cloud SQL plug in its connector.
 */
export function createPostgresAdapter(
  transports: PostgresTransportFactory = defaultTransports,
  type = 'postgres',
): SourceAdapter<PostgresExtractOptions> {
  return {
    type,
    parseOptions: parseExtractOptions,
    checkLimits: checkPostgresLimits,

    async check(connection, context) {
      const prepared = await prepare(connection, transports, context.signal);
      try {
        return await withSession(
          prepared.settings,
          prepared.transport,
          context.signal,
          undefined,
          async (session) => {
            const [facts] = await session.query(
              `SELECT current_setting('server_version') AS server_version, current_database() AS database,
               current_user AS "user", coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS ssl,
               has_database_privilege(current_database(), 'CONNECT') AS can_connect`,
            );
            // The crawl reads these catalogs and functions; a role stripped of them cannot crawl.
            const [probe] = await session.query(
              `SELECT (SELECT count(*) FROM pg_class)::int AS relations, (SELECT count(*) FROM pg_namespace)::int AS schemas,
               has_function_privilege('pg_catalog.pg_get_viewdef(oid)', 'EXECUTE') AS can_read_definitions`,
            );
            return {
              serverVersion: facts?.server_version,
              database: facts?.database,
              user: facts?.user,
              ssl: facts?.ssl === true,
              canReadCatalog: (probe?.relations as number) > 0 && probe?.can_read_definitions === true,
            };
          },
        );
      } finally {
        await prepared.close();
      }
    },

    extract(connection, options, context) {
      return extract(connection, options, context, transports);
    },
  };
}

async function* extract(
  connection: SourceConnection,
  options: PostgresExtractOptions,
  context: AdapterContext,
  transports: PostgresTransportFactory,
): AsyncGenerator<MetadataRecord, void, undefined> {
  const { signal } = context;
  // The connection's limits bound every job, whoever checked them before: the request can only narrow.
  const scope = {
    name: connection.name,
    ...(connection.database === undefined ? {} : { database: connection.database }),
    limits: connection.limits ?? {},
  };
  checkPostgresLimits(options, scope);
  const allowed = allowedDatabases(scope, parseLimitsOf(scope));
  const prepared = await prepare(connection, transports, signal);
  try {
    const { settings, transport } = prepared;
    const server = serverKey(settings.host, settings.port);
    let databases: string[] = [settings.database];
    if (options.databases) {
      const filter = options.databases;
      databases = await withSession(settings, transport, signal, undefined, async (session) =>
        (await session.query(DATABASES, [filter.include, filter.exclude]))
          .map((row) => row.name as string)
          .filter(allowed),
      );
      if (databases.length === 0) context.warn(`no database on ${server} matches the job's database filter`);
    }
    for (const database of databases) {
      const session = await openReadOnlySession(settings, signal, {
        database,
        ...(transport ? { transport } : {}),
      });
      try {
        yield* crawlDatabase(session, server, options, {
          openSession: (snapshot) =>
            openReadOnlySession(settings, signal, {
              database,
              ...(transport ? { transport } : {}),
              ...(snapshot !== undefined ? { snapshot } : {}),
            }),
          warn: (message) => context.warn(message),
          note: (message) => context.log.info({ database }, message),
          signal,
        });
      } finally {
        await session.close();
      }
    }
  } finally {
    await prepared.close();
  }
}
