/* eslint-disable @typescript-eslint/no-unsafe-return -- frames and JSON bodies are inspected loosely here; their schemas are tested in tests/unit. */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/index.js';
import {
  type MetadataRecord,
  parsePublicKey,
  recordLine,
  signedJobRequestSchema,
  verifyJobRequest,
} from '../../protocol/index.js';
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
  waitForJob,
} from './cloud-harness.js';

let dataDir: string;
let cloud: Cloud;
let agent: { agentId: string; token: string };
const runtimes: FakeRuntime[] = [];

async function connect(): Promise<FakeRuntime> {
  const { runtime } = await FakeRuntime.connected(cloud.tunnelUrl, agent.token);
  runtimes.push(runtime);
  return runtime;
}

/** Connects, submits a job, and returns the runtime with the job's id once the request arrived. */
async function jobOnline(body?: Record<string, unknown>): Promise<{ runtime: FakeRuntime; jobId: string }> {
  const runtime = await connect();
  const jobId = await submitJob(cloud, agent.agentId, body);
  await runtime.next((frame) => frame.type === 'job.request' && frame.request.requestId === jobId);
  runtime.send({ type: 'job.accepted', requestId: jobId, duplicate: false });
  return { runtime, jobId };
}

/** Sends `batches` in order, each answered by its ack. */
async function sendAcked(
  runtime: FakeRuntime,
  jobId: string,
  attempt: number,
  batches: MetadataRecord[][],
): Promise<void> {
  for (const [seq, records] of batches.entries()) {
    runtime.batch(jobId, attempt, seq, records);
    await runtime.next(
      (f) => f.type === 'job.ack' && f.requestId === jobId && f.attempt === attempt && f.seq === seq,
    );
  }
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

describe('cloud jobs', () => {
  it('sends a request signed with the published key, addressed to the agent', async () => {
    const runtime = await connect();
    const jobId = await submitJob(cloud, agent.agentId, {
      connection: 'warehouse',
      options: { schemas: ['public'] },
      ttlSeconds: 60,
    });
    const frame = await runtime.next('job.request');
    const request = signedJobRequestSchema.parse(frame.request);
    const { body } = await api(cloud, 'GET', '/v1/public-key', undefined, null);
    expect(verifyJobRequest(request, parsePublicKey(body.publicKey))).toBe(true);
    expect(verifyJobRequest({ ...request, connection: 'other' }, parsePublicKey(body.publicKey))).toBe(false);
    expect(request).toMatchObject({
      requestId: jobId,
      agentId: agent.agentId,
      connection: 'warehouse',
      options: { schemas: ['public'] },
      delivery: { mode: 'tunnel' },
    });
    const ttl = Date.parse(request.expiresAt) - Date.parse(request.issuedAt);
    expect(ttl).toBe(60_000);
    expect((await api(cloud, 'GET', `/v1/jobs/${jobId}`)).body.state).toBe('sent');
  });

  it('commits a job whose totals match: the result is the records as JSONL with the reported sha256', async () => {
    const { runtime, jobId } = await jobOnline();
    await waitForJob(cloud, jobId, (job) => job.state === 'accepted');
    const records = makeRecords(25);
    const batches = [records.slice(0, 10), records.slice(10, 20), records.slice(20)];
    runtime.send({
      type: 'job.progress',
      requestId: jobId,
      attempt: 1,
      phase: 'extracting',
      records: 10,
      batches: 1,
      bytes: 100,
    });
    await sendAcked(runtime, jobId, 1, batches);
    await waitForJob(cloud, jobId, (job) => job.state === 'running');
    expect((await api(cloud, 'GET', `/v1/jobs/${jobId}/result`)).status).toBe(409);

    runtime.end(jobId, 1, 3, records, ['schema audit: permission denied']);
    const committed = await runtime.next('job.committed');
    expect(committed).toMatchObject({ requestId: jobId, attempt: 1, records: 25 });

    const job = (await api(cloud, 'GET', `/v1/jobs/${jobId}`)).body;
    const expected = records.map(recordLine).join('');
    const sha256 = createHash('sha256').update(expected).digest('hex');
    expect(job).toMatchObject({
      state: 'committed',
      attempt: 1,
      warnings: ['schema audit: permission denied'],
      result: { records: 25, sha256, bytes: Buffer.byteLength(expected) },
    });
    const file = await readFile(job.result.path);
    expect(createHash('sha256').update(file).digest('hex')).toBe(sha256);
    const result = await api(cloud, 'GET', `/v1/jobs/${jobId}/result`);
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toContain('application/x-ndjson');
    expect(result.body).toBe(expected);
    expect(await readdir(join(dataDir, 'attempts'))).toEqual([]);
  });

  it('commits an empty result for a job with no records', async () => {
    const { runtime, jobId } = await jobOnline();
    runtime.end(jobId, 1, 0, []);
    expect(await runtime.next('job.committed')).toMatchObject({ requestId: jobId, records: 0 });
    expect((await api(cloud, 'GET', `/v1/jobs/${jobId}/result`)).body).toBe('');
  });

  it('re-acks a duplicate batch without appending it, and ignores a batch after a gap', async () => {
    const { runtime, jobId } = await jobOnline();
    const records = makeRecords(6);
    await sendAcked(runtime, jobId, 1, [records.slice(0, 3)]);
    runtime.batch(jobId, 1, 0, records.slice(0, 3));
    expect(await runtime.next('job.ack')).toMatchObject({ seq: 0 });
    runtime.batch(jobId, 1, 2, makeRecords(2, 'gap'));
    runtime.batch(jobId, 1, 1, records.slice(3));
    expect(await runtime.next('job.ack')).toMatchObject({ seq: 1 });
    // The gap batch was never acked: the only acks are 0, 0 (duplicate), 1.
    expect(runtime.all('job.ack').map((ack) => ack.seq)).toEqual([0, 0, 1]);
    runtime.end(jobId, 1, 2, records);
    await runtime.next('job.committed');
    expect((await api(cloud, 'GET', `/v1/jobs/${jobId}/result`)).body).toBe(records.map(recordLine).join(''));
  });

  it('refuses an end whose sha256 differs: nack, nothing committed, result 409', async () => {
    const { runtime, jobId } = await jobOnline();
    const records = makeRecords(4);
    await sendAcked(runtime, jobId, 1, [records]);
    runtime.end(jobId, 1, 1, [...records.slice(0, 3), { ...records[3]!, kind: 'view' }]);
    const nack = await runtime.next('job.nack');
    expect(nack).toMatchObject({ requestId: jobId, attempt: 1, code: 'CHECKSUM_MISMATCH' });
    expect(nack.message).toContain('nothing was committed');
    const result = await api(cloud, 'GET', `/v1/jobs/${jobId}/result`);
    expect(result.status).toBe(409);
    expect(result.body.error.code).toBe('SDR_ERR_CLOUD_NOT_COMMITTED');
    expect((await api(cloud, 'GET', `/v1/jobs/${jobId}`)).body.state).not.toBe('committed');
    expect(await readdir(join(dataDir, 'results'))).toEqual([]);

    // The runtime retries as attempt 2, which commits normally.
    await sendAcked(runtime, jobId, 2, [records]);
    runtime.end(jobId, 2, 1, records);
    expect(await runtime.next('job.committed')).toMatchObject({ attempt: 2, records: 4 });
  });

  it('refuses an end that claims more batches than arrived (INCOMPLETE) and commits once they do', async () => {
    const { runtime, jobId } = await jobOnline();
    const records = makeRecords(4);
    await sendAcked(runtime, jobId, 1, [records.slice(0, 2)]);
    runtime.end(jobId, 1, 2, records);
    expect(await runtime.next('job.nack')).toMatchObject({ code: 'INCOMPLETE' });
    runtime.batch(jobId, 1, 1, records.slice(2));
    await runtime.next('job.ack');
    runtime.end(jobId, 1, 2, records);
    expect(await runtime.next('job.committed')).toMatchObject({ records: 4 });
  });

  it('lets a newer attempt supersede an older partial one', async () => {
    const { runtime, jobId } = await jobOnline();
    const old = makeRecords(3, 'old');
    await sendAcked(runtime, jobId, 1, [old]);
    const partials = await readdir(join(dataDir, 'attempts', jobId));
    expect(partials).toEqual(['1.jsonl.partial']);

    const fresh = makeRecords(2, 'new');
    await sendAcked(runtime, jobId, 2, [fresh]);
    expect(await readdir(join(dataDir, 'attempts', jobId))).toEqual(['2.jsonl.partial']);
    runtime.batch(jobId, 1, 1, old);
    expect(await runtime.next('job.nack')).toMatchObject({ attempt: 1, code: 'SUPERSEDED' });
    runtime.end(jobId, 1, 1, old);
    expect(await runtime.next('job.nack')).toMatchObject({ attempt: 1, code: 'SUPERSEDED' });
    runtime.end(jobId, 2, 1, fresh);
    expect(await runtime.next('job.committed')).toMatchObject({ attempt: 2, records: 2 });
    expect((await api(cloud, 'GET', `/v1/jobs/${jobId}/result`)).body).toBe(fresh.map(recordLine).join(''));
  });

  it('answers batches and ends of a committed job with job.committed, committing once', async () => {
    const { runtime, jobId } = await jobOnline();
    const records = makeRecords(3);
    await sendAcked(runtime, jobId, 1, [records]);
    runtime.end(jobId, 1, 1, records);
    await runtime.next('job.committed');
    const first = (await api(cloud, 'GET', `/v1/jobs/${jobId}`)).body.result;

    runtime.batch(jobId, 1, 0, records);
    expect(await runtime.next('job.committed')).toMatchObject({ requestId: jobId, records: 3 });
    runtime.batch(jobId, 2, 0, makeRecords(1, 'x'));
    expect(await runtime.next('job.committed')).toMatchObject({ requestId: jobId, records: 3 });
    runtime.end(jobId, 1, 1, records);
    expect(await runtime.next('job.committed')).toMatchObject({ records: 3 });
    expect((await api(cloud, 'GET', `/v1/jobs/${jobId}`)).body.result).toEqual(first);
    expect(runtime.all('job.ack')).toHaveLength(1);
  });

  it('asks for a new attempt when batches arrive for an attempt whose start it never saw', async () => {
    const { runtime, jobId } = await jobOnline();
    runtime.batch(jobId, 1, 3, makeRecords(1));
    expect(await runtime.next('job.nack')).toMatchObject({ attempt: 1, code: 'UNKNOWN_ATTEMPT' });
    runtime.end(jobId, 1, 4, makeRecords(4));
    expect(await runtime.next('job.nack')).toMatchObject({ attempt: 1, code: 'UNKNOWN_ATTEMPT' });
  });

  it('holds acks for ackDelayMs and sends them in seq order', async () => {
    cloud.setAckDelay(150);
    const { runtime, jobId } = await jobOnline();
    const sentAt: number[] = [];
    for (let seq = 0; seq < 5; seq += 1) {
      sentAt.push(Date.now());
      runtime.batch(jobId, 1, seq, makeRecords(2, `b${seq}-`));
    }
    const acks = [];
    for (let i = 0; i < 5; i += 1) acks.push(await runtime.nextReceived('job.ack'));
    expect(acks.map((ack) => ack.frame.seq)).toEqual([0, 1, 2, 3, 4]);
    for (const [i, ack] of acks.entries()) expect(ack.at - sentAt[i]!).toBeGreaterThanOrEqual(140);
  });

  it('announces its credit window and reports how many batches a runtime kept unacknowledged', async () => {
    await cloud.close();
    cloud = await startCloud(dataDir, { creditWindow: 3, ackDelayMs: 100 });
    const { runtime, welcome } = await FakeRuntime.connected(cloud.tunnelUrl, agent.token);
    runtimes.push(runtime);
    expect(welcome.creditWindow).toBe(3);

    // A runtime honouring the window: three batches, then waits for acks.
    const polite = await submitJob(cloud, agent.agentId);
    await runtime.next('job.request');
    for (let seq = 0; seq < 3; seq += 1) runtime.batch(polite, 1, seq, makeRecords(1, `w${seq}-`));
    for (let seq = 0; seq < 3; seq += 1) expect(await runtime.next('job.ack')).toMatchObject({ seq });
    expect((await api(cloud, 'GET', `/v1/jobs/${polite}`)).body.maxUnackedBatches).toBe(3);

    // One that overruns it: the cloud still acks everything in order but reports the overrun.
    const greedy = await submitJob(cloud, agent.agentId);
    await runtime.next('job.request');
    for (let seq = 0; seq < 6; seq += 1) runtime.batch(greedy, 1, seq, makeRecords(1, `g${seq}-`));
    for (let seq = 0; seq < 6; seq += 1) {
      expect(await runtime.next((f) => f.type === 'job.ack' && f.requestId === greedy)).toMatchObject({
        seq,
      });
    }
    expect((await api(cloud, 'GET', `/v1/jobs/${greedy}`)).body.maxUnackedBatches).toBe(6);
  });

  it('records rejection, failure and retryable failure', async () => {
    const runtime = await connect();
    const rejected = await submitJob(cloud, agent.agentId);
    const failed = await submitJob(cloud, agent.agentId);
    await runtime.next('job.request');
    await runtime.next('job.request');
    runtime.send({
      type: 'job.rejected',
      requestId: rejected,
      code: 'SDR_ERR_UNKNOWN_CONNECTION',
      message: 'no connection named "warehouse"',
    });
    await waitForJob(cloud, rejected, (job) => job.state === 'rejected');
    expect((await api(cloud, 'GET', `/v1/jobs/${rejected}`)).body.error).toEqual({
      code: 'SDR_ERR_UNKNOWN_CONNECTION',
      message: 'no connection named "warehouse"',
    });

    runtime.send({ type: 'job.accepted', requestId: failed, duplicate: false });
    runtime.send({
      type: 'job.failed',
      requestId: failed,
      attempt: 1,
      code: 'SDR_ERR_PG_UNREACHABLE',
      message: 'connection refused',
      willRetry: true,
    });
    const retrying = await waitForJob(cloud, failed, (job) => job.lastError !== undefined);
    expect(retrying.state).toBe('running');
    runtime.send({
      type: 'job.failed',
      requestId: failed,
      attempt: 2,
      code: 'SDR_ERR_PG_AUTH',
      message: 'password authentication failed',
      willRetry: false,
    });
    const done = await waitForJob(cloud, failed, (job) => job.state === 'failed');
    expect(done.error).toEqual({ code: 'SDR_ERR_PG_AUTH', message: 'password authentication failed' });
  });

  it('keeps a job rejected for a retryable reason pending and re-sends it on the next connect', async () => {
    const runtime = await connect();
    const jobId = await submitJob(cloud, agent.agentId);
    await runtime.next('job.request');
    runtime.send({
      type: 'job.rejected',
      requestId: jobId,
      code: 'SDR_ERR_QUEUE_UNAVAILABLE',
      message: 'redis down',
    });
    await waitForJob(cloud, jobId, (job) => job.state === 'pending');
    await runtime.close();
    const again = await connect();
    expect((await again.next('job.request')).request.requestId).toBe(jobId);
  });

  it('sends pending jobs on connect and re-sends unaccepted ones on reconnect with a fresh expiry', async () => {
    const offline = await submitJob(cloud, agent.agentId);
    expect((await api(cloud, 'GET', `/v1/jobs/${offline}`)).body.state).toBe('pending');
    const first = await connect();
    const firstRequest = (await first.next('job.request')).request;
    expect(firstRequest.requestId).toBe(offline);
    await waitForJob(cloud, offline, (job) => job.state === 'sent');

    const accepted = await submitJob(cloud, agent.agentId);
    await first.next('job.request');
    first.send({ type: 'job.accepted', requestId: accepted, duplicate: false });
    await waitForJob(cloud, accepted, (job) => job.state === 'accepted');

    cloud.dropAgent(agent.agentId);
    await first.closed;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await connect();
    const resent = (await second.next('job.request')).request;
    expect(resent.requestId).toBe(offline);
    expect(Date.parse(resent.expiresAt)).toBeGreaterThan(Date.parse(firstRequest.expiresAt));
    // Only the unaccepted job comes again; the accepted one lives on in the runtime.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(second.all('job.request').map((frame) => frame.request.requestId)).toEqual([offline]);
  });

  it('cancels a pending job directly and a sent one through job.cancel / job.cancelled', async () => {
    const pending = await submitJob(cloud, agent.agentId);
    const cancelPending = await api(cloud, 'POST', `/v1/jobs/${pending}/cancel`);
    expect(cancelPending.status).toBe(200);
    expect(cancelPending.body.state).toBe('cancelled');

    const { runtime, jobId } = await jobOnline();
    expect(runtime.all('job.request').map((frame) => frame.request.requestId)).toEqual([jobId]);
    await sendAcked(runtime, jobId, 1, [makeRecords(2)]);
    const cancel = await api(cloud, 'POST', `/v1/jobs/${jobId}/cancel`);
    expect(cancel.body.cancelRequested).toBe(true);
    expect(await runtime.next('job.cancel')).toMatchObject({ requestId: jobId });
    expect((await api(cloud, 'GET', `/v1/jobs/${jobId}`)).body.state).toBe('running');
    runtime.send({ type: 'job.cancelled', requestId: jobId, wasRunning: true });
    await waitForJob(cloud, jobId, (job) => job.state === 'cancelled');
    await eventually(async () => (await readdir(join(dataDir, 'attempts'))).length === 0);
    runtime.batch(jobId, 1, 1, makeRecords(1));
    expect(await runtime.next('job.nack')).toMatchObject({ code: 'CANCELLED' });
    const again = await api(cloud, 'POST', `/v1/jobs/${jobId}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('SDR_ERR_CLOUD_JOB_FINISHED');
  });

  it('re-sends a cancel on reconnect when the agent was offline', async () => {
    const { runtime, jobId } = await jobOnline();
    await runtime.close();
    await api(cloud, 'POST', `/v1/jobs/${jobId}/cancel`);
    const again = await connect();
    expect(await again.next('job.cancel')).toMatchObject({ requestId: jobId });
    expect(again.all('job.request')).toEqual([]);
  });

  it('marks a cancelled job cancelled when the runtime answers that it does not have it', async () => {
    const runtime = await connect();
    const lost = await submitJob(cloud, agent.agentId);
    const kept = await submitJob(cloud, agent.agentId);
    await runtime.next('job.request');
    await runtime.next('job.request');
    await api(cloud, 'POST', `/v1/jobs/${lost}/cancel`);
    await api(cloud, 'POST', `/v1/jobs/${kept}/cancel`);
    runtime.send({
      type: 'error',
      code: 'SDR_ERR_JOB_NOT_FOUND',
      message: `job ${lost} is neither queued nor running on this runtime`,
      inReplyTo: 'job.cancel',
      requestId: lost,
    });
    await waitForJob(cloud, lost, (job) => job.state === 'cancelled' && !job.cancelRequested);
    const other = (await api(cloud, 'GET', `/v1/jobs/${kept}`)).body;
    expect(other).toMatchObject({ state: 'sent', cancelRequested: true });
  });

  it('answers frames for unknown jobs and other agents with an error frame', async () => {
    const runtime = await connect();
    const other = await registerAgent(cloud, 'other');
    const theirs = await submitJob(cloud, other.agentId);
    runtime.send({ type: 'job.accepted', requestId: 'no-such-job', duplicate: false });
    expect(await runtime.next('error')).toMatchObject({
      code: 'SDR_ERR_CLOUD_UNKNOWN_JOB',
      inReplyTo: 'job.accepted',
    });
    runtime.batch(theirs, 1, 0, makeRecords(1));
    expect(await runtime.next('error')).toMatchObject({
      code: 'SDR_ERR_CLOUD_UNKNOWN_JOB',
      inReplyTo: 'job.batch',
    });
    expect((await api(cloud, 'GET', `/v1/jobs/${theirs}`)).body.state).toBe('pending');
  });
});
