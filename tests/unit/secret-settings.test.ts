import { describe, expect, it } from 'vitest';
import { compileConfig } from '../../runtime/config.js';
import { builtInSecretProviders, configuredSecretSchemes } from '../../secrets/index.js';

/** The secret stores' settings go through the one config compiler; `local` needs no cloud settings. */
function secretSettingsFrom(vars: Record<string, string>) {
  const config = compileConfig(vars, { scope: 'local' });
  return { providers: config.secretProviders, cacheTtlMs: config.secretCacheTtlMs };
}

function problemsOf(vars: Record<string, string>): string {
  try {
    secretSettingsFrom(vars);
  } catch (error) {
    expect(error).toMatchObject({ code: 'SDR_ERR_CONFIG_INVALID' });
    return (error as Error).message;
  }
  throw new Error('expected the settings to be refused');
}

describe('secret store settings', () => {
  it('registers nothing but env and file, with a 5-minute cache, when nothing is set', async () => {
    const settings = secretSettingsFrom({});
    expect(settings).toEqual({ providers: {}, cacheTtlMs: 300_000 });
    expect((await builtInSecretProviders(settings.providers)).map((p) => p.scheme)).toEqual(['env', 'file']);
    expect(configuredSecretSchemes(settings.providers)).toEqual(['env', 'file']);
  });

  it('compiles every store from its documented variables', () => {
    const settings = secretSettingsFrom({
      SDR_SECRET_CACHE_TTL_MS: '0',
      SDR_VAULT_ADDR: 'https://vault:8200',
      SDR_VAULT_AUTH_METHOD: 'approle',
      SDR_VAULT_ROLE_ID_FILE: '/etc/sdr/role-id',
      SDR_VAULT_SECRET_ID_FILE: '/etc/sdr/secret-id',
      SDR_VAULT_NAMESPACE: 'team-a',
      SDR_AWS_SM_REGION: 'eu-west-1',
      SDR_AWS_SM_ACCESS_KEY_ID_REF: 'file:///run/secrets/id',
      SDR_AWS_SM_SECRET_ACCESS_KEY_REF: 'file:///run/secrets/key',
      SDR_AZURE_KV_CREDENTIAL: 'workload-identity',
      SDR_GCP_SM_ENABLED: 'true',
    });
    expect(settings.cacheTtlMs).toBe(0);
    expect(settings.providers.vault).toEqual({
      address: 'https://vault:8200',
      namespace: 'team-a',
      auth: { method: 'approle', roleIdFile: '/etc/sdr/role-id', secretIdFile: '/etc/sdr/secret-id' },
    });
    expect(settings.providers.aws).toEqual({
      region: 'eu-west-1',
      staticCredentials: {
        accessKeyId: 'file:///run/secrets/id',
        secretAccessKey: 'file:///run/secrets/key',
      },
    });
    expect(settings.providers.azure).toEqual({ credential: { method: 'workload-identity' } });
    expect(settings.providers.gcp).toEqual({ transport: 'rest' });
    expect(configuredSecretSchemes(settings.providers)).toEqual([
      'env',
      'file',
      'vault',
      'aws-sm',
      'azure-kv',
      'gcp-sm',
    ]);
  });

  it('passes the Entra ID authority, its instance-discovery switch and an extra CA to Azure Key Vault', () => {
    const settings = secretSettingsFrom({
      SDR_AZURE_KV_CREDENTIAL: 'managed-identity',
      SDR_AZURE_KV_AUTHORITY_HOST: 'https://login.chinacloudapi.cn',
      SDR_AZURE_KV_DISABLE_INSTANCE_DISCOVERY: 'true',
      SDR_AZURE_KV_CA_FILE: '/etc/sdr/proxy-ca.pem',
    });
    expect(settings.providers.azure).toEqual({
      credential: { method: 'managed-identity' },
      authorityHost: 'https://login.chinacloudapi.cn',
      disableInstanceDiscovery: true,
      caFile: '/etc/sdr/proxy-ca.pem',
    });
    expect(
      problemsOf({ SDR_AZURE_KV_CREDENTIAL: 'default', SDR_AZURE_KV_DISABLE_INSTANCE_DISCOVERY: 'maybe' }),
    ).toMatch(/SDR_AZURE_KV_DISABLE_INSTANCE_DISCOVERY: expected true or false/);
  });

  it('parses every switch with one grammar: yes enables AWS SM as it enables the health server', () => {
    for (const yes of ['yes', 'YES', 'true', '1', 'on']) {
      const config = compileConfig(
        { SDR_AWS_SM_ENABLED: yes, SDR_GCP_SM_ENABLED: yes, SDR_HEALTH_ENABLED: yes },
        { scope: 'local' },
      );
      expect(config.secretProviders.aws).toEqual({});
      expect(config.secretProviders.gcp).toEqual({ transport: 'rest' });
      expect(config.health.enabled).toBe(true);
    }
    const off = compileConfig({ SDR_AWS_SM_ENABLED: 'no', SDR_HEALTH_ENABLED: 'no' }, { scope: 'local' });
    expect(off.secretProviders.aws).toBeUndefined();
    expect(off.health.enabled).toBe(false);
  });

  it('lists every problem at once', () => {
    const message = problemsOf({
      SDR_SECRET_CACHE_TTL_MS: 'soon',
      SDR_VAULT_ADDR: 'https://vault:8200',
      SDR_VAULT_AUTH_METHOD: 'kubernetes',
      SDR_AZURE_KV_CREDENTIAL: 'client-secret',
    });
    expect(message).toContain('SDR_SECRET_CACHE_TTL_MS');
    expect(message).toMatch(/^SDR_SECRET_CACHE_TTL_MS: expected a whole number$/m);
    expect(message).toContain('SDR_VAULT_ROLE: required for Kubernetes auth');
    expect(message).toContain('SDR_AZURE_KV_CLIENT_SECRET_REF: required for client-secret credentials');
  });

  it('names each missing setting of a configured store', () => {
    const message = problemsOf({
      SDR_VAULT_ADDR: 'https://vault:8200',
      SDR_VAULT_AUTH_METHOD: 'kubernetes',
      SDR_AZURE_KV_CREDENTIAL: 'client-secret',
    });
    expect(message).toContain('SDR_VAULT_ROLE: required for Kubernetes auth');
    expect(message).toContain('SDR_AZURE_KV_CLIENT_SECRET_REF: required for client-secret credentials');
  });
});
