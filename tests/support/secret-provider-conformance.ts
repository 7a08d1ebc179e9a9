import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdrError } from '../../protocol/index.js';
import { parseSecretReference, SecretResolver, type SecretProvider } from '../../secrets/index.js';
import { findCanary } from './canary.js';

/** What one provider's harness sets up in its store for the shared suite. */
export interface ConformanceFixture {
  provider: SecretProvider;
  /** A JSON secret `{"user": ..., "password": ...}` at its current version; no `#key`. */
  jsonRef: string;
  current: { user: string; password: string };
  /** The same secret pinned to an older version (omitted where the store has no versions). */
  pinned?: { ref: string; password: string };
  /** A secret that does not exist. */
  missingRef: string;
  /** A version of `jsonRef`'s secret that does not exist (where the store has versions). */
  missingVersionRef?: string;
  /** A secret the runtime's identity may not read (where the double or server can deny). */
  deniedRef?: string;
  /** The same provider pointed at a port where nothing listens. */
  unreachable?: () => SecretProvider;
}

/** One provider under test, built by an injected factory. */
export interface ConformanceHarness {
  name: string;
  setup(): Promise<ConformanceFixture>;
  teardown?(): Promise<void>;
}

/**
 * The contract every secret provider keeps: resolves, selects JSON keys, pins versions where supported, and
 * fails with a catalogued error that names the reference and never contains a value.
 */
export function secretProviderConformance(harness: ConformanceHarness): void {
  describe(`secret provider conformance: ${harness.name}`, () => {
    let fixture: ConformanceFixture;
    const values = (): string[] =>
      [fixture.current.user, fixture.current.password, fixture.pinned?.password].filter(
        (v): v is string => v !== undefined,
      );
    const resolve = (raw: string, provider = fixture.provider) => provider.resolve(parseSecretReference(raw));

    /** Asserts the failure is catalogued, names the reference and leaks no value anywhere in the error. */
    async function expectFailure(raw: string, code: string, provider = fixture.provider): Promise<SdrError> {
      const error = await resolve(raw, provider).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, `${raw} should fail`).toBeInstanceOf(SdrError);
      const sdr = error as SdrError;
      expect(sdr.code).toBe(code);
      expect(sdr.message).toContain(raw);
      expect(sdr.message).toMatch(new RegExp(`${parseSecretReference(raw).scheme}|secret`));
      for (const value of values())
        expect(findCanary(sdr, value), `value leaked in ${sdr.message}`).toBeUndefined();
      return sdr;
    }

    beforeAll(async () => {
      fixture = await harness.setup();
    });
    afterAll(async () => {
      await fixture?.provider.close?.();
      await harness.teardown?.();
    });

    it('resolves a whole JSON secret', async () => {
      const value = await resolve(fixture.jsonRef);
      expect(JSON.parse(value)).toMatchObject(fixture.current);
    });

    it('selects one key of a JSON secret with #key', async () => {
      expect(await resolve(`${fixture.jsonRef}#password`)).toBe(fixture.current.password);
      expect(await resolve(`${fixture.jsonRef}#user`)).toBe(fixture.current.user);
    });

    it('resolves through a SecretResolver', async () => {
      const resolver = new SecretResolver([fixture.provider], 0);
      expect(
        await resolver.resolveAll({ user: `${fixture.jsonRef}#user`, pw: `${fixture.jsonRef}#password` }),
      ).toEqual({
        user: fixture.current.user,
        pw: fixture.current.password,
      });
    });

    it('pins an older version where the store keeps versions', async () => {
      if (!fixture.pinned) return;
      expect(await resolve(`${fixture.pinned.ref}#password`)).toBe(fixture.pinned.password);
    });

    it('fails with SDR_ERR_SECRET_NOT_FOUND for a missing secret', async () => {
      await expectFailure(fixture.missingRef, 'SDR_ERR_SECRET_NOT_FOUND');
    });

    it('fails with SDR_ERR_SECRET_NOT_FOUND for a missing key, without quoting the secret', async () => {
      await expectFailure(`${fixture.jsonRef}#no-such-key`, 'SDR_ERR_SECRET_NOT_FOUND');
    });

    it('fails with SDR_ERR_SECRET_NOT_FOUND for a missing version', async () => {
      if (!fixture.missingVersionRef) return;
      await expectFailure(fixture.missingVersionRef, 'SDR_ERR_SECRET_NOT_FOUND');
    });

    it('fails with SDR_ERR_SECRET_DENIED when the identity may not read the secret', async () => {
      if (!fixture.deniedRef) return;
      await expectFailure(fixture.deniedRef, 'SDR_ERR_SECRET_DENIED');
    });

    it('fails with retryable SDR_ERR_SECRET_UNAVAILABLE when the store is unreachable', async () => {
      if (!fixture.unreachable) return;
      const provider = fixture.unreachable();
      try {
        const error = await expectFailure(
          `${fixture.jsonRef}#password`,
          'SDR_ERR_SECRET_UNAVAILABLE',
          provider,
        );
        expect(error.retryable).toBe(true);
      } finally {
        await provider.close?.();
      }
    });
  });
}
