import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Codes } from '../../protocol/index.js';
import {
  createNameFilter,
  describeIssues,
  globListSchema,
  globToRegexSource,
  MAX_PATTERN_LENGTH,
  MAX_PATTERNS_PER_LIST,
  parseLimits,
} from '../shared/index.js';
import type { ConnectionScope, SourceConnection } from '../types.js';
import type { CloudSqlSettings } from './cloud-sql.js';

/** How strictly TLS to the server is required and verified; libpq's meanings, minus `allow`/`prefer`. */
export type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

/**
 * A name filter as the job sends it: a glob (`*`, `?`, everything else literal) or a regular
 * expression written `/.../` (optionally `/.../i`) that must match the whole name.
 */
const pattern = z
  .string()
  .min(1)
  .max(MAX_PATTERN_LENGTH)
  .superRefine((value, ctx) => {
    const regex = parseRegexPattern(value);
    if (regex === undefined) return;
    try {
      new RegExp(regex.source);
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        message: `invalid regular expression: ${(error as Error).message.slice(0, 200)}`,
      });
    }
  });

const patternList = z.array(pattern).max(MAX_PATTERNS_PER_LIST);
const filter = z.object({ include: patternList.optional(), exclude: patternList.optional() }).strict();

const extractOptionsSchema = z
  .object({
    schemas: filter.optional(),
    tables: filter.optional(),
    databases: filter.optional(),
    includeFunctionBodies: z.boolean().default(false),
    visibility: z.enum(['catalog', 'granted']).default('catalog'),
  })
  .strict();

/** Extraction options of a postgres job (what the cloud may choose; never where to connect). */
export interface PostgresExtractOptions {
  /** Schemas to crawl; system schemas are never crawled. */
  readonly schemas: NameFilter;
  /** Tables, views and other relations to crawl, by name; partitions follow their root table. */
  readonly tables: NameFilter;
  /**
   * Absent: crawl only the connection's database. Present: crawl every database of the server the
   * user may connect to whose name passes the filter (a plain name list is a filter without wildcards).
   */
  readonly databases?: NameFilter;
  /** Include function and procedure bodies (off by default: bodies can embed literals). */
  readonly includeFunctionBodies: boolean;
  /**
   * `catalog`: every object pg_catalog lists (readable by any role). `granted`: only schemas the role may
   * use and relations it holds a privilege on, as information_schema shows them.
   */
  readonly visibility: 'catalog' | 'granted';
  /** The database filter as the request sent it, to check against the connection's limits. */
  readonly requestedDatabases?: { readonly include: readonly string[]; readonly exclude: readonly string[] };
}

/** Include/exclude lists compiled to PostgreSQL regular expressions (ARE), applied in the catalog queries. */
export interface NameFilter {
  readonly include: string[];
  readonly exclude: string[];
}

function parseRegexPattern(value: string): { source: string; caseInsensitive: boolean } | undefined {
  const match = /^\/(.*)\/(i?)$/s.exec(value);
  if (!match) return undefined;
  return { source: match[1]!, caseInsensitive: match[2] === 'i' };
}

/**
 * Turns one glob or `/regex/` into an anchored PostgreSQL advanced regular expression. Globs go through
 * the adapters' shared glob compiler (case-sensitive, like PostgreSQL identifiers); they run server-side,
 * bounded by `statement_timeout`, never on the runtime's event loop.
 */
export function toPostgresRegex(value: string): string {
  const regex = parseRegexPattern(value);
  if (regex) return `${regex.caseInsensitive ? '(?i)' : ''}^(?:${regex.source})$`;
  return globToRegexSource(value);
}

function compile(raw: { include?: string[]; exclude?: string[] } | undefined): NameFilter {
  return {
    include: (raw?.include ?? []).map(toPostgresRegex),
    exclude: (raw?.exclude ?? []).map(toPostgresRegex),
  };
}

