import { pino, type Logger } from 'pino';

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
      formatters: { level: (label) => ({ level: label }) },
    },
    streams,
  );
}

/** Removes known secret values from text about to leave the process (error messages sent to the cloud). */
export function scrubSecrets(text: string, secretValues: Iterable<string>): string {
  let scrubbed = text;
  for (const value of secretValues) {
    // Very short values would redact ordinary words; they are also too weak to be real credentials.
    if (value.length >= 4) scrubbed = scrubbed.split(value).join('[redacted]');
  }
  return scrubbed;
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
