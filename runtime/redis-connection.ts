import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { redactUrl } from './logger.js';

/** Where the queue's Redis is: one server, a Sentinel-watched master, or a cluster. */
export interface RedisSettings {
  /** `SDR_REDIS_URL`; with Sentinel or Cluster it still carries the password, user, TLS and db. */
  url: string;
  /** `SDR_REDIS_SENTINELS`: host:port of each sentinel; empty for a single server. */
  sentinels: readonly { host: string; port: number }[];
  /** `SDR_REDIS_SENTINEL_MASTER`: the master's name as the sentinels know it. */
  sentinelMaster: string;
  /** `SDR_REDIS_SENTINEL_PASSWORD`: the sentinels' own password, when they require one. */
  sentinelPassword: string | undefined;
  /** `SDR_REDIS_CLUSTER_NODES`: host:port of some cluster nodes; empty unless Redis Cluster. */
  clusterNodes: readonly { host: string; port: number }[];
}

/** Parses "host:port,host:port" (as in SDR_REDIS_SENTINELS); throws a message naming the bad entry. */
export function parseHostList(
  text: string | undefined,
  defaultPort: number,
): { host: string; port: number }[] {
  if (!text) return [];
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const match = /^\[?([^\]]+?)\]?(?::(\d{1,5}))?$/.exec(entry);
      const port = Number(match?.[2] ?? defaultPort);
      if (!match?.[1] || port < 1 || port > 65_535) throw new Error(`"${entry}" is not host:port`);
      return { host: match[1], port };
    });
}

/** A human-readable name of the Redis in use, without credentials, for log lines and errors. */
export function describeRedis(settings: RedisSettings): string {
  if (settings.clusterNodes.length > 0)
    return `cluster ${settings.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (settings.sentinels.length > 0)
    return `sentinel master "${settings.sentinelMaster}" via ${settings.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}`;
  return redactUrl(settings.url);
}

/**
 * BullMQ key prefix: on a cluster every key of a queue must hash to one slot, which a `{…}` hash tag in
 * the prefix guarantees (BullMQ's documented requirement).
 */
export function queuePrefix(settings: RedisSettings): string {
  return settings.clusterNodes.length > 0 ? '{sdr}' : 'bull';
}

function urlOptions(url: string): RedisOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.replace(/^\//, '');
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * Opens the client BullMQ runs on. `maxRetriesPerRequest: null` keeps BullMQ's blocking commands alive
 * across Redis restarts and failovers (its requirement).
 */
export function createRedis(settings: RedisSettings, overrides: RedisOptions = {}): Redis | Cluster {
  const common: RedisOptions = { maxRetriesPerRequest: null, lazyConnect: false, ...overrides };
  if (settings.clusterNodes.length > 0) {
    const auth = urlOptions(settings.url);
    return new Cluster([...settings.clusterNodes], { redisOptions: { ...common, ...auth } });
  }
  if (settings.sentinels.length > 0) {
    const auth = urlOptions(settings.url);
    return new Redis({
      ...common,
      ...auth,
      sentinels: [...settings.sentinels],
      name: settings.sentinelMaster,
      ...(settings.sentinelPassword ? { sentinelPassword: settings.sentinelPassword } : {}),
      ...(auth.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    });
  }
  return new Redis(settings.url, common);
}
