import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeProcess } from '../../scripts/runtime-process.js';
import { peers } from '../peers/endpoints.js';
import { PgFixture } from '../support/pg-fixture.js';
import { ScriptedCloud } from '../support/scripted-cloud.js';

const WINDOW = 3;
let fixture: PgFixture;
let cloud: ScriptedCloud | undefined;
let runtime: RuntimeProcess | undefined;

beforeAll(async () => {
  fixture = await PgFixture.create('sdr_flow', 40);
});
afterAll(async () => {
  await fixture.drop();
});
afterEach(async () => {
  await runtime?.stop('SIGKILL');
  await cloud?.close();
  runtime = cloud = undefined;
});

type Batch = { seq: number; attempt: number; records: Record<string, unknown>[] };

async function start(env: Record<string, string> = {}) {
  cloud = await ScriptedCloud.start({ creditWindow: WINDOW });
  const file = join(mkdtempSync(join(tmpdir(), 'sdr-flow-')), 'connections.yaml');
  writeFileSync(file, fixture.connectionYaml());
  runtime = new RuntimeProcess({
    SDR_CLOUD_URL: cloud.url,
    SDR_ALLOW_INSECURE_TUNNEL: 'true',
    SDR_AGENT_TOKEN: cloud.token,
    SDR_CLOUD_PUBLIC_KEY: cloud.publicKeyPem,
    SDR_CONNECTIONS_FILE: file,
    SDR_REDIS_URL: peers.redisUrl,
    SDR_QUEUE_NAME: `flow-${process.pid}-${Date.now()}`,
    SDR_HEALTH_PORT: '0',
    SDR_BATCH_MAX_RECORDS: '5',
    SDR_RECONNECT_BASE_MS: '50',
    SDR_RECONNECT_MAX_MS: '200',
    ...fixture.secretEnv,
    ...env,
  }).start();
  const c = cloud;
  await runtime.waitForMessage('tunnel up');
  return { cloud: c, runtime };
}

const batchesOf = (c: ScriptedCloud, requestId: string) =>
  c.framesOf('job.batch', requestId) as unknown as Batch[];
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Acks every batch as it arrives until job.end, then commits; returns the end frame. */
async function ackToEnd(c: ScriptedCloud, requestId: string, from: number) {
  let acked = from;
  await c.until(
    () => {
      const batches = batchesOf(c, requestId);
      const top = Math.max(...batches.map((b) => b.seq));
      if (top > acked) {
        acked = top;
        c.send({ type: 'job.ack', requestId, attempt: 1, seq: top });
      }
      return c.framesOf('job.end', requestId).length > 0;
    },
    'job.end',
    60_000,
  );
  return c.framesOf('job.end', requestId)[0] as unknown as {
    records: number;
    batches: number;
    sha256: string;
  };
}

