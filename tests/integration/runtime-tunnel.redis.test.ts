import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeProcess } from '../../scripts/runtime-process.js';
import { peers } from '../peers/endpoints.js';
import { ScriptedCloud } from '../support/scripted-cloud.js';
import { waitFor } from '../support/wait.js';

let cloud: ScriptedCloud | undefined;
let runtime: RuntimeProcess | undefined;

afterEach(async () => {
  await runtime?.stop('SIGKILL');
  await cloud?.close();
  runtime = cloud = undefined;
});

function emptyConnectionsFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sdr-tunnel-')), 'connections.yaml');
  writeFileSync(file, 'connections: []\n');
  return file;
}

async function connectedPair(
  welcome: Parameters<typeof ScriptedCloud.start>[0] = {},
  env: Record<string, string> = {},
) {
  cloud = await ScriptedCloud.start(welcome);
  runtime = new RuntimeProcess({
    SDR_CLOUD_URL: cloud.url,
    SDR_ALLOW_INSECURE_TUNNEL: 'true',
    SDR_AGENT_TOKEN: cloud.token,
    SDR_CLOUD_PUBLIC_KEY: cloud.publicKeyPem,
    SDR_CONNECTIONS_FILE: emptyConnectionsFile(),
    SDR_REDIS_URL: peers.redisUrl,
    SDR_QUEUE_NAME: `tunnel-${process.pid}-${Date.now()}`,
    SDR_HEALTH_PORT: '0',
    SDR_RECONNECT_BASE_MS: '50',
    SDR_RECONNECT_MAX_MS: '200',
    ...env,
  }).start();
  const c = cloud;
  await c.until(() => c.framesOf('hello').length > 0, 'hello');
  await runtime.waitForMessage('tunnel up');
  return { cloud: c, runtime };
}

