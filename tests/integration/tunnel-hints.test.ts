/**
 * Tunnel failures name their fix, both in the daemon's log and in `sdr check`: an untrusted certificate
 * (NODE_EXTRA_CA_CERTS), wss:// against plain HTTP, HTTP 404 on the upgrade and a host that does not
 * resolve (SDR_CLOUD_URL). Real local servers on 127.0.0.1, no cloud needed.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../../runtime/config.js';
import { createLogger } from '../../runtime/logger.js';
import { RuntimeMetrics } from '../../runtime/metrics.js';
import { runPreflight } from '../../runtime/preflight.js';
import { TunnelClient } from '../../runtime/tunnel-client.js';
import { makeLocalTls } from '../../scripts/local-stack.js';

const KEY = 'MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=';
let dir: string;
let tlsServer: Server;
let plainServer: Server;
let urls: { untrusted: string; plainHttp: string; notFound: string; noDns: string };

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sdr-hints-'));
  const tls = makeLocalTls(dir);
  // Signed by a CA this process does not trust (no NODE_EXTRA_CA_CERTS): what a TLS-inspecting proxy looks like.
  tlsServer = createHttpsServer({ cert: tls.cert, key: tls.key }, (_request, response) => response.end());
  plainServer = createHttpServer((_request, response) => {
    response.statusCode = 404;
    response.end('not found');
  });
  const tlsPort = await listen(tlsServer);
  const plainPort = await listen(plainServer);
  urls = {
    untrusted: `wss://127.0.0.1:${tlsPort}/v1/tunnel`,
    plainHttp: `wss://127.0.0.1:${plainPort}/v1/tunnel`,
    notFound: `ws://127.0.0.1:${plainPort}/v2/tunnel`,
    noDns: 'wss://cloud.does-not-exist.invalid/v1/tunnel',
  };
});

afterAll(() => {
  tlsServer?.close();
  plainServer?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The first tunnel log line carrying a code, from a real TunnelClient pointed at `url`. */
async function tunnelLogFor(url: string): Promise<{ code: string; msg: string }> {
  const lines: { code?: string; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(text) as { code?: string; msg: string });
      done();
    },
  });
  const tunnel = new TunnelClient({
    url,
    token: 't',
    proxyUrl: undefined,
    maxFrameBytes: 1 << 20,
    reconnectBaseMs: 60_000,
    reconnectMaxMs: 60_000,
    hello: {
      runtimeVersion: 'test',
      instanceId: 'hints',
      connectionIndex: 0,
      connections: 1,
      capabilities: { adapters: [], delivery: ['tunnel'], maxFrameBytes: 1 << 20 },
    },
    jobStatus: () => ({ active: 0, queued: 0 }),
    log: createLogger('info', sink),
    metrics: new RuntimeMetrics(),
    handlers: {
      onFrame: () => undefined,
      checkAgent: () => undefined,
      onUp: () => undefined,
      onDown: () => undefined,
    },
  });
  tunnel.start();
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const line = lines.find((candidate) => candidate.code !== undefined);
      if (line) return line as { code: string; msg: string };
      if (Date.now() > deadline) throw new Error(`no coded tunnel log line; got ${JSON.stringify(lines)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await tunnel.close();
  }
}

/** The failing cloud items `sdr check` reports for `url`. */
async function checkFailures(url: string): Promise<{ id: string; detail: string; code?: string }[]> {
  const config = compileConfig(
    {
      SDR_CLOUD_URL: url,
      SDR_ALLOW_INSECURE_TUNNEL: 'true',
      SDR_AGENT_TOKEN: 't',
      SDR_CLOUD_PUBLIC_KEY: KEY,
    },
    {},
  );
  const items = await runPreflight(config, { redis: false, connections: new Map(), timeoutMs: 10_000 });
  return items.filter((item) => item.status === 'fail');
}

describe('tunnel failures name their fix', () => {
  it('an untrusted certificate → NODE_EXTRA_CA_CERTS', async () => {
    const line = await tunnelLogFor(urls.untrusted);
    expect(line.code).toBe('SDR_ERR_TUNNEL_TLS');
    expect(line.msg).toContain('point NODE_EXTRA_CA_CERTS at that CA');
    expect(await checkFailures(urls.untrusted)).toEqual([
      expect.objectContaining({
        id: 'cloud.tls',
        code: 'SDR_ERR_TUNNEL_TLS',
        detail: expect.stringContaining('NODE_EXTRA_CA_CERTS'),
      }),
    ]);
  });

  it('wss:// against a plain HTTP server → check the port or use ws://', async () => {
    const line = await tunnelLogFor(urls.plainHttp);
    expect(line.code).toBe('SDR_ERR_TUNNEL_NOT_TLS');
    expect(line.msg).toContain('answered plain HTTP, not TLS');
    expect(await checkFailures(urls.plainHttp)).toEqual([
      expect.objectContaining({ id: 'cloud.tls', code: 'SDR_ERR_TUNNEL_NOT_TLS' }),
    ]);
  });

  it('HTTP 404 on the upgrade → check SDR_CLOUD_URL', async () => {
    const line = await tunnelLogFor(urls.notFound);
    expect(line.code).toBe('SDR_ERR_TUNNEL_ENDPOINT');
    expect(line.msg).toContain('HTTP 404 on the WebSocket upgrade); check SDR_CLOUD_URL');
    const failures = await checkFailures(urls.notFound);
    expect(failures.map((item) => item.id)).toEqual(['cloud.handshake']);
    expect(failures[0]?.detail).toContain('check SDR_CLOUD_URL');
  });

  it('a host that does not resolve → check SDR_CLOUD_URL', async () => {
    const line = await tunnelLogFor(urls.noDns);
    expect(line.code).toBe('SDR_ERR_TUNNEL_ENDPOINT');
    expect(line.msg).toMatch(/the host cloud\.does-not-exist\.invalid does not resolve.*check SDR_CLOUD_URL/);
    expect(await checkFailures(urls.noDns)).toEqual([
      expect.objectContaining({ id: 'cloud.dns', detail: expect.stringContaining('check SDR_CLOUD_URL') }),
    ]);
  });
});
