import Fastify from 'fastify';
import type { Registry } from 'prom-client';

/** A running health server. */
export interface HealthServer {
  url: string;
  close(): Promise<void>;
}

/** Liveness, readiness and Prometheus metrics on a local port; it serves nothing else. */
export async function startHealthServer(options: {
  host: string;
  port: number;
  registry: Registry;
  live: () => boolean;
  ready: () => Promise<boolean>;
  /** Problems that do not stop the runtime but need an operator (Redis without persistence). */
  warnings?: () => readonly string[];
}): Promise<HealthServer> {
  const app = Fastify({ logger: false });
  app.get('/livez', async (_request, reply) => {
    const live = options.live();
    return reply.code(live ? 200 : 503).send({ live });
  });
  app.get('/readyz', async (_request, reply) => {
    const ready = await options.ready();
    const warnings = options.warnings?.() ?? [];
    return reply.code(ready ? 200 : 503).send(warnings.length > 0 ? { ready, warnings } : { ready });
  });
  app.get('/metrics', async (_request, reply) => {
    const body = await options.registry.metrics();
    return reply.type(options.registry.contentType).send(body);
  });
  const address = await app.listen({ host: options.host, port: options.port });
  return { url: address, close: () => app.close() };
}
