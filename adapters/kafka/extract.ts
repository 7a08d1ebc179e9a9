import type { AdapterContext, MetadataRecord } from '../types.js';
import type {
  AdminSession,
  ClusterInfo,
  CommittedOffsets,
  PartitionInfo,
  TopicMetadata,
} from './admin-session.js';
import { aclFor, isAuthorizationError, kafkaErrorIds } from './errors.js';
import {
  type ConsumerSubscription,
  decodeConsumerAssignment,
  decodeConsumerSubscription,
  isDecodeError,
  KafkaDecodeError,
  type RawClassicGroup,
  type RawConsumerGroup,
  type TopicAssignment,
} from './group-protocol.js';
import type { KafkaExtractOptions } from './options.js';
import { nameFilter } from './options.js';
import type { SchemaRegistryClient } from './schema-registry.js';
import { subjectTopic } from './schema-registry.js';
import type { KafkaSettings } from './settings.js';

/** Topic configs always reported, whether or not they are set on the topic. */
export const ALWAYS_REPORTED_CONFIGS = [
  'retention.ms',
  'retention.bytes',
  'cleanup.policy',
  'compression.type',
  'segment.bytes',
  'min.insync.replicas',
  'max.message.bytes',
] as const;

/** Broker configs always reported, whatever their source; the others only when not Kafka's default. */
export const ALWAYS_REPORTED_BROKER_CONFIGS = [
  'auto.create.topics.enable',
  'compression.type',
  'default.replication.factor',
  'log.cleanup.policy',
  'log.retention.bytes',
  'log.retention.hours',
  'log.retention.ms',
  'log.segment.bytes',
  'message.max.bytes',
  'min.insync.replicas',
  'num.partitions',
  'offsets.retention.minutes',
  'unclean.leader.election.enable',
] as const;

/** Kafka's ConfigSource names, by the number DescribeConfigs answers. */
const CONFIG_SOURCES: Record<number, string> = {
  1: 'DYNAMIC_TOPIC_CONFIG',
  2: 'DYNAMIC_BROKER_CONFIG',
  3: 'DYNAMIC_DEFAULT_BROKER_CONFIG',
  4: 'STATIC_BROKER_CONFIG',
  5: 'DEFAULT_CONFIG',
  6: 'DYNAMIC_BROKER_LOGGER_CONFIG',
};
const DEFAULT_CONFIG = 5;

/** ConfigSource 1 (DYNAMIC_TOPIC_CONFIG): a value set on the topic itself, i.e. not a default. */
const TOPIC_OVERRIDE = 1;

/** Record keys: stable, derived from the cluster id so two connections to one cluster agree. */
export const recordKeys = {
  cluster: (clusterId: string) => `kafka://${clusterId}`,
  topic: (clusterId: string, topic: string) => `kafka://${clusterId}/topic/${topic}`,
  group: (clusterId: string, group: string) => `kafka://${clusterId}/group/${group}`,
  subject: (clusterId: string, subject: string) => `kafka://${clusterId}/schema-subject/${subject}`,
};

