import { describe, expect, it } from 'vitest';
import type { AdminSession } from '../../adapters/kafka/admin-session.js';
import { extractKafka } from '../../adapters/kafka/extract.js';
import {
  ByteWriter,
  decodeConsumerAssignment,
  decodeConsumerGroupDescribeV0,
  decodeConsumerSubscription,
  decodeDescribeGroupsV5,
  decodeListGroups,
  KafkaDecodeError,
  type RawClassicGroup,
} from '../../adapters/kafka/group-protocol.js';
import { parseKafkaExtractOptions } from '../../adapters/kafka/options.js';
import { compileKafkaSettings } from '../../adapters/kafka/settings.js';
import type { AdapterContext, MetadataRecord } from '../../adapters/types.js';

type TopicPartitions = { topic: string; partitions: number[] }[];

/** ConsumerProtocolSubscription as the Java client writes it (non-flexible). */
function subscription(
  version: number,
  topics: string[],
  extra: { owned?: TopicPartitions; generation?: number; rack?: string | null; userData?: Buffer } = {},
): Buffer {
  const w = new ByteWriter().int16(version);
  w.array(topics, false, (t) => w.string(t, false));
  w.bytes(extra.userData ?? null, false);
  if (version >= 1) topicPartitions(w, extra.owned ?? []);
  if (version >= 2) w.int32(extra.generation ?? -1);
  if (version >= 3) w.string(extra.rack ?? null, false);
  return w.toBuffer();
}

function topicPartitions(w: ByteWriter, list: TopicPartitions): void {
  w.array(list, false, (tp) => {
    w.string(tp.topic, false);
    w.array(tp.partitions, false, (p) => w.int32(p));
  });
}

/** ConsumerProtocolAssignment, with the 4-byte-length user data the crash came from. */
function assignment(version: number, assigned: TopicPartitions, userData: Buffer | null = null): Buffer {
  const w = new ByteWriter().int16(version);
  topicPartitions(w, assigned);
  w.bytes(userData, false);
  return w.toBuffer();
}

type Member = RawClassicGroup['members'][number];

/** A DescribeGroups v5 response body (flexible) for the given groups. */
function describeGroupsResponse(groups: Omit<RawClassicGroup, 'errorCode'>[]): Buffer {
  const w = new ByteWriter().int32(0);
  w.array(groups, true, (g) => {
    w.int16(0).string(g.groupId, true).string(g.state, true).string(g.protocolType, true);
    w.string(g.protocol, true);
    w.array(g.members, true, (m: Member) => {
      w.string(m.memberId, true).string(m.groupInstanceId, true).string(m.clientId, true);
      w.string(m.clientHost, true).bytes(m.metadata, true).bytes(m.assignment, true).tags();
    });
    w.int32(-2147483648).tags();
  });
  return w.tags().toBuffer();
}

/** A classic consumer member as the Java client describes itself. */
const member = (id: string, topics: TopicPartitions): Member => ({
  memberId: id,
  groupInstanceId: id === 'static' ? 'instance-1' : null,
  clientId: `client-${id}`,
  clientHost: '/10.0.0.1',
  metadata: subscription(3, ['orders'], { generation: 3 }),
  assignment: assignment(3, topics, Buffer.from([0, 0, 0, 1])),
});

