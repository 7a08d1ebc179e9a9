/**
 * The setting that turns on each secret store this build ships, so a reference to a store nobody
 * configured (`vault://` without `SDR_VAULT_ADDR`) names the fix instead of listing schemes.
 */
export const SECRET_STORE_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  vault: 'SDR_VAULT_ADDR',
  'aws-sm': 'SDR_AWS_SM_ENABLED=true (or SDR_AWS_SM_REGION)',
  'azure-kv': 'SDR_AZURE_KV_CREDENTIAL',
  'gcp-sm': 'SDR_GCP_SM_ENABLED=true (or SDR_GCP_SM_PROJECT)',
});
