/* eslint-disable @typescript-eslint/no-unsafe-return -- frames and JSON bodies are inspected loosely here. */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/index.js';
import { recordLine } from '../../protocol/index.js';
import {
  FakeRuntime,
  api,
  makeRecords,
  registerAgent,
  removeDir,
  startCloud,
  submitJob,
  tempDataDir,
} from './cloud-harness.js';
import { waitFor } from '../support/wait.js';

let dataDir: string;
let cloud: Cloud;
let agent: { agentId: string; token: string };
const runtimes: FakeRuntime[] = [];

async function connect(): Promise<FakeRuntime> {
  const { runtime } = await FakeRuntime.connected(cloud.tunnelUrl, agent.token);
  runtimes.push(runtime);
  return runtime;
}

beforeEach(async () => {
  dataDir = await tempDataDir();
  cloud = await startCloud(dataDir);
  agent = await registerAgent(cloud);
});

afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
  await cloud.close();
  await removeDir(dataDir);
});

describe('cloud recovery and robustness', () => {
  it('completes an attempt resent from its lowest unacked batch after the socket dropped', async () => {
    const first = await connect();
    const jobId = await submitJob(cloud, agent.agentId);
    await first.next('job.request');
    first.send({ type: 'job.accepted', requestId: jobId, duplicate: false });
    const records = makeRecords(12);
    const batches = [0, 1, 2, 3].map((seq) => records.slice(seq * 3, seq * 3 + 3));
    first.batch(jobId, 1, 0, batches[0]!);
    first.batch(jobId, 1, 1, batches[1]!);
    await first.next((f) => f.type === 'job.ack' && f.seq === 1);
    // Batch 2 reaches the cloud but its ack is lost with the socket.
    cloud.setAckDelay(300);
    first.batch(jobId, 1, 2, batches[2]!);
    await waitFor(
      'batch 2 to reach the cloud',
      () =>
        cloud
          .framesFrom(agent.agentId)
          .some(
            (text) => text.includes('"type":"job.batch"') && (JSON.parse(text) as { seq: number }).seq === 2,
          ),
      { seen: () => cloud.framesFrom(agent.agentId).length + ' frames received' },
    );
    cloud.dropAgent(agent.agentId);
    await first.closed;
    cloud.setAckDelay(0);

    const second = await connect();
    // The runtime resends everything it has no ack for: 2 (a duplicate for the cloud), then 3.
    second.batch(jobId, 1, 2, batches[2]!);
    second.batch(jobId, 1, 3, batches[3]!);
    expect(await second.next('job.ack')).toMatchObject({ seq: 2 });
    expect(await second.next('job.ack')).toMatchObject({ seq: 3 });
    second.end(jobId, 1, 4, records);
    expect(await second.next('job.committed')).toMatchObject({ records: 12 });
    expect((await api(cloud, 'GET', `/v1/jobs/${jobId}/result`)).body).toBe(records.map(recordLine).join(''));
    expect(second.all('job.request')).toEqual([]);
  });

  it('keeps interleaved jobs on one tunnel apart', async () => {
    const runtime = await connect();
    const jobs = [await submitJob(cloud, agent.agentId), await submitJob(cloud, agent.agentId)];
    await runtime.next('job.request');
    await runtime.next('job.request');
    const data = jobs.map((_, i) => makeRecords(20, `j${i}-`));
    for (let seq = 0; seq < 4; seq += 1) {
      for (const [i, jobId] of jobs.entries())
        runtime.batch(jobId, 1, seq, data[i]!.slice(seq * 5, seq * 5 + 5));
    }
    for (const [i, jobId] of jobs.entries()) runtime.end(jobId, 1, 4, data[i]!);
    for (const jobId of jobs) {
      await runtime.next((f) => f.type === 'job.committed' && f.requestId === jobId);
    }
    for (const [i, jobId] of jobs.entries()) {
      expect((await api(cloud, 'GET', `/v1/jobs/${jobId}/result`)).body).toBe(
        data[i]!.map(recordLine).join(''),
      );
    }
    const acks = runtime.all('job.ack');
    for (const jobId of jobs) {
      expect(acks.filter((ack) => ack.requestId === jobId).map((ack) => ack.seq)).toEqual([0, 1, 2, 3]);
    }
  });

  it('survives a burst of random and hostile frames and still commits afterwards', async () => {
    const runtime = await connect();
    const jobId = await submitJob(cloud, agent.agentId);
    await runtime.next('job.request');
    const hostile: unknown[] = [
      null,
      42,
      'string',
      { type: null },
      { type: 'job.batch', requestId: jobId, attempt: 1, seq: 0, records: 'nope' },
      { type: 'job.batch', requestId: jobId, attempt: 1, seq: 0, records: [{ kind: '', key: 'k' }] },
      { type: 'job.batch', requestId: jobId, attempt: 1.5, seq: 0, records: [] },
      { type: 'job.end', requestId: jobId, attempt: 1, batches: 0, records: 0, sha256: 'short' },
      { type: 'job.rejected', requestId: jobId, code: 'SDR_ERR_MADE_UP', message: 'x' },
      {
        type: 'job.progress',
        requestId: jobId,
        attempt: 1,
        phase: 'dancing',
        records: 0,
        batches: 0,
        bytes: 0,
      },
      { type: 'job.accepted', requestId: 'x'.repeat(500), duplicate: false },
      { type: 'constructor' },
      { type: 'toString' },
      { type: 'hasOwnProperty', requestId: jobId },
      { type: 'job.cancel', requestId: jobId },
    ];
    for (const frame of hostile) runtime.send(JSON.stringify(frame));
    for (let i = 0; i < 50; i += 1) runtime.send(randomBytes(1 + (i % 40)).toString('base64'));
    for (let i = 0; i < hostile.length + 50; i += 1) await runtime.next('error');
    expect((await api(cloud, 'GET', `/v1/jobs/${jobId}`)).body.state).toBe('sent');

    const records = makeRecords(3);
    runtime.batch(jobId, 1, 0, records);
    await runtime.next('job.ack');
    runtime.end(jobId, 1, 1, records);
    expect(await runtime.next('job.committed')).toMatchObject({ records: 3 });
  });

  it('refuses an attempt it cannot store with CLOUD_ERROR and keeps running', async () => {
    const runtime = await connect();
    const jobId = await submitJob(cloud, agent.agentId);
    await runtime.next('job.request');
    // Make the attempts directory unusable: a plain file where the directory should be.
    await rm(join(dataDir, 'attempts'), { recursive: true });
    await writeFile(join(dataDir, 'attempts'), 'not a directory');
    const records = makeRecords(2);
    runtime.batch(jobId, 1, 0, records);
    expect(await runtime.next('job.nack')).toMatchObject({ attempt: 1, code: 'CLOUD_ERROR' });
    runtime.batch(jobId, 1, 1, records);
    expect(await runtime.next('job.nack')).toMatchObject({ attempt: 1, code: 'CLOUD_ERROR' });
    expect(runtime.all('job.ack')).toEqual([]);

    await rm(join(dataDir, 'attempts'));
    await mkdir(join(dataDir, 'attempts'));
    runtime.batch(jobId, 2, 0, records);
    await runtime.next('job.ack');
    runtime.end(jobId, 2, 1, records);
    expect(await runtime.next('job.committed')).toMatchObject({ attempt: 2, records: 2 });
  });

  it('does not send heartbeats before the handshake, and drops a socket that never says hello', async () => {
    await cloud.close();
    cloud = await startCloud(dataDir, { heartbeatIntervalMs: 100 });
    const runtime = await FakeRuntime.connect(cloud.tunnelUrl, agent.token);
    runtimes.push(runtime);
    await runtime.closed;
    expect(runtime.all('heartbeat')).toEqual([]);
  });
});
