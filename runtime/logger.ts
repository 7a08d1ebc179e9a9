import { pino, type Logger } from 'pino';

// The one secret scrubber lives in common/; the runtime's callers (job runner, daemon, preflight) import it from here.
export { scrubSecrets } from '../common/index.js';

/** Paths pino censors wherever they appear: anything that could carry a credential. */
export const REDACTED_PATHS = [
  'credentials',
  '*.credentials',
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'agentToken',
  '*.agentToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

/**
 * Key names (compared lower-cased, without `-`, `_` and `.`) whose values are censored at any depth, in
 * addition to `REDACTED_PATHS`: a key ending in one of these carries a credential (`secretAccessKey`,
 * `sslkey`, `clientSecret`, `X-Api-Key`, `db_password`, …). `secrets` (references, not values) and
 * `accessKeyId` (an identifier) do not match.
 */
export const SECRET_KEY_SUFFIXES = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'authorization',
  'credential',
  'credentials',
  'sslkey',
  'privatekey',
  'apikey',
  'accesskey',
  'cookie',
] as const;

/** True when a field of this name must never be logged. */
export function isSecretKey(key: string): boolean {
  const normal = key.toLowerCase().replace(/[-_.]/g, '');
  return SECRET_KEY_SUFFIXES.some((suffix) => normal.endsWith(suffix));
}

const MAX_REDACT_DEPTH = 8;

/** A copy of `value` with every secret-named field censored; plain objects and arrays only, bounded depth. */
export function redactSecretKeys(value: unknown, depth = 0): unknown {
  if (depth > MAX_REDACT_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactSecretKeys(item, depth + 1));
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    out[key] = isSecretKey(key) ? '[redacted]' : redactSecretKeys(field, depth + 1);
  }
  return out;
}

/**
 * The daemon's JSON logger, to stdout (or `destination`) and to any `extra` streams such as the log
 * forwarder. Redaction happens before any stream sees a line.
 */
export function createLogger(
  level: string,
  destination?: NodeJS.WritableStream,
  extra: readonly NodeJS.WritableStream[] = [],
): Logger {
  const out = destination ?? pino.destination(1);
  const streams =
    extra.length === 0 ? out : pino.multistream([{ stream: out }, ...extra.map((stream) => ({ stream }))]);
  return pino(
    {
      level,
      base: { service: 'sdr' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redactSecretKeys(object) as Record<string, unknown>,
      },
    },
    streams,
  );
}

/** Strips the password from a URL for logging. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = 'redacted';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
