import { readFileSync } from 'node:fs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeProcess } from '../../scripts/runtime-process.js';
import { peers } from '../peers/endpoints.js';
import { PgFixture } from '../support/pg-fixture.js';
import { ScriptedCloud } from '../support/scripted-cloud.js';

/**
 * Issue 14: a hostile cloud (holding the signing key, or only the agent token), and a Redis writer, against
 * a real runtime process, real Redis, PostgreSQL and Kafka. Every test ends with the process alive and no
 * unhandled rejection logged.
 */

let fixture: PgFixture;
let cloud: ScriptedCloud | undefined;
let runtime: RuntimeProcess | undefined;
const queues: string[] = [];

beforeAll(async () => {
  fixture = await PgFixture.create('sdr_hostile', 3);
});
afterAll(async () => {
  await fixture.drop();
  const redis = new Redis(peers.redisUrl);
  for (const queue of queues) {
    const keys = await redis.keys(`bull:${queue}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});
afterEach(async () => {
  if (runtime) {
    // 0 crashes, 0 unhandled rejections, whatever the test threw at it.
    const pid = runtime.pid;
    const alive =
      pid !== undefined &&
      (() => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      })();
    const unhandled = runtime.lines.filter((line) => String(line.msg).includes('unhandled'));
    await runtime.stop('SIGKILL');
    expect(alive).toBe(true);
    expect(unhandled).toEqual([]);
  }
  await cloud?.close();
  runtime = cloud = undefined;
});

function connectionsFile(extra = ''): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sdr-hostile-')), 'connections.yaml');
  const kafka = [
    '  - name: kafka',
    '    type: kafka',
    `    options: { bootstrapServers: ["${peers.kafka.plaintext}"], securityProtocol: PLAINTEXT, allowPlaintext: true }`,
    '',
  ].join('\n');
  writeFileSync(file, `${fixture.connectionYaml()}${extra}${kafka}`);
  return file;
}

async function start(
  env: Record<string, string> = {},
  welcome: Parameters<typeof ScriptedCloud.start>[0] = {},
) {
  cloud = await ScriptedCloud.start(welcome);
  const queueName = `hostile-${process.pid}-${Date.now()}`;
  queues.push(queueName);
  runtime = new RuntimeProcess({
    SDR_CLOUD_URL: cloud.url,
    SDR_ALLOW_INSECURE_TUNNEL: 'true',
    SDR_AGENT_TOKEN: cloud.token,
    SDR_CLOUD_PUBLIC_KEY: cloud.publicKeyPem,
    SDR_CONNECTIONS_FILE: connectionsFile(),
    SDR_REDIS_URL: peers.redisUrl,
    SDR_QUEUE_NAME: queueName,
    SDR_HEALTH_PORT: '0',
    SDR_RECONNECT_BASE_MS: '50',
    SDR_RECONNECT_MAX_MS: '200',
    SDR_JOB_BACKOFF_MS: '100',
    ...fixture.secretEnv,
    ...env,
  }).start();
  const c = cloud;
  const r = runtime;
  await r.waitForMessage('tunnel up', 120_000);
  const health = String((await r.waitForMessage('health server listening')).url);
  return { cloud: c, runtime: r, health, queueName };
}

/**
 * The longest event-loop delay any scrape reported since a test set it to 0. Every scrape resets the
 * runtime's own maximum, so a test that polls /metrics while it waits keeps the largest one here.
 */
let loopMaxSeen = 0;

async function metrics(health: string): Promise<string> {
  const response = await fetch(`${health}/metrics`);
  const text = await response.text();
  loopMaxSeen = Math.max(loopMaxSeen, metric(text, 'sdr_event_loop_delay_max_seconds'));
  return text;
}

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/**
 * The event-loop budget: 100 ms on a machine with a core to spare. monitorEventLoopDelay measures wall-clock
 * time, so on a machine loaded beyond its cores the runtime gets a share of a core and every tick stretches by
 * load / cores; the budget scales with that share and is exactly 100 ms in CI.
 */
function loopBudgetSeconds(): number {
  return 0.1 * Math.max(1, loadavg()[0]! / cpus().length);
}

function rssBytes(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const rejection = (c: ScriptedCloud, requestId: string) =>
  c.framesOf('job.rejected', requestId)[0] as { code: string; message: string } | undefined;

// Each test starts a real runtime process (tsx), which takes long on a loaded machine.
describe('hostile cloud', { timeout: 300_000 }, () => {
  it('refuses malformed, out-of-window, oversized and over-the-limit requests with the right code (finding 6, 8)', async () => {
    const { cloud } = await start();
    const cases: [string, Record<string, unknown>, string][] = [
      ['carrier', { delivery: { mode: 'carrier-pigeon' } }, 'SDR_ERR_UNSUPPORTED_DELIVERY'],
      ['future', { issuedAt: new Date(Date.now() + 3_600_000).toISOString() }, 'SDR_ERR_REQUEST_WINDOW'],
      ['far', { expiresAt: new Date(Date.now() + 30 * 86_400_000).toISOString() }, 'SDR_ERR_REQUEST_WINDOW'],
      [
        'many',
        { options: { schemas: { include: Array.from({ length: 101 }, (_, i) => `s${i}`) } } },
        'SDR_ERR_INVALID_OPTIONS',
      ],
      ['bodies', { options: { includeFunctionBodies: true } }, 'SDR_ERR_INVALID_OPTIONS'],
      ['otherdb', { options: { databases: { include: ['postgres'] } } }, 'SDR_ERR_INVALID_OPTIONS'],
      [
        'huge',
        { options: { schemas: { include: Array.from({ length: 3 }, () => `/${'('.repeat(1_300_000)}/`) } } },
        'SDR_ERR_INVALID_OPTIONS',
      ],
    ];
    for (const [label, overrides, _code] of cases) {
      cloud.send({
        type: 'job.request',
        request: cloud.request({ requestId: `req-${label}`, ...overrides }),
      });
    }
    await cloud.until(() => cases.every(([label]) => rejection(cloud, `req-${label}`)), 'every rejection');
    for (const [label, , code] of cases) {
      const frame = rejection(cloud, `req-${label}`);
      expect(frame?.code, label).toBe(code);
      // A hostile request's text never makes the answer too large to send.
      expect(frame?.message.length, label).toBeLessThanOrEqual(4_000);
    }
    // requestId "123" (BullMQ refuses integer ids) is a malformed frame, not a queue failure.
    cloud.send({ type: 'job.request', request: cloud.request({ requestId: '123' }) });
    await cloud.until(
      () => cloud.framesOf('error').some((f) => f.requestId === '123'),
      'the malformed answer',
    );
    expect(cloud.framesOf('error').find((f) => f.requestId === '123')).toMatchObject({
      code: 'SDR_ERR_FRAME_MALFORMED',
    });
    expect(cloud.framesOf('job.rejected', '123')).toEqual([]);
    expect(cloud.framesOf('job.accepted')).toEqual([]);
  });

  it('survives a flood and 400 welcomes: one welcome, bounded logs, flat memory, a live event loop (findings 2, 3, 8)', async () => {
    const { cloud, runtime, health } = await start({}, { heartbeatIntervalMs: 1_000 });
    const pid = runtime.pid as number;
    await metrics(health); // resets the event-loop maximum: measure from here
    loopMaxSeen = 0;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const rssBefore = rssBytes(pid);

    // 400 welcomes while the cloud reads nothing, claiming absurd numbers.
    cloud.stopReading();
    const welcome = JSON.stringify({
      type: 'welcome',
      protocolVersion: 2,
      agentId: cloud.agentId,
      connectionId: 'c-hostile',
      heartbeatIntervalMs: 3e9,
      creditWindow: 2 ** 31,
      maxFrameBytes: 4 * 1024 * 1024,
    });
    for (let i = 0; i < 400; i += 1) cloud.send(welcome);
    await eventually(
      async () => metric(await metrics(health), 'sdr_tunnel_welcomes_refused_total') >= 400,
      '400 refused welcomes',
    );
    cloud.resumeReading();

    // 30 000 bad frames. (Answers are awaited through a listener: scanning every received frame per frame
    // would make the test, not the runtime, quadratic.)
    let answered = false;
    cloud.listeners.push((frame) => {
      if (frame.type === 'job.rejected' && frame.requestId === 'req-after-flood') answered = true;
    });
    const bad = [
      'not json',
      '{"type":"job.explode"}',
      '{"type":"job.ack","requestId":"r","attempt":1,"seq":"x"}',
    ];
    for (let i = 0; i < 30_000; i += 1) cloud.send(bad[i % bad.length] as string);
    const marker = cloud.request({ requestId: 'req-after-flood', connection: 'nope' });
    cloud.send({ type: 'job.request', request: marker });
    await eventually(() => answered, 'an answer after the flood', 240_000);

    const text = await metrics(health);
    // Through the welcomes too, which the polling above scraped (and so reset) many times.
    const loopMaxSeconds = loopMaxSeen;
    const rssAfter = rssBytes(pid);
    console.log(
      `flood: event-loop max ${(loopMaxSeconds * 1000).toFixed(1)} ms (budget ${(loopBudgetSeconds() * 1000).toFixed(0)} ms); RSS ${(rssBefore / 2 ** 20).toFixed(1)} → ${(rssAfter / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(metric(text, 'sdr_tunnel_welcomes_refused_total')).toBe(400);
    expect(metric(text, 'sdr_frames_refused_total', 'code="SDR_ERR_FRAME_MALFORMED"')).toBeGreaterThanOrEqual(
      20_000,
    );
    // One connection, still up; one heartbeat timer (the welcome numbers were never adopted).
    expect(cloud.connections).toHaveLength(1);
    expect(metric(text, 'sdr_tunnel_up')).toBe(1);
    expect(
      runtime.lines.filter((l) => String(l.msg).startsWith('refused a frame')).length,
    ).toBeLessThanOrEqual(20);
    expect(rssAfter - rssBefore).toBeLessThan(20 * 2 ** 20);
    expect(loopMaxSeconds).toBeLessThan(loopBudgetSeconds());
    expect((await fetch(`${health}/livez`)).status).toBe(200);
  });

  it('crawls with a hostile glob without freezing: /livez answers, the event loop stays live (finding 1)', async () => {
    const { cloud, health } = await start();
    cloud.autoAck();
    // A first, benign run loads and warms the Kafka client, so the measurement below is the glob's alone.
    const warmUp = cloud.request({
      connection: 'kafka',
      options: { topics: { include: ['warm-up-*'] }, groups: { include: [] }, schemaRegistry: false },
    });
    cloud.send({ type: 'job.request', request: warmUp });
    await cloud.until(
      () => cloud.framesOf('job.end', warmUp.requestId).length > 0,
      'the warm-up job',
      120_000,
    );
    await metrics(health);
    loopMaxSeen = 0;
    const hostile = `${'*'.repeat(40)}!`;
    const request = cloud.request({
      connection: 'kafka',
      options: {
        topics: { include: [hostile, `${'a*'.repeat(10)}!`] },
        groups: { include: [hostile] },
        includeInternalTopics: true,
        schemaRegistry: false,
      },
    });
    cloud.send({ type: 'job.request', request });
    await cloud.until(
      () =>
        cloud.framesOf('job.end', request.requestId).length > 0 ||
        cloud.framesOf('job.failed', request.requestId).length > 0,
      'the kafka job to finish',
      120_000,
    );
    expect(cloud.framesOf('job.failed', request.requestId)).toEqual([]);
    expect((await fetch(`${health}/livez`)).status).toBe(200);
    await metrics(health);
    const loopMaxSeconds = loopMaxSeen;
    console.log(
      `glob: event-loop max ${(loopMaxSeconds * 1000).toFixed(1)} ms (budget ${(loopBudgetSeconds() * 1000).toFixed(0)} ms)`,
    );
    expect(loopMaxSeconds).toBeLessThan(loopBudgetSeconds());
  });

  it('binds its agent id at the first welcome and refuses a welcome naming another (finding 4)', async () => {
    const { cloud, runtime, queueName } = await start();
    const redis = new Redis(peers.redisUrl);
    try {
      await eventually(
        async () => (await redis.get(`bull:${queueName}:sdr:agent-id`)) === cloud.agentId,
        'the binding',
      );
      cloud.agentId = 'another-tenant';
      cloud.socket.terminate();
      const line = await runtime.waitForLine((l) => l.code === 'SDR_ERR_AGENT_MISMATCH');
      expect(line.msg).toMatch(/names agent "another-tenant" but this runtime is agent "agent-scripted"/);
      expect(await redis.get(`bull:${queueName}:sdr:agent-id`)).toBe('agent-scripted');
      // Even signed by the cloud's key, a request for the other tenant never runs here.
      cloud.agentId = 'agent-scripted';
      await cloud.until(
        () => cloud.connections.length >= 3 && cloud.connections.at(-1)?.readyState === 1,
        'a welcomed connection again',
      );
      await runtime.waitForLine((l) => l.msg === 'tunnel up' && l.connection !== 1);
      const foreign = cloud.request({ agentId: 'another-tenant' });
      cloud.send({ type: 'job.request', request: foreign });
      await cloud.until(() => rejection(cloud, foreign.requestId) !== undefined, 'the rejection');
      expect(rejection(cloud, foreign.requestId)?.code).toBe('SDR_ERR_REQUEST_WRONG_AGENT');
    } finally {
      redis.disconnect();
    }
  });

  it('refuses a configured agent id the welcome contradicts', async () => {
    cloud = await ScriptedCloud.start();
    runtime = new RuntimeProcess({
      SDR_CLOUD_URL: cloud.url,
      SDR_ALLOW_INSECURE_TUNNEL: 'true',
      SDR_AGENT_TOKEN: cloud.token,
      SDR_AGENT_ID: 'agent-configured',
      SDR_CLOUD_PUBLIC_KEY: cloud.publicKeyPem,
      SDR_CONNECTIONS_FILE: connectionsFile(),
      SDR_REDIS_URL: peers.redisUrl,
      SDR_HEALTH_PORT: '0',
      ...fixture.secretEnv,
    }).start();
    const line = await runtime.waitForLine((l) => l.code === 'SDR_ERR_AGENT_MISMATCH', 120_000);
    expect(line.msg).toMatch(/configured by SDR_AGENT_ID/);
    expect(runtime.lines.some((l) => l.msg === 'tunnel up')).toBe(false);
  });

  it('refuses a job written straight into Redis, and reports it (finding 5)', async () => {
    const { cloud, queueName } = await start();
    const queue = new Queue(queueName, { connection: { url: peers.redisUrl } });
    try {
      const honest = cloud.request({ options: { schemas: { include: ['app'] } } });
      await queue.add(
        'extract',
        { requestId: 'injected-1', connection: 'pg', options: { databases: { include: ['*'] } } },
        { jobId: 'injected-1' },
      );
      // A genuine signed request copied under another job id is refused too.
      await queue.add(
        'extract',
        { requestId: 'injected-2', connection: 'pg', options: {}, request: honest },
        { jobId: 'injected-2' },
      );
      await cloud.until(
        () =>
          cloud.framesOf('job.failed', 'injected-1').length > 0 &&
          cloud.framesOf('job.failed', 'injected-2').length > 0,
        'both injected jobs reported',
      );
      for (const id of ['injected-1', 'injected-2']) {
        expect(cloud.framesOf('job.failed', id)[0]).toMatchObject({
          code: 'SDR_ERR_JOB_UNVERIFIED',
          willRetry: false,
        });
        expect(cloud.framesOf('job.batch', id)).toEqual([]);
        expect(cloud.framesOf('job.progress', id)).toEqual([]);
      }
    } finally {
      await queue.close();
    }
  });

  it('narrows a database wildcard to what the connection allows (finding 6)', async () => {
    const { cloud } = await start();
    cloud.autoAck();
    const request = cloud.request({
      options: { databases: { include: ['*'] }, schemas: { include: ['app'] } },
    });
    cloud.send({ type: 'job.request', request });
    await cloud.until(() => cloud.framesOf('job.end', request.requestId).length > 0, 'the job end', 120_000);
    const databases = cloud
      .framesOf('job.batch', request.requestId)
      .flatMap((frame) => frame.records as { kind: string; name?: string }[])
      .filter((record) => record.kind === 'database')
      .map((record) => record.name);
    expect(databases).toEqual([fixture.database]);
  });

  it('gives up an attempt whose batches are never acknowledged, ending the source transaction (finding 7)', async () => {
    // An ack timeout is the link's fault: the attempt is re-run without spending the job's budget, up to
    // SDR_JOB_MAX_RERUNS; then the job fails naming the last cause.
    const { cloud } = await start(
      { SDR_ACK_TIMEOUT_MS: '1500', SDR_JOB_ATTEMPTS: '1', SDR_JOB_MAX_RERUNS: '1' },
      { creditWindow: 1 },
    );
    const request = cloud.request({ options: { schemas: { include: ['app'] } } });
    cloud.send({ type: 'job.request', request });
    await cloud.until(
      () => cloud.framesOf('job.failed', request.requestId).length > 0,
      'the failure',
      120_000,
    );
    expect(cloud.framesOf('job.failed', request.requestId)[0]).toMatchObject({
      code: 'SDR_ERR_JOB_RERUN_LIMIT',
      message: expect.stringContaining('SDR_ACK_TIMEOUT_MS') as unknown,
    });
    // Re-sent once before giving up; the link is recycled.
    expect(
      cloud.framesOf('job.batch', request.requestId).filter((f) => f.seq === 0).length,
    ).toBeGreaterThanOrEqual(2);
    await cloud.until(() => cloud.framesOf('hello').length >= 2, 'a new connection');
    const admin = new pg.Client({ ...peers.postgres, database: 'postgres' });
    await admin.connect();
    try {
      await eventually(
        async () =>
          (
            await admin.query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'sdr-metadata-crawler'",
              [fixture.database],
            )
          ).rows[0].n === 0,
        'the crawler session to end',
      );
    } finally {
      await admin.end();
    }
  });

  it('caps the jobs a cloud may queue (finding 8)', async () => {
    const { cloud } = await start({ SDR_MAX_QUEUED_JOBS: '2', SDR_CONCURRENCY: '1' }, { creditWindow: 1 });
    // The first job runs and waits for acks that never come; the next two wait in the queue.
    const requests = Array.from({ length: 4 }, (_, i) =>
      cloud.request({ requestId: `req-cap-${i}`, options: { schemas: { include: ['app'] } } }),
    );
    cloud.send({ type: 'job.request', request: requests[0] });
    await cloud.until(() => cloud.framesOf('job.batch', 'req-cap-0').length > 0, 'the first job running');
    for (const request of requests.slice(1)) {
      cloud.send({ type: 'job.request', request });
      await cloud.until(
        () =>
          cloud.framesOf('job.accepted', request.requestId).length +
            cloud.framesOf('job.rejected', request.requestId).length >
          0,
        'an answer',
      );
    }
    expect(cloud.framesOf('job.accepted').map((f) => f.requestId)).toEqual([
      'req-cap-0',
      'req-cap-1',
      'req-cap-2',
    ]);
    expect(rejection(cloud, 'req-cap-3')?.code).toBe('SDR_ERR_QUEUE_FULL');
  });
});