/** Offsets are int64; beyond 2^53 they would lose precision as JSON numbers, so those travel as strings. */
function offsetValue(value: bigint): number | string {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
    ? Number(value)
    : value.toString();
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Runs `work` over batches with up to `window` batches started ahead, yielding results in batch order.
 * The window bounds memory: at most `window` batches of records exist before the consumer takes them.
 */
async function* pipelined<B, R>(
  batches: B[],
  window: number,
  work: (batch: B) => Promise<R>,
): AsyncGenerator<R> {
  const pending: Promise<R>[] = [];
  let next = 0;
  try {
    while (next < batches.length || pending.length > 0) {
      while (next < batches.length && pending.length < window) {
        const started = work(batches[next++] as B);
        // Rejections are observed when awaited in order; this keeps an early one from being "unhandled".
        started.catch(() => undefined);
        pending.push(started);
      }
      yield await (pending.shift() as Promise<R>);
    }
  } finally {
    await Promise.allSettled(pending);
  }
}

/** Everything the extraction learns about topics that the group and subject phases reuse. */
interface TopicFacts {
  partitions: Map<string, PartitionInfo[]>;
  highWatermarks: Map<string, Map<number, bigint>>;
  cataloged: Set<string>;
}

/**
 * Streams the cluster record, then topics, consumer groups and Schema Registry subjects. Denials on one
 * object become warnings naming the missing ACL; everything else that fails ends the job with a coded error.
 */
export async function* extractKafka(
  session: AdminSession,
  registry: SchemaRegistryClient | undefined,
  settings: KafkaSettings,
  options: KafkaExtractOptions,
  context: AdapterContext,
): AsyncGenerator<MetadataRecord> {
  const window = options.maxInFlight ?? settings.maxInFlight;
  // Fail fast on a wrong registry URL or key before crawling a large cluster.
  const subjectsPromise = registry && options.schemaRegistry ? registry.subjects() : undefined;
  subjectsPromise?.catch(() => undefined);
  const globalCompatibility =
    registry && options.schemaRegistry ? await registry.globalCompatibility() : null;
  if (subjectsPromise) await subjectsPromise;

  const cluster = await session.clusterMetadata();
  const clusterKey = recordKeys.cluster(cluster.clusterId);
  const allTopics = cluster.topics;
  let partitionCount = 0;
  for (const topic of allTopics) partitionCount += topic.partitions.length;

  const brokerConfigs = await brokerConfigRecord(session, cluster, context);
  yield clusterRecord(
    cluster,
    brokerConfigs,
    clusterKey,
    allTopics.length,
    partitionCount,
    settings,
    registry,
    globalCompatibility,
  );

  const topicFilter = nameFilter(options.topics);
  const selected = allTopics
    .filter((t) => (options.includeInternalTopics || !t.internal) && topicFilter(t.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const facts: TopicFacts = { partitions: new Map(), highWatermarks: new Map(), cataloged: new Set() };
  for (const topic of allTopics) facts.partitions.set(topic.name, topic.partitions);

  const sizesAllowed = { value: options.logDirSizes };
  const topicBatches = chunk(selected, options.batchSize);
  for await (const records of pipelined(topicBatches, window, (batch) =>
    topicBatch(session, batch, facts, sizesAllowed, clusterKey, cluster.clusterId, context),
  )) {
    for (const record of records) yield record;
  }

  context.log.debug({ topics: selected.length, clusterTopics: allTopics.length }, 'kafka topics extracted');
  yield* extractGroups(session, options, window, facts, clusterKey, cluster.clusterId, context);

  if (registry && options.schemaRegistry && subjectsPromise) {
    const subjectFilter = nameFilter(options.subjects);
    const subjects = (await subjectsPromise).filter(subjectFilter).sort();
    const knownTopics = new Set(allTopics.map((t) => t.name));
    for await (const record of pipelined(subjects, window, async (subject) => {
      const [versions, compatibility] = await Promise.all([
        registry.versions(subject),
        registry.subjectCompatibility(subject),
      ]);
      const mapping = subjectTopic(subject, knownTopics);
      const latest = versions.at(-1);
      return {
        kind: 'kafka.schema_subject',
        key: recordKeys.subject(cluster.clusterId, subject),
        parent: clusterKey,
        subject,
        topic: mapping.topic,
        role: mapping.role,
        namingStrategy: mapping.strategy,
        topicExists: mapping.topicExists,
        compatibility,
        effectiveCompatibility: compatibility ?? globalCompatibility,
        globalCompatibility,
        latestVersion: latest?.version ?? null,
        latestSchemaId: latest?.id ?? null,
        schemaType: latest?.schemaType ?? null,
        versions,
      } satisfies MetadataRecord;
    })) {
      yield record;
    }
  }
}

type BrokerConfigs = {
  brokerConfigs:
    { brokerId: number; configs: Record<string, string | null>; sources: Record<string, string> }[] | null;
  clusterDynamicDefaults: Record<string, string | null> | null;
};

/**
 * Each broker's configs that differ from Kafka's defaults (static from server.properties, dynamic per broker
 * or cluster-wide) plus `ALWAYS_REPORTED_BROKER_CONFIGS`, and the cluster-wide dynamic defaults. A denial
 * (DESCRIBE_CONFIGS on the Cluster) leaves them null with one warning.
 */
async function brokerConfigRecord(
  session: AdminSession,
  cluster: ClusterInfo,
  context: AdapterContext,
): Promise<BrokerConfigs> {
  const answered = await session.brokerConfigs(cluster.brokers.map((b) => b.id));
  const failures: string[] = [];
  const brokerConfigs: NonNullable<BrokerConfigs['brokerConfigs']> = [];
  for (const [brokerId, entries] of answered.brokers) {
    if ('errorId' in entries) {
      failures.push(`broker ${brokerId} (${entries.errorId})`);
      continue;
    }
    const configs: Record<string, string | null> = {};
    const sources: Record<string, string> = {};
    const always = new Set<string>(ALWAYS_REPORTED_BROKER_CONFIGS);
    for (const entry of [...entries].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.source === DEFAULT_CONFIG && !always.has(entry.name)) continue;
      configs[entry.name] = entry.value;
      sources[entry.name] = CONFIG_SOURCES[entry.source] ?? `UNKNOWN_${entry.source}`;
    }
    brokerConfigs.push({ brokerId, configs, sources });
  }
  let clusterDynamicDefaults: Record<string, string | null> | null = null;
  if ('errorId' in answered.clusterDefaults) {
    failures.push(`cluster-wide defaults (${answered.clusterDefaults.errorId})`);
  } else {
    clusterDynamicDefaults = {};
    for (const entry of answered.clusterDefaults) {
      if (entry.source === 3) clusterDynamicDefaults[entry.name] = entry.value;
    }
  }
  if (failures.length > 0) {
    context.warn(
      `broker configs omitted for ${failures.join(', ')}; grant ${aclFor('DescribeConfigs', 'CLUSTER_AUTHORIZATION_FAILED')}`,
    );
  }
  return {
    brokerConfigs: brokerConfigs.length > 0 || cluster.brokers.length === 0 ? brokerConfigs : null,
    clusterDynamicDefaults,
  };
}

function clusterRecord(
  cluster: ClusterInfo,
  brokerConfigs: BrokerConfigs,
  key: string,
  topicCount: number,
  partitionCount: number,
  settings: KafkaSettings,
  registry: SchemaRegistryClient | undefined,
  globalCompatibility: string | null,
): MetadataRecord {
  return {
    kind: 'kafka.cluster',
    key,
    clusterId: cluster.clusterId,
    controllerId: cluster.controllerId,
    brokers: cluster.brokers,
    brokerCount: cluster.brokers.length,
    topicCount,
    partitionCount,
    authType: settings.authType,
    bootstrapServers: settings.bootstrapServers,
    schemaRegistryUrl: registry?.url ?? null,
    schemaRegistryCompatibility: globalCompatibility,
    brokerConfigs: brokerConfigs.brokerConfigs,
    clusterDynamicDefaults: brokerConfigs.clusterDynamicDefaults,
  };
}

async function topicBatch(
  session: AdminSession,
  batch: TopicMetadata[],
  facts: TopicFacts,
  sizesAllowed: { value: boolean },
  clusterKey: string,
  clusterId: string,
  context: AdapterContext,
): Promise<MetadataRecord[]> {
  const names = batch.map((t) => t.name);
  const withPartitions = batch.filter((t) => t.partitions.length > 0);
  const sizesPromise = sizesAllowed.value
    ? session
        .topicSizes(
          withPartitions.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => p.partition) })),
        )
        .catch((error: unknown) => {
          if (!isAuthorizationError(error) && kafkaErrorIds(error).length === 0) throw error;
          if (sizesAllowed.value) {
            sizesAllowed.value = false;
            context.warn(
              `topic sizes omitted: DescribeLogDirs was denied (${kafkaErrorIds(error)[0] ?? 'denied'}); grant ${aclFor('DescribeLogDirs')} to report sizeBytes`,
            );
          }
          return undefined;
        })
    : Promise.resolve(undefined);
  const [configs, earliest, latest, sizes] = await Promise.all([
    session.topicConfigs(names),
    session.offsets('earliest', withPartitions),
    session.offsets('latest', withPartitions),
    sizesPromise,
  ]);

  const records: MetadataRecord[] = [];
  for (const topic of batch) {
    const partitions = topic.partitions;
    const low = earliest.get(topic.name);
    const high = latest.get(topic.name);
    if (high) facts.highWatermarks.set(topic.name, high);
    facts.cataloged.add(topic.name);
    let recordCount = 0n;
    const partitionRecords = partitions.map((p) => {
      const lowOffset = low?.get(p.partition);
      const highOffset = high?.get(p.partition);
      if (lowOffset !== undefined && highOffset !== undefined && highOffset > lowOffset) {
        recordCount += highOffset - lowOffset;
      }
      return {
        partition: p.partition,
        leader: p.leader,
        replicas: p.replicas,
        isr: p.isr,
        offlineReplicas: p.offlineReplicas,
        underReplicated: p.isr.length < p.replicas.length,
        lowWatermark: lowOffset === undefined ? null : offsetValue(lowOffset),
        highWatermark: highOffset === undefined ? null : offsetValue(highOffset),
      };
    });

    const described = configs.get(topic.name);
    let configValues: Record<string, string | null> | null = null;
    let overrides: string[] | null = null;
    if (described && 'configs' in described) {
      configValues = {};
      overrides = [];
      const byName = new Map(described.configs.map((c) => [c.name, c]));
      for (const entry of described.configs) {
        if (entry.source === TOPIC_OVERRIDE) {
          configValues[entry.name] = entry.value;
          overrides.push(entry.name);
        }
      }
      for (const name of ALWAYS_REPORTED_CONFIGS) {
        if (!(name in configValues)) configValues[name] = byName.get(name)?.value ?? null;
      }
      overrides.sort();
    } else {
      const why = described && 'errorId' in described ? described.errorId : 'no answer';
      context.warn(
        `topic ${topic.name}: configs omitted, DescribeConfigs was denied (${why}); grant ${aclFor('DescribeConfigs')} ${topic.name}`,
      );
    }
    const size = sizes?.get(topic.name);
    records.push({
      kind: 'kafka.topic',
      key: recordKeys.topic(clusterId, topic.name),
      parent: clusterKey,
      name: topic.name,
      topicId: topic.id,
      internal: topic.internal,
      partitionCount: partitions.length,
      replicationFactor: partitions.reduce((max, p) => Math.max(max, p.replicas.length), 0),
      underReplicatedPartitions: partitionRecords.filter((p) => p.underReplicated).length,
      partitions: partitionRecords,
      configs: configValues,
      configOverrides: overrides,
      recordCountEstimate: offsetValue(recordCount),
      sizeBytes: size === undefined ? null : offsetValue(size),
    });
  }
  return records;
}