/** Deterministic pseudo-random bytes (xorshift), so a failing case can be replayed from its seed. */
function random(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function randomBytes(next: () => number, max: number): Buffer {
  const out = Buffer.alloc(Math.floor(next() * max));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(next() * 256);
  return out;
}

/** Decodes or throws KafkaDecodeError; any other outcome (RangeError, TypeError, a hang) fails the test. */
function decodesOrRefuses(run: () => unknown): 'decoded' | 'refused' {
  try {
    run();
    return 'decoded';
  } catch (error) {
    expect(error).toBeInstanceOf(KafkaDecodeError);
    return 'refused';
  }
}

describe('consumer protocol payloads', () => {
  it('decodes every subscription version the Java client writes, user data included', () => {
    const owned = [{ topic: 'orders', partitions: [0, 2] }];
    for (const version of [0, 1, 2, 3]) {
      const decoded = decodeConsumerSubscription(
        subscription(version, ['orders', 'payments'], {
          owned,
          generation: 7,
          rack: 'rack-a',
          userData: Buffer.from([1, 2, 3, 4, 5]),
        }),
      );
      expect(decoded).toEqual({
        version,
        topics: ['orders', 'payments'],
        ownedPartitions: version >= 1 ? owned : [],
        generationId: version >= 2 ? 7 : -1,
        rackId: version >= 3 ? 'rack-a' : null,
      });
    }
  });

  it('reads a newer subscription version as the newest known one, ignoring appended fields', () => {
    const v3 = subscription(3, ['t'], { rack: null });
    const v9 = Buffer.concat([v3, Buffer.from([0xde, 0xad])]);
    v9.writeInt16BE(9, 0);
    expect(decodeConsumerSubscription(v9)).toMatchObject({ version: 3, topics: ['t'], rackId: null });
  });

  it('gives fields of a stamped version defaults when the payload ends before them (@platformatic/kafka 1.x)', () => {
    const stamped = subscription(0, ['orders'], { userData: Buffer.from('x') });
    stamped.writeInt16BE(1, 0);
    expect(decodeConsumerSubscription(stamped)).toEqual({
      version: 1,
      topics: ['orders'],
      ownedPartitions: [],
      generationId: -1,
      rackId: null,
    });
    const cutInsideField = Buffer.concat([stamped, Buffer.from([0, 0])]);
    expect(() => decodeConsumerSubscription(cutInsideField)).toThrow(KafkaDecodeError);
  });

  it('decodes an assignment whose user data has a 4-byte length (the cooperative-sticky / Streams case)', () => {
    const userData = Buffer.alloc(300, 7);
    const assigned = [
      { topic: 'orders', partitions: [0, 1] },
      { topic: 'payments', partitions: [2] },
    ];
    for (const version of [0, 1, 2, 3]) {
      expect(decodeConsumerAssignment(assignment(version, assigned, userData))).toEqual(assigned);
    }
    expect(decodeConsumerAssignment(Buffer.alloc(0))).toEqual([]);
    expect(decodeConsumerSubscription(Buffer.alloc(0))).toBeNull();
  });

  it('refuses truncated and inconsistent payloads with KafkaDecodeError', () => {
    const good = assignment(1, [{ topic: 'orders', partitions: [0, 1, 2] }], Buffer.from('ud'));
    for (let cut = 1; cut < good.length; cut++) {
      expect(() => decodeConsumerAssignment(good.subarray(0, cut))).toThrow(KafkaDecodeError);
    }
    // An array count of 2^31−1 must be refused before anything is allocated.
    const huge = new ByteWriter().int16(0).int32(0x7fffffff).toBuffer();
    expect(() => decodeConsumerAssignment(huge)).toThrow(/cannot fit/);
    expect(() => decodeConsumerSubscription(new ByteWriter().int16(-1).toBuffer())).toThrow(
      /negative version/,
    );
  });

  it('fuzz: 5,000 random payloads each decode or throw KafkaDecodeError, never anything else', () => {
    const next = random(0x5d12);
    const outcomes = { decoded: 0, refused: 0 };
    for (let i = 0; i < 5_000; i++) {
      const bytes = randomBytes(next, 64);
      // Half the cases keep a plausible version so the decoder gets past the header.
      if (i % 2 === 0 && bytes.length >= 2) bytes.writeInt16BE(i % 4, 0);
      outcomes[decodesOrRefuses(() => decodeConsumerSubscription(bytes))]++;
      outcomes[decodesOrRefuses(() => decodeConsumerAssignment(bytes))]++;
    }
    expect(outcomes.decoded + outcomes.refused).toBe(10_000);
    expect(outcomes.refused).toBeGreaterThan(0);
  });
});

describe('group API responses', () => {
  it('decodes DescribeGroups v5 and keeps member payloads as bytes', () => {
    const body = describeGroupsResponse([
      {
        groupId: 'g1',
        state: 'Stable',
        protocolType: 'consumer',
        protocol: 'range',
        members: [member('a', [{ topic: 'orders', partitions: [0] }]), member('static', [])],
      },
    ]);
    const [group] = decodeDescribeGroupsV5(body);
    expect(group).toMatchObject({ errorCode: 0, groupId: 'g1', state: 'Stable', protocol: 'range' });
    expect(group?.members.map((m) => m.groupInstanceId)).toEqual([null, 'instance-1']);
    expect(decodeConsumerAssignment(group?.members[0]?.assignment ?? Buffer.alloc(0))).toEqual([
      { topic: 'orders', partitions: [0] },
    ]);
  });

  it('fuzz: 2,000 truncated or bit-flipped DescribeGroups answers decode or throw KafkaDecodeError', () => {
    const body = describeGroupsResponse([
      {
        groupId: 'g1',
        state: 'Stable',
        protocolType: 'consumer',
        protocol: 'roundrobin',
        members: [member('a', [{ topic: 'orders', partitions: [0, 1] }])],
      },
    ]);
    const next = random(0xfeed);
    for (let i = 0; i < 2_000; i++) {
      const mutated = Buffer.from(body.subarray(0, Math.floor(next() * (body.length + 1))));
      for (let flips = 0; flips < 3 && mutated.length > 0; flips++) {
        const at = Math.floor(next() * mutated.length);
        mutated[at] = (mutated[at] ?? 0) ^ (1 << Math.floor(next() * 8));
      }
      decodesOrRefuses(() => decodeDescribeGroupsV5(mutated));
    }
  });

  it('decodes ListGroups v5 (with group types) and v4 (without)', () => {
    const v5 = new ByteWriter().int32(0).int16(0);
    v5.array(['classic', 'consumer'], true, (type) => {
      v5.string(`g-${type}`, true).string('consumer', true).string('Stable', true).string(type, true).tags();
    });
    expect(decodeListGroups(v5.tags().toBuffer(), 5).groups).toEqual([
      { id: 'g-classic', protocolType: 'consumer', state: 'Stable', groupType: 'classic' },
      { id: 'g-consumer', protocolType: 'consumer', state: 'Stable', groupType: 'consumer' },
    ]);
    const v4 = new ByteWriter().int32(0).int16(0);
    v4.array(['x'], true, (id) => v4.string(id, true).string('', true).string('Empty', true).tags());
    expect(decodeListGroups(v4.tags().toBuffer(), 4).groups).toEqual([
      { id: 'x', protocolType: '', state: 'Empty', groupType: '' },
    ]);
  });

  it('decodes ConsumerGroupDescribe v0: epochs, subscriptions, current and target assignments', () => {
    const w = new ByteWriter().int32(0);
    const topicId = Buffer.alloc(16, 0xab);
    const assign = (partitions: number[]) => {
      w.array([0], true, () => {
        w.raw(topicId).string('orders', true);
        w.array(partitions, true, (p) => w.int32(p)).tags();
      });
      w.tags();
    };
    w.array([0], true, () => {
      w.int16(0).string(null, true).string('g848', true).string('Reconciling', true);
      w.int32(5).int32(4).string('uniform', true);
      w.array([0], true, () => {
        w.string('m1', true).string('static-1', true).string(null, true).int32(4);
        w.string('c1', true).string('/127.0.0.1', true);
        w.array(['orders'], true, (t) => w.string(t, true)).string(null, true);
        assign([0, 1]);
        assign([0, 1, 2]);
        w.tags();
      });
      w.int32(0).tags();
    });
    const [group] = decodeConsumerGroupDescribeV0(w.tags().toBuffer());
    expect(group).toMatchObject({ groupId: 'g848', state: 'Reconciling', groupEpoch: 5, assignmentEpoch: 4 });
    expect(group?.members[0]).toMatchObject({
      memberId: 'm1',
      instanceId: 'static-1',
      memberEpoch: 4,
      subscribedTopics: ['orders'],
      assignment: [{ topic: 'orders', partitions: [0, 1] }],
      targetAssignment: [{ topic: 'orders', partitions: [0, 1, 2] }],
    });
  });
});

describe('extraction with undecodable member bytes', () => {
  it('fuzz: 200 jobs, each with one group of random member bytes, cost that group and one warning', async () => {
    const settings = compileKafkaSettings({
      name: 'k',
      type: 'kafka',
      options: { bootstrapServers: ['127.0.0.1:1'], securityProtocol: 'PLAINTEXT', allowPlaintext: true },
      credentials: {},
    });
    const options = parseKafkaExtractOptions({ schemaRegistry: false }, 'k');
    const next = random(0xbad);
    let groupsCostWithWarning = 0;
    let decodedAnyway = 0;
    for (let run = 0; run < 200; run++) {
      const garbage = randomBytes(next, 80);
      if (garbage.length >= 2 && run % 2 === 0) garbage.writeInt16BE(run % 4, 0);
      const good: RawClassicGroup = {
        errorCode: 0,
        groupId: 'good',
        state: 'Stable',
        protocolType: 'consumer',
        protocol: 'range',
        members: [member('a', [{ topic: 'orders', partitions: [0] }])],
      };
      const bad: RawClassicGroup = {
        ...good,
        groupId: 'bad',
        members: [{ ...member('b', []), [run % 3 === 0 ? 'metadata' : 'assignment']: garbage }],
      };
      const session = {
        clusterMetadata: async () => ({ clusterId: 'c', controllerId: 1, brokers: [], topics: [] }),
        brokerConfigs: async () => ({ brokers: new Map(), clusterDefaults: [] }),
        groups: async () =>
          ['bad', 'good'].map((id) => ({
            id,
            state: 'STABLE',
            protocolType: 'consumer',
            groupType: 'classic',
          })),
        describeClassicGroups: async () =>
          new Map<string, RawClassicGroup>([
            ['bad', bad],
            ['good', good],
          ]),
        describeConsumerGroups: async () => new Map(),
        committedOffsets: async () => new Map(),
        offsets: async () => new Map(),
      } as unknown as AdminSession;
      const warnings: string[] = [];
      const noop = () => undefined;
      const context: AdapterContext = {
        signal: new AbortController().signal,
        log: { debug: noop, info: noop, warn: noop },
        warn: (m) => warnings.push(m),
      };
      const records: MetadataRecord[] = [];
      for await (const record of extractKafka(session, undefined, settings, options, context)) {
        records.push(record);
      }
      const groups = records.filter((r) => r.kind === 'kafka.consumer_group');
      expect(groups.map((g) => g.groupId)).toEqual(['bad', 'good']);
      expect(groups[1]).toMatchObject({ memberCount: 1, members: [{ memberId: 'a' }] });
      if (warnings.length === 1) {
        expect(warnings[0]).toMatch(/^consumer group bad: members omitted, member b /);
        expect(groups[0]).toMatchObject({ memberCount: null, members: [], state: 'STABLE' });
        groupsCostWithWarning++;
      } else {
        // Random bytes that happen to be a valid payload are a valid member.
        expect(warnings).toEqual([]);
        expect(groups[0]).toMatchObject({ memberCount: 1 });
        decodedAnyway++;
      }
    }
    expect(groupsCostWithWarning + decodedAnyway).toBe(200);
    expect(groupsCostWithWarning).toBeGreaterThan(150);
  });
});
