/**
 * Daemon start-up against its environment: refusals that exit 78 naming the fix (an evicting Redis, a
 * health port in use), the preflight logged at start, /readyz naming what is down. Needs the shared Redis
 * and tests/peers/redis-lru.sh's allkeys-lru one (started here if it is not running).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensurePeer } from '../../scripts/local-stack.js';
import { RuntimeProcess } from '../../scripts/runtime-process.js';
import { peers } from '../peers/endpoints.js';

beforeAll(async () => {
  await ensurePeer('redis-lru', Number(new URL(peers.redisLruUrl).port));
}, 120_000);

describe('runtime start-up against its environment', () => {
  const base = (extra: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'sdr-start-'));
    const file = join(dir, 'connections.yaml');
    writeFileSync(file, 'connections: []\n');
    return {
      // Nothing listens on port 1: the tunnel stays down, which the start-up must survive.
      SDR_CLOUD_URL: 'ws://127.0.0.1:1/v1/tunnel',
      SDR_ALLOW_INSECURE_TUNNEL: 'true',
      SDR_AGENT_TOKEN: 't',
      SDR_CLOUD_PUBLIC_KEY: 'MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=',
      SDR_CONNECTIONS_FILE: file,
      SDR_REDIS_URL: peers.redisUrl,
      SDR_QUEUE_NAME: `sdr-start-${process.pid}`,
      SDR_HEALTH_PORT: '0',
      ...extra,
    };
  };

  it('refuses a Redis that may evict jobs with exit 78, naming the fix', async () => {
    const runtime = new RuntimeProcess(base({ SDR_REDIS_URL: peers.redisLruUrl })).start();
    expect(await runtime.exited()).toBe(78);
    expect(runtime.rawOutput.join('')).toMatch(
      /sdr: Redis at redis:\/\/127\.0\.0\.1:\d+ has maxmemory-policy allkeys-lru.*CONFIG SET maxmemory-policy noeviction/,
    );
  });

  it('exits 78 naming SDR_HEALTH_PORT when the health port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const runtime = new RuntimeProcess(base({ SDR_HEALTH_PORT: String(port) })).start();
      expect(await runtime.exited()).toBe(78);
      expect(runtime.rawOutput.join('')).toContain(
        `sdr: the health server cannot listen on 127.0.0.1:${port}: the port is in use; set SDR_HEALTH_PORT to a free port`,
      );
    } finally {
      blocker.close();
    }
  });

  it('logs the address it really binds and names in /readyz what is down', async () => {
    const runtime = new RuntimeProcess(base()).start();
    try {
      const line = await runtime.waitForMessage('health server listening on http://127.0.0.1:', 90_000);
      const url = String(line.url);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
      expect(line.msg).toBe(`health server listening on ${url}`);
      // Redis being persistence-less is a warning at start, not a refusal.
      await runtime.waitForMessage('has no persistence', 90_000);
      const response = await fetch(`${url}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        ready: false,
        tunnel: expect.stringMatching(/^down: /),
        redis: 'up',
        warnings: [expect.stringContaining('has no persistence')],
      });
    } finally {
      await runtime.stop();
    }
  });

  it('runs the preflight at start and logs each failing item with its fix, without refusing to start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdr-start-'));
    const file = join(dir, 'connections.yaml');
    writeFileSync(
      file,
      'connections:\n  - {name: pg, type: postgres, host: 127.0.0.1, secrets: {password: env://SDR_TEST_UNSET_PASSWORD}}\n',
    );
    const runtime = new RuntimeProcess(base({ SDR_CONNECTIONS_FILE: file })).start();
    try {
      const line = await runtime.waitForLine((entry) => entry.check === 'secret.pg.password', 90_000);
      expect(line.level).toBe('warn');
      expect(line.msg).toMatch(/^FAIL {2}secret password of "pg" \(env:\/\/SDR_TEST_UNSET_PASSWORD\): /);
      expect(line.code).toBe('SDR_ERR_SECRET_NOT_FOUND');
      await runtime.waitForMessage('preflight: ', 90_000);
      const health = await runtime.waitForMessage('health server listening', 90_000);
      expect((await fetch(`${String(health.url)}/livez`)).status).toBe(200);
    } finally {
      await runtime.stop();
    }
  });
});