/** Group types whose offsets live in OffsetFetch (share groups keep theirs elsewhere). */
const OFFSET_GROUP_TYPES = new Set(['classic', 'consumer', 'streams', '']);

async function* extractGroups(
  session: AdminSession,
  options: KafkaExtractOptions,
  window: number,
  facts: TopicFacts,
  clusterKey: string,
  clusterId: string,
  context: AdapterContext,
): AsyncGenerator<MetadataRecord> {
  const groupFilter = nameFilter(options.groups);
  const groups = (await session.groups())
    .filter((g) => groupFilter(g.id))
    .filter((g) => options.includeEmptyGroups || g.state !== 'EMPTY')
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  for await (const records of pipelined(chunk(groups, options.batchSize), window, async (batch) => {
    const classicIds = batch.filter((g) => g.groupType === 'classic' || g.groupType === '').map((g) => g.id);
    const consumerIds = batch.filter((g) => g.groupType === 'consumer').map((g) => g.id);
    const offsetIds = batch.filter((g) => OFFSET_GROUP_TYPES.has(g.groupType)).map((g) => g.id);
    const [classic, consumer, offsets] = await Promise.all([
      describeIsolated(classicIds, (some) => session.describeClassicGroups(some), 'DescribeGroups', context),
      describeIsolated(
        consumerIds,
        (some) => session.describeConsumerGroups(some),
        'ConsumerGroupDescribe',
        context,
      ),
      isolate(offsetIds, (some) => session.committedOffsets(some), 'OffsetFetch', context),
    ]);
    await fillHighWatermarks(session, offsets, facts);
    return batch.map((group) => {
      const raw = classic.get(group.id) ?? consumer.get(group.id);
      const description = raw === undefined ? undefined : describedGroup(group.id, raw, context);
      return groupRecord(group, description, offsets.get(group.id), facts, clusterKey, clusterId);
    });
  })) {
    for (const record of records) yield record;
  }
}

