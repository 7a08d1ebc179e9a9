import {
  ClientSecretCredential,
  type TokenCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
} from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { Codes, SdrError } from '../../protocol/index.js';
import { noAnswerReason } from '../../storage/http-agents.js';
import { selectKey } from '../reference.js';
import type { ReferenceResolver, SecretProvider, SecretReference } from '../types.js';

/** How the runtime authenticates to Microsoft Entra ID. */
export type AzureCredentialOptions =
  /** DefaultAzureCredential: env (AZURE_*), workload identity, managed identity, in that order. */
  | { method: 'default'; clientId?: string }
  /** A service principal; the secret is a reference to another provider, never inline. */
  | { method: 'client-secret'; tenantId: string; clientId: string; clientSecret: string }
  /** The VM's, App Service's or AKS pod's managed identity; `clientId` picks a user-assigned one. */
  | { method: 'managed-identity'; clientId?: string }
  /** AKS workload identity (federated service-account token); defaults come from AZURE_* set by the webhook. */
  | { method: 'workload-identity'; tenantId?: string; clientId?: string; tokenFile?: string };

/** Settings of the `azure-kv://` provider. */
export interface AzureKeyVaultOptions {
  credential: AzureCredentialOptions;
  /** Vault URL for a vault name; default `https://{vault}.vault.azure.net` (use `.vault.azure.cn` etc. in sovereign clouds). */
  vaultUrlTemplate?: string;
  /** Skip the check that the auth challenge names the vault's domain; only for private DNS names or a local double. */
  disableChallengeResourceVerification?: boolean;
  /** Microsoft Entra ID host for token requests; default the SDK's (`AZURE_AUTHORITY_HOST`, else the public cloud). */
  authorityHost?: string;
  /**
   * Trust `authorityHost` without asking Microsoft's instance discovery (login.microsoftonline.com) about it;
   * needed for an authority it does not list (Azure Stack Hub, a private or local one), and offline.
   */
  disableInstanceDiscovery?: boolean;
  /** PEM CA bundle trusted, besides the system's, for Entra ID and the vault (a TLS-inspecting proxy's CA). */
  caFile?: string;
  /** Plain HTTP to the vault URL; only for a local test double. */
  allowInsecureConnection?: boolean;
  /** Resolves `clientSecret`; `builtInSecretProviders` supplies it. */
  resolveReference?: ReferenceResolver;
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
}

/**
 * `azure-kv://<vault>/<secret>[?version=<id>][#key]`: a Key Vault secret, latest version unless pinned.
 * A test can pass `credentialFactory` to substitute the credential; production code never does.
 */
export function createAzureKeyVaultProvider(
  options: AzureKeyVaultOptions,
  credentialFactory?: () => Promise<TokenCredential>,
): SecretProvider {
  const clients = new Map<string, SecretClient>();
  let credential: Promise<TokenCredential> | undefined;
  const template = options.vaultUrlTemplate ?? 'https://{vault}.vault.azure.net';

  function getCredential(): Promise<TokenCredential> {
    credential ??= (credentialFactory ?? (() => buildCredential(options)))().catch((error: unknown) => {
      credential = undefined;
      throw error;
    });
    return credential;
  }

  async function clientFor(vault: string): Promise<SecretClient> {
    let client = clients.get(vault);
    if (!client) {
      const tls = await tlsOptions(options);
      client = new SecretClient(template.replace('{vault}', vault), await getCredential(), {
        ...tls,
        ...(options.disableChallengeResourceVerification
          ? { disableChallengeResourceVerification: true }
          : {}),
        ...(options.allowInsecureConnection ? { allowInsecureConnection: true } : {}),
        retryOptions: { maxRetries: 2 },
      });
      clients.set(vault, client);
    }
    return client;
  }

  return {
    scheme: 'azure-kv',
    async resolve(reference: SecretReference, signal?: AbortSignal): Promise<string> {
      const parts = reference.path.split('/').filter((part) => part !== '');
      const [vault, name, pathVersion] = parts;
      if (!vault || !name || parts.length > 3 || !/^[0-9a-zA-Z-]+$/.test(name)) {
        throw new Codes.SDR_ERR_SECRET_REF_INVALID(
          reference.raw,
          'expected azure-kv://<vault>/<secret name>[/<version>] (names are letters, digits and dashes)',
        );
      }
      const version = reference.version ?? pathVersion;
      let secret;
      try {
        secret = await (
          await clientFor(vault)
        ).getSecret(name, {
          ...(version ? { version } : {}),
          ...(signal ? { abortSignal: signal } : {}),
          requestOptions: { timeout: options.timeoutMs ?? 10_000 },
        });
      } catch (error) {
        // The pipeline reports its own per-request timeout as an AbortError too; only ours means "cancelled".
        if ((error as { name?: string }).name === 'AbortError' && !signal?.aborted) {
          const timeoutMs = options.timeoutMs ?? 10_000;
          throw new Codes.SDR_ERR_SECRET_UNAVAILABLE(
            reference.raw,
            `azure-kv: reading ${vault}/${name}: ${noAnswerReason(template.replace('{vault}', vault), timeoutMs)}`,
          );
        }
        throw azureError(reference, `${vault}/${name}${version ? `@${version}` : ''}`, error);
      }
      if (secret.value === undefined) {
        throw new Codes.SDR_ERR_SECRET_NOT_FOUND(reference.raw, `azure-kv: ${vault}/${name} has no value`);
      }
      return selectKey(reference, secret.value);
    },
    async close(): Promise<void> {
      clients.clear();
      credential = undefined;
    },
  };
}

