/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-call -- frames and JSON bodies are inspected loosely here; their schemas are tested in tests/unit. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/index.js';
import { PROTOCOL_VERSION } from '../../protocol/index.js';
import {
  FakeRuntime,
  api,
  eventually,
  makeRecords,
  registerAgent,
  removeDir,
  startCloud,
  submitJob,
  tempDataDir,
} from './cloud-harness.js';

let dataDir: string;
let cloud: Cloud;
let agent: { agentId: string; token: string };
const runtimes: FakeRuntime[] = [];

async function open(token = agent.token): Promise<FakeRuntime> {
  const runtime = await FakeRuntime.connect(cloud.tunnelUrl, token);
  runtimes.push(runtime);
  return runtime;
}

async function agentStatus(agentId = agent.agentId): Promise<any> {
  const { body } = await api(cloud, 'GET', '/v1/agents');
  return body.find((entry: any) => entry.agentId === agentId);
}

/** Proves the socket still works: an unknown-job frame is answered. */
async function stillAnswers(runtime: FakeRuntime): Promise<void> {
  runtime.send({ type: 'job.accepted', requestId: 'probe', duplicate: false });
  expect(
    await runtime.next((f) => f.type === 'error' && f.code === 'SDR_ERR_CLOUD_UNKNOWN_JOB'),
  ).toBeDefined();
}

beforeEach(async () => {
  dataDir = await tempDataDir();
  cloud = await startCloud(dataDir, { maxFrameBytes: 64 * 1024 });
  agent = await registerAgent(cloud);
});

afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
  await cloud.close();
  await removeDir(dataDir);
});

