import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { HttpsProxyAgent } from 'https-proxy-agent';
import WebSocket from 'ws';
import { ADAPTER_TYPES, loadAdapters, type SourceAdapter } from '../adapters/index.js';
import {
  CLOUD_TO_RUNTIME,
  Codes,
  decodeFrame,
  describeError,
  parsePublicKey,
  PROTOCOL_VERSION,
  SdrError,
} from '../protocol/index.js';
import { builtInSecretProviders, SecretResolver } from '../secrets/index.js';
import type { RuntimeConfig } from './config.js';
import { type ConnectionDefinition, loadConnections, sourceConnectionOf } from './connections.js';
import { redactUrl, scrubSecrets } from './logger.js';
import { inspectRedis } from './redis-preflight.js';
import { describeRedis } from './redis-connection.js';
import { explainTunnelError, explainUpgradeStatus } from './tunnel-hints.js';
import { RUNTIME_VERSION } from './version.js';

/** Outcome of one check; `warn` does not fail `sdr check`, `fail` does. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of the checklist. */
export interface CheckItem {
  /** Stable identifier, e.g. `cloud.tls`, `secret.pg.password`, `connection.pg`. */
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found; for a failure, the catalogued message, which names the fix. */
  detail: string;
  code?: string;
}

/** What to check and with what; the daemon passes what it already holds. */
export interface PreflightOptions {
  /**
   * `handshake` (`sdr check`): DNS, TCP (or the proxy's CONNECT), TLS, a real hello/welcome with the
   * token, and the public key; `key-only` (daemon start, whose own tunnel does the rest): the public key;
   * `skip`: nothing of the cloud.
   */
  cloud?: 'handshake' | 'key-only' | 'skip';
  /** Check Redis (reachable, noeviction, persistence); default true. */
  redis?: boolean;
  connections?: ReadonlyMap<string, ConnectionDefinition>;
  adapters?: ReadonlyMap<string, SourceAdapter<unknown>>;
  secrets?: SecretResolver;
  /** Per network step; adapter checks get three times this. Default 10 s. */
  timeoutMs?: number;
}

/** Sign shown before each line, for people; `--json` carries the status itself. */
const MARKS: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

/** One human line: status, title, and what was found (which, for a failure, names the fix). */
export function formatItem(item: CheckItem): string {
  return `${MARKS[item.status]}  ${item.title}: ${item.detail}`;
}

class Timeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms / 1000} s`);
    this.name = 'Timeout';
  }
}

async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Timeout(what, ms)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function failed(id: string, title: string, error: unknown, secretValues: Iterable<string> = []): CheckItem {
  const { code, message } = describeError(error);
  return {
    id,
    title,
    status: 'fail',
    detail: scrubSecrets(message, secretValues),
    ...(error instanceof SdrError ? { code } : {}),
  };
}

/**
 * Runs the preflight checklist: configuration is already compiled; then the cloud, Redis, every secret
 * reference and every connection's adapter `check()`. Never throws for a failing item; each becomes a line.
 */
export async function runPreflight(
  config: RuntimeConfig,
  options: PreflightOptions = {},
): Promise<CheckItem[]> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const items: CheckItem[] = [{ id: 'config', title: 'configuration', status: 'ok', detail: 'valid' }];

  const cloud = options.cloud ?? 'handshake';
  if (cloud === 'handshake') items.push(...(await checkCloudTransport(config, timeoutMs)));
  if (cloud !== 'skip') items.push(await checkPublicKey(config, timeoutMs));
  if (options.redis ?? true) items.push(...(await checkRedis(config, timeoutMs)));

  let connections = options.connections;
  if (!connections) {
    try {
      // References are checked one by one below, so one bad reference is one line, not a stop.
      connections = loadConnections(config.connectionsFile, {
        adapterTypes: ADAPTER_TYPES,
        validateSecretReference: () => undefined,
      });
      items.push({
        id: 'connections',
        title: 'connections file',
        status: 'ok',
        detail: `${config.connectionsFile}: ${connections.size} connection(s)`,
      });
    } catch (error) {
      items.push(failed('connections', 'connections file', error));
      return items;
    }
  }
  items.push(...(await checkSources(config, connections, options, timeoutMs)));
  return items;
}

function cloudTarget(config: RuntimeConfig): { url: URL; secure: boolean; port: number } {
  const url = new URL(config.cloudUrl);
  const secure = url.protocol === 'wss:';
  return { url, secure, port: Number(url.port || (secure ? 443 : 80)) };
}

async function checkCloudTransport(config: RuntimeConfig, timeoutMs: number): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  const { url, secure, port } = cloudTarget(config);
  const host = url.hostname;
  let socket: Socket | undefined;
  try {
    if (config.proxyUrl) {
      const title = `cloud: CONNECT ${host}:${port} through ${redactUrl(config.proxyUrl)}`;
      try {
        socket = await within(timeoutMs, 'proxy', connectThroughProxy(config.proxyUrl, host, port));
        items.push({ id: 'cloud.proxy', title, status: 'ok', detail: 'tunnel established' });
      } catch (error) {
        items.push(
          failed(
            'cloud.proxy',
            title,
            error instanceof SdrError
              ? error
              : new Error(`${(error as Error).message}; check HTTPS_PROXY and NO_PROXY`),
          ),
        );
        return items;
      }
    } else {
      try {
        const { address } = await within(timeoutMs, 'DNS', lookup(host));
        items.push({ id: 'cloud.dns', title: `cloud: DNS ${host}`, status: 'ok', detail: address });
      } catch (error) {
        items.push(
          failed(
            'cloud.dns',
            `cloud: DNS ${host}`,
            explainTunnelError(config.cloudUrl, error as Error) ?? error,
          ),
        );
        return items;
      }
      try {
        socket = await within(timeoutMs, 'TCP', connectTcp(host, port));
        items.push({
          id: 'cloud.tcp',
          title: `cloud: TCP ${host}:${port}`,
          status: 'ok',
          detail: 'connected',
        });
      } catch (error) {
        items.push(
          failed(
            'cloud.tcp',
            `cloud: TCP ${host}:${port}`,
            new Codes.SDR_ERR_TUNNEL_ENDPOINT(config.cloudUrl, (error as Error).message),
          ),
        );
        return items;
      }
    }
    if (secure) {
      const title = `cloud: TLS ${host}`;
      try {
        const detail = await within(timeoutMs, 'TLS', tlsHandshake(socket, host));
        items.push({ id: 'cloud.tls', title, status: 'ok', detail });
      } catch (error) {
        items.push(failed('cloud.tls', title, explainTunnelError(config.cloudUrl, error as Error) ?? error));
        return items;
      }
    }
  } finally {
    socket?.destroy();
  }
  items.push(await checkHandshake(config, timeoutMs));
  return items;
}

function connectTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', (error) => {
      socket.destroy();
      reject(error);
    });
  });
}

function connectThroughProxy(proxyUrl: string, host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const proxy = new URL(proxyUrl);
    const auth = proxy.username
      ? {
          'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`,
        }
      : {};
    const request = (proxy.protocol === 'https:' ? httpsRequest : httpRequest)({
      host: proxy.hostname,
      port: Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80)),
      method: 'CONNECT',
      path: `${host}:${port}`,
      headers: { host: `${host}:${port}`, ...auth },
    });
    request.once('connect', (response: IncomingMessage, socket: Socket) => {
      if (response.statusCode === 200) resolve(socket);
      else {
        socket.destroy();
        reject(new Error(`the proxy answered CONNECT with HTTP ${response.statusCode ?? 0}`));
      }
    });
    request.once('error', reject);
    request.end();
  });
}

