import type { Cluster, Redis } from 'ioredis';
import { Codes } from '../protocol/index.js';

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
    // Managed Redis often disables CONFIG; INFO is the fallback.
    return undefined;
  }
}

async function infoField(
  client: Redis | Cluster,
  section: string,
  field: string,
): Promise<string | undefined> {
  try {
    const text = String(await client.call('INFO', section));
    return new RegExp(`^${field}:(.*)$`, 'm').exec(text)?.[1]?.trim();
  } catch {
    return undefined;
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
  const policy =
    (await configGet(client, 'maxmemory-policy')) ?? (await infoField(client, 'memory', 'maxmemory_policy'));
  if (policy !== undefined && policy !== 'noeviction') throw new Codes.SDR_ERR_REDIS_EVICTION(where, policy);
  const warnings: string[] = [];
  if (policy === undefined) {
    warnings.push(
      `could not read maxmemory-policy of Redis at ${where} (CONFIG and INFO refused); make sure it is noeviction`,
    );
  }
  const appendonly = await configGet(client, 'appendonly');
  const save = await configGet(client, 'save');
  let persistent: boolean | undefined;
  if (appendonly !== undefined || save !== undefined) {
    persistent = appendonly === 'yes' || (save !== undefined && save.trim() !== '');
  } else {
    const aof = await infoField(client, 'persistence', 'aof_enabled');
    persistent = aof === '1' ? true : undefined;
  }
  if (persistent === false) {
    warnings.push(
      `Redis at ${where} has no persistence (appendonly no, no save points): a Redis restart forgets the queue and the cloud must re-send it; turn on appendonly yes`,
    );
  } else if (persistent === undefined) {
    warnings.push(`could not confirm that Redis at ${where} persists its data; turn on appendonly yes`);
  }
  return { maxmemoryPolicy: policy ?? 'unknown', persistent, warnings };
}