describe('cloud tunnel', () => {
  it('refuses an unknown or missing token with HTTP 401 before the upgrade', async () => {
    await expect(FakeRuntime.connect(cloud.tunnelUrl, 'not-a-token')).rejects.toMatchObject({ status: 401 });
    await expect(FakeRuntime.connect(cloud.tunnelUrl, '')).rejects.toMatchObject({ status: 401 });
    const plain = await fetch(`${cloud.url}/v1/tunnel`, {
      headers: { authorization: `Bearer ${agent.token}` },
    });
    expect(plain.status).toBe(426);
  });

  it('answers hello with welcome and shows the agent connected with its runtime details', async () => {
    const runtime = await open();
    const welcome = await runtime.hello();
    expect(welcome).toEqual({
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      agentId: agent.agentId,
      connectionId: expect.stringMatching(/^c-/),
      heartbeatIntervalMs: 15_000,
      creditWindow: 8,
      maxFrameBytes: 64 * 1024,
      reconcileIntervalMs: 60_000,
    });
    expect(await agentStatus()).toMatchObject({
      name: 'test-agent',
      connected: true,
      runtimeVersion: '0.0.0-test',
      capabilities: { adapters: ['postgres'], delivery: ['tunnel'] },
    });
    await runtime.close();
    await eventually(async () => (await agentStatus()).connected === false);
  });

  it('refuses a version-1 hello (without v2 fields) with SDR_ERR_PROTOCOL_VERSION naming both versions', async () => {
    const runtime = await open();
    runtime.send({
      type: 'hello',
      protocolVersion: 1,
      runtimeVersion: 'x',
      capabilities: { adapters: [], delivery: ['tunnel'], maxFrameBytes: 1024 },
    });
    const error = await runtime.next('error');
    expect(error).toMatchObject({ code: 'SDR_ERR_PROTOCOL_VERSION', inReplyTo: 'hello' });
    expect(error.message).toContain('runtime speaks 1, cloud speaks 2');
    expect((await runtime.closed).code).toBe(1002);
  });

  it('refuses another protocol version with SDR_ERR_PROTOCOL_VERSION and close 1002', async () => {
    const runtime = await open();
    runtime.send({
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION + 1,
      runtimeVersion: 'x',
      capabilities: { adapters: [], delivery: ['tunnel'], maxFrameBytes: 1024 },
    });
    expect(await runtime.next('error')).toMatchObject({ code: 'SDR_ERR_PROTOCOL_VERSION' });
    expect((await runtime.closed).code).toBe(1002);
    expect((await agentStatus()).connected).toBe(false);
  });

  it('requires hello before any other frame', async () => {
    const runtime = await open();
    runtime.send({ type: 'heartbeat', sentAt: Date.now() });
    expect(await runtime.next('error')).toMatchObject({
      code: 'SDR_ERR_CLOUD_HELLO_REQUIRED',
      inReplyTo: 'heartbeat',
    });
    expect((await runtime.closed).code).toBe(1002);
  });

  it('answers malformed and unknown frames with error frames and keeps the socket', async () => {
    const runtime = await open();
    await runtime.hello();
    const cases: [string, string, string | undefined][] = [
      ['{"type":', 'SDR_ERR_FRAME_MALFORMED', undefined],
      ['[1,2,3]', 'SDR_ERR_FRAME_MALFORMED', undefined],
      ['{"no":"type"}', 'SDR_ERR_FRAME_MALFORMED', undefined],
      ['{"type":"job.explode"}', 'SDR_ERR_FRAME_UNKNOWN', 'job.explode'],
      ['{"type":"welcome","protocolVersion":1,"agentId":"x"}', 'SDR_ERR_FRAME_UNKNOWN', 'welcome'],
      [
        '{"type":"job.batch","requestId":"r","attempt":0,"seq":0,"records":[]}',
        'SDR_ERR_FRAME_MALFORMED',
        'job.batch',
      ],
      ['{"type":"__proto__"}', 'SDR_ERR_FRAME_UNKNOWN', '__proto__'],
    ];
    for (const [raw, code, inReplyTo] of cases) {
      runtime.send(raw);
      const error = await runtime.next('error');
      expect(error.code, raw).toBe(code);
      expect(error.inReplyTo, raw).toBe(inReplyTo);
    }
    runtime.send(Buffer.from([0xff, 0xfe, 0x00]).toString('latin1'));
    expect(await runtime.next('error')).toMatchObject({ code: 'SDR_ERR_FRAME_MALFORMED' });
    runtime.send({
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      runtimeVersion: 'x',
      instanceId: 'i-test',
      connectionIndex: 0,
      connections: 1,
      capabilities: { adapters: [], delivery: [], maxFrameBytes: 1 },
    });
    expect(await runtime.next('error')).toMatchObject({
      code: 'SDR_ERR_FRAME_MALFORMED',
      inReplyTo: 'hello',
    });
    await stillAnswers(runtime);
    expect((await agentStatus()).connected).toBe(true);
  });

  it('refuses a frame over maxFrameBytes with an error frame, and closes with 1009 over twice the limit', async () => {
    const runtime = await open();
    await runtime.hello();
    const batch = (size: number) => ({
      type: 'job.batch',
      requestId: 'r',
      attempt: 1,
      seq: 0,
      records: [{ kind: 'k', key: 'x'.repeat(size) }],
    });
    runtime.send(batch(70_000));
    expect(await runtime.next('error')).toMatchObject({ code: 'SDR_ERR_FRAME_TOO_LARGE' });
    await stillAnswers(runtime);

    runtime.send(batch(140_000));
    expect((await runtime.closed).code).toBe(1009);
    await eventually(async () => (await agentStatus()).connected === false);
    const again = await open();
    await again.hello();
    await stillAnswers(again);
  });

  it('refuses binary frames as malformed', async () => {
    const runtime = await open();
    await runtime.hello();
    runtime.socket.send(Buffer.from(JSON.stringify({ type: 'heartbeat', sentAt: 1 })), { binary: true });
    const error = await runtime.next('error');
    expect(error).toMatchObject({ code: 'SDR_ERR_FRAME_MALFORMED' });
    expect(error.message).toContain('binary');
  });

  it('logs and ignores runtime error frames and heartbeats, recording every frame for framesFrom', async () => {
    const runtime = await open();
    await runtime.hello();
    runtime.send({ type: 'error', code: 'SDR_ERR_FRAME_MALFORMED', message: 'your frame was odd' });
    runtime.send({ type: 'heartbeat', sentAt: Date.now(), jobs: { active: 1, queued: 2 } });
    await stillAnswers(runtime);
    expect((await agentStatus()).jobs).toEqual({ active: 1, queued: 2 });
    const frames = cloud.framesFrom(agent.agentId).map((text) => JSON.parse(text).type);
    expect(frames).toEqual(['hello', 'error', 'heartbeat', 'job.accepted']);
  });

  it('lets sendRaw put arbitrary text on the socket', async () => {
    const runtime = await open();
    await runtime.hello();
    expect(cloud.sendRaw(agent.agentId, 'garbage{')).toBe(true);
    expect(await runtime.next('<not json>')).toMatchObject({ text: 'garbage{' });
    expect(cloud.sendRaw('nobody', 'x')).toBe(false);
  });

  it('replaces only the same connection of the same instance; other instances and connections stay', async () => {
    const first = await open();
    await first.hello(PROTOCOL_VERSION, { instanceId: 'i-a', connectionIndex: 0, connections: 2 });
    const sibling = await open();
    await sibling.hello(PROTOCOL_VERSION, { instanceId: 'i-a', connectionIndex: 1, connections: 2 });
    const other = await open();
    await other.hello(PROTOCOL_VERSION, { instanceId: 'i-b' });
    const again = await open();
    await again.hello(PROTOCOL_VERSION, { instanceId: 'i-a', connectionIndex: 0, connections: 2 });
    expect((await first.closed).code).toBe(4001);
    await stillAnswers(sibling);
    await stillAnswers(other);
    await stillAnswers(again);
    const status = await agentStatus();
    expect(status.connected).toBe(true);
    const instances = [...status.instances].sort((a: any, b: any) =>
      a.instanceId.localeCompare(b.instanceId),
    );
    expect(instances).toMatchObject([
      { instanceId: 'i-a', connections: { up: 2, of: 2, indexes: [0, 1] }, runtimeVersion: '0.0.0-test' },
      { instanceId: 'i-b', connections: { up: 1, of: 1, indexes: [0] } },
    ]);
  });

  it('sends heartbeats and drops an agent silent for 3 intervals', async () => {
    await cloud.close();
    cloud = await startCloud(dataDir, { heartbeatIntervalMs: 200 });
    const runtime = await open();
    const welcome = await runtime.hello();
    expect(welcome.heartbeatIntervalMs).toBe(200);
    expect(await runtime.next('heartbeat')).toMatchObject({ sentAt: expect.any(Number) });
    expect((await agentStatus()).connected).toBe(true);
    // The fake runtime never answers; the cloud must give up on it.
    await runtime.closed;
    expect((await agentStatus()).connected).toBe(false);
    expect(runtime.all('heartbeat').length).toBeGreaterThanOrEqual(2);
  });

  it('keeps an agent that sends heartbeats connected', async () => {
    await cloud.close();
    cloud = await startCloud(dataDir, { heartbeatIntervalMs: 100 });
    const runtime = await open();
    await runtime.hello();
    const timer = setInterval(() => runtime.send({ type: 'heartbeat', sentAt: Date.now() }), 50);
    try {
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect((await agentStatus()).connected).toBe(true);
    } finally {
      clearInterval(timer);
    }
  });

  it('closes tunnels with 1001 when the cloud shuts down', async () => {
    const runtime = await open();
    await runtime.hello();
    await cloud.close();
    expect((await runtime.closed).code).toBe(1001);
    cloud = await startCloud(dataDir);
  });

  it('delivers a job submitted while the agent is connected, after the handshake only', async () => {
    const runtime = await open();
    const jobId = await submitJob(cloud, agent.agentId);
    expect(runtime.all('job.request')).toEqual([]);
    await runtime.hello();
    expect((await runtime.next('job.request')).request.requestId).toBe(jobId);
    runtime.batch(jobId, 1, 0, makeRecords(1));
    expect(await runtime.next('job.ack')).toMatchObject({ seq: 0 });
  });
});
