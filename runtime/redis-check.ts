import { Redis } from 'ioredis';

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

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

async function configGet(redis: Redis, name: string): Promise<string | undefined> {
  try {
    const answer = (await redis.call('CONFIG', 'GET', name)) as string[];
    return answer[1];
  } catch {
    // Managed services (ElastiCache, Memorystore, Azure Cache) rename or disable CONFIG.
    return undefined;
  }
}

/**
 * Connects once (no retries) and reads the eviction policy and persistence. Throws when Redis cannot be
 * reached or refuses the connection (wrong password) within `timeoutMs`.
 */
export async function inspectRedis(url: string, timeoutMs = 3_000): Promise<RedisFacts> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    let policy = await configGet(redis, 'maxmemory-policy');
    let policySource: RedisFacts['policySource'] = policy === undefined ? undefined : 'config';
    const memory = await redis.info('memory').catch(() => '');
    if (policy === undefined) {
      policy = infoField(memory, 'maxmemory_policy');
      if (policy !== undefined) policySource = 'info';
    }
    const appendonly = await configGet(redis, 'appendonly');
    const save = await configGet(redis, 'save');
    const persistence = await redis.info('persistence').catch(() => '');
    const server = await redis.info('server').catch(() => '');
    const aofInfo = infoField(persistence, 'aof_enabled');
    const aof =
      appendonly !== undefined ? appendonly === 'yes' : aofInfo === undefined ? undefined : aofInfo === '1';
    const rdb = save !== undefined ? save.trim() !== '' : undefined;
    return { policy, policySource, aof, rdb, version: infoField(server, 'redis_version') };
  } finally {
    redis.disconnect();
  }
}
