/** The undici dispatchers of the clients built on undici (pre-signed uploads, the Schema Registry, Vault), through the proxy when HTTPS_PROXY / NO_PROXY say so. */
import { Agent as UndiciAgent, type Dispatcher, Pool, ProxyAgent } from 'undici';
import { DEFAULT_PROXY_CONNECT_TIMEOUT_MS, proxyUrlFor, type TlsSettings } from './http-agents.js';

/**
 * An undici ProxyAgent whose CONNECT ends within `timeoutMs`. undici applies a request's signal only
 * once the tunnel exists, and the pool carrying the CONNECTs waits 300 s for an answer: a proxy that
 * accepts the connection and never answers held every request that long. That pool's header wait is
 * the CONNECT's deadline.
 */
function boundedProxyAgent(
  proxy: string,
  timeoutMs: number,
  options: Omit<ProxyAgent.Options, 'uri' | 'clientFactory'> = {},
): ProxyAgent {
  return new ProxyAgent({
    ...options,
    uri: proxy,
    clientFactory: (origin, poolOptions) =>
      new Pool(origin, { ...poolOptions, headersTimeout: timeoutMs, connectTimeout: timeoutMs }),
  });
}

const dispatchers = new Map<string, Dispatcher>();

/** An undici dispatcher for `target` (pre-signed uploads), shared per proxy. */
export function dispatcherFor(target: string): Dispatcher {
  const proxy = proxyUrlFor(target) ?? '';
  let dispatcher = dispatchers.get(proxy);
  if (!dispatcher) {
    dispatcher =
      proxy === ''
        ? new UndiciAgent({ keepAliveTimeout: 10_000 })
        : boundedProxyAgent(proxy, DEFAULT_PROXY_CONNECT_TIMEOUT_MS);
    dispatchers.set(proxy, dispatcher);
  }
  return dispatcher;
}

/**
 * An undici dispatcher of its own (the caller closes it) for `target`: through the proxy when
 * HTTPS_PROXY / NO_PROXY say so, with `tls` applied to the target's handshake, not the proxy's. A
 * proxy that does not answer the CONNECT within `proxyTimeoutMs` fails the request.
 */
export function ownDispatcherFor(
  target: string,
  tls: TlsSettings,
  connections: number,
  proxyTimeoutMs = DEFAULT_PROXY_CONNECT_TIMEOUT_MS,
): Dispatcher {
  const proxy = proxyUrlFor(target);
  return proxy === undefined
    ? new UndiciAgent({ connections, connect: { ...tls } })
    : boundedProxyAgent(proxy, proxyTimeoutMs, { connections, requestTls: { ...tls } });
}
