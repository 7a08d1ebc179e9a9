/**
 * Consumer groups written by clients we did not write, described while they run: Kafka's Java client with
 * the range, round-robin and cooperative-sticky assignors, static membership, KIP-848 (group.protocol=
 * consumer) members with and without static ids, and the @platformatic consumer. Every group the adapter
 * extracts is checked field by field against `kafka-consumer-groups.sh --describe` on the same groups.
 */
import type { Consumer } from '@platformatic/kafka';
import { Consumer as PlatformaticConsumer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminSession } from '../../adapters/kafka/admin-session.js';
import { decodeConsumerAssignment } from '../../adapters/kafka/group-protocol.js';
import { createKafkaAdapter } from '../../adapters/kafka/index.js';
import { compileKafkaSettings } from '../../adapters/kafka/settings.js';
import type { MetadataRecord } from '../../adapters/types.js';
import { peers } from '../peers/endpoints.js';
import {
  type ConsumerFleet,
  type JavaConsumerSpec,
  kafkaTools,
  KafkaTools,
  parseTables,
  startConsumerFleet,
} from '../support/kafka-java.js';
import { scaled, waitFor } from '../support/wait.js';
import { byName, extractAll, produce, saslConnection, setupAdmin, testContext } from './kafka-fixture.js';

const prefix = `sdrg${process.pid}-`;
const topicA = `${prefix}a`;
const topicB = `${prefix}b`;
const messages: Record<string, Record<number, number>> = {
  [topicA]: { 0: 10, 1: 8, 2: 6 },
  [topicB]: { 0: 5, 1: 7 },
};
const g = (name: string) => `${prefix}${name}`;

/** Every group of the test: its members, and how many records each member commits before it pauses. */
const javaSpecs: JavaConsumerSpec[] = [
  ...[1, 2].map((i) => ({
    group: g('range'),
    topics: [topicA, topicB],
    client: `range-${i}`,
    assignor: 'range' as const,
  })),
  ...[1, 2].map((i) => ({
    group: g('roundrobin'),
    topics: [topicA, topicB],
    client: `rr-${i}`,
    assignor: 'roundrobin' as const,
  })),
  ...[1, 2].map((i) => ({
    group: g('coop'),
    topics: [topicA],
    client: `coop-${i}`,
    assignor: 'cooperative-sticky' as const,
  })),
  ...[1, 2].map((i) => ({
    group: g('kip848'),
    topics: [topicA, topicB],
    client: `kip848-${i}`,
    protocol: 'consumer' as const,
  })),
  // Static members that stop after 3 records each: a known, non-zero lag on both partitions of B.
  ...[1, 2].map((i) => ({
    group: g('static'),
    topics: [topicB],
    client: `static-${i}`,
    assignor: 'range' as const,
    instance: `${prefix}instance-${i}`,
    limit: 3,
  })),
  {
    group: g('kip848-static'),
    topics: [topicA],
    client: 'kip848-static',
    protocol: 'consumer',
    instance: `${prefix}instance-848`,
    limit: 4,
  },
];
const platformaticGroup = g('platformatic');
const expectedMembers = new Map<string, number>([
  [g('range'), 2],
  [g('roundrobin'), 2],
  [g('coop'), 2],
  [g('kip848'), 2],
  [g('static'), 2],
  [g('kip848-static'), 1],
  [platformaticGroup, 1],
]);

const admin = setupAdmin();
let fleet: ConsumerFleet | undefined;
let platformatic: Consumer | undefined;
let platformaticStream: Awaited<ReturnType<Consumer['consume']>> | undefined;

const plaintext = compileKafkaSettings({
  name: 'setup',
  type: 'kafka',
  options: { bootstrapServers: [peers.kafka.plaintext], securityProtocol: 'PLAINTEXT', allowPlaintext: true },
  credentials: {},
});

/** What the settle probe last found missing, so a timeout says which group held it up. */
let unsettled = 'nothing probed yet';
function notYet(reason: string): undefined {
  unsettled = reason;
  return undefined;
}

function partitionsOf(topics: readonly string[]): number {
  return topics.reduce((sum, t) => sum + Object.keys(messages[t] ?? {}).length, 0);
}

