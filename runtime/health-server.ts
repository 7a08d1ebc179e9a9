import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { Codes } from '../protocol/index.js';

/** A running health server. */
export interface HealthServer {
  /** The address it really listens on (with the port the OS chose when configured with 0). */
  url: string;
  close(): Promise<void>;
}

/** Readiness with the state of each dependency: `"up"`, or `"down: <why>"`. */
export interface Readiness {
  ready: boolean;
  tunnel: string;
  redis: string;
  [dependency: string]: string | boolean;
}

interface Reply {
  status: number;
  body: string;
  type: string;
}

const json = (status: number, value: unknown): Reply => ({
  status,
  body: JSON.stringify(value),
  type: 'application/json; charset=utf-8',
});

/**
 * Liveness, readiness (naming what is down), a JSON status for `sdr status`, and Prometheus metrics on a
 * local port; it serves nothing else. A port in use is `SDR_ERR_HEALTH_PORT_IN_USE`.
 *
 * Four GET routes on node's own HTTP server: a web framework (fastify with its schema compilers) cost the
 * idle daemon about 4 MB of memory for them (bench/README.md, idle memory).
 */
export async function startHealthServer(options: {
  host: string;
  port: number;
  registry: Registry;
  live: () => boolean;
  ready: () => Promise<Readiness>;
  status?: () => Promise<Record<string, unknown>>;
  /** Problems that do not stop the runtime but need an operator (Redis without persistence). */
  warnings?: () => readonly string[];
}): Promise<HealthServer> {
  const routes: Record<string, () => Promise<Reply>> = {
    '/livez': async () => {
      const live = options.live();
      return json(live ? 200 : 503, { live });
    },
    '/readyz': async () => {
      const readiness = await options.ready();
      const warnings = options.warnings?.() ?? [];
      return json(readiness.ready ? 200 : 503, warnings.length > 0 ? { ...readiness, warnings } : readiness);
    },
    '/metrics': async () => ({
      status: 200,
      body: await options.registry.metrics(),
      type: options.registry.contentType,
    }),
  };
  const status = options.status;
  if (status) routes['/status'] = async () => json(200, await status());

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '/').split('?')[0] as string;
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    let reply: Reply;
    if (!route) {
      reply = json(404, {
        error: 'Not Found',
        message: `${request.method ?? 'GET'} ${path} is not a health route`,
      });
    } else if (request.method !== 'GET' && request.method !== 'HEAD') {
      reply = json(405, { error: 'Method Not Allowed', message: `${path} answers GET only` });
    } else {
      try {
        reply = await route();
      } catch (error) {
        reply = json(500, { error: 'Internal Server Error', message: (error as Error).message });
      }
    }
    const body = Buffer.from(reply.body, 'utf8');
    response.writeHead(reply.status, { 'content-type': reply.type, 'content-length': body.length });
    response.end(request.method === 'HEAD' ? undefined : body);
  };

  const server = createServer((request, response) => {
    // A request body is never read: drain it so the connection can be reused.
    request.resume();
    void handle(request, response);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.host, port: options.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Codes.SDR_ERR_HEALTH_PORT_IN_USE(`${options.host}:${options.port}`, { cause });
    }
    throw cause;
  }
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${host}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Probes keep connections alive; a stopping daemon does not wait for them.
        server.closeAllConnections();
      }),
  };
}