/** A group's members and state, the same shape for classic and KIP-848 groups. */
interface GroupDescription {
  state: string;
  protocolType: string | null;
  protocol: string | null;
  groupEpoch: number | null;
  assignmentEpoch: number | null;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    host: string;
    rackId: string | null;
    memberEpoch: number | null;
    subscribedTopics: string[] | null;
    assignments: TopicAssignment[];
    targetAssignments: TopicAssignment[] | null;
  }[];
}

function byMemberId<M extends { memberId: string }>(members: M[]): M[] {
  return members.sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
}

function sortAssignments(assignments: TopicAssignment[]): TopicAssignment[] {
  return assignments
    .map((a) => ({ topic: a.topic, partitions: [...a.partitions].sort((x, y) => x - y) }))
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
}

/**
 * Turns one group's describe answer into its description. A Kafka error or member bytes that do not decode
 * cost this group's members (a warning naming the group), never the batch or the job.
 */
function describedGroup(
  id: string,
  raw: RawClassicGroup | RawConsumerGroup | { errorId: string },
  context: AdapterContext,
): GroupDescription | undefined {
  if ('errorId' in raw) {
    const denied = raw.errorId.endsWith('_AUTHORIZATION_FAILED');
    context.warn(
      `consumer group ${id}: members omitted, describing it failed (${raw.errorId})${denied ? `; grant ${aclFor('DescribeGroups', raw.errorId)} ${id}` : ''}`,
    );
    return undefined;
  }
  if ('groupEpoch' in raw) {
    return {
      state: raw.state.toUpperCase(),
      protocolType: 'consumer',
      protocol: raw.assignor || null,
      groupEpoch: raw.groupEpoch,
      assignmentEpoch: raw.assignmentEpoch,
      members: byMemberId(
        raw.members.map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.instanceId,
          clientId: m.clientId,
          host: m.clientHost,
          rackId: m.rackId,
          memberEpoch: m.memberEpoch,
          subscribedTopics: [...m.subscribedTopics].sort(),
          assignments: sortAssignments(m.assignment),
          targetAssignments: sortAssignments(m.targetAssignment),
        })),
      ),
    };
  }
  // Only the "consumer" protocol type has a payload format we know; Connect workers, schema registries and
  // other users of the classic group protocol keep their own formats, so their members carry no assignments.
  const consumerPayload = raw.protocolType === 'consumer';
  const members: GroupDescription['members'] = [];
  for (const m of raw.members) {
    let subscription: ConsumerSubscription | null = null;
    let assignments: TopicAssignment[] = [];
    if (consumerPayload) {
      try {
        subscription = decodeConsumerSubscription(m.metadata);
        assignments = decodeConsumerAssignment(m.assignment);
      } catch (error) {
        if (!(error instanceof KafkaDecodeError)) throw error;
        context.warn(
          `consumer group ${id}: members omitted, member ${m.memberId} (client ${m.clientId}) sent metadata or an assignment that does not decode as the consumer protocol (${error.message})`,
        );
        return undefined;
      }
    }
    members.push({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      host: m.clientHost,
      rackId: subscription?.rackId ?? null,
      memberEpoch: null,
      subscribedTopics: subscription ? [...subscription.topics].sort() : null,
      assignments: sortAssignments(assignments),
      targetAssignments: null,
    });
  }
  return {
    state: raw.state.toUpperCase(),
    protocolType: raw.protocolType,
    protocol: raw.protocol || null,
    groupEpoch: null,
    assignmentEpoch: null,
    members: byMemberId(members),
  };
}