function tlsHandshake(socket: Socket, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // SNI carries host names only (RFC 6066); an IP address is verified against the certificate without it.
    const secure = tlsConnect({ socket, ...(isIP(servername) ? { host: servername } : { servername }) });
    secure.once('secureConnect', () => {
      const peer = secure.getPeerCertificate();
      const issuer = typeof peer.issuer?.CN === 'string' ? peer.issuer.CN : 'unknown issuer';
      resolve(`${secure.getProtocol() ?? 'TLS'}, certificate issued by ${issuer}`);
      secure.destroy();
    });
    secure.once('error', (error: Error) => {
      secure.destroy();
      reject(error);
    });
  });
}

/** A real hello/welcome with the agent token, then a normal close. */
async function checkHandshake(config: RuntimeConfig, timeoutMs: number): Promise<CheckItem> {
  const title = 'cloud: token and handshake';
  try {
    const welcome = await within(
      timeoutMs,
      'handshake',
      new Promise<{ agentId: string }>((resolve, reject) => {
        const socket = new WebSocket(config.cloudUrl, {
          headers: { authorization: `Bearer ${config.agentToken}` },
          handshakeTimeout: timeoutMs,
          perMessageDeflate: false,
          maxPayload: config.maxFrameBytes * 2,
          ...(config.proxyUrl ? { agent: new HttpsProxyAgent(config.proxyUrl) } : {}),
        });
        const settle = (error: Error | undefined, value?: { agentId: string }) => {
          if (socket.readyState === WebSocket.OPEN) socket.close(1000, 'sdr check');
          else socket.terminate();
          if (error) reject(error);
          else resolve(value as { agentId: string });
        };
        socket.on('unexpected-response', (_request, response) =>
          settle(explainUpgradeStatus(config.cloudUrl, response.statusCode ?? 0)),
        );
        socket.on('error', (error) => settle(explainTunnelError(config.cloudUrl, error) ?? error));
        socket.on('open', () => {
          socket.send(
            JSON.stringify({
              type: 'hello',
              protocolVersion: PROTOCOL_VERSION,
              runtimeVersion: RUNTIME_VERSION,
              // An instance of its own: the daemons' connections stay put (protocol 2).
              instanceId: `check-${randomUUID()}`,
              connectionIndex: 0,
              connections: 1,
              capabilities: {
                adapters: ADAPTER_TYPES,
                delivery: ['tunnel'],
                maxFrameBytes: config.maxFrameBytes,
              },
            }),
          );
        });
        socket.on('message', (data: Buffer) => {
          const decoded = decodeFrame(data, CLOUD_TO_RUNTIME, config.maxFrameBytes);
          if (!decoded.ok) return;
          const frame = decoded.frame;
          if (frame.type === 'welcome') {
            if (frame.protocolVersion !== PROTOCOL_VERSION)
              settle(new Codes.SDR_ERR_PROTOCOL_VERSION(PROTOCOL_VERSION, frame.protocolVersion));
            else settle(undefined, { agentId: frame.agentId });
          } else if (frame.type === 'error') {
            settle(new SdrError(frame.code, frame.message, false));
          }
        });
        socket.on('close', (code, reason) =>
          settle(new Codes.SDR_ERR_TUNNEL_DOWN(`closed before welcome (${code} ${reason.toString('utf8')})`)),
        );
      }),
    );
    return { id: 'cloud.handshake', title, status: 'ok', detail: `token accepted; agent ${welcome.agentId}` };
  } catch (error) {
    return failed('cloud.handshake', title, error, [config.agentToken]);
  }
}

/**
 * Compares SDR_CLOUD_PUBLIC_KEY with the key the cloud publishes at `/v1/public-key` on the tunnel's
 * origin (the reference cloud does; docs/operations.md). A cloud that publishes none is a warning.
 */
