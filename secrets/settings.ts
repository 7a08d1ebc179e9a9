import { Codes } from '../protocol/index.js';
import type { AzureCredentialOptions } from './azure-kv/index.js';
import type { SecretProvidersOptions } from './index.js';
import { DEFAULT_SECRET_CACHE_TTL_MS } from './resolver.js';
import type { VaultAuth } from './vault/index.js';

/** Every variable `secretSettingsFrom` reads besides SDR_SECRET_CACHE_TTL_MS, for docs and .env.example checks. */
export const SECRET_SETTING_NAMES: readonly string[] = [
  'SDR_VAULT_ADDR',
  'SDR_VAULT_NAMESPACE',
  'SDR_VAULT_CA_FILE',
  'SDR_VAULT_TIMEOUT_MS',
  'SDR_VAULT_AUTH_METHOD',
  'SDR_VAULT_AUTH_MOUNT',
  'SDR_VAULT_TOKEN_FILE',
  'SDR_VAULT_TOKEN',
  'SDR_VAULT_ROLE_ID_FILE',
  'SDR_VAULT_SECRET_ID_FILE',
  'SDR_VAULT_ROLE',
  'SDR_VAULT_K8S_JWT_FILE',
  'SDR_VAULT_AWS_REGION',
  'SDR_VAULT_AWS_STS_ENDPOINT',
  'SDR_VAULT_AWS_SERVER_ID',
  'SDR_AWS_SM_ENABLED',
  'SDR_AWS_SM_REGION',
  'SDR_AWS_SM_ENDPOINT',
  'SDR_AWS_SM_ACCESS_KEY_ID_REF',
  'SDR_AWS_SM_SECRET_ACCESS_KEY_REF',
  'SDR_AWS_SM_SESSION_TOKEN_REF',
  'SDR_AWS_SM_TIMEOUT_MS',
  'SDR_AZURE_KV_CREDENTIAL',
  'SDR_AZURE_KV_TENANT_ID',
  'SDR_AZURE_KV_CLIENT_ID',
  'SDR_AZURE_KV_CLIENT_SECRET_REF',
  'SDR_AZURE_KV_TOKEN_FILE',
  'SDR_AZURE_KV_URL_TEMPLATE',
  'SDR_AZURE_KV_AUTHORITY_HOST',
  'SDR_AZURE_KV_DISABLE_INSTANCE_DISCOVERY',
  'SDR_AZURE_KV_CA_FILE',
  'SDR_AZURE_KV_TIMEOUT_MS',
  'SDR_GCP_SM_ENABLED',
  'SDR_GCP_SM_KEY_FILE',
  'SDR_GCP_SM_PROJECT',
  'SDR_GCP_SM_ENDPOINT',
  'SDR_GCP_SM_TRANSPORT',
  'SDR_GCP_SM_TIMEOUT_MS',
];

/** Compiled secret settings: the providers' options plus the resolver's cache TTL. */
export interface SecretSettings {
  providers: SecretProvidersOptions;
  cacheTtlMs: number;
}

/**
 * Compiles the `SDR_*` secret settings documented in docs/secrets.md from a name → value map.
 * `runtime/config.ts` passes it `process.env`; this module never reads the environment itself.
 * Throws `SDR_ERR_CONFIG_INVALID` listing every problem at once.
 */