/**
 * A batched describe; when the whole call fails with a Kafka error or an answer that does not decode,
 * retries each group alone so that only the group at fault loses its members (with a warning).
 */
async function describeIsolated<T>(
  ids: string[],
  call: (ids: string[]) => Promise<Map<string, T | { errorId: string }>>,
  operation: string,
  context: AdapterContext,
): Promise<Map<string, T | { errorId: string }>> {
  if (ids.length === 0) return new Map();
  try {
    return await call(ids);
  } catch (error) {
    const decode = isDecodeError(error);
    if (!decode && kafkaErrorIds(error).length === 0) throw error;
    if (ids.length > 1) {
      const out = new Map<string, T | { errorId: string }>();
      for (const id of ids) {
        for (const [k, v] of await describeIsolated([id], call, operation, context)) out.set(k, v);
      }
      return out;
    }
    const why = decode ? 'the answer does not decode' : (kafkaErrorIds(error)[0] ?? 'error');
    return new Map([[ids[0] as string, { errorId: `${operation}: ${why}` }]]);
  }
}

/**
 * Runs a batched call; when the batch is denied, retries each group alone so one group's missing ACL
 * costs only that group's details (with a warning) and not the batch.
 */
async function isolate<T>(
  ids: string[],
  call: (ids: string[]) => Promise<Map<string, T>>,
  operation: string,
  context: AdapterContext,
): Promise<Map<string, T>> {
  if (ids.length === 0) return new Map();
  try {
    return await call(ids);
  } catch (error) {
    if (kafkaErrorIds(error).length === 0) throw error;
    if (ids.length === 1) {
      const id = kafkaErrorIds(error)[0] ?? 'error';
      context.warn(
        `consumer group ${ids[0]}: ${operation} failed (${id}); ${isAuthorizationError(error) ? `grant ${aclFor(operation, id)} ${ids[0]}` : 'details omitted'}`,
      );
      return new Map();
    }
    const out = new Map<string, T>();
    for (const id of ids) for (const [k, v] of await isolate([id], call, operation, context)) out.set(k, v);
    return out;
  }
}