async function checkPublicKey(config: RuntimeConfig, timeoutMs: number): Promise<CheckItem> {
  const title = 'cloud: public key';
  let configured;
  try {
    configured = parsePublicKey(config.cloudPublicKeyPem);
  } catch (error) {
    return failed(
      'cloud.public-key',
      title,
      new Codes.SDR_ERR_CONFIG_INVALID(
        `SDR_CLOUD_PUBLIC_KEY: not an Ed25519 public key (${(error as Error).message}); paste the PEM (or set SDR_CLOUD_PUBLIC_KEY_FILE to its file)`,
      ),
    );
  }
  const { url, secure } = cloudTarget(config);
  const keyUrl = `${secure ? 'https' : 'http'}://${url.host}/v1/public-key`;
  let published: string | undefined;
  try {
    const { status, body } = await within(timeoutMs, 'public key', getText(keyUrl, config.proxyUrl));
    if (status !== 200) {
      return {
        id: 'cloud.public-key',
        title,
        status: 'warn',
        detail: `${keyUrl} answered HTTP ${status}; cannot compare`,
      };
    }
    published = (JSON.parse(body) as { publicKey?: string }).publicKey;
  } catch (error) {
    return {
      id: 'cloud.public-key',
      title,
      status: 'warn',
      detail: `cannot read ${keyUrl} (${(error as Error).message}); cannot compare`,
    };
  }
  let matches: boolean;
  try {
    const theirs = parsePublicKey(published ?? '');
    matches = theirs
      .export({ type: 'spki', format: 'der' })
      .equals(configured.export({ type: 'spki', format: 'der' }));
  } catch {
    return {
      id: 'cloud.public-key',
      title,
      status: 'warn',
      detail: `${keyUrl} holds no Ed25519 key; cannot compare`,
    };
  }
  return matches
    ? { id: 'cloud.public-key', title, status: 'ok', detail: `matches ${keyUrl}` }
    : failed(
        'cloud.public-key',
        title,
        new Codes.SDR_ERR_CONFIG_INVALID(
          `SDR_CLOUD_PUBLIC_KEY differs from the key the cloud publishes at ${keyUrl}, so every job request would be rejected as unsigned; copy the cloud's key into SDR_CLOUD_PUBLIC_KEY (or its _FILE)`,
        ),
      );
}

