import { tracingChannel } from 'node:diagnostics_channel';
import { Consumer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaAdapter } from '../../adapters/kafka/index.js';
import { peers } from '../peers/endpoints.js';
import { extractAll, produce, saslConnection, setupAdmin, testContext } from './kafka-fixture.js';

const prefix = `sdrro${process.pid}-`;
const topic = `${prefix}events`;
const idleGroup = `${prefix}idle`;
const liveGroup = `${prefix}live`;
const admin = setupAdmin();
let consumer: Consumer | undefined;
let stream: Awaited<ReturnType<Consumer['consume']>> | undefined;

/** Kafka API keys of calls that only read: everything the adapter may send. */
const READ_ONLY_API_KEYS = new Map([
  [2, 'ListOffsets'],
  [3, 'Metadata'],
  [9, 'OffsetFetch'],
  [10, 'FindCoordinator'],
  [15, 'DescribeGroups'],
  [16, 'ListGroups'],
  [17, 'SaslHandshake'],
  [18, 'ApiVersions'],
  [32, 'DescribeConfigs'],
  [35, 'DescribeLogDirs'],
  [36, 'SaslAuthenticate'],
  [69, 'ConsumerGroupDescribe'],
]);

async function groupState() {
  const offsets = await admin.listConsumerGroupOffsets({ groups: [idleGroup, liveGroup] });
  const described = await admin.describeGroups({ groups: [idleGroup, liveGroup] });
  const watermarks = await admin.listOffsets({
    topics: [
      { name: topic, partitions: [0, 1].map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) },
    ],
  });
  return {
    offsets: offsets
      .map((g) => ({
        group: g.groupId,
        topics: g.topics.map((t) => ({
          topic: t.name,
          partitions: t.partitions.map((p) => [p.partitionIndex, p.committedOffset.toString()]).sort(),
        })),
      }))
      .sort((a, b) => a.group.localeCompare(b.group)),
    groups: [...described.values()]
      .map((g) => ({ id: g.id, state: g.state, members: [...g.members.keys()].sort() }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    watermarks: watermarks.flatMap((t) => t.partitions.map((p) => `${p.partitionIndex}:${p.offset}`)).sort(),
  };
}

beforeAll(async () => {
  await admin.createTopics({ topics: [topic], partitions: 2, replicas: 1 });
  await produce(topic, { 0: 6, 1: 2 });
  for (const [group, offset] of [
    [idleGroup, 2n],
    [liveGroup, 1n],
  ] as const) {
    await admin.alterConsumerGroupOffsets({
      groupId: group,
      topics: [{ name: topic, partitionOffsets: [{ partition: 0, offset }] }],
    });
  }
  consumer = new Consumer({
    clientId: 'sdr-test-live-member',
    groupId: liveGroup,
    bootstrapBrokers: [peers.kafka.plaintext],
    autocommit: false,
    sessionTimeout: 20_000,
    heartbeatInterval: 1_000,
  });
  stream = await consumer.consume({ topics: [topic], mode: 'committed', autocommit: false });
  stream.on('data', () => undefined);
  for (let i = 0; i < 100; i++) {
    const group = (await admin.describeGroups({ groups: [liveGroup] })).get(liveGroup);
    if (group?.state === 'STABLE' && group.members.size === 1) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

afterAll(async () => {
  if (stream) await stream.close();
  if (consumer) await consumer.close();
  await admin.deleteGroups({ groups: [idleGroup, liveGroup] }).catch(() => undefined);
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.close();
});

describe('kafka adapter is read-only', () => {
  it('sends only metadata, describe and list calls and leaves offsets and membership unchanged', async () => {
    const before = await groupState();
    expect(before.groups.find((g) => g.id === liveGroup)?.members).toHaveLength(1);

    // Every request the client library puts on a socket to the SASL_SSL listener: only the adapter uses it.
    const saslPort = Number(peers.kafka.saslSsl.split(':')[1]);
    const sent: number[] = [];
    const channel = tracingChannel<unknown, { apiKey?: number; connection?: { port?: number } }>(
      'plt:kafka:connections:api',
    );
    const handlers = {
      start: (message: { apiKey?: number; connection?: { port?: number } }) => {
        if (message.connection?.port === saslPort && typeof message.apiKey === 'number')
          sent.push(message.apiKey);
      },
      end: () => undefined,
      asyncStart: () => undefined,
      asyncEnd: () => undefined,
      error: () => undefined,
    };
    channel.subscribe(handlers);
    let records;
    try {
      const adapter = createKafkaAdapter();
      records = await extractAll(
        adapter,
        saslConnection(),
        { topics: { include: [`${prefix}*`] }, groups: { include: [`${prefix}*`] } },
        testContext(),
      );
    } finally {
      channel.unsubscribe(handlers);
    }

    expect(records.filter((r) => r.kind === 'kafka.consumer_group')).toHaveLength(2);
    expect(sent.length).toBeGreaterThan(0);
    const unexpected = [...new Set(sent)].filter((key) => !READ_ONLY_API_KEYS.has(key));
    expect(unexpected).toEqual([]);
    for (const key of [3, 32, 2, 16, 15, 9]) expect(sent).toContain(key);

    const after = await groupState();
    expect(after).toEqual(before);
  });
});