/** Validates a job's extraction options; throws `SDR_ERR_INVALID_OPTIONS` naming every problem. */
export function parseExtractOptions(
  raw: Record<string, unknown>,
  connection: string,
): PostgresExtractOptions {
  const parsed = extractOptionsSchema.safeParse(raw);
  if (!parsed.success) throw new Codes.SDR_ERR_INVALID_OPTIONS(connection, describeIssues(parsed.error));
  const options = parsed.data;
  return {
    schemas: compile(options.schemas),
    tables: compile(options.tables),
    ...(options.databases
      ? {
          databases: compile(options.databases),
          requestedDatabases: {
            include: options.databases.include ?? [],
            exclude: options.databases.exclude ?? [],
          },
        }
      : {}),
    includeFunctionBodies: options.includeFunctionBodies,
    visibility: options.visibility,
  };
}

const limitsSchema = z
  .object({
    /**
     * Databases (globs, case-sensitive) a request may crawl besides the connection's own. Absent: only
     * the connection's database. A request's database filter is intersected with this list.
     */
    databases: globListSchema.default([]),
    /** Whether a request may ask for function bodies (`includeFunctionBodies`). */
    functionBodies: z.boolean().default(false),
  })
  .strict();

/** A postgres connection's ceilings, from `limits:` in the connections file. */
export type PostgresLimits = z.infer<typeof limitsSchema>;

/** Parses a connection's limits; throws `SDR_ERR_CONNECTIONS_INVALID`. */
export function parseLimitsOf(scope: ConnectionScope): PostgresLimits {
  return parseLimits(limitsSchema, scope.limits, scope.name);
}

/** The databases a connection allows: its own, plus those its `limits.databases` globs match. */
export function allowedDatabases(scope: ConnectionScope, limits: PostgresLimits): (name: string) => boolean {
  const listed = createNameFilter({ include: limits.databases }, 'sensitive');
  const own = scope.database ?? 'postgres';
  return (name) => name === own || (limits.databases.length > 0 && listed(name));
}

const isLiteralName = (pattern: string): boolean => !/[*?]/.test(pattern) && !pattern.startsWith('/');

/**
 * Refuses options that read beyond the connection's limits: function bodies it does not allow, or a
 * database named outright that it does not allow (patterns are narrowed to the allowed set at extraction).
 */
export function checkPostgresLimits(
  options: PostgresExtractOptions | undefined,
  scope: ConnectionScope,
): void {
  const limits = parseLimitsOf(scope);
  if (options === undefined) return;
  if (options.includeFunctionBodies && !limits.functionBodies) {
    throw new Codes.SDR_ERR_INVALID_OPTIONS(
      scope.name,
      'includeFunctionBodies: this connection does not allow function bodies (the customer sets limits.functionBodies: true in the connections file)',
    );
  }
  const requested = options.requestedDatabases;
  if (requested) {
    const allowed = allowedDatabases(scope, limits);
    const outside = requested.include.filter((name) => isLiteralName(name) && !allowed(name));
    if (outside.length > 0) {
      throw new Codes.SDR_ERR_INVALID_OPTIONS(
        scope.name,
        `databases: ${outside.length} database(s) outside this connection's limits.databases (first: ${JSON.stringify(outside[0]?.slice(0, 80))})`,
      );
    }
  }
}