describe('credit-based flow control', () => {
  it('keeps at most the window unacknowledged, resumes on each ack, and ends with a verifiable checksum', async () => {
    const { cloud, runtime } = await start();
    const request = cloud.request();
    cloud.send({ type: 'job.request', request });
    await cloud.until(() => batchesOf(cloud, request.requestId).length === WINDOW, 'a full window');
    await settle(1_000);
    expect(batchesOf(cloud, request.requestId)).toHaveLength(WINDOW);

    cloud.send({ type: 'job.ack', requestId: request.requestId, attempt: 1, seq: 0 });
    await cloud.until(() => batchesOf(cloud, request.requestId).length === WINDOW + 1, 'one more batch');
    await settle(500);
    expect(batchesOf(cloud, request.requestId)).toHaveLength(WINDOW + 1);

    const end = await ackToEnd(cloud, request.requestId, 0);
    const batches = batchesOf(cloud, request.requestId);
    expect(batches.map((b) => b.seq)).toEqual(batches.map((_, i) => i));
    const lines = batches.flatMap((b) => b.records.map((r) => `${JSON.stringify(r)}\n`));
    expect(end).toMatchObject({ batches: batches.length, records: lines.length });
    expect(end.sha256).toBe(createHash('sha256').update(lines.join('')).digest('hex'));
    expect(lines.length).toBeGreaterThan(200);
    expect(Math.max(...batches.map((b) => b.records.length))).toBeLessThanOrEqual(5);

    cloud.send({ type: 'job.committed', requestId: request.requestId, attempt: 1, records: end.records });
    await runtime.waitForMessage('committed by the cloud');
  });

  it('resends unacknowledged batches in order after a reconnect', async () => {
    const { cloud, runtime } = await start();
    const request = cloud.request();
    cloud.send({ type: 'job.request', request });
    await cloud.until(() => batchesOf(cloud, request.requestId).length === WINDOW, 'a full window');
    cloud.send({ type: 'job.ack', requestId: request.requestId, attempt: 1, seq: 0 });
    await cloud.until(() => batchesOf(cloud, request.requestId).length === WINDOW + 1, 'one more batch');
    const before = cloud.received.length;
    cloud.socket.terminate();
    await cloud.until(() => cloud.framesOf('hello').length === 2, 'a reconnect');
    await cloud.until(
      () => cloud.received.slice(before).filter((f) => f.type === 'job.batch').length === WINDOW,
      'resends',
    );
    const resent = cloud.received.slice(before).filter((f) => f.type === 'job.batch') as unknown as Batch[];
    expect(resent.map((b) => b.seq)).toEqual([1, 2, 3]);
    const end = await ackToEnd(cloud, request.requestId, 0);
    cloud.send({ type: 'job.committed', requestId: request.requestId, attempt: 1, records: end.records });
    await runtime.waitForMessage('committed by the cloud');
  });
});

describe('job requests', () => {
  it('runs a re-sent request once and answers it as a duplicate', async () => {
    const { cloud } = await start();
    const request = cloud.request();
    cloud.send({ type: 'job.request', request });
    cloud.send({ type: 'job.request', request });
    await cloud.until(() => cloud.framesOf('job.accepted', request.requestId).length === 2, 'two answers');
    expect(cloud.framesOf('job.accepted', request.requestId).map((f) => f.duplicate)).toEqual([false, true]);
    await ackToEnd(cloud, request.requestId, -1);
    cloud.send({ type: 'job.request', request });
    await cloud.until(() => cloud.framesOf('job.accepted', request.requestId).length === 3, 'a third answer');
    expect(
      cloud.framesOf('job.progress', request.requestId).filter((f) => f.phase === 'started'),
    ).toHaveLength(1);
    expect(new Set(batchesOf(cloud, request.requestId).map((b) => b.attempt))).toEqual(new Set([1]));
  });

  it('cancels a running job, a queued job, and says when there is nothing to cancel', async () => {
    const { cloud } = await start({ SDR_CONCURRENCY: '1' });
    const running = cloud.request();
    const queued = cloud.request();
    cloud.send({ type: 'job.request', request: running });
    await cloud.until(
      () => batchesOf(cloud, running.requestId).length === WINDOW,
      'the first job paused on credit',
    );
    cloud.send({ type: 'job.request', request: queued });
    await cloud.until(
      () => cloud.framesOf('job.accepted', queued.requestId).length === 1,
      'the second job queued',
    );

    cloud.send({ type: 'job.cancel', requestId: queued.requestId });
    await cloud.until(() => cloud.framesOf('job.cancelled', queued.requestId).length === 1, 'queued cancel');
    expect(cloud.framesOf('job.cancelled', queued.requestId)[0]).toMatchObject({ wasRunning: false });

    cloud.send({ type: 'job.cancel', requestId: running.requestId });
    await cloud.until(
      () => cloud.framesOf('job.cancelled', running.requestId).length === 1,
      'running cancel',
    );
    expect(cloud.framesOf('job.cancelled', running.requestId)[0]).toMatchObject({ wasRunning: true });

    cloud.send({ type: 'job.cancel', requestId: 'never-seen' });
    await cloud.until(() => cloud.framesOf('error').length === 1, 'an error');
    expect(cloud.framesOf('error')[0]).toMatchObject({
      code: 'SDR_ERR_JOB_NOT_FOUND',
      inReplyTo: 'job.cancel',
      requestId: 'never-seen',
    });
    await settle(500);
    expect(cloud.framesOf('job.progress', queued.requestId)).toHaveLength(0);
    expect(cloud.framesOf('job.failed')).toHaveLength(0);
  });
});
