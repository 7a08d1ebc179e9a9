import type { Agent, ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
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

/** The proxy's URL without its credentials, safe to put in a message. */
export function proxyForMessage(proxy: string): string {
  try {
    const url = new URL(proxy);
    url.username = '';
    url.password = '';
    return url.origin;
  } catch {
    return '(unparseable proxy URL)';
  }
}

/**
 * The one-line reason a request to `target` got no answer within `timeoutMs`. Through a proxy it names
 * the proxy and the fix: a proxy that accepts the connection and never answers the CONNECT is the
 * usual cause (a filtering proxy that drops hosts it does not allow), and clients otherwise wait forever.
 */
export function noAnswerReason(target: string, timeoutMs: number, proxyUrl = proxyUrlFor(target)): string {
  const url = new URL(target);
  const port = url.port || (url.protocol === 'http:' ? '80' : '443');
  const host = `${url.hostname}:${port}`;
  const within = `within ${timeoutMs % 1000 === 0 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`}`;
  const proxy = proxyUrl;
  if (proxy === undefined) return `no answer from ${host} ${within}`;
  return (
    `no answer from ${host} ${within} through the proxy ${proxyForMessage(proxy)} (HTTPS_PROXY); ` +
    `check that the proxy allows CONNECT to ${host}, or list ${url.hostname} in NO_PROXY`
  );
}

/** Longest a proxy may take to answer a CONNECT when the client names no deadline of its own. */
export const DEFAULT_PROXY_CONNECT_TIMEOUT_MS = 30_000;

/** What https-proxy-agent's connect is told about the target. */
type AgentConnectOpts = Parameters<HttpsProxyAgent<string>['connect']>[1];

/**
 * https-proxy-agent waits for the CONNECT's answer with no deadline, and clients' own timers (gaxios,
 * the ws handshake) start only once the agent hands over a socket: a proxy that accepts and never
 * answers held the request forever. Past the deadline the request fails with `noAnswerReason`; the
 * socket to the proxy is closed when the proxy's answer or close finally comes.
 */
class BoundedHttpsProxyAgent extends HttpsProxyAgent<string> {
  constructor(
    private readonly proxyUrl: string,
    private readonly connectTimeoutMs: number,
    options: { keepAlive?: boolean; maxSockets?: number },
  ) {
    super(proxyUrl, options);
  }

  override connect(req: ClientRequest, opts: AgentConnectOpts): Promise<Socket> {
    const tunnel = super.connect(req, opts);
    return new Promise<Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        const target = `${opts.secureEndpoint ? 'https' : 'http'}://${opts.host}:${opts.port}`;
        reject(
          Object.assign(new Error(noAnswerReason(target, this.connectTimeoutMs, this.proxyUrl)), {
            code: 'ETIMEDOUT',
          }),
        );
        tunnel.then(
          (socket) => socket.destroy(),
          () => undefined,
        );
      }, this.connectTimeoutMs);
      tunnel.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }
}

/**
 * A Node agent that CONNECTs through `proxy`, for `http`/`https`/`ws` clients; a CONNECT unanswered
 * after `connectTimeoutMs` fails the request. The extra CA (NODE_EXTRA_CA_CERTS) applies to the
 * target's handshake inside the tunnel, as to every TLS handshake.
 */
export function proxyAgent(
  proxy: string,
  options: { keepAlive?: boolean; maxSockets?: number; connectTimeoutMs?: number } = {},
): Agent {
  const { connectTimeoutMs = DEFAULT_PROXY_CONNECT_TIMEOUT_MS, ...agentOptions } = options;
  return new BoundedHttpsProxyAgent(proxy, connectTimeoutMs, agentOptions);
}

/**
 * A Node agent for clients built on `http`/`https` (the AWS SDK, gaxios); undefined when the target
 * goes direct. A CONNECT unanswered after `connectTimeoutMs` fails the request.
 */
export function nodeAgentFor(
  target: string,
  connectTimeoutMs = DEFAULT_PROXY_CONNECT_TIMEOUT_MS,
): Agent | undefined {
  const proxy = proxyUrlFor(target);
  return proxy === undefined ? undefined : proxyAgent(proxy, { keepAlive: true, connectTimeoutMs });
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

/** An AWS client's connection deadline (TCP, TLS and the proxy's CONNECT) when it names none. */
export const DEFAULT_AWS_CONNECTION_TIMEOUT_MS = 10_000;

/** An AWS client's deadline for a silent socket once connected, when it names none. */
export const DEFAULT_AWS_REQUEST_TIMEOUT_MS = 60_000;

/** Options for an AWS SDK v3 client's default Node handler: timeouts (or defaults), agents through the proxy. */
export interface AwsRequestHandlerOptions {
  /** Until the socket is usable, proxy CONNECT included; default 10 s. */
  readonly connectionTimeout?: number;
  /** Longest silence on a connected socket; default 60 s. */
  readonly requestTimeout?: number;
  /** Sockets per agent; the SDK's default (50) when absent. */
  readonly maxSockets?: number;
}

/**
 * The `requestHandler` for an AWS SDK v3 client calling `target` (its endpoint, or the regional
 * default): plain keep-alive agents when it goes direct, an HTTPS_PROXY agent when it does not.
 * Both honour NODE_EXTRA_CA_CERTS, which Node applies to every TLS handshake. Every request is
 * bounded: the SDK's connection timer runs until the proxy agent hands over the tunnel, so a proxy that
 * never answers the CONNECT fails the attempt; a request timeout only warns unless told to throw.
 */
export function awsRequestHandlerFor(
  target: string,
  options: AwsRequestHandlerOptions = {},
): {
  connectionTimeout: number;
  requestTimeout: number;
  throwOnRequestTimeout: true;
  httpAgent: Agent | { keepAlive: boolean; maxSockets?: number };
  httpsAgent: Agent | { keepAlive: boolean; maxSockets?: number };
} {
  const { maxSockets } = options;
  const timeouts = {
    connectionTimeout: options.connectionTimeout ?? DEFAULT_AWS_CONNECTION_TIMEOUT_MS,
    requestTimeout: options.requestTimeout ?? DEFAULT_AWS_REQUEST_TIMEOUT_MS,
    throwOnRequestTimeout: true as const,
  };
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
