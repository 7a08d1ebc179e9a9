import type { Cluster, Redis } from 'ioredis';
import { Codes } from '../protocol/index.js';
import { createRedis, type RedisSettings } from './redis-connection.js';

/** What the queue's Redis says about the settings that decide whether queued jobs survive. */
export interface RedisFacts {
  /** `maxmemory-policy`; only `noeviction` keeps BullMQ's keys safe when memory runs out. */
  policy: string | undefined;
  /** Where the policy was read: CONFIG GET, or INFO memory where CONFIG is disabled (managed Redis). */
  policySource: 'config' | 'info' | undefined;
  /** AOF on, RDB snapshots configured; undefined when Redis does not say. */
  aof: boolean | undefined;
  rdb: boolean | undefined;
  version: string | undefined;
}

/** What the start-up check found about the queue's Redis. */
export interface RedisPreflight {
  maxmemoryPolicy: string;
  /** True when append-only or RDB snapshots are on; false when neither; undefined when it cannot be told. */
  persistent: boolean | undefined;
  /** Warnings to show in the log, /readyz and /metrics. */
  warnings: string[];
}

async function configGet(client: Redis | Cluster, name: string): Promise<string | undefined> {
  try {
    const answer = (await client.call('CONFIG', 'GET', name)) as string[];
    return Array.isArray(answer) && answer.length >= 2 ? String(answer[1]) : undefined;
  } catch {
    // Managed Redis (ElastiCache, Memorystore, Azure Cache) renames or disables CONFIG; INFO is the fallback.
    return undefined;
  }
}

async function infoSection(client: Redis | Cluster, section: string): Promise<string> {
  try {
    return String(await client.call('INFO', section));
  } catch {
    return '';
  }
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** Reads the eviction policy, persistence and version over an open client. */
export async function readRedisFacts(client: Redis | Cluster): Promise<RedisFacts> {
  let policy = await configGet(client, 'maxmemory-policy');
  let policySource: RedisFacts['policySource'] = policy === undefined ? undefined : 'config';
  if (policy === undefined) {
    policy = infoField(await infoSection(client, 'memory'), 'maxmemory_policy');
    if (policy !== undefined) policySource = 'info';
  }
  const appendonly = await configGet(client, 'appendonly');
  const save = await configGet(client, 'save');
  const aofInfo = infoField(await infoSection(client, 'persistence'), 'aof_enabled');
  const aof =
    appendonly !== undefined ? appendonly === 'yes' : aofInfo === undefined ? undefined : aofInfo === '1';
  const rdb = save !== undefined ? save.trim() !== '' : undefined;
  const version = infoField(await infoSection(client, 'server'), 'redis_version');
  return { policy, policySource, aof, rdb, version };
}

/**
 * Connects once (no retries) and reads the facts, for `sdr check`. Throws when Redis cannot be reached or
 * refuses the connection (wrong password) within `timeoutMs`.
 */
export async function inspectRedis(settings: RedisSettings | string, timeoutMs = 3_000): Promise<RedisFacts> {
  const resolved: RedisSettings =
    typeof settings === 'string'
      ? {
          url: settings,
          sentinels: [],
          sentinelMaster: 'mymaster',
          sentinelPassword: undefined,
          clusterNodes: [],
        }
      : settings;
  const client = createRedis(resolved, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await readRedisFacts(client);
  } finally {
    client.disconnect();
  }
}

/**
 * BullMQ loses jobs silently when Redis evicts keys: anything but `maxmemory-policy noeviction` is
 * refused (`SDR_ERR_REDIS_EVICTION`, the process exits 78). Redis without persistence loses the queue on
 * a restart; that is allowed (reconciliation with the cloud re-sends what it forgot) but warned about.
 * On a cluster every master is checked: a keyless CONFIG GET reaches one random node, and the node that
 * holds the queue's slot may be another.
 */
export async function checkRedis(client: Redis | Cluster, where: string): Promise<RedisPreflight> {
  if (!client.isCluster) return await checkNode(client, where);
  const cluster = client as Cluster;
  // Queued until the cluster is ready, after which its masters are known.
  await cluster.call('PING');
  const masters = cluster.nodes('master');
  if (masters.length === 0) return await checkNode(client, where);
  const found = await Promise.all(
    masters.map((node) => checkNode(node, `${where} (node ${node.options.host}:${node.options.port})`)),
  );
  const persistent = found.some((node) => node.persistent === false)
    ? false
    : found.every((node) => node.persistent === true)
      ? true
      : undefined;
  return {
    maxmemoryPolicy: found[0]?.maxmemoryPolicy ?? 'unknown',
    persistent,
    warnings: found.flatMap((node) => node.warnings),
  };
}

async function checkNode(client: Redis | Cluster, where: string): Promise<RedisPreflight> {
  const facts = await readRedisFacts(client);
  const policy = facts.policy;
  if (policy !== undefined && policy !== 'noeviction') throw new Codes.SDR_ERR_REDIS_EVICTION(where, policy);
  const warnings: string[] = [];
  if (policy === undefined) {
    warnings.push(
      `could not read maxmemory-policy of Redis at ${where} (CONFIG and INFO refused); make sure it is noeviction`,
    );
  }
  const persistent =
    facts.aof === true || facts.rdb === true
      ? true
      : facts.aof === false && facts.rdb === false
        ? false
        : undefined;
  if (persistent === false) {
    warnings.push(
      `Redis at ${where} has no persistence (appendonly no, no save points): a Redis restart forgets the queue and the cloud must re-send it; turn on appendonly yes`,
    );
  } else if (persistent === undefined) {
    warnings.push(`could not confirm that Redis at ${where} persists its data; turn on appendonly yes`);
  }
  return { maxmemoryPolicy: policy ?? 'unknown', persistent, warnings };
}
