import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeProcess } from '../../scripts/runtime-process.js';
import { RedisServer } from '../support/redis-server.js';

const publicKey = 'MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=';
let redis: RedisServer | undefined;
let runtime: RuntimeProcess | undefined;

afterEach(async () => {
  await runtime?.stop('SIGKILL');
  await redis?.kill();
  runtime = redis = undefined;
});

function runtimeOn(redisUrl: string): RuntimeProcess {
  return new RuntimeProcess({
    // No cloud is needed: the Redis check comes before the tunnel.
    SDR_CLOUD_URL: 'ws://127.0.0.1:9/v1/tunnel',
    SDR_ALLOW_INSECURE_TUNNEL: 'true',
    SDR_AGENT_TOKEN: 't',
    SDR_CLOUD_PUBLIC_KEY: publicKey,
    SDR_CONNECTIONS_FILE: '/dev/null',
    SDR_REDIS_URL: redisUrl,
    SDR_QUEUE_NAME: `preflight-${process.pid}`,
    SDR_HEALTH_PORT: '0',
  }).start();
}

describe('Redis start-up check', () => {
  it('refuses a Redis with maxmemory-policy allkeys-lru: exit 78 naming the fix', async () => {
    redis = await new RedisServer(['--maxmemory-policy', 'allkeys-lru']).start();
    runtime = runtimeOn(redis.url);
    expect(await runtime.exited()).toBe(78);
    const said = runtime.rawOutput.join('');
    expect(said).toContain('maxmemory-policy allkeys-lru');
    expect(said).toContain('CONFIG SET maxmemory-policy noeviction');
  }, 300_000);

  it('runs on a Redis without persistence but shows the warning in /readyz and /metrics', async () => {
    redis = await new RedisServer(['--maxmemory-policy', 'noeviction']).start();
    runtime = runtimeOn(redis.url);
    const listening = await runtime.waitForMessage('health server listening', 300_000);
    await runtime.waitForLine((line) => String(line.msg).includes('has no persistence'), 60_000);
    const url = String(listening.url);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { warnings?: string[] };
    expect(body.warnings?.join('\n')).toContain('no persistence');
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^sdr_redis_persistence 0$/m);
  }, 300_000);
});
