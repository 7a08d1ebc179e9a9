import { createServer } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type HealthServer, startHealthServer } from '../../runtime/health-server.js';

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: Partial<Parameters<typeof startHealthServer>[0]> = {}): Promise<HealthServer> {
  server = await startHealthServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    live: () => true,
    ready: async () => ({ ready: true, tunnel: 'up', redis: 'up' }),
    ...options,
  });
  return server;
}

describe('health server (node:http)', () => {
  it('reports the port the OS chose and serves /livez, /readyz, /status and /metrics', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: 'sdr' });
    const { url } = await start({
      registry,
      ready: async () => ({ ready: false, tunnel: 'up', redis: 'down: ECONNREFUSED' }),
      warnings: () => ['no persistence'],
      status: async () => ({ state: 'running' }),
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url.endsWith(':0')).toBe(false);

    const live = await fetch(`${url}/livez`);
    expect([live.status, await live.json()]).toEqual([200, { live: true }]);
    const ready = await fetch(`${url}/readyz?verbose=1`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await ready.json()).toEqual({
      ready: false,
      tunnel: 'up',
      redis: 'down: ECONNREFUSED',
      warnings: ['no persistence'],
    });
    expect(await (await fetch(`${url}/status`)).json()).toEqual({ state: 'running' });
    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.headers.get('content-type')).toBe(registry.contentType);
  });

  it('answers 503 on /livez when not live, 404 off its routes, 405 to other methods, HEAD without a body', async () => {
    const { url } = await start({ live: () => false });
    expect((await fetch(`${url}/livez`)).status).toBe(503);
    expect((await fetch(`${url}/status`)).status).toBe(404);
    expect((await fetch(`${url}/`)).status).toBe(404);
    expect((await fetch(`${url}/readyz`, { method: 'POST', body: 'x' })).status).toBe(405);
    const head = await fetch(`${url}/readyz`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
  });

  it('answers 500 naming the error when a probe throws, and keeps serving', async () => {
    const { url } = await start({
      ready: async () => {
        throw new Error('queue client closed');
      },
    });
    const response = await fetch(`${url}/readyz`);
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ message: 'queue client closed' });
    expect((await fetch(`${url}/livez`)).status).toBe(200);
  });

  it('refuses a port in use with SDR_ERR_HEALTH_PORT_IN_USE', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(start({ port })).rejects.toMatchObject({ code: 'SDR_ERR_HEALTH_PORT_IN_USE' });
      server = undefined;
    } finally {
      blocker.close();
    }
  });

  it('closes even while a client keeps its connection open', async () => {
    const { url } = await start();
    await fetch(`${url}/livez`, { keepalive: true });
    await server?.close();
    server = undefined;
    await expect(fetch(`${url}/livez`)).rejects.toThrow();
  });
});
