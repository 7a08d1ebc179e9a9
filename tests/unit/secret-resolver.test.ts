import { describe, expect, it } from 'vitest';
import { Codes, SdrError } from '../../protocol/index.js';
import {
  assertReferenceResolvable,
  DEFAULT_SECRET_CACHE_TTL_MS,
  SecretResolver,
} from '../../secrets/index.js';
import type { SecretProvider, SecretReference } from '../../secrets/index.js';
import { assertNoCanary, findCanary } from '../support/canary.js';

/** A provider whose answers the test scripts; counts how often the store is asked. */
function scriptedProvider(answer: (reference: SecretReference, call: number) => Promise<string>) {
  const calls: string[] = [];
  const provider: SecretProvider & { calls: string[]; closed: boolean } = {
    scheme: 'test',
    calls,
    closed: false,
    async resolve(reference) {
      calls.push(reference.raw);
      return answer(reference, calls.length);
    },
    async close() {
      provider.closed = true;
    },
  };
  return provider;
}

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('SecretResolver', () => {
  it('caches a resolved value for five minutes by default', async () => {
    const time = clock();
    const provider = scriptedProvider(async (_ref, call) => `value-${call}`);
    const resolver = new SecretResolver([provider], undefined, time.now);
    expect(DEFAULT_SECRET_CACHE_TTL_MS).toBe(300_000);
    expect(await resolver.resolve('test://a')).toBe('value-1');
    time.advance(DEFAULT_SECRET_CACHE_TTL_MS - 1);
    expect(await resolver.resolve('test://a')).toBe('value-1');
    time.advance(1);
    expect(await resolver.resolve('test://a')).toBe('value-2');
    expect(provider.calls).toHaveLength(2);
  });

  it('honours a configured TTL', async () => {
    const time = clock();
    const provider = scriptedProvider(async (_ref, call) => `value-${call}`);
    const resolver = new SecretResolver([provider], 1_000, time.now);
    await resolver.resolve('test://a');
    time.advance(999);
    await resolver.resolve('test://a');
    time.advance(1);
    await resolver.resolve('test://a');
    expect(provider.calls).toHaveLength(2);
  });

  it('does not cache at all when the TTL is 0', async () => {
    const provider = scriptedProvider(async (_ref, call) => `value-${call}`);
    const resolver = new SecretResolver([provider], 0);
    expect(await resolver.resolve('test://a')).toBe('value-1');
    expect(await resolver.resolve('test://a')).toBe('value-2');
  });

  it('never caches a failed lookup', async () => {
    const provider = scriptedProvider(async (reference, call) => {
      if (call === 1) throw new Codes.SDR_ERR_SECRET_UNAVAILABLE(reference.raw, 'store is down');
      return 'recovered';
    });
    const resolver = new SecretResolver([provider], 60_000);
    await expect(resolver.resolve('test://a')).rejects.toMatchObject({ code: 'SDR_ERR_SECRET_UNAVAILABLE' });
    expect(await resolver.resolve('test://a')).toBe('recovered');
    expect(provider.calls).toHaveLength(2);
  });

  it('keys the cache by the whole reference, so keys and versions do not share a value', async () => {
    const provider = scriptedProvider(async (reference) => reference.raw);
    const resolver = new SecretResolver([provider], 60_000);
    expect(await resolver.resolve('test://a#user')).toBe('test://a#user');
    expect(await resolver.resolve('test://a#password')).toBe('test://a#password');
    expect(await resolver.resolve('test://a?version=2#password')).toBe('test://a?version=2#password');
  });

  it('sends one request to the store for a burst of identical lookups', async () => {
    let release!: (value: string) => void;
    const provider = scriptedProvider(() => new Promise<string>((resolve) => (release = resolve)));
    const resolver = new SecretResolver([provider], 60_000);
    const burst = Array.from({ length: 20 }, () => resolver.resolve('test://a'));
    await Promise.resolve();
    release('shared');
    expect(await Promise.all(burst)).toEqual(Array(20).fill('shared'));
    expect(provider.calls).toHaveLength(1);
  });

  it('shares a failure with every waiter of a burst, then asks again', async () => {
    let fail!: () => void;
    const provider = scriptedProvider((reference, call) =>
      call === 1
        ? new Promise<string>((_resolve, reject) => {
            fail = () => reject(new Codes.SDR_ERR_SECRET_DENIED(reference.raw, 'no'));
          })
        : Promise.resolve('later'),
    );
    const resolver = new SecretResolver([provider], 60_000);
    const burst = [resolver.resolve('test://a'), resolver.resolve('test://a')];
    await Promise.resolve();
    fail();
    for (const result of await Promise.allSettled(burst)) expect(result.status).toBe('rejected');
    expect(await resolver.resolve('test://a')).toBe('later');
  });

  it('lets one caller give up without failing the others', async () => {
    let release!: (value: string) => void;
    const provider = scriptedProvider(() => new Promise<string>((resolve) => (release = resolve)));
    const resolver = new SecretResolver([provider], 60_000);
    const controller = new AbortController();
    const abandoned = resolver.resolve('test://a', controller.signal);
    const patient = resolver.resolve('test://a');
    controller.abort();
    await expect(abandoned).rejects.toMatchObject({ code: 'SDR_ERR_SECRET_UNAVAILABLE' });
    release('ok');
    expect(await patient).toBe('ok');
  });

  it('names unknown schemes and lists the known ones', async () => {
    const resolver = new SecretResolver([scriptedProvider(async () => 'x')], 0);
    await expect(resolver.resolve('nope://a')).rejects.toMatchObject({
      code: 'SDR_ERR_SECRET_PROVIDER_UNKNOWN',
      message: expect.stringContaining('test'),
    });
    expect(() => resolver.validate('nope://a')).toThrow(SdrError);
    expect(() => resolver.validate('test://a')).not.toThrow();
    expect(() => resolver.validate('not a reference')).toThrow(/SDR_ERR_SECRET_REF_INVALID|invalid/);
  });

  it('turns an uncatalogued provider error into a coded one without its message, which may quote the value', async () => {
    const provider = scriptedProvider(async () => {
      JSON.parse('hunter2-canary');
      return '';
    });
    const resolver = new SecretResolver([provider], 0);
    const error = await resolver.resolve('test://a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SdrError);
    expect((error as SdrError).code).toBe('SDR_ERR_SECRET_UNAVAILABLE');
    expect((error as SdrError).message).toContain('test://a');
    assertNoCanary(error, 'hunter2-canary', 'the error');
  });

  it('resolves a map of references and drops its cache on clear() and close()', async () => {
    const provider = scriptedProvider(async (reference, call) => `${reference.path}-${call}`);
    const resolver = new SecretResolver([provider], 60_000);
    expect(await resolver.resolveAll({ user: 'test://u', password: 'test://p' })).toEqual({
      user: 'u-1',
      password: 'p-2',
    });
    resolver.clear();
    expect(await resolver.resolve('test://u')).toBe('u-3');
    await resolver.close();
    expect(provider.closed).toBe(true);
  });

  it('rejects a negative or non-numeric TTL', () => {
    expect(() => new SecretResolver([], -1)).toThrow(SdrError);
    expect(() => new SecretResolver([], Number.NaN)).toThrow(SdrError);
  });
});

describe('findCanary', () => {
  it('finds a value in nested errors, buffers and encodings', () => {
    const canary = 's3cr3t-value';
    expect(findCanary({ a: [1, { b: `x${canary}y` }] }, canary)).toBe('$.a.1.b');
    expect(findCanary(new Error('outer', { cause: new Error(canary) }), canary)).toBe('$.cause.message');
    expect(findCanary(Buffer.from(`frame:${canary}`), canary)).toBe('$');
    expect(findCanary(Buffer.from(canary).toString('base64'), canary)).toBe('$');
    expect(findCanary({ clean: 'nothing here' }, canary)).toBeUndefined();
  });
});

describe('a reference to a store nobody configured', () => {
  it.each([
    ['vault://secret/pg#password', 'set SDR_VAULT_ADDR'],
    ['aws-sm://prod/pg', 'set SDR_AWS_SM_ENABLED=true (or SDR_AWS_SM_REGION)'],
    ['azure-kv://vault/pg', 'set SDR_AZURE_KV_CREDENTIAL'],
    ['gcp-sm://pg', 'set SDR_GCP_SM_ENABLED=true (or SDR_GCP_SM_PROJECT)'],
  ])('%s names the setting that turns its store on', async (reference, fix) => {
    const resolver = new SecretResolver([], 0);
    expect(() => resolver.validate(reference)).toThrow(
      expect.objectContaining({
        code: 'SDR_ERR_SECRET_PROVIDER_NOT_CONFIGURED',
        message: expect.stringContaining(fix),
      }),
    );
    await expect(resolver.resolve(reference)).rejects.toMatchObject({
      code: 'SDR_ERR_SECRET_PROVIDER_NOT_CONFIGURED',
    });
  });

  it('a scheme no store answers still lists the known ones', () => {
    expect(() => assertReferenceResolvable('keychain://pg', ['env', 'file'])).toThrow(
      expect.objectContaining({
        code: 'SDR_ERR_SECRET_PROVIDER_UNKNOWN',
        message: expect.stringContaining('env, file'),
      }),
    );
  });
});
