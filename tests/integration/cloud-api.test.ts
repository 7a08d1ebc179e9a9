/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-call -- JSON bodies and frames are inspected loosely here. */
import { execFileSync } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/index.js';
import { PROTOCOL_VERSION, recordLine } from '../../protocol/index.js';
import {
  FakeRuntime,
  api,
  makeRecords,
  registerAgent,
  removeDir,
  startCloud,
  submitJob,
  tempDataDir,
  waitForJob,
} from './cloud-harness.js';

let dataDir: string;
let cloud: Cloud;
const runtimes: FakeRuntime[] = [];

async function connect(token: string): Promise<FakeRuntime> {
  const { runtime } = await FakeRuntime.connected(cloud.tunnelUrl, token);
  runtimes.push(runtime);
  return runtime;
}

beforeEach(async () => {
  dataDir = await tempDataDir();
  cloud = await startCloud(dataDir);
});

afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
  await cloud.close();
  await removeDir(dataDir);
});

describe('cloud HTTP API', () => {
  it('serves liveness and the public key without auth', async () => {
    expect((await api(cloud, 'GET', '/livez', undefined, null)).status).toBe(200);
    const { status, body } = await api(cloud, 'GET', '/v1/public-key', undefined, null);
    expect(status).toBe(200);
    expect(body.publicKey).toBe(cloud.publicKeyPem);
    expect(body.publicKey).toContain('BEGIN PUBLIC KEY');
  });

  it.each([
    ['GET', '/v1/agents', undefined],
    ['POST', '/v1/agents', { name: 'x' }],
    ['POST', '/v1/agents/a/jobs', { connection: 'c' }],
    ['GET', '/v1/jobs', undefined],
    ['GET', '/v1/jobs/j', undefined],
    ['GET', '/v1/jobs/j/result', undefined],
    ['POST', '/v1/jobs/j/cancel', undefined],
  ])('refuses %s %s without the admin token', async (method, path, body) => {
    for (const token of [null, 'wrong', `${cloud.adminToken}x`]) {
      const response = await api(cloud, method, path, body, token);
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe('SDR_ERR_CLOUD_UNAUTHORIZED');
    }
  });

  it('registers agents with a one-time token of 32 random bytes that is never stored', async () => {
    const { agentId, token } = await registerAgent(cloud, 'prod-eu');
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    const agents = (await api(cloud, 'GET', '/v1/agents')).body;
    expect(agents).toEqual([
      expect.objectContaining({
        agentId,
        name: 'prod-eu',
        connected: false,
        lastHeartbeatAt: null,
        runtimeVersion: null,
        capabilities: null,
        connectedAt: null,
      }),
    ]);
    expect(JSON.stringify(agents)).not.toContain(token);
    const stored = await readFile(join(dataDir, 'agents.json'), 'utf8');
    expect(stored).not.toContain(token);
    expect(stored).toContain(agentId);
  });

  it('validates bodies and names the offending field', async () => {
    const noName = await api(cloud, 'POST', '/v1/agents', {});
    expect(noName.status).toBe(400);
    expect(noName.body.error).toMatchObject({ code: 'SDR_ERR_CLOUD_BAD_REQUEST' });
    expect(noName.body.error.message).toContain('body.name');
    const { agentId } = await registerAgent(cloud);
    for (const body of [
      {},
      { connection: '' },
      { connection: 'c', ttlSeconds: -1 },
      { connection: 'c', options: [1] },
    ]) {
      const response = await api(cloud, 'POST', `/v1/agents/${agentId}/jobs`, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe('SDR_ERR_CLOUD_BAD_REQUEST');
    }
    const notJson = await fetch(`${cloud.url}/v1/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cloud.adminToken}`, 'content-type': 'application/json' },
      body: '{oops',
    });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as any).error.code).toBe('SDR_ERR_CLOUD_BAD_REQUEST');
  });

  it('refuses a job whose options cannot fit in one frame', async () => {
    await cloud.close();
    cloud = await startCloud(dataDir, { maxFrameBytes: 4096 });
    const { agentId } = await registerAgent(cloud);
    const response = await api(cloud, 'POST', `/v1/agents/${agentId}/jobs`, {
      connection: 'c',
      options: { filler: 'x'.repeat(5000) },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toContain('too large');
    expect((await api(cloud, 'GET', '/v1/jobs')).body).toEqual([]);
  });

  it('answers unknown agents, jobs and routes with 404 JSON errors', async () => {
    const job = await api(cloud, 'POST', '/v1/agents/nope/jobs', { connection: 'c' });
    expect(job.status).toBe(404);
    expect(job.body.error.code).toBe('SDR_ERR_CLOUD_NOT_FOUND');
    for (const path of ['/v1/jobs/nope', '/v1/jobs/nope/result']) {
      expect((await api(cloud, 'GET', path)).status).toBe(404);
    }
    expect((await api(cloud, 'POST', '/v1/jobs/nope/cancel')).status).toBe(404);
    const route = await api(cloud, 'GET', '/v2/anything');
    expect(route.status).toBe(404);
    expect(route.body.error.code).toBe('SDR_ERR_CLOUD_NOT_FOUND');
  });

  it('lists jobs, optionally for one agent, with their state', async () => {
    const a = await registerAgent(cloud, 'a');
    const b = await registerAgent(cloud, 'b');
    const jobA = await submitJob(cloud, a.agentId, { connection: 'one' });
    const jobB = await submitJob(cloud, b.agentId, { connection: 'two', options: { schemas: ['s'] } });
    const all = (await api(cloud, 'GET', '/v1/jobs')).body;
    expect(all.map((job: any) => job.jobId)).toEqual([jobA, jobB]);
    const onlyB = (await api(cloud, 'GET', `/v1/jobs?agentId=${b.agentId}`)).body;
    expect(onlyB).toEqual([
      expect.objectContaining({
        jobId: jobB,
        agentId: b.agentId,
        connection: 'two',
        options: { schemas: ['s'] },
        state: 'pending',
        attempt: 0,
        progress: { phase: null, records: 0, batches: 0, bytes: 0 },
        warnings: [],
      }),
    ]);
    expect(onlyB[0].result).toBeUndefined();
  });
});