// The SDK's pipeline option `tlsOptions.ca` reaches MSAL too (identity hands MSAL its own HTTP client), so
// a private CA needs neither NODE_EXTRA_CA_CERTS nor a global agent. `ca` replaces Node's roots, so they are
// kept: Entra ID and the vault may sit behind different CAs.
async function tlsOptions(options: AzureKeyVaultOptions): Promise<{ tlsOptions?: { ca: string[] } }> {
  if (!options.caFile) return {};
  try {
    return { tlsOptions: { ca: [...rootCertificates, await readFile(options.caFile, 'utf8')] } };
  } catch (error) {
    throw new Codes.SDR_ERR_CONFIG_INVALID(
      `azure-kv: cannot read the CA file ${options.caFile}: ${(error as { code?: string }).code ?? 'error'}`,
      { cause: error },
    );
  }
}

async function buildCredential(options: AzureKeyVaultOptions): Promise<TokenCredential> {
  const c = options.credential;
  const common = {
    ...(await tlsOptions(options)),
    ...(options.authorityHost ? { authorityHost: options.authorityHost } : {}),
    ...(options.disableInstanceDiscovery ? { disableInstanceDiscovery: true } : {}),
  };
  switch (c.method) {
    case 'default':
      return new DefaultAzureCredential({
        ...common,
        ...(c.clientId ? { managedIdentityClientId: c.clientId } : {}),
      });
    case 'managed-identity':
      return new ManagedIdentityCredential({ ...common, ...(c.clientId ? { clientId: c.clientId } : {}) });
    case 'workload-identity':
      return new WorkloadIdentityCredential({
        ...common,
        ...(c.tenantId ? { tenantId: c.tenantId } : {}),
        ...(c.clientId ? { clientId: c.clientId } : {}),
        ...(c.tokenFile ? { tokenFilePath: c.tokenFile } : {}),
      });
    case 'client-secret': {
      if (!options.resolveReference) {
        throw new Codes.SDR_ERR_CONFIG_INVALID(
          'azure-kv client-secret credentials need a reference resolver',
        );
      }
      const secret = await options.resolveReference(c.clientSecret);
      return new ClientSecretCredential(c.tenantId, c.clientId, secret, common);
    }
  }
}

function azureError(reference: SecretReference, what: string, error: unknown): SdrError {
  if (error instanceof SdrError) return error;
  const name = (error as { name?: string }).name ?? 'Error';
  const status = (error as { statusCode?: number }).statusCode;
  const code = (error as { code?: string }).code;
  const message = ((error as { message?: string }).message ?? '').split('\n')[0]?.slice(0, 300) ?? '';
  const ref = reference.raw;
  if (name === 'AbortError') return new Codes.SDR_ERR_SECRET_UNAVAILABLE(ref, 'azure-kv: lookup aborted');
  if (status === 404)
    return new Codes.SDR_ERR_SECRET_NOT_FOUND(ref, `azure-kv: no ${what} (${code ?? 'NotFound'})`);
  if (status === 401 || status === 403) {
    return new Codes.SDR_ERR_SECRET_DENIED(ref, `azure-kv: permission denied on ${what} (${code ?? status})`);
  }
  if (
    name === 'CredentialUnavailableError' ||
    name === 'AuthenticationError' ||
    // What identity raises when Entra ID refuses a client secret or federated token (invalid_client).
    name === 'AuthenticationRequiredError' ||
    name === 'AggregateAuthenticationError'
  ) {
    return new Codes.SDR_ERR_SECRET_DENIED(
      ref,
      `azure-kv: cannot authenticate for ${what}: ${name}: ${message}`,
    );
  }
  if (status === 400) return new Codes.SDR_ERR_SECRET_NOT_FOUND(ref, `azure-kv: ${what}: ${code ?? message}`);
  return new Codes.SDR_ERR_SECRET_UNAVAILABLE(
    ref,
    `azure-kv: ${status ? `HTTP ${status}` : (code ?? name)} reading ${what}`,
  );
}