/** Every group Stable with all its members, every subscribed partition assigned, every offset committed. */
async function groupsSettled(): Promise<true | undefined> {
  const session = new AdminSession(plaintext, new AbortController().signal);
  try {
    const listed = new Map((await session.groups()).map((x) => [x.id, x]));
    const classicIds = [...expectedMembers.keys()].filter((id) => listed.get(id)?.groupType === 'classic');
    const consumerIds = [...expectedMembers.keys()].filter((id) => listed.get(id)?.groupType === 'consumer');
    if (classicIds.length + consumerIds.length !== expectedMembers.size)
      return notYet(`listed ${classicIds.length + consumerIds.length} of ${expectedMembers.size} groups`);
    const [classic, consumer] = await Promise.all([
      session.describeClassicGroups(classicIds),
      session.describeConsumerGroups(consumerIds),
    ]);
    for (const [id, count] of expectedMembers) {
      const group = classic.get(id) ?? consumer.get(id);
      if (!group || 'errorId' in group || group.state !== 'Stable' || group.members.length !== count)
        return notYet(
          `${id}: ${group && !('errorId' in group) ? `${group.state}, ${group.members.length} of ${count} members` : 'not described'}`,
        );
      const topics =
        id === platformaticGroup ? [topicB] : (javaSpecs.find((s) => s.group === id)?.topics ?? []);
      const lists =
        'groupEpoch' in group
          ? group.members.map((m) => m.assignment)
          : group.members.map((m) => decodeConsumerAssignment(m.assignment));
      const assigned = lists.flat().reduce((n, a) => n + a.partitions.length, 0);
      if (assigned !== partitionsOf(topics))
        return notYet(`${id}: ${assigned} of ${partitionsOf(topics)} partitions assigned`);
      // A KIP-848 group is settled once every member reached the target assignment's epoch.
      if ('groupEpoch' in group && group.members.some((m) => m.memberEpoch !== group.assignmentEpoch))
        return notYet(`${id}: a member short of assignment epoch ${group.assignmentEpoch}`);
    }
    const offsets = await admin.listConsumerGroupOffsets({ groups: [...expectedMembers.keys()] });
    for (const entry of offsets) {
      const committed = entry.topics
        .flatMap((t) => t.partitions.map((p) => Number(p.committedOffset)))
        .filter((o) => o >= 0);
      const total = committed.reduce((a, b) => a + b, 0);
      const specs = javaSpecs.filter((s) => s.group === entry.groupId);
      if (entry.groupId === platformaticGroup) continue;
      const limit = specs[0]?.limit;
      const want =
        limit !== undefined
          ? limit * specs.length
          : (specs[0]?.topics ?? []).reduce(
              (sum, t) => sum + Object.values(messages[t] ?? {}).reduce((a: number, b: number) => a + b, 0),
              0,
            );
      if (total !== want) return notYet(`${entry.groupId}: ${total} of ${want} records committed`);
    }
    return true;
  } finally {
    await session.close();
  }
}

beforeAll(async () => {
  await admin.createTopics({ topics: [topicA], partitions: 3, replicas: 1 });
  await admin.createTopics({ topics: [topicB], partitions: 2, replicas: 1 });
  await produce(topicA, messages[topicA] ?? {});
  await produce(topicB, messages[topicB] ?? {});
  // The @platformatic member never commits; an offset committed before it joins gives it a lag to report.
  await admin.alterConsumerGroupOffsets({
    groupId: platformaticGroup,
    topics: [{ name: topicB, partitionOffsets: [{ partition: 1, offset: 2n }] }],
  });
  fleet = await startConsumerFleet(peers.kafka.plaintext, javaSpecs);
  platformatic = new PlatformaticConsumer({
    clientId: 'sdr-test-platformatic',
    groupId: platformaticGroup,
    bootstrapBrokers: [peers.kafka.plaintext],
    autocommit: false,
    sessionTimeout: 30_000,
    heartbeatInterval: 1_000,
  });
  platformaticStream = await platformatic.consume({ topics: [topicB], mode: 'committed', autocommit: false });
  platformaticStream.on('data', () => undefined);
  await waitFor('every group Stable with its members, assignments and offsets', groupsSettled, {
    timeoutMs: 240_000,
    intervalMs: 500,
    seen: () => unsettled,
  }).catch((error: Error) => {
    throw new Error(`${error.message}; the consumer fleet printed: ${fleet?.output().slice(-4000)}`);
  });
}, scaled(400_000));

afterAll(async () => {
  await platformaticStream?.close().catch(() => undefined);
  await platformatic?.close().catch(() => undefined);
  await fleet?.stop();
  await admin.deleteGroups({ groups: [...expectedMembers.keys()] }).catch(() => undefined);
  await admin.deleteTopics({ topics: [topicA, topicB] }).catch(() => undefined);
  await admin.close();
}, 120_000);

type Assignment = { topic: string; partitions: number[] }[];

/** `t1:0,1;t2:0` (the CLI's assignment cell) as a sorted list; `-` is none. */
function cliAssignment(cell: string | undefined): Assignment {
  if (!cell || cell === '-') return [];
  return cell
    .split(';')
    .map((part) => {
      const at = part.lastIndexOf(':');
      return {
        topic: part.slice(0, at),
        partitions: part
          .slice(at + 1)
          .split(',')
          .map(Number)
          .sort((a, b) => a - b),
      };
    })
    .sort((a, b) => (a.topic < b.topic ? -1 : 1));
}

// Only this run's groups: another run's leftovers (or a group whose topics are gone) must not matter here.
const describeArgs = [
  '--bootstrap-server',
  peers.kafka.plaintext,
  '--describe',
  ...[...expectedMembers.keys()].flatMap((id) => ['--group', id]),
];

