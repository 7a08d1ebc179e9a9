import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SourceAdapter } from '../../adapters/index.js';
import { Codes, type JobRequestBody, signJobRequest } from '../../protocol/index.js';
import type { ConnectionDefinition } from '../../runtime/connections.js';
import { admitRequest, type GateContext, verifyQueuedRequest } from '../../runtime/request-gate.js';
import { createPostgresAdapter } from '../../adapters/postgres/index.js';

const cloud = generateKeyPairSync('ed25519');
const now = Date.parse('2026-06-01T12:00:00Z');
const adapter: SourceAdapter<unknown> = {
  type: 'postgres',
  parseOptions: (raw, connection) => {
    if ('bogus' in raw) throw new Codes.SDR_ERR_INVALID_OPTIONS(connection, 'unknown option "bogus"');
    return raw;
  },
  check: async () => ({}),
  extract: async function* () {},
};
const connection: ConnectionDefinition = {
  name: 'warehouse',
  type: 'postgres',
  host: 'db',
  secrets: {},
  options: {},
};
const context: GateContext = {
  cloudPublicKey: cloud.publicKey,
  agentId: 'agent-1',
  clockSkewMs: 30_000,
  connections: new Map([['warehouse', connection]]),
  adapters: new Map([['postgres', adapter]]),
  deliveryModes: ['tunnel'],
  now: () => now,
};
const body = (overrides: Partial<JobRequestBody> = {}): JobRequestBody => ({
  requestId: 'req-1',
  agentId: 'agent-1',
  connection: 'warehouse',
  options: {},
  delivery: { mode: 'tunnel' },
  issuedAt: new Date(now - 1_000).toISOString(),
  expiresAt: new Date(now + 60_000).toISOString(),
  ...overrides,
});

describe('admitRequest', () => {
  it('admits a fresh request signed by the cloud for a defined connection', () => {
    expect(admitRequest(signJobRequest(body(), cloud.privateKey), context)).toBeUndefined();
  });

  it.each([
    [
      'forged by another key',
      signJobRequest(body(), generateKeyPairSync('ed25519').privateKey),
      'SDR_ERR_REQUEST_SIGNATURE',
    ],
    ['unsigned', { ...body(), signature: '' }, 'SDR_ERR_REQUEST_SIGNATURE'],
    [
      'tampered after signing',
      { ...signJobRequest(body(), cloud.privateKey), connection: 'other' },
      'SDR_ERR_REQUEST_SIGNATURE',
    ],
    [
      'expired beyond the allowed skew',
      signJobRequest(body({ expiresAt: new Date(now - 31_000).toISOString() }), cloud.privateKey),
      'SDR_ERR_REQUEST_EXPIRED',
    ],
    [
      'for another agent',
      signJobRequest(body({ agentId: 'agent-2' }), cloud.privateKey),
      'SDR_ERR_REQUEST_WRONG_AGENT',
    ],
    [
      'for an unknown connection',
      signJobRequest(body({ connection: 'prod-secret-db' }), cloud.privateKey),
      'SDR_ERR_UNKNOWN_CONNECTION',
    ],
    [
      'with options the adapter refuses',
      signJobRequest(body({ options: { bogus: 1 } }), cloud.privateKey),
      'SDR_ERR_INVALID_OPTIONS',
    ],
  ])('refuses a request %s', (_label, request, code) => {
    const refusal = admitRequest(request, context);
    expect(refusal?.code).toBe(code);
    expect(refusal?.error.message).toBeTruthy();
  });

  it('tolerates a clock a little behind within the skew', () => {
    const request = signJobRequest(
      body({ expiresAt: new Date(now - 10_000).toISOString() }),
      cloud.privateKey,
    );
    expect(admitRequest(request, context)).toBeUndefined();
  });
});