function getText(url: string, proxyUrl: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(
      url,
      { ...(proxyUrl ? { agent: new HttpsProxyAgent(proxyUrl) } : {}) },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (body.length < 65_536) body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

async function checkRedis(config: RuntimeConfig, timeoutMs: number): Promise<CheckItem[]> {
  const where = describeRedis(config.redis);
  let facts;
  try {
    facts = await within(timeoutMs, 'Redis', inspectRedis(config.redis, Math.min(timeoutMs, 5_000)));
  } catch (error) {
    return [
      {
        id: 'redis',
        title: `Redis ${where}`,
        status: 'fail',
        code: 'SDR_ERR_QUEUE_UNAVAILABLE',
        detail: `unreachable (${(error as Error).message}); check SDR_REDIS_URL and that Redis is running`,
      },
    ];
  }
  const items: CheckItem[] = [
    {
      id: 'redis',
      title: `Redis ${where}`,
      status: 'ok',
      detail: `reachable, version ${facts.version ?? 'unknown'}`,
    },
  ];
  if (facts.policy === undefined) {
    items.push({
      id: 'redis.eviction',
      title: 'Redis eviction policy',
      status: 'warn',
      detail: 'neither CONFIG GET nor INFO tells maxmemory-policy; make sure it is noeviction',
    });
  } else if (facts.policy !== 'noeviction') {
    items.push(
      failed(
        'redis.eviction',
        'Redis eviction policy',
        new Codes.SDR_ERR_REDIS_EVICTION(where, facts.policy),
      ),
    );
  } else {
    items.push({
      id: 'redis.eviction',
      title: 'Redis eviction policy',
      status: 'ok',
      detail: `noeviction (from ${facts.policySource === 'info' ? 'INFO memory' : 'CONFIG GET'})`,
    });
  }
  const kinds = [facts.aof ? 'AOF' : undefined, facts.rdb ? 'RDB snapshots' : undefined].filter(Boolean);
  items.push(
    kinds.length > 0
      ? { id: 'redis.persistence', title: 'Redis persistence', status: 'ok', detail: kinds.join(' + ') }
      : {
          id: 'redis.persistence',
          title: 'Redis persistence',
          status: 'warn',
          detail:
            facts.aof === undefined && facts.rdb === undefined
              ? 'Redis does not say whether it persists; queued jobs survive a Redis restart only with persistence (appendonly yes)'
              : 'none: a Redis restart loses every queued job; set appendonly yes',
        },
  );
  return items;
}

async function checkSources(
  config: RuntimeConfig,
  connections: ReadonlyMap<string, ConnectionDefinition>,
  options: PreflightOptions,
  timeoutMs: number,
): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  let resolver = options.secrets;
  const ownResolver = resolver === undefined;
  if (!resolver) {
    try {
      resolver = new SecretResolver(await builtInSecretProviders(config.secretProviders), 0);
    } catch (error) {
      items.push(failed('secrets', 'secret stores', error));
      return items;
    }
  }
  try {
    const types = new Set([...connections.values()].map((connection) => connection.type));
    const adapters = new Map(options.adapters ?? []);
    for (const adapter of await loadAdapters([...types].filter((type) => !adapters.has(type))))
      adapters.set(adapter.type, adapter);

    for (const definition of connections.values()) {
      const credentials: Record<string, string> = {};
      let secretsOk = true;
      for (const [name, reference] of Object.entries(definition.secrets)) {
        const title = `secret ${name} of "${definition.name}" (${reference})`;
        try {
          credentials[name] = await within(timeoutMs, reference, resolver.resolve(reference));
          items.push({ id: `secret.${definition.name}.${name}`, title, status: 'ok', detail: 'resolves' });
        } catch (error) {
          secretsOk = false;
          items.push(failed(`secret.${definition.name}.${name}`, title, error));
        }
      }
      items.push(await checkConnection(definition, adapters, credentials, secretsOk, timeoutMs * 3));
    }
  } finally {
    if (ownResolver) await resolver.close().catch(() => undefined);
  }
  return items;
}

async function checkConnection(
  definition: ConnectionDefinition,
  adapters: ReadonlyMap<string, SourceAdapter<unknown>>,
  credentials: Record<string, string>,
  secretsOk: boolean,
  timeoutMs: number,
): Promise<CheckItem> {
  const id = `connection.${definition.name}`;
  const title = `connection "${definition.name}" (${definition.type})`;
  if (!secretsOk) return { id, title, status: 'skip', detail: 'not tried: its secrets do not resolve' };
  const adapter = adapters.get(definition.type);
  if (!adapter) {
    return failed(
      id,
      title,
      new Codes.SDR_ERR_UNSUPPORTED_SOURCE(definition.type, [...adapters.keys()].join(', ')),
    );
  }
  const controller = new AbortController();
  const warnings: string[] = [];
  const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined };
  try {
    const facts = await within(
      timeoutMs,
      `check of "${definition.name}"`,
      adapter.check(sourceConnectionOf(definition, credentials), {
        signal: controller.signal,
        log: quiet,
        warn: (message) => warnings.push(message),
      }),
    );
    const summary = scrubSecrets(JSON.stringify(facts), Object.values(credentials)).slice(0, 300);
    return warnings.length > 0
      ? { id, title, status: 'warn', detail: `${summary}; ${warnings.join('; ')}` }
      : { id, title, status: 'ok', detail: summary };
  } catch (error) {
    controller.abort();
    return failed(id, title, error, Object.values(credentials));
  }
}