describe('consumer groups of live Java, KIP-848 and @platformatic consumers', () => {
  it('extracts every group with members, assignments, epochs and offsets matching kafka-consumer-groups.sh', async () => {
    const context = testContext();
    const records = await extractAll(
      createKafkaAdapter(),
      saslConnection(),
      { topics: { include: [`${prefix}*`] }, groups: { include: [`${prefix}*`] }, schemaRegistry: false },
      context,
    );
    expect(context.warnings).toEqual([]);
    const groups = byName(records, 'kafka.consumer_group');
    expect([...groups.keys()].sort()).toEqual([...expectedMembers.keys()].sort());

    const [stateText, membersText, offsetsText] = await kafkaTools([
      [KafkaTools.consumerGroups, [...describeArgs, '--state']],
      [KafkaTools.consumerGroups, [...describeArgs, '--members', '--verbose']],
      [KafkaTools.consumerGroups, [...describeArgs, '--offsets']],
    ]);
    const mine = (rows: Record<string, string>[]) => rows.filter((r) => r.GROUP?.startsWith(prefix));
    const states = mine(parseTables(stateText));
    const members = mine(parseTables(membersText));
    const offsets = mine(parseTables(offsetsText));
    expect(new Set(states.map((r) => r.GROUP))).toEqual(new Set(expectedMembers.keys()));

    let membersChecked = 0;
    let offsetsChecked = 0;
    for (const [id, count] of expectedMembers) {
      const record = groups.get(id) as MetadataRecord & Record<string, unknown>;
      const state = states.find((r) => r.GROUP === id);
      expect(record.state, id).toBe(state?.STATE?.toUpperCase());
      expect(record.memberCount, id).toBe(count);
      expect(String(record.memberCount), id).toBe(state?.['#MEMBERS']);
      expect(record.protocol, id).toBe(state?.['ASSIGNMENT-STRATEGY']);
      const kip848 = record.groupType === 'consumer';

      type Member = {
        memberId: string;
        groupInstanceId: string | null;
        clientId: string;
        host: string;
        memberEpoch: number | null;
        assignments: Assignment;
        targetAssignments: Assignment | null;
      };
      const ours = (record.members as Member[]).map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId ?? '-',
        host: m.host,
        clientId: m.clientId,
        partitions: String(m.assignments.reduce((n, a) => n + a.partitions.length, 0)),
        assignments: m.assignments,
        memberEpoch: kip848 ? String(m.memberEpoch) : '-',
        targetEpoch: kip848 ? String(record.assignmentEpoch) : '-',
        targetAssignments: kip848 ? m.targetAssignments : [],
      }));
      const theirs = members
        .filter((r) => r.GROUP === id)
        .map((r) => ({
          memberId: r['CONSUMER-ID'],
          groupInstanceId: r['GROUP-INSTANCE-ID'] ?? '-',
          host: r.HOST,
          clientId: r['CLIENT-ID'],
          partitions: r['#PARTITIONS'],
          assignments: cliAssignment(r['CURRENT-ASSIGNMENT'] ?? r.ASSIGNMENT),
          memberEpoch: r['CURRENT-EPOCH'] ?? '-',
          targetEpoch: r['TARGET-EPOCH'] ?? '-',
          targetAssignments: cliAssignment(r['TARGET-ASSIGNMENT']),
        }));
      const byId = (a: { memberId: string | undefined }, b: { memberId: string | undefined }) =>
        (a.memberId ?? '') < (b.memberId ?? '') ? -1 : 1;
      expect(ours.sort(byId), id).toEqual(theirs.sort(byId));
      membersChecked += ours.length;

      const ourOffsets = (record.offsets as Record<string, unknown>[]).map((o) => ({
        topic: o.topic,
        partition: String(o.partition),
        current: String(o.committedOffset),
        logEnd: String(o.highWatermark),
        lag: String(o.lag),
      }));
      const theirOffsets = offsets
        .filter((r) => r.GROUP === id && r['CURRENT-OFFSET'] !== '-')
        .map((r) => ({
          topic: r.TOPIC,
          partition: r.PARTITION,
          current: r['CURRENT-OFFSET'],
          logEnd: r['LOG-END-OFFSET'],
          lag: r.LAG,
        }));
      const byPartition = (a: { topic: unknown; partition: string | undefined }, b: typeof a) =>
        `${String(a.topic)}:${a.partition ?? ''}`.localeCompare(`${String(b.topic)}:${b.partition ?? ''}`);
      expect(ourOffsets.sort(byPartition), id).toEqual(theirOffsets.sort(byPartition));
      offsetsChecked += ourOffsets.length;
    }
    // 7 groups, 12 members, and every committed partition (range/rr/kip848: 5 each, coop 3, static 2,
    // kip848-static 3, platformatic 1).
    expect(membersChecked).toBe(12);
    expect(offsetsChecked).toBe(24);
    // Known lags: static members stopped after 3 of 5 and 7 records; the KIP-848 static one after 4 of 24.
    expect(groups.get(g('static'))).toMatchObject({ totalLag: 6 });
    expect(groups.get(g('kip848-static'))).toMatchObject({ totalLag: 20 });
    expect(groups.get(platformaticGroup)).toMatchObject({ totalLag: 5 });
  }, 300_000);
});
