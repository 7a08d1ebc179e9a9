import Fastify from 'fastify';
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

/**
 * Liveness, readiness (naming what is down), a JSON status for `sdr status`, and Prometheus metrics on a
 * local port; it serves nothing else. A port in use is `SDR_ERR_HEALTH_PORT_IN_USE`.
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
  const app = Fastify({ logger: false });
  app.get('/livez', async (_request, reply) => {
    const live = options.live();
    return reply.code(live ? 200 : 503).send({ live });
  });
  app.get('/readyz', async (_request, reply) => {
    const readiness = await options.ready();
    const warnings = options.warnings?.() ?? [];
    return reply
      .code(readiness.ready ? 200 : 503)
      .send(warnings.length > 0 ? { ...readiness, warnings } : readiness);
  });
  const status = options.status;
  if (status) app.get('/status', async () => await status());
  app.get('/metrics', async (_request, reply) => {
    const body = await options.registry.metrics();
    return reply.type(options.registry.contentType).send(body);
  });
  let address: string;
  try {
    address = await app.listen({ host: options.host, port: options.port });
  } catch (cause) {
    await app.close();
    if ((cause as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Codes.SDR_ERR_HEALTH_PORT_IN_USE(`${options.host}:${options.port}`, { cause });
    }
    throw cause;
  }
  return { url: address, close: () => app.close() };
}