/** Fetches high watermarks for committed partitions whose topic the topic phase did not cover. */
async function fillHighWatermarks(
  session: AdminSession,
  offsets: Map<string, CommittedOffsets>,
  facts: TopicFacts,
): Promise<void> {
  const missing = new Map<string, Set<number>>();
  for (const topics of offsets.values()) {
    for (const [topic, partitions] of topics) {
      if (facts.highWatermarks.has(topic) || !facts.partitions.has(topic)) continue;
      const set = missing.get(topic) ?? new Set<number>();
      for (const partition of partitions.keys()) set.add(partition);
      missing.set(topic, set);
    }
  }
  if (missing.size === 0) return;
  const latest = await session.offsets(
    'latest',
    [...missing].map(([name, set]) => ({
      name,
      partitions: (facts.partitions.get(name) ?? []).filter((p) => set.has(p.partition)),
    })),
  );
  for (const [topic, partitions] of latest) facts.highWatermarks.set(topic, partitions);
}

function groupRecord(
  group: { id: string; state: string; protocolType: string; groupType: string },
  description: GroupDescription | undefined,
  committed: CommittedOffsets | undefined,
  facts: TopicFacts,
  clusterKey: string,
  clusterId: string,
): MetadataRecord {
  const offsets: {
    topic: string;
    partition: number;
    committedOffset: number | string;
    highWatermark: number | string | null;
    lag: number | string | null;
  }[] = [];
  const lagByTopic: Record<string, number | string> = {};
  let totalLag = 0n;
  for (const [topic, partitions] of [...(committed ?? new Map<string, Map<number, bigint>>())].sort()) {
    let topicLag = 0n;
    for (const [partition, offset] of [...partitions].sort((a, b) => a[0] - b[0])) {
      // −1 means no offset committed for this partition.
      if (offset < 0n) continue;
      const high = facts.highWatermarks.get(topic)?.get(partition);
      const lag = high === undefined ? undefined : high > offset ? high - offset : 0n;
      if (lag !== undefined) topicLag += lag;
      offsets.push({
        topic,
        partition,
        committedOffset: offsetValue(offset),
        highWatermark: high === undefined ? null : offsetValue(high),
        lag: lag === undefined ? null : offsetValue(lag),
      });
    }
    if (offsets.some((o) => o.topic === topic)) {
      lagByTopic[topic] = offsetValue(topicLag);
      totalLag += topicLag;
    }
  }
  return {
    kind: 'kafka.consumer_group',
    key: recordKeys.group(clusterId, group.id),
    parent: clusterKey,
    groupId: group.id,
    state: description?.state ?? group.state,
    groupType: group.groupType || null,
    protocolType: description?.protocolType ?? group.protocolType,
    protocol: description?.protocol ?? null,
    groupEpoch: description?.groupEpoch ?? null,
    assignmentEpoch: description?.assignmentEpoch ?? null,
    members: description?.members ?? [],
    memberCount: description?.members.length ?? null,
    offsets,
    lagByTopic,
    totalLag: offsetValue(totalLag),
  };
}
