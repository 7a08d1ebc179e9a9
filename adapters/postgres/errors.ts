import { Codes, SdrError } from '../../protocol/index.js';
import { scrubSecrets } from '../shared/index.js';

/** What an error message may name about the session: never the password. */
export interface ErrorTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly lockTimeoutMs: number;
  /** Secret values to scrub from any text that reaches a message (the password, key material). */
  readonly secrets: readonly string[];
}

const tlsCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_OSSL_PEM_NO_START_LINE',
  'ERR_OSSL_X509_KEY_VALUES_MISMATCH',
  'EPROTO',
]);

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/**
 * Maps anything `pg`, `net` or `tls` throws to a catalogued error with an actionable message.
 * Errors that already are `SdrError`s pass through.
 */
export function mapPgError(error: unknown, target: ErrorTarget, phase: 'connect' | 'query'): SdrError {
  if (error instanceof SdrError) return error;
  const err = error as { code?: unknown; message?: unknown; routine?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  const raw = scrubSecrets(typeof err.message === 'string' ? err.message : String(error), target.secrets);
  const server = `${target.host}:${target.port}`;
  const options = { cause: error };

  switch (code) {
    case '28P01':
      return new Codes.SDR_ERR_PG_AUTH(
        `password authentication failed for user "${target.user}" at ${server}`,
        options,
      );
    case '28000':
      // no pg_hba.conf entry, or a role that may not log in: the server's text names host, user and database.
      return new Codes.SDR_ERR_PG_AUTH(
        /pg_hba\.conf/.test(raw)
          ? `${raw} (ask the DBA to add a pg_hba.conf line for this runtime's address, or change sslmode)`
          : raw,
        options,
      );
    case '3D000':
      return new Codes.SDR_ERR_PG_NO_DATABASE(target.database, server, options);
    case '42501':
    case '42P01':
      return new Codes.SDR_ERR_PG_PRIVILEGE(
        `${raw} (user "${target.user}", database "${target.database}")`,
        options,
      );
    case '57014':
      return new Codes.SDR_ERR_PG_QUERY(
        `statement timed out after ${seconds(target.statementTimeoutMs)} on ${server}/${target.database}; raise the connection's statementTimeoutMs`,
        options,
      );
    case '55P03':
      return new Codes.SDR_ERR_PG_QUERY(
        `waited more than ${seconds(target.lockTimeoutMs)} for a catalog lock on ${server}/${target.database} (DDL in progress?); retry later or raise lockTimeoutMs`,
        options,
      );
    case '53300':
    case '57P03':
    case '57P01':
    case '08006':
    case '08001':
    case '08004':
      return new Codes.SDR_ERR_PG_UNREACHABLE(`${server} refused the session: ${raw}`, options);
    case 'ECONNREFUSED':
      return new Codes.SDR_ERR_PG_UNREACHABLE(`connection refused at ${server}`, options);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new Codes.SDR_ERR_PG_UNREACHABLE(`host ${target.host} could not be resolved (${code})`, options);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new Codes.SDR_ERR_PG_UNREACHABLE(`no route to ${server} (${code})`, options);
    case 'ECONNRESET':
    case 'EPIPE':
      return new Codes.SDR_ERR_PG_UNREACHABLE(`connection to ${server} was reset (${code})`, options);
    case 'ETIMEDOUT':
      return new Codes.SDR_ERR_PG_UNREACHABLE(
        `timed out connecting to ${server} after ${seconds(target.connectTimeoutMs)}`,
        options,
      );
    default:
      break;
  }
  if (/client password must be a string/.test(raw))
    return new Codes.SDR_ERR_PG_AUTH(
      `${server} asked for a password for user "${target.user}" but the connection has no credentials.password`,
      options,
    );
  if (tlsCodes.has(code) || /SSL|TLS|certificate/i.test(raw))
    return new Codes.SDR_ERR_PG_TLS(
      `${server}: ${raw}${code && !raw.includes(code) ? ` (${code})` : ''}`,
      options,
    );
  if (raw === 'timeout expired' || /connection timeout/i.test(raw))
    return new Codes.SDR_ERR_PG_UNREACHABLE(
      `timed out connecting to ${server} after ${seconds(target.connectTimeoutMs)}`,
      options,
    );
  if (/^Connection terminated/.test(raw))
    return new Codes.SDR_ERR_PG_UNREACHABLE(`connection to ${server} closed unexpectedly`, options);
  if (code === '2201B')
    // Valid in JavaScript (checked at admission) but not in PostgreSQL: the same request fails every time.
    return new Codes.SDR_ERR_INVALID_OPTIONS(
      `${server}/${target.database}`,
      `a /regex/ pattern is not a valid PostgreSQL regular expression: ${raw.slice(0, 300)}`,
      options,
    );
  if (phase === 'connect')
    return new Codes.SDR_ERR_PG_UNREACHABLE(`could not connect to ${server}: ${raw}`, options);
  return new Codes.SDR_ERR_PG_QUERY(`${raw}${code ? ` (SQLSTATE ${code})` : ''}`, options);
}
