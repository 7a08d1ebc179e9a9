/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- frames and JSON bodies are inspected loosely here; their schemas are tested in tests/unit. */
/** Test harness for the reference cloud: a temp-dir cloud, an admin API client and a raw-ws fake runtime. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { type Cloud, type CloudOptions, createCloud } from '../../cloud/index.js';
import { type MetadataRecord, PROTOCOL_VERSION, ResultDigest } from '../../protocol/index.js';
import { scaled } from '../support/wait.js';

/** A fresh data directory under the OS temp dir; removed by `removeDir`. */
export async function tempDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'sdr-cloud-test-'));
}

/** Removes a data directory made by `tempDataDir`. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Starts a cloud on a free port without logs. */
export async function startCloud(dataDir: string, options: Partial<CloudOptions> = {}): Promise<Cloud> {
  return createCloud({ dataDir, logger: false, ...options });
}

/** Calls the admin API; returns status and parsed JSON (or text). */
export async function api(
  cloud: Cloud,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = cloud.adminToken,
): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${cloud.url}${path}`, {
    method,
    headers: {
      ...(token !== null && { authorization: `Bearer ${token}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  if ((response.headers.get('content-type') ?? '').includes('application/json')) parsed = JSON.parse(text);
  return { status: response.status, body: parsed, headers: response.headers };
}

/** Registers an agent and returns its id and token. */
export async function registerAgent(
  cloud: Cloud,
  name = 'test-agent',
): Promise<{ agentId: string; token: string }> {
  const response = await api(cloud, 'POST', '/v1/agents', { name });
  if (response.status !== 201) throw new Error(`register failed: ${JSON.stringify(response.body)}`);
  return response.body;
}

/** Submits a job and returns its id. */
export async function submitJob(
  cloud: Cloud,
  agentId: string,
  body: Record<string, unknown> = { connection: 'warehouse' },
): Promise<string> {
  const response = await api(cloud, 'POST', `/v1/agents/${agentId}/jobs`, body);
  if (response.status !== 201) throw new Error(`submit failed: ${JSON.stringify(response.body)}`);
  return response.body.jobId;
}

/** Polls a job until `predicate` holds. */
export async function waitForJob(
  cloud: Cloud,
  jobId: string,
  predicate: (job: any) => boolean,
  timeoutMs = 10_000,
): Promise<any> {
  const deadline = Date.now() + scaled(timeoutMs);
  for (;;) {
    const { body } = await api(cloud, 'GET', `/v1/jobs/${jobId}`);
    if (predicate(body)) return body;
    if (Date.now() > deadline) {
      throw new Error(
        `job ${jobId} never matched within ${scaled(timeoutMs)} ms; last: ${JSON.stringify(body)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Polls until `check` returns true. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + scaled(timeoutMs);
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition never became true within ${scaled(timeoutMs)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Test records: `count` tables under one schema. */
export function makeRecords(count: number, prefix = 't'): MetadataRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    kind: 'table',
    key: `db.public.${prefix}${i}`,
    parent: 'db.public',
    columns: [{ name: 'id', type: 'int8' }],
  }));
}

/** The sha256 a runtime reports for these records. */
export function digestOf(records: readonly MetadataRecord[]): string {
  const digest = new ResultDigest();
  digest.update(records);
  return digest.hex();
}

/** A received frame, with the time it arrived. */
export interface Received {
  frame: any;
  at: number;
}

/** A runtime stand-in over a raw `ws` client: sends whatever a test wants and records what comes back. */
export class FakeRuntime {
  readonly received: Received[] = [];
  private readonly consumed = new Set<number>();
  private waiters: (() => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: WebSocket.RawData) => {
      const text = (Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer)).toString('utf8');
      let frame: unknown;
      try {
        frame = JSON.parse(text);
      } catch {
        frame = { type: '<not json>', text };
      }
      this.received.push({ frame, at: Date.now() });
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString('utf8') });
        for (const wake of this.waiters.splice(0)) wake();
      });
    });
    socket.on('error', () => undefined);
  }

  /** Opens a tunnel with `token`; rejects with the HTTP status when the upgrade is refused. */
  static connect(url: string, token: string): Promise<FakeRuntime> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
      socket.once('open', () => resolve(new FakeRuntime(socket)));
      socket.once('unexpected-response', (_request, response) => {
        reject(Object.assign(new Error(`HTTP ${response.statusCode}`), { status: response.statusCode }));
      });
      socket.once('error', reject);
    });
  }

  /** Connects and completes the hello/welcome handshake; returns the welcome frame. */
  static async connected(url: string, token: string): Promise<{ runtime: FakeRuntime; welcome: any }> {
    const runtime = await FakeRuntime.connect(url, token);
    const welcome = await runtime.hello();
    return { runtime, welcome };
  }

  /** Sends a frame object, or raw text. */
  send(frame: object | string): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends `hello` and waits for `welcome`. */
  async hello(
    protocolVersion = PROTOCOL_VERSION,
    instance: { instanceId?: string; connectionIndex?: number; connections?: number } = {},
  ): Promise<any> {
    this.send({
      type: 'hello',
      protocolVersion,
      runtimeVersion: '0.0.0-test',
      instanceId: instance.instanceId ?? 'i-test',
      connectionIndex: instance.connectionIndex ?? 0,
      connections: instance.connections ?? 1,
      capabilities: { adapters: ['postgres'], delivery: ['tunnel'], maxFrameBytes: 4 * 1024 * 1024 },
    });
    return this.next('welcome');
  }

  /** The first not-yet-consumed frame matching `match` (a type, or a predicate), waiting for it if needed. */
  async next(match: string | ((frame: any) => boolean), timeoutMs = 5000): Promise<any> {
    return (await this.nextReceived(match, timeoutMs)).frame;
  }

  /** Like `next`, with the arrival time. */
  async nextReceived(match: string | ((frame: any) => boolean), timeoutMs = 5000): Promise<Received> {
    const test = typeof match === 'string' ? (frame: any) => frame?.type === match : match;
    const deadline = Date.now() + scaled(timeoutMs);
    for (;;) {
      const index = this.received.findIndex((entry, i) => !this.consumed.has(i) && test(entry.frame));
      if (index >= 0) {
        this.consumed.add(index);
        return this.received[index]!;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.socket.readyState === WebSocket.CLOSED) {
        throw new Error(
          `no frame matching ${typeof match === 'string' ? match : 'predicate'}; got ${JSON.stringify(
            this.received.map((entry) => entry.frame?.type),
          )}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** All received frames of a type (consumed or not). */
  all(type: string): any[] {
    return this.received.map((entry) => entry.frame).filter((frame) => frame?.type === type);
  }

  /** Sends a batch frame. */
  batch(requestId: string, attempt: number, seq: number, records: MetadataRecord[]): void {
    this.send({ type: 'job.batch', requestId, attempt, seq, records });
  }

  /** Sends a job.end frame for `records` (all the attempt's records) in `batches` batches. */
  end(
    requestId: string,
    attempt: number,
    batches: number,
    records: MetadataRecord[],
    warnings: string[] = [],
  ): void {
    this.send({
      type: 'job.end',
      requestId,
      attempt,
      batches,
      records: records.length,
      sha256: digestOf(records),
      warnings,
    });
  }

  /** Closes the socket normally. */
  async close(): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await this.closed;
  }
}