describe('tunnel', () => {
  it('introduces itself with its protocol version and capabilities', async () => {
    const { cloud } = await connectedPair();
    expect(cloud.framesOf('hello')[0]).toMatchObject({
      protocolVersion: 2,
      instanceId: expect.stringMatching(/^i-/),
      connectionIndex: 0,
      connections: 1,
      capabilities: { delivery: ['tunnel', 'bucket', 'presigned'], maxFrameBytes: 4 * 1024 * 1024 },
    });
  });

  it('answers malformed and unknown frames with error frames and keeps the link', async () => {
    const { cloud, runtime } = await connectedPair();
    cloud.send('this is not json');
    cloud.send({ type: 'job.explode' });
    cloud.send({ type: 'job.ack', requestId: 'r', attempt: 1, seq: 'zero' });
    cloud.send({ type: 'hello', protocolVersion: 2 });
    await cloud.until(() => cloud.framesOf('error').length === 4, 'four error frames');
    expect(cloud.framesOf('error').map((frame) => frame.code)).toEqual([
      'SDR_ERR_FRAME_MALFORMED',
      'SDR_ERR_FRAME_UNKNOWN',
      'SDR_ERR_FRAME_MALFORMED',
      'SDR_ERR_FRAME_UNKNOWN',
    ]);
    expect(cloud.framesOf('error')[2]?.message).toContain('seq');
    // Still the same link, still answering requests.
    cloud.send({ type: 'job.request', request: cloud.request({ connection: 'nope' }) });
    await cloud.until(() => cloud.framesOf('job.rejected').length === 1, 'a rejection');
    expect(cloud.connections).toHaveLength(1);
    // The log lines come through the child's stdout pipe and may trail the error frames.
    const refusals = () =>
      runtime.lines.filter((line) => line.level === 'warn' && String(line.msg).startsWith('refused a frame'));
    await waitFor('four "refused a frame" warnings', () => refusals().length >= 4, {
      seen: () => refusals().length,
    });
    expect(refusals()).toHaveLength(4);
  });

  it('refuses a frame over the size limit without dropping the link', async () => {
    const { cloud } = await connectedPair();
    cloud.send({ type: 'heartbeat', sentAt: Date.now(), padding: 'x'.repeat(5 * 1024 * 1024) });
    await cloud.until(() => cloud.framesOf('error').length === 1, 'an error frame');
    expect(cloud.framesOf('error')[0]).toMatchObject({ code: 'SDR_ERR_FRAME_TOO_LARGE' });
    expect(cloud.connections).toHaveLength(1);
  });

  it.each([
    [
      'forged',
      (c: ScriptedCloud) => c.request({}, generateKeyPairSync('ed25519').privateKey),
      'SDR_ERR_REQUEST_SIGNATURE',
    ],
    ['unsigned', (c: ScriptedCloud) => ({ ...c.request(), signature: 'AAAA' }), 'SDR_ERR_REQUEST_SIGNATURE'],
    [
      'expired',
      (c: ScriptedCloud) => c.request({ expiresAt: new Date(Date.now() - 120_000).toISOString() }),
      'SDR_ERR_REQUEST_EXPIRED',
    ],
    [
      'for another agent',
      (c: ScriptedCloud) => c.request({ agentId: 'someone-else' }),
      'SDR_ERR_REQUEST_WRONG_AGENT',
    ],
    [
      'for an undefined connection',
      (c: ScriptedCloud) => c.request({ connection: 'prod-db' }),
      'SDR_ERR_UNKNOWN_CONNECTION',
    ],
  ])('rejects a %s request with its reason and logs it', async (_label, make, code) => {
    const { cloud, runtime } = await connectedPair();
    const request = make(cloud);
    cloud.send({ type: 'job.request', request });
    await cloud.until(() => cloud.framesOf('job.rejected').length === 1, 'a rejection');
    expect(cloud.framesOf('job.rejected')[0]).toMatchObject({ requestId: request.requestId, code });
    await runtime.waitForLine((line) => line.code === code && line.requestId === request.requestId);
    expect(cloud.framesOf('job.accepted')).toHaveLength(0);
  });

  it('reconnects after the cloud drops the link, and after missed heartbeats', async () => {
    const { cloud } = await connectedPair({ heartbeatIntervalMs: 200 });
    cloud.socket.terminate();
    await cloud.until(() => cloud.framesOf('hello').length === 2, 'a second hello after the drop');
    // The scripted cloud never sends heartbeats: after three silent intervals the runtime gives up the link.
    await cloud.until(() => cloud.framesOf('hello').length === 3, 'a third hello after silence', 10_000);
    expect(cloud.framesOf('heartbeat').length).toBeGreaterThan(0);
  });

  it('logs a one-line, actionable error when the cloud refuses the token', async () => {
    cloud = await ScriptedCloud.start();
    runtime = new RuntimeProcess({
      SDR_CLOUD_URL: cloud.url,
      SDR_ALLOW_INSECURE_TUNNEL: 'true',
      SDR_AGENT_TOKEN: 'wrong-token',
      SDR_CLOUD_PUBLIC_KEY: cloud.publicKeyPem,
      SDR_CONNECTIONS_FILE: emptyConnectionsFile(),
      SDR_REDIS_URL: peers.redisUrl,
      SDR_HEALTH_PORT: '0',
    }).start();
    const line = await runtime.waitForLine((l) => l.code === 'SDR_ERR_TUNNEL_AUTH');
    expect(line.msg).toMatch(/refused the agent token \(HTTP 401\); check SDR_AGENT_TOKEN/);
    expect(JSON.stringify(runtime.lines)).not.toContain('wrong-token');
  });
});

describe('protocol version', () => {
  it('exits 78 with one line naming both versions when the cloud speaks another version', async () => {
    cloud = await ScriptedCloud.start({ protocolVersion: 1 } as Parameters<typeof ScriptedCloud.start>[0]);
    runtime = new RuntimeProcess({
      SDR_CLOUD_URL: cloud.url,
      SDR_ALLOW_INSECURE_TUNNEL: 'true',
      SDR_AGENT_TOKEN: cloud.token,
      SDR_CLOUD_PUBLIC_KEY: cloud.publicKeyPem,
      SDR_CONNECTIONS_FILE: emptyConnectionsFile(),
      SDR_REDIS_URL: peers.redisUrl,
      SDR_QUEUE_NAME: `tunnel-version-${process.pid}-${Date.now()}`,
      SDR_HEALTH_PORT: '0',
      SDR_RECONNECT_BASE_MS: '50',
      SDR_RECONNECT_MAX_MS: '200',
    }).start();
    expect(await runtime.exited()).toBe(78);
    const line = runtime.lines.find((entry) => entry.msg?.startsWith('protocol version mismatch'));
    expect(line?.msg).toContain('runtime speaks 2, cloud speaks 1');
    expect(cloud.framesOf('hello')).toHaveLength(1);
  }, 300_000);
});
