import type { Agent } from 'node:http';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { getProxyForUrl } from 'proxy-from-env';
import { Agent as UndiciAgent, type Dispatcher, ProxyAgent } from 'undici';

/**
 * The one place outbound storage traffic learns about the proxy: HTTPS_PROXY / HTTP_PROXY / NO_PROXY,
 * as the tunnel reads them. Every storage client is built with what these return.
 */
export function proxyUrlFor(target: string): string | undefined {
  const proxy = getProxyForUrl(target);
  return proxy === '' ? undefined : proxy;
}

/** A Node agent for clients built on `http`/`https` (the AWS SDK); undefined when the target goes direct. */
export function nodeAgentFor(target: string): Agent | undefined {
  const proxy = proxyUrlFor(target);
  return proxy === undefined ? undefined : new HttpsProxyAgent(proxy, { keepAlive: true });
}

const dispatchers = new Map<string, Dispatcher>();

/** An undici dispatcher for `target` (pre-signed uploads), shared per proxy. */
export function dispatcherFor(target: string): Dispatcher {
  const proxy = proxyUrlFor(target) ?? '';
  let dispatcher = dispatchers.get(proxy);
  if (!dispatcher) {
    dispatcher = proxy === '' ? new UndiciAgent({ keepAliveTimeout: 10_000 }) : new ProxyAgent(proxy);
    dispatchers.set(proxy, dispatcher);
  }
  return dispatcher;
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
