import { readFile } from 'node:fs/promises';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { defaultProvider } from '@aws-sdk/credential-provider-node';

/** How the runtime proves its identity to Vault. File paths are re-read at every login so rotated files work. */
export type VaultAuth =
  | {
      method: 'token';
      /** A literal token; prefer `tokenFile`. */
      token?: string;
      /** A file holding the token (e.g. written by Vault Agent); re-read when Vault rejects the token. */
      tokenFile?: string;
    }
  | {
      method: 'approle';
      roleIdFile: string;
      secretIdFile: string;
      /** Mount path of the auth method; default `approle`. */
      mount?: string;
    }
  | {
      method: 'kubernetes';
      role: string;
      /** Service-account JWT; default the pod's projected token. */
      jwtFile?: string;
      /** Mount path; default `kubernetes`. */
      mount?: string;
    }
  | {
      method: 'aws';
      role: string;
      /** Mount path; default `aws`. */
      mount?: string;
      /** Region whose STS endpoint signs the login; default `us-east-1` (the global endpoint). */
      region?: string;
      /** STS endpoint the signed request names; must match Vault's `sts_endpoint`. */
      stsEndpoint?: string;
      /** Value of `X-Vault-AWS-IAM-Server-ID` when the Vault role requires one. */
      serverIdHeader?: string;
    };

/** What a login returns: the token and how long it lives (seconds; 0 = never expires). */
export interface VaultLogin {
  token: string;
  ttlSeconds: number;
  renewable: boolean;
}

/** A login request to send to Vault: `auth/<mount>/login` with a JSON body. */
export interface VaultLoginRequest {
  path: string;
  body: Record<string, string>;
}

/** The default path of a Kubernetes pod's service-account token. */
export const KUBERNETES_JWT_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Reads a credential file; Kubernetes and Docker mounts end with a newline that is not part of it. */
export async function readCredentialFile(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).trim();
}

/** Builds the login request for a method that logs in (everything but `token`). */
export async function loginRequest(
  auth: Exclude<VaultAuth, { method: 'token' }>,
): Promise<VaultLoginRequest> {
  switch (auth.method) {
    case 'approle':
      return {
        path: `auth/${auth.mount ?? 'approle'}/login`,
        body: {
          role_id: await readCredentialFile(auth.roleIdFile),
          secret_id: await readCredentialFile(auth.secretIdFile),
        },
      };
    case 'kubernetes':
      return {
        path: `auth/${auth.mount ?? 'kubernetes'}/login`,
        body: { role: auth.role, jwt: await readCredentialFile(auth.jwtFile ?? KUBERNETES_JWT_FILE) },
      };
    case 'aws':
      return { path: `auth/${auth.mount ?? 'aws'}/login`, body: await awsIamLoginBody(auth) };
  }
}

/**
 * Vault's AWS IAM method: the runtime signs (but does not send) an `sts:GetCallerIdentity` request with
 * its AWS credentials from the default chain; Vault sends it to STS and learns who signed it.
 */
async function awsIamLoginBody(auth: Extract<VaultAuth, { method: 'aws' }>): Promise<Record<string, string>> {
  const region = auth.region ?? 'us-east-1';
  const endpoint = new URL(
    auth.stsEndpoint ??
      (region === 'us-east-1' ? 'https://sts.amazonaws.com/' : `https://sts.${region}.amazonaws.com/`),
  );
  const body = 'Action=GetCallerIdentity&Version=2011-06-15';
  const headers: Record<string, string> = {
    host: endpoint.host,
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
  };
  if (auth.serverIdHeader) headers['x-vault-aws-iam-server-id'] = auth.serverIdHeader;
  const signer = new SignatureV4({
    service: 'sts',
    region,
    credentials: defaultProvider(),
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
    path: endpoint.pathname,
    headers,
    body,
  });
  const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
  return {
    role: auth.role,
    iam_http_request_method: 'POST',
    iam_request_url: b64(endpoint.toString()),
    iam_request_body: b64(body),
    iam_request_headers: b64(JSON.stringify(signed.headers)),
  };
}