describe('admitRequest: the request window, sizes and the connection limits (issue 14)', () => {
  const pgAdapter = createPostgresAdapter();
  const limited = (limits: Record<string, unknown>): GateContext => ({
    ...context,
    connections: new Map([['warehouse', { ...connection, database: 'app', limits }]]),
    adapters: new Map([['postgres', pgAdapter]]),
  });
  const signed = (overrides: Partial<JobRequestBody>) => signJobRequest(body(overrides), cloud.privateKey);

  it.each([
    ['issued in the future beyond the skew', { issuedAt: new Date(now + 31_000).toISOString() }],
    [
      'valid for longer than the maximum lifetime',
      { expiresAt: new Date(now + 86_400_000 + 31_000).toISOString() },
    ],
  ])('refuses a request %s (SDR_ERR_REQUEST_WINDOW)', (_label, overrides) => {
    expect(admitRequest(signed(overrides), context)?.code).toBe('SDR_ERR_REQUEST_WINDOW');
  });

  it('refuses every request while no agent id is configured or bound', () => {
    expect(admitRequest(signed({}), { ...context, agentId: undefined })?.code).toBe(
      'SDR_ERR_REQUEST_WRONG_AGENT',
    );
  });

  it('answers an unknown delivery mode with SDR_ERR_UNSUPPORTED_DELIVERY', () => {
    const refusal = admitRequest(signed({ delivery: { mode: 'carrier-pigeon' } }), context);
    expect(refusal?.code).toBe('SDR_ERR_UNSUPPORTED_DELIVERY');
  });

  it('refuses options over the size limit with a short message', () => {
    const refusal = admitRequest(signed({ options: { padding: 'x'.repeat(70_000) } }), context);
    expect(refusal?.code).toBe('SDR_ERR_INVALID_OPTIONS');
    expect(refusal?.error.message.length).toBeLessThan(500);
  });

  it('refuses function bodies and databases the connection does not allow (finding 6)', () => {
    const none = limited({});
    expect(admitRequest(signed({ options: { includeFunctionBodies: true } }), none)?.error.message).toMatch(
      /limits\.functionBodies/,
    );
    expect(admitRequest(signed({ options: { databases: { include: ['postgres'] } } }), none)?.code).toBe(
      'SDR_ERR_INVALID_OPTIONS',
    );
    // Its own database, and patterns (narrowed to the allowed set at extraction), pass.
    expect(admitRequest(signed({ options: { databases: { include: ['app', '*'] } } }), none)).toBeUndefined();
    const wide = limited({ functionBodies: true, databases: ['report_*'] });
    expect(
      admitRequest(
        signed({ options: { includeFunctionBodies: true, databases: { include: ['report_eu'] } } }),
        wide,
      ),
    ).toBeUndefined();
  });
});

describe('verifyQueuedRequest (finding 5: Redis is not trusted)', () => {
  const request = signJobRequest(body(), cloud.privateKey);

  it('accepts the signed request it was queued with, even past its expiry', () => {
    const later = { ...context, now: () => now + 7 * 86_400_000 };
    expect(verifyQueuedRequest('req-1', request, later)).toBeUndefined();
  });

  it.each([
    ['no request at all (a job written straight into Redis)', undefined, 'req-1'],
    [
      'a request with a forged signature',
      { ...request, connection: 'warehouse', options: { x: 1 } },
      'req-1',
    ],
    ['another job’s request', request, 'req-2'],
    ['garbage', { requestId: 'req-1', signature: 42 }, 'req-1'],
  ])('refuses %s', (_label, stored, jobId) => {
    expect(verifyQueuedRequest(jobId, stored, context)?.code).toBe('SDR_ERR_JOB_UNVERIFIED');
  });

  it('refuses a request for another agent than the one bound now', () => {
    expect(verifyQueuedRequest('req-1', request, { ...context, agentId: 'agent-2' })?.code).toBe(
      'SDR_ERR_JOB_UNVERIFIED',
    );
  });
});
