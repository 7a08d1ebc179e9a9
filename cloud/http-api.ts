import { createHash, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { Codes, SdrError } from '../protocol/index.js';
import type { JobService } from './jobs.js';
import type { CloudStore } from './store.js';
import type { Tunnel } from './tunnel.js';
import type { UploadGrants } from './uploads.js';

/** What the routes need. */
export interface ApiContext {
  store: CloudStore;
  jobs: JobService;
  tunnel: Tunnel;
  adminToken: string;
  publicKeyPem: string;
  uploads: UploadGrants;
}

const agentBody = z.object({ name: z.string().trim().min(1).max(200) });
const jobBody = z.object({
  connection: z.string().min(1).max(200),
  delivery: z.object({ mode: z.enum(['tunnel', 'bucket', 'presigned', 'default']) }).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
  ttlSeconds: z
    .number()
    .int()
    .positive()
    .max(7 * 24 * 3600)
    .optional(),
});
const jobsQuery = z.object({ agentId: z.string().min(1).optional() });

const HTTP_STATUS: Record<string, number> = {
  [Codes.SDR_ERR_CLOUD_UNAUTHORIZED.code]: 401,
  [Codes.SDR_ERR_CLOUD_BAD_REQUEST.code]: 400,
  [Codes.SDR_ERR_CLOUD_NOT_FOUND.code]: 404,
  [Codes.SDR_ERR_CLOUD_NOT_COMMITTED.code]: 409,
  [Codes.SDR_ERR_CLOUD_JOB_FINISHED.code]: 409,
  [Codes.SDR_ERR_FRAME_TOO_LARGE.code]: 413,
  [Codes.SDR_ERR_CLOUD_UPLOAD_REFUSED.code]: 403,
};

function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue && issue.path.length > 0 ? `${where}.${issue.path.join('.')}` : where;
  throw new Codes.SDR_ERR_CLOUD_BAD_REQUEST(`${path}: ${issue?.message ?? 'invalid'}`);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The bearer token of a request, or undefined. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Registers the HTTP API (everything except the tunnel) and the JSON error format. */
export function registerApi(app: FastifyInstance, context: ApiContext): void {
  const { store, jobs, tunnel } = context;
  const adminDigest = digest(context.adminToken);

  app.setErrorHandler((error: unknown, request, reply) => {
    if (error instanceof SdrError) {
      const status = HTTP_STATUS[error.code] ?? 500;
      if (status >= 500) request.log.error({ err: error }, 'request failed');
      return reply.code(status).send({ error: { code: error.code, message: error.message } });
    }
    const statusCode = (error as { statusCode?: number }).statusCode;
    if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
      // Fastify's own client errors (unparseable JSON, body too large, wrong content type).
      const wrapped = new Codes.SDR_ERR_CLOUD_BAD_REQUEST((error as Error).message);
      return reply.code(statusCode).send({ error: { code: wrapped.code, message: wrapped.message } });
    }
    request.log.error({ err: error }, 'request failed');
    const internal = new Codes.SDR_ERR_CLOUD_INTERNAL();
    return reply.code(500).send({ error: { code: internal.code, message: internal.message } });
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new Codes.SDR_ERR_CLOUD_NOT_FOUND('route', `${request.method} ${request.url}`);
    return reply.code(404).send({ error: { code: error.code, message: error.message } });
  });

  // Constant-time on a digest, so neither content nor length of the admin token leaks through timing.
  const requireAdmin = async (request: FastifyRequest, _reply: FastifyReply) => {
    const token = bearerToken(request);
    if (token === undefined || !timingSafeEqual(digest(token), adminDigest)) {
      throw new Codes.SDR_ERR_CLOUD_UNAUTHORIZED('missing or wrong admin token');
    }
  };

  const jobOr404 = (id: string) => {
    const job = store.jobs.get(id);
    if (!job) throw new Codes.SDR_ERR_CLOUD_NOT_FOUND('job', id);
    return job;
  };

  app.get('/livez', async () => ({ ok: true }));

  // Pre-signed uploads: the URL's signature is the only credential, and the body is stored as sent.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: 1024 * 1024 * 1024 },
      (_request, body, done) => done(null, body),
    );
    scope.put<{
      Params: { jobId: string; attempt: string; name: string };
      Querystring: { expires?: string; sig?: string };
    }>('/v1/uploads/:jobId/:attempt/:name', async (request, reply) => {
      const { uploads } = context;
      if (uploads.failNext > 0) {
        uploads.failNext -= 1;
        return reply
          .code(uploads.failStatus)
          .send({ error: { code: 'TEST_FAULT', message: 'injected failure' } });
      }
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      await uploads.store(
        { ...request.params, expires: request.query.expires ?? '', sig: request.query.sig ?? '' },
        body,
      );
      return reply.code(201).send({ stored: request.params.name, bytes: body.length });
    });
  });

  app.get('/v1/public-key', async () => ({ publicKey: context.publicKeyPem }));

  app.post('/v1/agents', { preHandler: requireAdmin }, async (request, reply) => {
    const { name } = parse(agentBody, request.body, 'body');
    const { agent, token } = await store.addAgent(name);
    request.log.info({ agentId: agent.agentId, name }, 'agent registered');
    return reply.code(201).send({ agentId: agent.agentId, name: agent.name, token });
  });

  app.get('/v1/agents', { preHandler: requireAdmin }, async () =>
    [...store.agents.values()].map((agent) => {
      const status = tunnel.statusOf(agent.agentId);
      return {
        agentId: agent.agentId,
        name: agent.name,
        createdAt: agent.createdAt,
        ...status,
      };
    }),
  );

  app.get<{ Params: { agentId: string } }>(
    '/v1/agents/:agentId',
    { preHandler: requireAdmin },
    async (request) => {
      const agent = store.agents.get(request.params.agentId);
      if (!agent) throw new Codes.SDR_ERR_CLOUD_NOT_FOUND('agent', request.params.agentId);
      return {
        agentId: agent.agentId,
        name: agent.name,
        createdAt: agent.createdAt,
        ...tunnel.statusOf(agent.agentId),
      };
    },
  );

  app.get<{ Params: { agentId: string } }>(
    '/v1/agents/:agentId/logs',
    { preHandler: requireAdmin },
    async (request) => {
      const agent = store.agents.get(request.params.agentId);
      if (!agent) throw new Codes.SDR_ERR_CLOUD_NOT_FOUND('agent', request.params.agentId);
      return tunnel.logsOf(agent.agentId);
    },
  );

  app.post<{ Params: { agentId: string } }>(
    '/v1/agents/:agentId/jobs',
    { preHandler: requireAdmin },
    async (request, reply) => {
      const { agentId } = request.params;
      if (!store.agents.has(agentId)) throw new Codes.SDR_ERR_CLOUD_NOT_FOUND('agent', agentId);
      const body = parse(jobBody, request.body, 'body');
      let job;
      try {
        job = await jobs.create(
          agentId,
          body.connection,
          body.options ?? {},
          body.ttlSeconds,
          body.delivery?.mode,
        );
      } catch (error) {
        if (error instanceof SdrError && error.code === Codes.SDR_ERR_FRAME_TOO_LARGE.code) {
          throw new Codes.SDR_ERR_CLOUD_BAD_REQUEST(`options too large for one frame: ${error.message}`, {
            cause: error,
          });
        }
        throw error;
      }
      request.log.info({ jobId: job.jobId, agentId, state: job.state }, 'job created');
      return reply.code(201).send({ jobId: job.jobId, state: job.state });
    },
  );

  app.get<{ Querystring: { agentId?: string } }>(
    '/v1/jobs',
    { preHandler: requireAdmin },
    async (request) => {
      const { agentId } = parse(jobsQuery, request.query, 'query');
      return [...store.jobs.values()]
        .filter((job) => agentId === undefined || job.agentId === agentId)
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
        .map((job) => jobs.view(job));
    },
  );

  app.get<{ Params: { id: string } }>('/v1/jobs/:id', { preHandler: requireAdmin }, async (request) =>
    jobs.view(jobOr404(request.params.id)),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id/result',
    { preHandler: requireAdmin },
    async (request, reply) => {
      const job = jobOr404(request.params.id);
      const view = jobs.view(job);
      if (job.state !== 'committed' || !view.result) {
        throw new Codes.SDR_ERR_CLOUD_NOT_COMMITTED(job.jobId, job.state);
      }
      return reply
        .type('application/x-ndjson')
        .header('x-sdr-sha256', view.result.sha256)
        .header('x-sdr-records', String(view.result.records))
        .send(createReadStream(view.result.path));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/jobs/:id/cancel',
    { preHandler: requireAdmin },
    async (request) => {
      const job = await jobs.cancel(request.params.id);
      request.log.info({ jobId: job.jobId, state: job.state }, 'job cancel requested');
      return jobs.view(job);
    },
  );
}
