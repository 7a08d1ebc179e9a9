import { Codes } from '../protocol/index.js';
import { parseSecretReference } from './reference.js';
import type { SecretProvider } from './types.js';

/** Resolves secret references through registered providers, with a short positive-only cache. */
export class SecretResolver {
  private readonly providers = new Map<string, SecretProvider>();
  private readonly cache = new Map<string, { value: string; expiresAt: number }>();

  constructor(
    providers: readonly SecretProvider[],
    private readonly cacheTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    for (const provider of providers) this.providers.set(provider.scheme, provider);
  }

  /** Throws unless every reference parses and names a registered provider; run on the connections file at start. */
  validate(raw: string): void {
    const reference = parseSecretReference(raw);
    if (!this.providers.has(reference.scheme)) {
      throw new Codes.SDR_ERR_SECRET_PROVIDER_UNKNOWN(raw, [...this.providers.keys()].join(', '));
    }
  }

  /** Resolves one reference. A failed lookup is never cached. */
  async resolve(raw: string, signal?: AbortSignal): Promise<string> {
    const cached = this.cache.get(raw);
    if (cached && cached.expiresAt > this.now()) return cached.value;
    const reference = parseSecretReference(raw);
    const provider = this.providers.get(reference.scheme);
    if (!provider)
      throw new Codes.SDR_ERR_SECRET_PROVIDER_UNKNOWN(raw, [...this.providers.keys()].join(', '));
    const value = await provider.resolve(reference, signal);
    if (this.cacheTtlMs > 0) this.cache.set(raw, { value, expiresAt: this.now() + this.cacheTtlMs });
    return value;
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

  /** Forgets cached values and closes every provider, keeping the first error. */
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