const connectionOptionsSchema = z
  .object({
    sslmode: z.enum(['disable', 'require', 'verify-ca', 'verify-full']).optional(),
    sslrootcert: z.string().min(1).optional(),
    sslcert: z.string().min(1).optional(),
    sslkey: z.string().min(1).optional(),
    connectTimeoutMs: z.number().int().positive().default(10_000),
    statementTimeoutMs: z.number().int().nonnegative().default(60_000),
    lockTimeoutMs: z.number().int().nonnegative().default(5_000),
    /** Rows fetched per cursor round trip. */
    fetchSize: z.number().int().min(1).max(100_000).default(1_000),
    cloudSql: z
      .object({
        instanceConnectionName: z
          .string()
          .regex(/^([^:]+:)?[^:]+:[^:]+:[^:]+$/, 'must be project:region:instance'),
        ipType: z.enum(['public', 'private', 'psc']).default('public'),
        auth: z.enum(['password', 'iam']).default('password'),
        /** The Cloud SQL Admin API's root URL: a Private Service Connect endpoint for Google APIs, or a test double. */
        sqlAdminApiEndpoint: z.url().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** TLS material: PEM text, from a secret (credentials) or read from a file (options). */
export interface TlsSettings {
  readonly mode: SslMode;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Everything needed to open a session, compiled once per call from a `SourceConnection`. */
export interface PostgresSettings {
  readonly connection: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password?: string;
  readonly tls: TlsSettings;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly lockTimeoutMs: number;
  readonly fetchSize: number;
  /** Present when the server is a Cloud SQL instance reached through the Cloud SQL connector. */
  readonly cloudSql?: CloudSqlSettings;
}

const loopback = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** The sslmode used when the connection names none: plaintext only to this machine, TLS to anything else. */
export function defaultSslMode(host: string): SslMode {
  return loopback.has(host.toLowerCase()) || host.startsWith('/') ? 'disable' : 'require';
}

function pem(
  connection: SourceConnection,
  name: 'sslrootcert' | 'sslcert' | 'sslkey',
  file: string | undefined,
): string | undefined {
  // A secret wins over a file path: secrets are how the issue asks for key material to arrive.
  const secret = connection.credentials[name];
  if (secret !== undefined && secret !== '') return secret;
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Codes.SDR_ERR_PG_CONFIG(
      connection.name,
      `${name} file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: error },
    );
  }
}

/** Validates a connection's settings; throws `SDR_ERR_PG_CONFIG` naming the setting at fault. */
export function compileSettings(connection: SourceConnection): PostgresSettings {
  const parsed = connectionOptionsSchema.safeParse(connection.options);
  if (!parsed.success) throw new Codes.SDR_ERR_PG_CONFIG(connection.name, describeIssues(parsed.error));
  const options = parsed.data;
  const cloudSql = options.cloudSql;
  // With Cloud SQL the instance connection name stands for the host in keys and messages.
  const host = connection.host ?? cloudSql?.instanceConnectionName ?? '';
  if (host === '') throw new Codes.SDR_ERR_PG_CONFIG(connection.name, 'host is required');
  const user = connection.credentials.user ?? connection.credentials.username;
  if (user === undefined || user === '')
    throw new Codes.SDR_ERR_PG_CONFIG(connection.name, 'credentials.user is required (a secret reference)');
  if (
    cloudSql &&
    (options.sslmode !== undefined || options.sslrootcert !== undefined || options.sslcert !== undefined)
  )
    throw new Codes.SDR_ERR_PG_CONFIG(
      connection.name,
      'sslmode and certificates do not apply to Cloud SQL: the connector always uses mutual TLS; remove them',
    );
  if (cloudSql?.auth === 'password' && !connection.credentials.password)
    throw new Codes.SDR_ERR_PG_CONFIG(
      connection.name,
      'Cloud SQL with auth "password" needs credentials.password (or set cloudSql.auth to "iam")',
    );
  const mode = cloudSql ? 'disable' : (options.sslmode ?? defaultSslMode(host));
  const ca = pem(connection, 'sslrootcert', options.sslrootcert);
  const cert = pem(connection, 'sslcert', options.sslcert);
  const key = pem(connection, 'sslkey', options.sslkey);
  if ((cert === undefined) !== (key === undefined))
    throw new Codes.SDR_ERR_PG_CONFIG(connection.name, 'sslcert and sslkey must be given together');
  if (mode === 'disable' && (ca !== undefined || cert !== undefined))
    throw new Codes.SDR_ERR_PG_CONFIG(
      connection.name,
      'sslmode is disable but TLS certificates are configured; set sslmode to require, verify-ca or verify-full',
    );
  const port = connection.port ?? 5432;
  return {
    connection: connection.name,
    host,
    port,
    database: connection.database ?? 'postgres',
    user,
    ...(connection.credentials.password !== undefined ? { password: connection.credentials.password } : {}),
    tls: {
      mode,
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
    },
    connectTimeoutMs: options.connectTimeoutMs,
    statementTimeoutMs: options.statementTimeoutMs,
    lockTimeoutMs: options.lockTimeoutMs,
    fetchSize: options.fetchSize,
    ...(cloudSql
      ? {
          cloudSql: {
            ...cloudSql,
            ...(connection.credentials.googleCredentials
              ? { googleCredentials: connection.credentials.googleCredentials }
              : {}),
          },
        }
      : {}),
  };
}
