import { describe, expect, it } from 'vitest';
import { builtInSecretProviders, parseSecretReference } from '../../secrets/index.js';

describe('builtInSecretProviders', () => {
  it('always registers env and file, and a cloud store only when it is configured', async () => {
    expect((await builtInSecretProviders()).map((p) => p.scheme)).toEqual(['env', 'file']);
    expect(
      (
        await builtInSecretProviders({
          vault: { address: 'http://127.0.0.1:1', auth: { method: 'token', token: 't' } },
          aws: { region: 'eu-west-1' },
          azure: { credential: { method: 'managed-identity' } },
          gcp: { projectId: 'p' },
        })
      ).map((p) => p.scheme),
    ).toEqual(['env', 'file', 'vault', 'aws-sm', 'azure-kv', 'gcp-sm']);
  });

  it('reads env:// from the environment it is given, not the process environment', async () => {
    const [env] = await builtInSecretProviders({ environment: { SDR_ONLY_HERE: 'x' } });
    expect(await env!.resolve(parseSecretReference('env://SDR_ONLY_HERE'))).toBe('x');
    await expect(env!.resolve(parseSecretReference('env://PATH'))).rejects.toMatchObject({
      code: 'SDR_ERR_SECRET_NOT_FOUND',
    });
  });

  it('reports an unreadable Vault CA file at start-up as a configuration error', async () => {
    await expect(
      builtInSecretProviders({
        vault: {
          address: 'https://vault',
          caFile: '/nonexistent/ca.pem',
          auth: { method: 'token', token: 't' },
        },
      }),
    ).rejects.toMatchObject({ code: 'SDR_ERR_CONFIG_INVALID' });
  });
});
