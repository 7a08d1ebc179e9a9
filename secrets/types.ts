/** A parsed secret reference: `scheme://path[?version=v][#key]`. */
export interface SecretReference {
  /** The reference exactly as written; safe to log, it never holds the value. */
  readonly raw: string;
  readonly scheme: string;
  readonly path: string;
  /** Selects one key of a JSON secret. */
  readonly key?: string;
  /** Pins a version where the provider has versions. */
  readonly version?: string;
}

/**
 * One secret store. Resolves a reference to its value or throws a catalogued `SdrError`
 * (`SDR_ERR_SECRET_NOT_FOUND`, `_DENIED`, `_UNAVAILABLE`) whose message names the reference, never the value.
 */
export interface SecretProvider {
  /** URI scheme this provider answers, e.g. `env`, `file`, `vault`. */
  readonly scheme: string;
  resolve(reference: SecretReference, signal?: AbortSignal): Promise<string>;
  /** Releases clients and timers. */
  close?(): Promise<void>;
}

/** The slice of a pino logger providers use; they log events (renewals, re-logins), never values. */
export interface SecretProviderLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/** Resolves a reference through the other registered providers (e.g. AWS static keys kept in a file). */
export type ReferenceResolver = (raw: string, signal?: AbortSignal) => Promise<string>;
