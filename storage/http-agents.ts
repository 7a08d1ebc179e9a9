import type { Agent } from 'node:http';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { getProxyForUrl } from 'proxy-from-env';

/**
 * The one place outbound traffic learns about the proxy: HTTPS_PROXY / HTTP_PROXY / NO_PROXY. The
 * tunnel, the storage clients, the adapters' and the secret providers' HTTP clients are all built with
 * what these return (adapters and secret providers may import storage/, never runtime/). The undici
 * dispatchers for the clients built on undici are in ./dispatchers.ts, so that the tunnel, which needs
 * only a Node agent, does not load undici.
 */
export function proxyUrlFor(target: string): string | undefined {
  const proxy = getProxyForUrl(target);
  return proxy === '' ? undefined : proxy;
}

/**
 * A Node agent that CONNECTs through `proxy`, for `http`/`https`/`ws` clients. The extra CA
 * (NODE_EXTRA_CA_CERTS) applies to the target's handshake inside the tunnel, as to every TLS handshake.
 */
export function proxyAgent(proxy: string, options: { keepAlive?: boolean; maxSockets?: number } = {}): Agent {
  return new HttpsProxyAgent(proxy, options);
}

/** A Node agent for clients built on `http`/`https` (the AWS SDK); undefined when the target goes direct. */
export function nodeAgentFor(target: string): Agent | undefined {
  const proxy = proxyUrlFor(target);
  return proxy === undefined ? undefined : proxyAgent(proxy, { keepAlive: true });
}

/** Host, port and credentials of the proxy for `target`, in the shape Azure's pipeline takes. */
export function azureProxyFor(
  target: string,
): { host: string; port: number; username?: string; password?: string } | undefined {
  const proxy = proxyUrlFor(target);
  if (proxy === undefined) return undefined;
  const url = new URL(proxy);
  return {
    host: `${url.protocol}//${url.hostname}`,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    ...(url.username && { username: decodeURIComponent(url.username) }),
    ...(url.password && { password: decodeURIComponent(url.password) }),
  };
}

/*
 * Below: the same decision for the source adapters' and secret providers' clients (SageMaker, STS,
 * Secrets Manager, the Schema Registry), which each need their own TLS settings or socket limits.
 */

/** TLS settings of a client's own (a private CA, a client certificate, SNI); none means the system's trust. */
export interface TlsSettings {
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly servername?: string;
  readonly rejectUnauthorized?: boolean;
}

/** Options for an AWS SDK v3 client's default Node handler: timeouts as given, agents through the proxy. */
export interface AwsRequestHandlerOptions {
  readonly connectionTimeout?: number;
  readonly requestTimeout?: number;
  /** Sockets per agent; the SDK's default (50) when absent. */
  readonly maxSockets?: number;
}

/**
 * The `requestHandler` for an AWS SDK v3 client calling `target` (its endpoint, or the regional
 * default): plain keep-alive agents when it goes direct, an HTTPS_PROXY agent when it does not.
 * Both honour NODE_EXTRA_CA_CERTS, which Node applies to every TLS handshake.
 */
export function awsRequestHandlerFor(
  target: string,
  options: AwsRequestHandlerOptions = {},
): {
  connectionTimeout?: number;
  requestTimeout?: number;
  httpAgent: Agent | { keepAlive: boolean; maxSockets?: number };
  httpsAgent: Agent | { keepAlive: boolean; maxSockets?: number };
} {
  const { maxSockets, ...timeouts } = options;
  const sockets = maxSockets === undefined ? {} : { maxSockets };
  const proxy = proxyUrlFor(target);
  if (proxy === undefined)
    return {
      ...timeouts,
      httpAgent: { keepAlive: true, ...sockets },
      httpsAgent: { keepAlive: true, ...sockets },
    };
  const agent = proxyAgent(proxy, { keepAlive: true, ...sockets });
  return { ...timeouts, httpAgent: agent, httpsAgent: agent };
}

/** The URL an AWS client calls: its configured endpoint, or the service's regional one. */
export function awsTarget(service: string, endpoint: string | undefined, region: string | undefined): string {
  return endpoint ?? `https://${service}.${region ?? process.env.AWS_REGION ?? 'us-east-1'}.amazonaws.com`;
}