export function secretSettingsFrom(vars: Readonly<Record<string, string | undefined>>): SecretSettings {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const value = vars[name]?.trim();
    return value === '' ? undefined : value;
  };
  const need = (name: string, why: string): string => {
    const value = get(name);
    if (value === undefined) problems.push(`${name} is required ${why}`);
    return value ?? '';
  };
  const ms = (name: string, fallback: number | undefined): number | undefined => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) {
      problems.push(`${name} must be a whole number of milliseconds, got "${raw}"`);
      return fallback;
    }
    return value;
  };
  const flag = (name: string): boolean => {
    const raw = get(name)?.toLowerCase();
    if (raw === undefined || raw === 'false' || raw === '0') return false;
    if (raw === 'true' || raw === '1') return true;
    problems.push(`${name} must be true or false, got "${raw}"`);
    return false;
  };
  const optional = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> =>
    (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

  const providers: SecretProvidersOptions = {};

  const vaultAddress = get('SDR_VAULT_ADDR');
  if (vaultAddress) {
    const method = get('SDR_VAULT_AUTH_METHOD') ?? 'token';
    const mount = get('SDR_VAULT_AUTH_MOUNT');
    let auth: VaultAuth | undefined;
    if (method === 'token') {
      const token = get('SDR_VAULT_TOKEN');
      const tokenFile = get('SDR_VAULT_TOKEN_FILE');
      if (!token && !tokenFile)
        problems.push('SDR_VAULT_TOKEN_FILE or SDR_VAULT_TOKEN is required for token auth');
      auth = { method, ...(token ? { token } : {}), ...(tokenFile ? { tokenFile } : {}) };
    } else if (method === 'approle') {
      auth = {
        method,
        roleIdFile: need('SDR_VAULT_ROLE_ID_FILE', 'for AppRole auth'),
        secretIdFile: need('SDR_VAULT_SECRET_ID_FILE', 'for AppRole auth'),
        ...(mount ? { mount } : {}),
      };
    } else if (method === 'kubernetes') {
      const jwtFile = get('SDR_VAULT_K8S_JWT_FILE');
      auth = {
        method,
        role: need('SDR_VAULT_ROLE', 'for Kubernetes auth'),
        ...(jwtFile ? { jwtFile } : {}),
        ...(mount ? { mount } : {}),
      };
    } else if (method === 'aws') {
      auth = {
        method,
        role: need('SDR_VAULT_ROLE', 'for AWS IAM auth'),
        ...(mount ? { mount } : {}),
        ...optional('region', get('SDR_VAULT_AWS_REGION')),
        ...optional('stsEndpoint', get('SDR_VAULT_AWS_STS_ENDPOINT')),
        ...optional('serverIdHeader', get('SDR_VAULT_AWS_SERVER_ID')),
      };
    } else {
      problems.push(`SDR_VAULT_AUTH_METHOD must be token, approle, kubernetes or aws, got "${method}"`);
    }
    if (auth) {
      providers.vault = {
        address: vaultAddress,
        auth,
        ...optional('namespace', get('SDR_VAULT_NAMESPACE')),
        ...optional('caFile', get('SDR_VAULT_CA_FILE')),
        ...optional('timeoutMs', ms('SDR_VAULT_TIMEOUT_MS', undefined)),
      };
    }
  }

  const awsRegion = get('SDR_AWS_SM_REGION');
  const awsEndpoint = get('SDR_AWS_SM_ENDPOINT');
  if (flag('SDR_AWS_SM_ENABLED') || awsRegion || awsEndpoint) {
    const keyId = get('SDR_AWS_SM_ACCESS_KEY_ID_REF');
    const secretKey = get('SDR_AWS_SM_SECRET_ACCESS_KEY_REF');
    const sessionToken = get('SDR_AWS_SM_SESSION_TOKEN_REF');
    if ((keyId === undefined) !== (secretKey === undefined)) {
      problems.push('SDR_AWS_SM_ACCESS_KEY_ID_REF and SDR_AWS_SM_SECRET_ACCESS_KEY_REF go together');
    }
    providers.aws = {
      ...optional('region', awsRegion),
      ...optional('endpoint', awsEndpoint),
      ...optional('timeoutMs', ms('SDR_AWS_SM_TIMEOUT_MS', undefined)),
      ...(keyId && secretKey
        ? {
            staticCredentials: {
              accessKeyId: keyId,
              secretAccessKey: secretKey,
              ...(sessionToken ? { sessionToken } : {}),
            },
          }
        : {}),
    };
  }

  const azureMethod = get('SDR_AZURE_KV_CREDENTIAL');
  if (azureMethod) {
    const clientId = get('SDR_AZURE_KV_CLIENT_ID');
    const tenantId = get('SDR_AZURE_KV_TENANT_ID');
    let credential: AzureCredentialOptions | undefined;
    if (azureMethod === 'default' || azureMethod === 'managed-identity') {
      credential = { method: azureMethod, ...(clientId ? { clientId } : {}) };
    } else if (azureMethod === 'workload-identity') {
      const tokenFile = get('SDR_AZURE_KV_TOKEN_FILE');
      credential = {
        method: azureMethod,
        ...(clientId ? { clientId } : {}),
        ...(tenantId ? { tenantId } : {}),
        ...(tokenFile ? { tokenFile } : {}),
      };
    } else if (azureMethod === 'client-secret') {
      credential = {
        method: azureMethod,
        tenantId: need('SDR_AZURE_KV_TENANT_ID', 'for client-secret credentials'),
        clientId: need('SDR_AZURE_KV_CLIENT_ID', 'for client-secret credentials'),
        clientSecret: need('SDR_AZURE_KV_CLIENT_SECRET_REF', 'for client-secret credentials'),
      };
    } else {
      problems.push(
        `SDR_AZURE_KV_CREDENTIAL must be default, client-secret, managed-identity or workload-identity, got "${azureMethod}"`,
      );
    }
    if (credential) {
      providers.azure = {
        credential,
        ...optional('vaultUrlTemplate', get('SDR_AZURE_KV_URL_TEMPLATE')),
        ...optional('authorityHost', get('SDR_AZURE_KV_AUTHORITY_HOST')),
        ...(flag('SDR_AZURE_KV_DISABLE_INSTANCE_DISCOVERY') ? { disableInstanceDiscovery: true } : {}),
        ...optional('caFile', get('SDR_AZURE_KV_CA_FILE')),
        ...optional('timeoutMs', ms('SDR_AZURE_KV_TIMEOUT_MS', undefined)),
      };
    }
  }

  const gcpKeyFile = get('SDR_GCP_SM_KEY_FILE');
  const gcpProject = get('SDR_GCP_SM_PROJECT');
  if (flag('SDR_GCP_SM_ENABLED') || gcpKeyFile || gcpProject) {
    const transport = get('SDR_GCP_SM_TRANSPORT') ?? 'rest';
    if (transport !== 'rest' && transport !== 'grpc') {
      problems.push(`SDR_GCP_SM_TRANSPORT must be rest or grpc, got "${transport}"`);
    }
    providers.gcp = {
      transport: transport === 'grpc' ? 'grpc' : 'rest',
      ...optional('keyFile', gcpKeyFile),
      ...optional('projectId', gcpProject),
      ...optional('endpoint', get('SDR_GCP_SM_ENDPOINT')),
      ...optional('timeoutMs', ms('SDR_GCP_SM_TIMEOUT_MS', undefined)),
    };
  }

  const cacheTtlMs =
    ms('SDR_SECRET_CACHE_TTL_MS', DEFAULT_SECRET_CACHE_TTL_MS) ?? DEFAULT_SECRET_CACHE_TTL_MS;
  if (problems.length > 0) throw new Codes.SDR_ERR_CONFIG_INVALID(problems.join('\n'));
  return { providers, cacheTtlMs };
}