describe('cloud persistence', () => {
  it('keeps its key, admin token, agents, jobs and committed results across a restart', async () => {
    const agent = await registerAgent(cloud);
    const runtime = await connect(agent.token);
    const committed = await submitJob(cloud, agent.agentId);
    await runtime.next('job.request');
    const records = makeRecords(5);
    runtime.batch(committed, 1, 0, records);
    await runtime.next('job.ack');
    runtime.end(committed, 1, 1, records);
    await runtime.next('job.committed');
    await runtime.close();
    const pending = await submitJob(cloud, agent.agentId);
    const before = {
      key: cloud.publicKeyPem,
      token: cloud.adminToken,
      job: (await api(cloud, 'GET', `/v1/jobs/${committed}`)).body,
    };
    await cloud.close();

    const keyMode = (await stat(join(dataDir, 'signing-key.pem'))).mode & 0o777;
    expect(keyMode).toBe(0o600);
    for (const name of await readdir(dataDir, { recursive: true })) {
      const path = join(dataDir, name);
      if ((await stat(path)).isFile()) expect(await readFile(path, 'utf8'), name).not.toContain(agent.token);
    }

    cloud = await startCloud(dataDir);
    expect(cloud.publicKeyPem).toBe(before.key);
    expect(cloud.adminToken).toBe(before.token);
    expect((await api(cloud, 'GET', '/v1/agents')).body).toEqual([
      expect.objectContaining({ agentId: agent.agentId, connected: false }),
    ]);
    const after = (await api(cloud, 'GET', `/v1/jobs/${committed}`)).body;
    expect(after).toEqual({ ...before.job, maxUnackedBatches: 0 });
    expect((await api(cloud, 'GET', `/v1/jobs/${committed}/result`)).body).toBe(
      records.map(recordLine).join(''),
    );

    // The old token still opens the tunnel, and the job submitted while offline is delivered.
    const again = await connect(agent.token);
    expect((await again.next('job.request')).request.requestId).toBe(pending);
  });

  it('asks for a new attempt after a restart lost a half-received one, and commits that one', async () => {
    const agent = await registerAgent(cloud);
    let runtime = await connect(agent.token);
    const jobId = await submitJob(cloud, agent.agentId);
    await runtime.next('job.request');
    runtime.send({ type: 'job.accepted', requestId: jobId, duplicate: false });
    const records = makeRecords(4);
    runtime.batch(jobId, 1, 0, records.slice(0, 2));
    await runtime.next('job.ack');
    await waitForJob(cloud, jobId, (job) => job.state === 'running');
    await runtime.close();
    await cloud.close();

    cloud = await startCloud(dataDir);
    expect((await api(cloud, 'GET', `/v1/jobs/${jobId}`)).body).toMatchObject({
      state: 'running',
      attempt: 1,
    });
    runtime = await connect(agent.token);
    // An accepted job is not re-sent: the runtime has it.
    runtime.batch(jobId, 1, 1, records.slice(2));
    expect(await runtime.next('job.nack')).toMatchObject({ attempt: 1, code: 'UNKNOWN_ATTEMPT' });
    expect(runtime.all('job.request')).toEqual([]);
    runtime.batch(jobId, 2, 0, records);
    await runtime.next('job.ack');
    runtime.end(jobId, 2, 1, records);
    expect(await runtime.next('job.committed')).toMatchObject({ attempt: 2, records: 4 });
    expect(await readdir(join(dataDir, 'attempts'))).toEqual([]);
  });

  it('refuses options the runtime could not accept in welcome', async () => {
    await expect(startCloud(dataDir, { heartbeatIntervalMs: 50, creditWindow: 0 })).rejects.toMatchObject({
      code: 'SDR_ERR_CONFIG_INVALID',
      message: expect.stringMatching(/heartbeatIntervalMs.*creditWindow/),
    });
  });

  it('uses a given admin token instead of the stored one', async () => {
    await cloud.close();
    cloud = await startCloud(dataDir, { adminToken: 'given-admin-token-123456' });
    expect((await api(cloud, 'GET', '/v1/agents')).status).toBe(200);
    expect((await api(cloud, 'GET', '/v1/agents', undefined, 'wrong')).status).toBe(401);
  });
});

