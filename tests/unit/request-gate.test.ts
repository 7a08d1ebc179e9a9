import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SourceAdapter } from '../../adapters/index.js';
import { Codes, type JobRequestBody, signJobRequest } from '../../protocol/index.js';
import type { ConnectionDefinition } from '../../runtime/connections.js';
import { TUNNEL_ONLY } from '../../runtime/delivery/settings.js';
import { admitRequest, type GateContext } from '../../runtime/request-gate.js';

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
  delivery: TUNNEL_ONLY,
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

  it('checks the delivery mode against what the connection allows', () => {
    const bucketToo: ConnectionDefinition = {
      ...connection,
      name: 'lake',
      delivery: { ...TUNNEL_ONLY, default: 'bucket', allow: ['bucket', 'tunnel'] },
    };
    const withLake = {
      ...context,
      deliveryModes: ['tunnel', 'bucket', 'presigned'],
      connections: new Map([
        ['warehouse', connection],
        ['lake', bucketToo],
      ]),
    };
    const ask = (name: string, mode: 'tunnel' | 'bucket' | 'presigned' | 'default') =>
      admitRequest(
        signJobRequest(body({ connection: name, delivery: { mode } }), cloud.privateKey),
        withLake,
      );
    expect(ask('lake', 'bucket')).toBeUndefined();
    expect(ask('lake', 'default')).toBeUndefined();
    expect(ask('warehouse', 'default')).toBeUndefined();
    const refused = ask('warehouse', 'bucket');
    expect(refused?.code).toBe('SDR_ERR_UNSUPPORTED_DELIVERY');
    expect(refused?.error.message).toContain('connection "warehouse" allows tunnel');
    expect(ask('lake', 'presigned')?.code).toBe('SDR_ERR_UNSUPPORTED_DELIVERY');
    expect(
      admitRequest(signJobRequest(body({ delivery: { mode: 'bucket' } }), cloud.privateKey), context)?.error
        .message,
    ).toContain('this runtime implements tunnel');
  });
});
