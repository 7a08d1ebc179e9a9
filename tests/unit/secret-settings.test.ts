import { describe, expect, it } from 'vitest';
import { builtInSecretProviders, secretSettingsFrom } from '../../secrets/index.js';

describe('secretSettingsFrom', () => {
  it('registers nothing but env and file, with a 5-minute cache, when nothing is set', () => {
    const settings = secretSettingsFrom({});
    expect(settings).toEqual({ providers: {}, cacheTtlMs: 300_000 });
    expect(builtInSecretProviders(settings.providers).map((p) => p.scheme)).toEqual(['env', 'file']);
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
    expect(() =>
      secretSettingsFrom({
        SDR_AZURE_KV_CREDENTIAL: 'default',
        SDR_AZURE_KV_DISABLE_INSTANCE_DISCOVERY: 'yes',
      }),
    ).toThrow(/SDR_AZURE_KV_DISABLE_INSTANCE_DISCOVERY must be true or false/);
  });

  it('lists every problem at once', () => {
    let message = '';
    try {
      secretSettingsFrom({
        SDR_SECRET_CACHE_TTL_MS: 'soon',
        SDR_VAULT_ADDR: 'https://vault:8200',
        SDR_VAULT_AUTH_METHOD: 'kubernetes',
        SDR_AZURE_KV_CREDENTIAL: 'client-secret',
      });
    } catch (error) {
      expect(error).toMatchObject({ code: 'SDR_ERR_CONFIG_INVALID' });
      message = (error as Error).message;
    }
    expect(message).toContain('SDR_SECRET_CACHE_TTL_MS');
    expect(message).toContain('SDR_VAULT_ROLE is required');
    expect(message).toContain('SDR_AZURE_KV_CLIENT_SECRET_REF is required');
  });
});
