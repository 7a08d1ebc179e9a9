/**
 * The reference control plane: an HTTP API to register agents and submit jobs, and the tunnel endpoint a
 * runtime connects to. Single process, state on local disk; used by tests, benchmarks and the demo.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { type Logger, pino } from 'pino';
import {
  Codes,
  DEFAULT_CREDIT_WINDOW,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_MAX_FRAME_BYTES,
  WELCOME_BOUNDS,
  DEFAULT_RECONCILE_INTERVAL_MS,
} from '../protocol/index.js';
import type { StoreOptions } from '../storage/index.js';
import { writeFileAtomic } from './atomic-file.js';
import { bearerToken, registerApi } from './http-api.js';
import { JobService } from './jobs.js';
import { BucketReaders } from './manifest-reader.js';
import { loadOrCreateSigningKey } from './signing-key.js';
import { CloudStore } from './store.js';
import { Tunnel } from './tunnel.js';
import { UploadGrants } from './uploads.js';

/** Options of `createCloud`; only `dataDir` is required. */
export interface CloudOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Port; default 0 (any free port, see `Cloud.url`). */
  port?: number;
  /** Where keys, agents, jobs and results live; created if missing. */
  dataDir: string;
  /** Bearer token of the admin API; when unset one is generated on first start and kept in `dataDir`. */
  adminToken?: string;
  /** Default 15000. */
  heartbeatIntervalMs?: number;
  /** Time between two reconciliations (`sync.request`) of each connected agent; default 60000. */
  reconcileIntervalMs?: number;
  /** Unacknowledged batches a job may have in flight, announced in `welcome`; default 8. */
  creditWindow?: number;
  /** Largest frame either side accepts; default 4 MiB. */
  maxFrameBytes?: number;
  /** Validity of a job request from each (re)send when the job names no `ttlSeconds`; default 300000. */
  requestTtlMs?: number;
  /** Delay before each `job.ack`, simulating a slow or distant cloud; default 0. */
  ackDelayMs?: number;
  /** PEM certificate and key: serve https and wss instead of http and ws. */
  tls?: { cert: string; key: string };
  /** A pino logger, or false for none; default a pino logger at info on stdout. */
  logger?: Logger | false;
  /** Keep every received frame for `framesFrom` (memory grows with traffic); default true. */
  recordFrames?: boolean;
  /** Bench hook: each frame's text as it arrives, before it is applied (bench/fleet times dispatch with it). */
  onFrame?: (agentId: string, text: string) => void;
  /** Read-only access to customers' buckets for bucket delivery (endpoints and the cloud's own credentials). */
  bucketReaders?: readonly StoreOptions[];
  /** Lifetime of a pre-signed upload URL; default 900000 (15 minutes). */
  uploadUrlTtlMs?: number;
  /** Test hook: runs after `job.end` names a manifest and before the cloud reads it. */
  beforeVerify?: (jobId: string, attempt: number, manifest: string) => Promise<void>;
}

/** A running cloud. */
export interface Cloud {
  /** http(s)://host:port */
  readonly url: string;
  /** ws(s)://host:port/v1/tunnel */
  readonly tunnelUrl: string;
  readonly adminToken: string;
  /** The Ed25519 public key runtimes verify requests with (SDR_CLOUD_PUBLIC_KEY). */
  readonly publicKeyPem: string;
  /** Path of the public key file inside `dataDir`. */
  readonly publicKeyPath: string;
  /** Closes the tunnels and the server and waits for in-flight writes; the data directory stays. */
  close(): Promise<void>;
  /** Test hook: terminates every socket of an agent without a close handshake. */
  dropAgent(agentId: string): void;
  /** Test hook: terminates one socket of an agent (random, or matching `which`); says which. */
  dropConnection(
    agentId: string,
    which?: { instanceId?: string; connectionIndex?: number },
  ): { instanceId: string; connectionIndex: number } | undefined;
  /** Test hook: sends arbitrary text to an agent's socket; false when it is not connected. */
  sendRaw(agentId: string, text: string): boolean;
  /** Test hook: every raw frame text received from an agent, oldest first. */
  framesFrom(agentId: string): string[];
  /** Test hook: changes the delay before each `job.ack` from now on. */
  setAckDelay(ms: number): void;
  /** Test hooks of pre-signed uploads: URL lifetime, failing or slowing the next PUTs. */
  readonly uploads: Pick<UploadGrants, 'failNext' | 'failStatus' | 'delayMs'> & { ttlMs: number };
}

