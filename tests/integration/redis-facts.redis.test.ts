import { beforeAll, describe, expect, it } from 'vitest';
import { ensurePeer } from '../../scripts/local-stack.js';
import { inspectRedis } from '../../runtime/redis-preflight.js';
import { peers } from '../peers/endpoints.js';

beforeAll(async () => {
  await ensurePeer('redis-lru', Number(new URL(peers.redisLruUrl).port));
}, 120_000);

describe('inspectRedis', () => {
  it('reads the eviction policy and persistence with CONFIG GET', async () => {
    expect(await inspectRedis(peers.redisUrl)).toMatchObject({
      policy: 'noeviction',
      policySource: 'config',
      aof: false,
      rdb: false,
    });
  });

  it('falls back to INFO memory where CONFIG is disabled, as on managed Redis', async () => {
    expect(await inspectRedis(peers.redisLruUrl)).toMatchObject({
      policy: 'allkeys-lru',
      policySource: 'info',
      aof: false,
    });
  });

  it('throws when Redis cannot be reached', async () => {
    await expect(inspectRedis('redis://127.0.0.1:1', 1_000)).rejects.toThrow();
  });
});
