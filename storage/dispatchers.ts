/** The undici dispatchers of the clients built on undici (pre-signed uploads, the Schema Registry), through the proxy when HTTPS_PROXY / NO_PROXY say so. */
import { Agent as UndiciAgent, type Dispatcher, ProxyAgent } from 'undici';
import { proxyUrlFor, type TlsSettings } from './http-agents.js';

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

/**
 * An undici dispatcher of its own (the caller closes it) for `target`: through the proxy when
 * HTTPS_PROXY / NO_PROXY say so, with `tls` applied to the target's handshake, not the proxy's.
 */
export function ownDispatcherFor(target: string, tls: TlsSettings, connections: number): Dispatcher {
  const proxy = proxyUrlFor(target);
  return proxy === undefined
    ? new UndiciAgent({ connections, connect: { ...tls } })
    : new ProxyAgent({ uri: proxy, connections, requestTls: { ...tls } });
}