describe('cloud over TLS', () => {
  it('serves https and wss with the given certificate', async () => {
    const keyPath = join(dataDir, 'tls.key');
    const certPath = join(dataDir, 'tls.crt');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const cert = await readFile(certPath, 'utf8');
    await cloud.close();
    cloud = await startCloud(dataDir, { tls: { cert, key: await readFile(keyPath, 'utf8') } });
    expect(cloud.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(cloud.tunnelUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/v1\/tunnel$/);
    const { agentId, token } = await new Promise<{ agentId: string; token: string }>((resolve, reject) => {
      const request = httpsRequest(
        `${cloud.url}/v1/agents`,
        {
          method: 'POST',
          ca: cert,
          headers: { authorization: `Bearer ${cloud.adminToken}`, 'content-type': 'application/json' },
        },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
          response.on('end', () => resolve(JSON.parse(text)));
        },
      );
      request.on('error', reject);
      request.end(JSON.stringify({ name: 'tls' }));
    });
    const socket = new WebSocket(cloud.tunnelUrl, {
      ca: cert,
      headers: { authorization: `Bearer ${token}` },
    });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.send(
      JSON.stringify({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        runtimeVersion: 't',
        instanceId: 'i-t',
        connectionIndex: 0,
        connections: 1,
        capabilities: { adapters: [], delivery: ['tunnel'], maxFrameBytes: 1024 },
      }),
    );
    const welcome = await new Promise<any>((resolve) =>
      socket.once('message', (data: Buffer) => resolve(JSON.parse(data.toString('utf8')))),
    );
    expect(welcome).toMatchObject({ type: 'welcome', agentId });
    socket.close();
  });
});