async function loadOrCreateAdminToken(dataDir: string): Promise<string> {
  const path = join(dataDir, 'admin-token');
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (token.length > 0) return token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = randomBytes(32).toString('base64url');
  await writeFileAtomic(path, `${token}\n`, 0o600);
  return token;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Starts a cloud listening on `host:port` with its state in `dataDir`. */
export async function createCloud(options: CloudOptions): Promise<Cloud> {
  const settings = {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    reconcileIntervalMs: options.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS,
    creditWindow: options.creditWindow ?? DEFAULT_CREDIT_WINDOW,
    maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    requestTtlMs: options.requestTtlMs ?? 300_000,
    recordFrames: options.recordFrames ?? true,
    ...(options.onFrame ? { onFrame: options.onFrame } : {}),
  };
  // The runtime clamps `welcome` numbers into WELCOME_BOUNDS: refuse here what it would not take as sent.
  const outside = (name: keyof typeof WELCOME_BOUNDS): string | false => {
    const { min, max } = WELCOME_BOUNDS[name];
    return (settings[name] < min || settings[name] > max) && `${name} must be between ${min} and ${max}`;
  };
  const problems = [
    outside('heartbeatIntervalMs'),
    outside('creditWindow'),
    outside('maxFrameBytes'),
    settings.reconcileIntervalMs < 100 && 'reconcileIntervalMs must be at least 100',
    (options.ackDelayMs ?? 0) < 0 && 'ackDelayMs must not be negative',
  ].filter((problem): problem is string => typeof problem === 'string');
  if (problems.length > 0) throw new Codes.SDR_ERR_CONFIG_INVALID(problems.join('; '));
  let ackDelayMs = options.ackDelayMs ?? 0;
  const log =
    options.logger === false
      ? pino({ level: 'silent' })
      : (options.logger ?? pino({ name: 'sdr-cloud', level: 'info' }));

  await mkdir(options.dataDir, { recursive: true });
  const signingKey = await loadOrCreateSigningKey(options.dataDir);
  const adminToken = options.adminToken ?? (await loadOrCreateAdminToken(options.dataDir));
  const store = await CloudStore.open(options.dataDir, (message, error) =>
    log.error({ err: error }, message),
  );

  // The tunnel and the job logic refer to each other; the job logic only needs the tunnel once it runs.
  const tunnelRef: { current?: Tunnel } = {};
  const baseUrlRef = { current: '' };
  const uploadTtl = { ms: options.uploadUrlTtlMs ?? 900_000 };
  const uploads = new UploadGrants(
    options.dataDir,
    () => baseUrlRef.current,
    () => uploadTtl.ms,
  );
  const jobs = new JobService({
    store,
    privateKey: signingKey.privateKey,
    requestTtlMs: settings.requestTtlMs,
    maxFrameBytes: settings.maxFrameBytes,
    creditWindow: settings.creditWindow,
    ackDelayMs: () => ackDelayMs,
    linkFor: (agentId, load, exclude) => tunnelRef.current?.linkFor(agentId, load, exclude),
    log,
    uploads,
    bucketReaders: new BucketReaders(options.bucketReaders ?? []),
    ...(options.beforeVerify && { beforeVerify: options.beforeVerify }),
  });
  const liveTunnel = new Tunnel(jobs, settings, log);
  tunnelRef.current = liveTunnel;

  const app = Fastify({
    loggerInstance: log,
    // Per-request lines would drown the tunnel's own log at info; the API logs what it changes.
    logController: new LogController({ disableRequestLogging: true }),
    ...(options.tls && { https: { cert: options.tls.cert, key: options.tls.key } }),
  }) as unknown as FastifyInstance;

  // As the runtime does (docs/protocol.md): a frame up to twice the limit is read and refused with an error
  // frame, so the link survives a slightly oversize batch; anything larger closes the socket (1009)
  // before it is buffered.
  await app.register(websocket, { options: { maxPayload: settings.maxFrameBytes * 2 } });
  const agentOfUpgrade = new WeakMap<object, string>();
  app.route({
    method: 'GET',
    url: '/v1/tunnel',
    // Runs before the upgrade: an unknown token gets a plain HTTP 401 the runtime can act on.
    preValidation: async (request) => {
      const token = bearerToken(request);
      const agent = token === undefined ? undefined : store.agentByToken(token);
      if (!agent) {
        log.warn({ ip: request.ip }, 'tunnel refused: unknown agent token');
        throw new Codes.SDR_ERR_CLOUD_UNAUTHORIZED('unknown agent token');
      }
      agentOfUpgrade.set(request.raw, agent.agentId);
    },
    // A plain GET (no upgrade) is a misconfigured client, e.g. a proxy that strips the Upgrade header.
    handler: async (_request, reply) => {
      const error = new Codes.SDR_ERR_CLOUD_BAD_REQUEST('this endpoint only accepts WebSocket upgrades');
      return reply
        .code(426)
        .header('upgrade', 'websocket')
        .send({ error: { code: error.code, message: error.message } });
    },
    wsHandler: (socket, request) => {
      const agentId = agentOfUpgrade.get(request.raw);
      if (agentId === undefined) {
        socket.close(1008, 'unauthenticated');
        return;
      }
      liveTunnel.accept(agentId, socket, request.raw.socket);
    },
  });
  registerApi(app, {
    store,
    jobs,
    tunnel: liveTunnel,
    adminToken,
    publicKeyPem: signingKey.publicKeyPem,
    uploads,
  });

  await app.listen({ host: settings.host, port: settings.port });
  const address = app.server.address() as AddressInfo;
  const origin = `${formatHost(settings.host)}:${address.port}`;
  const secure = options.tls !== undefined;
  baseUrlRef.current = `${secure ? 'https' : 'http'}://${origin}`;

  let closing: Promise<void> | undefined;
  return {
    url: `${secure ? 'https' : 'http'}://${origin}`,
    tunnelUrl: `${secure ? 'wss' : 'ws'}://${origin}/v1/tunnel`,
    adminToken,
    publicKeyPem: signingKey.publicKeyPem,
    publicKeyPath: signingKey.publicKeyPath,
    close: () =>
      (closing ??= (async () => {
        await liveTunnel.closeAll();
        await app.close();
        await jobs.close();
      })()),
    dropAgent: (agentId) => liveTunnel.drop(agentId),
    dropConnection: (agentId, which) => liveTunnel.dropConnection(agentId, which),
    sendRaw: (agentId, text) => liveTunnel.sendRaw(agentId, text),
    framesFrom: (agentId) => liveTunnel.framesFrom(agentId),
    setAckDelay: (ms) => {
      ackDelayMs = ms;
    },
    uploads: {
      get failNext() {
        return uploads.failNext;
      },
      set failNext(count: number) {
        uploads.failNext = count;
      },
      get failStatus() {
        return uploads.failStatus;
      },
      set failStatus(status: number) {
        uploads.failStatus = status;
      },
      get delayMs() {
        return uploads.delayMs;
      },
      set delayMs(ms: number) {
        uploads.delayMs = ms;
      },
      get ttlMs() {
        return uploadTtl.ms;
      },
      set ttlMs(ms: number) {
        uploadTtl.ms = ms;
      },
    },
  };
}
