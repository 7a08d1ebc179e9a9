import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  clampWelcome,
  CLOUD_TO_RUNTIME,
  decodeFrame,
  frameSchemas,
  type FrameType,
  WELCOME_BOUNDS,
} from '../../protocol/index.js';
import { PROPERTY_RUNS } from '../support/property-runs.js';

const MAX = 64 * 1024;
const frameTypes = Object.keys(frameSchemas) as FrameType[];

/** JSON objects shaped like frames: a known type and a random mix of the fields frames use. */
const frameLike = fc.record(
  {
    type: fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...frameTypes) },
      { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
    ),
    requestId: fc.oneof(fc.string({ maxLength: 40 }), fc.integer(), fc.constant('123')),
    attempt: fc.oneof(fc.integer(), fc.double(), fc.string()),
    seq: fc.oneof(fc.integer(), fc.double(), fc.string()),
    agentId: fc.string(),
    protocolVersion: fc.integer(),
    heartbeatIntervalMs: fc.oneof(fc.integer(), fc.double(), fc.constant(3e9)),
    creditWindow: fc.oneof(fc.integer(), fc.constant(2 ** 31)),
    maxFrameBytes: fc.integer(),
    code: fc.string(),
    message: fc.string({ maxLength: 50 }),
    records: fc.oneof(fc.integer(), fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 })),
    warnings: fc.array(fc.string(), { maxLength: 5 }),
    request: fc.oneof(
      fc.jsonValue({ maxDepth: 1 }),
      fc.record({ requestId: fc.string(), delivery: fc.record({ mode: fc.string() }) }),
    ),
    entries: fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 2 }),
  },
  { requiredKeys: ['type'] },
);

describe('decodeFrame (property)', () => {
  it('never throws on arbitrary text, and refusals carry a catalogued code', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 4 })), (text) => {
        const result = decodeFrame(text, CLOUD_TO_RUNTIME, MAX);
        return result.ok || result.error.code.startsWith('SDR_ERR_FRAME_');
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it('never throws on frame-shaped objects; accepted frames are of an accepted type', () => {
    fc.assert(
      fc.property(frameLike, (object) => {
        const result = decodeFrame(JSON.stringify(object), CLOUD_TO_RUNTIME, MAX);
        return result.ok ? CLOUD_TO_RUNTIME.has(result.frame.type) : result.error.message.length < 1_000;
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it('never throws on deep nesting', () => {
    for (const depth of [1_000, 100_000]) {
      const text = `{"type":"job.request","request":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      expect(decodeFrame(text, CLOUD_TO_RUNTIME, 4 * 1024 * 1024).ok).toBe(false);
    }
  });

  it('answers a plain-integer request id as a malformed frame naming the request', () => {
    const result = decodeFrame(
      JSON.stringify({ type: 'job.cancel', requestId: '123' }),
      CLOUD_TO_RUNTIME,
      MAX,
    );
    expect(result).toMatchObject({ ok: false, error: { code: 'SDR_ERR_FRAME_MALFORMED' }, requestId: '123' });
  });
});

describe('clampWelcome (property)', () => {
  it('always yields numbers inside the documented bounds, and keeps those already inside', () => {
    const number = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(3e9, 2 ** 31, Number.MAX_VALUE));
    fc.assert(
      fc.property(number, number, number, (heartbeatIntervalMs, creditWindow, maxFrameBytes) => {
        const clamped = clampWelcome({ heartbeatIntervalMs, creditWindow, maxFrameBytes });
        return (['heartbeatIntervalMs', 'creditWindow', 'maxFrameBytes'] as const).every((name) => {
          const { min, max } = WELCOME_BOUNDS[name];
          const value = clamped[name];
          return Number.isInteger(value) && value >= min && value <= max;
        });
      }),
      { numRuns: PROPERTY_RUNS },
    );
    const inside = { heartbeatIntervalMs: 15_000, creditWindow: 8, maxFrameBytes: 4 * 1024 * 1024 };
    expect(clampWelcome(inside)).toEqual({ ...inside, clamped: [] });
    expect(clampWelcome({ heartbeatIntervalMs: 3e9, creditWindow: 2 ** 31, maxFrameBytes: 1 })).toMatchObject(
      {
        heartbeatIntervalMs: WELCOME_BOUNDS.heartbeatIntervalMs.max,
        creditWindow: WELCOME_BOUNDS.creditWindow.max,
        maxFrameBytes: WELCOME_BOUNDS.maxFrameBytes.min,
      },
    );
  });
});
