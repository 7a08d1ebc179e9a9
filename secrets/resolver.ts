import { Codes, SdrError } from '../protocol/index.js';
import { raceAbort } from '../common/index.js';
import { parseSecretReference } from './reference.js';
import { SECRET_STORE_SETTINGS } from './store-settings.js';
import type { SecretProvider } from './types.js';

/**
 * Throws unless `raw` parses and names one of `schemes`; a store this build has but nobody configured is
 * `SDR_ERR_SECRET_PROVIDER_NOT_CONFIGURED` naming the setting that turns it on.
 */
export function assertReferenceResolvable(raw: string, schemes: readonly string[]): void {
  const reference = parseSecretReference(raw);
  if (schemes.includes(reference.scheme)) return;
  const setting = SECRET_STORE_SETTINGS[reference.scheme];
  if (setting) throw new Codes.SDR_ERR_SECRET_PROVIDER_NOT_CONFIGURED(raw, setting);
  throw new Codes.SDR_ERR_SECRET_PROVIDER_UNKNOWN(raw, schemes.join(', '));
}

/** How long a resolved value is reused by default (5 minutes), so a burst of jobs does not hammer the store. */
export const DEFAULT_SECRET_CACHE_TTL_MS = 5 * 60_000;

/**
 * Resolves secret references through registered providers. Values are cached for `cacheTtlMs`
 * (0 = no cache); a failed lookup is never cached, and concurrent lookups of one reference share a
 * single request to the store.
 */
export class SecretResolver {
  private readonly providers = new Map<string, SecretProvider>();
  private readonly cache = new Map<string, { value: string; expiresAt: number }>();
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    providers: readonly SecretProvider[],
    private readonly cacheTtlMs: number = DEFAULT_SECRET_CACHE_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isFinite(cacheTtlMs) || cacheTtlMs < 0) {
      throw new Codes.SDR_ERR_CONFIG_INVALID(
        `secret cache TTL must be 0 (off) or a positive number of ms, got ${cacheTtlMs}`,
      );
    }
    for (const provider of providers) this.providers.set(provider.scheme, provider);
  }

  /** The schemes that resolve, e.g. `env, file, vault`. */
  get schemes(): string[] {
    return [...this.providers.keys()];
  }

  /** Throws unless the reference parses and names a registered provider; run on the connections file at start. */
  validate(raw: string): void {
    assertReferenceResolvable(raw, this.schemes);
  }

  /**
   * Resolves one reference, or throws a catalogued `SdrError` that names the reference and never the value.
   * Aborting `signal` abandons this caller's wait; a lookup shared with other callers still completes for them.
   */
  async resolve(raw: string, signal?: AbortSignal): Promise<string> {
    const cached = this.cache.get(raw);
    if (cached) {
      if (cached.expiresAt > this.now()) return cached.value;
      this.cache.delete(raw);
    }
    assertReferenceResolvable(raw, this.schemes);
    const reference = parseSecretReference(raw);
    const provider = this.providers.get(reference.scheme) as SecretProvider;
    let pending = this.inFlight.get(raw);
    if (!pending) {
      pending = provider
        .resolve(reference)
        .then((value) => {
          if (this.cacheTtlMs > 0) this.cache.set(raw, { value, expiresAt: this.now() + this.cacheTtlMs });
          return value;
        })
        .finally(() => this.inFlight.delete(raw));
      this.inFlight.set(raw, pending);
    }
    try {
      return await raceAbort(pending, signal);
    } catch (error) {
      throw asSecretError(raw, error, signal);
    }
  }

  /** Resolves a map of name → reference into name → value. */
  async resolveAll(
    references: Readonly<Record<string, string>>,
    signal?: AbortSignal,
  ): Promise<Record<string, string>> {
    const entries = await Promise.all(
      Object.entries(references).map(async ([name, raw]) => [name, await this.resolve(raw, signal)] as const),
    );
    return Object.fromEntries(entries);
  }

  /** Drops every cached value (e.g. after a rotation, or on SIGHUP). */
  clear(): void {
    this.cache.clear();
  }

  /** Forgets cached values and closes every provider in reverse order of registration, keeping the first error. */
  async close(): Promise<void> {
    this.cache.clear();
    let first: unknown;
    for (const provider of [...this.providers.values()].reverse()) {
      try {
        await provider.close?.();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== undefined)
      throw first instanceof Error ? first : new Error('secret provider failed to close', { cause: first });
  }
}

/**
 * Providers throw catalogued errors; anything else is a bug or a library surprise whose message may quote
 * the value (Node's JSON.parse does), so only its name is kept.
 */
function asSecretError(raw: string, error: unknown, signal: AbortSignal | undefined): SdrError {
  if (error instanceof SdrError) return error;
  if (signal?.aborted) return new Codes.SDR_ERR_SECRET_UNAVAILABLE(raw, 'lookup aborted');
  const name = error instanceof Error ? error.name : typeof error;
  return new Codes.SDR_ERR_SECRET_UNAVAILABLE(raw, `provider failed unexpectedly (${name})`);
}
