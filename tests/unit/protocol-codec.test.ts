import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CLOUD_TO_RUNTIME,
  RUNTIME_TO_CLOUD,
  decodeFrame,
  encodeFrame,
  type JobRequestBody,
  ResultDigest,
  signJobRequest,
  verifyJobRequest,
} from '../../protocol/index.js';

const LIMIT = 4096;

describe('decodeFrame', () => {
  it('accepts a valid frame and applies defaults', () => {
    const result = decodeFrame(
      JSON.stringify({ type: 'welcome', protocolVersion: 2, agentId: 'a1', connectionId: 'c-1' }),
      CLOUD_TO_RUNTIME,
      LIMIT,
    );
    expect(result).toMatchObject({
      ok: true,
      frame: { type: 'welcome', heartbeatIntervalMs: 15_000, creditWindow: 8, reconcileIntervalMs: 60_000 },
    });
  });

  it('accepts a version-2 hello with instance and connection, and refuses a 5th connection', () => {
    const hello = {
      type: 'hello',
      protocolVersion: 2,
      runtimeVersion: '0.2.0',
      instanceId: 'i-1',
      connectionIndex: 1,
      connections: 2,
      capabilities: { adapters: [], delivery: ['tunnel'], maxFrameBytes: LIMIT },
    };
    expect(decodeFrame(JSON.stringify(hello), RUNTIME_TO_CLOUD, LIMIT)).toMatchObject({ ok: true });
    expect(decodeFrame(JSON.stringify({ ...hello, connections: 5 }), RUNTIME_TO_CLOUD, LIMIT)).toMatchObject({
      ok: false,
    });
  });

  it('carries sync.request and sync.report with their defaults', () => {
    expect(
      decodeFrame(
        JSON.stringify({ type: 'sync.request', syncId: 's-1', expected: ['a'] }),
        CLOUD_TO_RUNTIME,
        LIMIT,
      ),
    ).toMatchObject({ ok: true, frame: { more: false } });
    expect(
      decodeFrame(
        JSON.stringify({
          type: 'sync.report',
          syncId: 's-1',
          jobs: [
            { requestId: 'a', state: 'failed', attempt: 3, code: 'SDR_ERR_JOB_STALLED_LIMIT', message: 'x' },
          ],
        }),
        RUNTIME_TO_CLOUD,
        LIMIT,
      ),
    ).toMatchObject({ ok: true, frame: { unexpected: [], more: false } });
  });

  it.each([
    ['not JSON', '{"type":', 'SDR_ERR_FRAME_MALFORMED'],
    ['an array', '[1,2]', 'SDR_ERR_FRAME_MALFORMED'],
    ['no type', '{"a":1}', 'SDR_ERR_FRAME_MALFORMED'],
    ['an unknown type', '{"type":"job.explode"}', 'SDR_ERR_FRAME_UNKNOWN'],
    ['a frame meant for the other side', '{"type":"hello","protocolVersion":1}', 'SDR_ERR_FRAME_UNKNOWN'],
    [
      'a field of the wrong type',
      '{"type":"job.ack","requestId":"r","attempt":"one","seq":0}',
      'SDR_ERR_FRAME_MALFORMED',
    ],
    ['a prototype key as type', '{"type":"constructor"}', 'SDR_ERR_FRAME_UNKNOWN'],
  ])('refuses %s with a coded error', (_label, raw, code) => {
    const result = decodeFrame(raw, CLOUD_TO_RUNTIME, LIMIT);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe(code);
  });

  it('names the offending field of a malformed frame', () => {
    const result = decodeFrame(
      '{"type":"job.ack","requestId":"r","attempt":1,"seq":-1}',
      CLOUD_TO_RUNTIME,
      LIMIT,
    );
    expect(!result.ok && result.error.message).toContain('seq');
  });

  it('refuses a frame over the size limit before parsing it', () => {
    const raw = JSON.stringify({ type: 'heartbeat', sentAt: 1, pad: 'x'.repeat(LIMIT) });
    const result = decodeFrame(raw, CLOUD_TO_RUNTIME, LIMIT);
    expect(!result.ok && result.error.code).toBe('SDR_ERR_FRAME_TOO_LARGE');
  });

  it('refuses to encode a frame the peer would refuse', () => {
    expect(() =>
      encodeFrame(
        {
          type: 'job.batch',
          requestId: 'r',
          attempt: 1,
          seq: 0,
          records: [{ kind: 'k', key: 'x'.repeat(LIMIT) }],
        },
        LIMIT,
      ),
    ).toThrow(expect.objectContaining({ code: 'SDR_ERR_FRAME_TOO_LARGE' }) as Error);
  });
});

describe('request signatures', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const body: JobRequestBody = {
    requestId: 'req-1',
    agentId: 'agent-1',
    connection: 'warehouse',
    options: { schemas: { include: ['public'] } },
    delivery: { mode: 'tunnel' },
    issuedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-01T00:05:00.000Z',
  };

  it('verifies what the key signed, whatever the key order on the wire', () => {
    const signed = signJobRequest(body, privateKey);
    const reordered = JSON.parse(
      JSON.stringify({ signature: signed.signature, ...body, options: { schemas: { include: ['public'] } } }),
    );
    expect(verifyJobRequest(reordered, publicKey)).toBe(true);
  });

  it('rejects a tampered field, a foreign key and garbage', () => {
    const signed = signJobRequest(body, privateKey);
    expect(verifyJobRequest({ ...signed, connection: 'other' }, publicKey)).toBe(false);
    expect(verifyJobRequest(signed, generateKeyPairSync('ed25519').publicKey)).toBe(false);
    expect(verifyJobRequest({ ...signed, signature: 'not base64 at all' }, publicKey)).toBe(false);
  });
});

describe('ResultDigest', () => {
  it('hashes the JSONL lines so a committed file can be checked with sha256sum', async () => {
    const { createHash } = await import('node:crypto');
    const records = [
      { kind: 'table', key: 'a', columns: 2 },
      { kind: 'column', key: 'a.b', parent: 'a' },
    ];
    const digest = new ResultDigest();
    digest.update(records);
    const expected = createHash('sha256')
      .update(records.map((r) => `${JSON.stringify(r)}\n`).join(''))
      .digest('hex');
    expect(digest.hex()).toBe(expected);
    expect(digest.records).toBe(2);
  });
});
